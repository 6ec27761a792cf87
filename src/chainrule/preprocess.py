"""What happens to raw rows before the network sees them, kept with the model so that
`predict` takes the same raw rows the user trained on.

- Standardisation: each feature x_k becomes (x_k − mean_k) / std_k, with mean and std fitted
  on the training split only (a constant feature keeps std 1, so it maps to 0).
- Targets: class names map to labels 0..K−1; the loss decides how labels meet the output
  layer (the "head"); a numeric target is standardised like a feature and mapped back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.checks import refuse
from chainrule.data import Dataset
from chainrule.errors import DataError

CLASSIFICATION_LOSSES = ("ce", "bce", "squared", "mse")
REGRESSION_LOSSES = ("squared", "mse")


@dataclass
class Preprocessing:
    """Feature names and standardisation, class names (None for regression), target scaling."""

    feature_names: list[str]
    mean: np.ndarray
    std: np.ndarray
    class_names: list[str] | None
    target_name: str = "target"
    target_mean: float = 0.0
    target_std: float = 1.0

    @classmethod
    def fit(cls, train: Dataset) -> Preprocessing:
        """Standardisation fitted on the training rows `train`.

        DataError when a mean or standard deviation overflows float64 (features near 1e154
        and above, whose squares do). A feature whose values are all equal keeps std 1."""
        with np.errstate(over="ignore", invalid="ignore"):
            mean = train.X.mean(axis=0)
            std = train.X.std(axis=0)
        overflow = ~(np.isfinite(mean) & np.isfinite(std))
        if overflow.any():
            raise DataError(
                f"{train.name}: features {_names(_picked(train.feature_names, overflow))} are "
                f"too large to standardise (their mean or squares overflow float64); rescale "
                f"them first"
            )
        std[std == 0] = 1.0
        target_mean, target_std = 0.0, 1.0
        if not train.is_classification:
            target_mean = float(train.y.mean())
            target_std = float(train.y.std()) or 1.0
        return cls(
            list(train.feature_names),
            mean,
            std,
            train.class_names,
            train.target_name,
            target_mean,
            target_std,
        )

    @property
    def is_classification(self) -> bool:
        return self.class_names is not None

    def features(self, X: np.ndarray) -> np.ndarray:
        """Standardised features (x − mean) / std for raw rows X."""
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            got = X.shape[1] if X.ndim == 2 else X.shape
            raise DataError(
                f"the model was trained on {len(self.feature_names)} features "
                f"({_names(self.feature_names)}) but got {got}"
            )
        return (X - self.mean) / self.std

    def check(self, dataset: Dataset) -> None:
        """Refuse a dataset whose features or target differ from the training data's."""
        if list(dataset.feature_names) != self.feature_names:
            raise DataError(
                f"{dataset.name}: the model expects features {_names(self.feature_names)} "
                f"but the data has {_names(dataset.feature_names)}"
            )
        if dataset.is_classification != self.is_classification:
            want = "class labels" if self.is_classification else "numeric targets"
            raise DataError(f"{dataset.name}: the model predicts {want}; the data's target differs")

    def labels(self, dataset: Dataset) -> np.ndarray:
        """The dataset's labels renumbered into the model's classes (by name)."""
        index = {name: i for i, name in enumerate(self.class_names or [])}
        names = dataset.class_names or []
        # a class the data names but no row uses is harmless; only the rows' classes count
        used = {names[i] for i in np.unique(dataset.y)}
        unknown = sorted(used - set(index))
        if unknown:
            raise DataError(
                f"{dataset.name}: class {unknown[0]!r} was not in the training data; the "
                f"model knows {_names(self.class_names or [])}"
            )
        mapping = np.array([index.get(name, -1) for name in names])
        return mapping[dataset.y]

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature_names": self.feature_names,
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "class_names": self.class_names,
            "target_name": self.target_name,
            "target_mean": self.target_mean,
            "target_std": self.target_std,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessing:
        try:
            return cls(
                list(d["feature_names"]),
                np.asarray(d["mean"], dtype=np.float64),
                np.asarray(d["std"], dtype=np.float64),
                d["class_names"],
                d.get("target_name", "target"),
                float(d.get("target_mean", 0.0)),
                float(d.get("target_std", 1.0)),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"damaged preprocessing record in the model file ({err})") from None


def _picked(names: list[str], mask: np.ndarray) -> list[str]:
    return [name for name, hit in zip(names, mask, strict=True) if hit]


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:6])
    return shown + (f", ... ({len(names)} in all)" if len(names) > 6 else "")


def resolve_loss(loss: str, classification: bool) -> str:
    """The loss to train with: "auto" is cross-entropy for class labels, squared error for
    numbers; the rest are checked against the task."""
    if loss == "auto":
        return "ce" if classification else "squared"
    allowed = CLASSIFICATION_LOSSES if classification else REGRESSION_LOSSES
    if loss not in allowed:
        task = "class labels" if classification else "a numeric target"
        raise refuse("", "loss", f"one of {', '.join(allowed)} ({loss} does not fit {task})", loss)
    return loss


def head(loss: str, n_classes: int | None) -> tuple[int, str | None]:
    """(outputs, output activation) of layer L for a loss and task.

    ce: K logits z (softmax is inside the loss). bce/squared/mse on classes: sigmoid outputs,
    one for two classes, else one per class (one-hot targets). Regression: one linear output.
    """
    if n_classes is None:
        return 1, None
    if loss == "ce":
        return n_classes, None
    return (1 if n_classes == 2 else n_classes), "sigmoid"


def targets(y: np.ndarray, loss: str, n_classes: int | None, prep: Preprocessing) -> np.ndarray:
    """y as the loss wants it: labels for ce, 0/1 columns for sigmoid heads, scaled numbers."""
    if n_classes is None:
        return ((y - prep.target_mean) / prep.target_std).reshape(-1, 1)
    if loss == "ce":
        return y
    if n_classes == 2:
        return y.reshape(-1, 1).astype(np.float64)
    return np.eye(n_classes)[y]


def decode(output: np.ndarray, loss: str, n_classes: int | None, prep: Preprocessing) -> np.ndarray:
    """The network's outputs a^{(L)} as predictions: label indices, or numbers in target units."""
    if n_classes is None:
        return output[:, 0] * prep.target_std + prep.target_mean
    if output.shape[1] == 1:
        return (output[:, 0] > 0.5).astype(np.intp)
    return output.argmax(axis=1)


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """counts[i, j]: examples of true class i predicted as class j."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (truth, predicted), 1)
    return counts
