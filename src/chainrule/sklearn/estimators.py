"""The two estimators, `MLPClassifier` and `MLPRegressor`: their targets, outputs and
predictions (what they share is in `base`), and `load` for the files they save."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils import Tags
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import column_or_1d, validate_data

from chainrule import io, nn
from chainrule.checks import refuse
from chainrule.errors import ConfigError, DataError, ModelFileError
from chainrule.records import check_estimator, widths
from chainrule.sklearn.base import _MLP, _is_cross_entropy, binary_log_loss, half_squared_error


class MLPClassifier(ClassifierMixin, _MLP):
    """A multilayer perceptron classifier trained by chainrule's backpropagation.

    Binary targets get one sigmoid output unit, a^{(L)} = σ(z^{(L)}) = P(classes_[1]);
    multiclass targets get a softmax over one unit per class; a multilabel indicator matrix
    gets one sigmoid unit per label. The default loss is scikit-learn's log-loss: softmax
    cross-entropy on the logits z^{(L)} (multiclass) or binary cross-entropy summed over the
    outputs. `loss` may instead name one of `chainrule.nn.LOSSES` ("ce" trains on the logits,
    the others on the probabilities a^{(L)}) or be any callable `loss(a, y) -> scalar Tensor`
    on the probabilities, with `y` the one-hot (or 0/1 label) matrix.

    Fitted attributes: `model_` (the `chainrule.nn.Sequential` the loss sees: it ends at the
    logits z^{(L)} for cross-entropy, else at the probabilities a^{(L)}), `classes_`,
    `n_features_in_`, `feature_names_in_` (DataFrame input), `n_outputs_`, `out_activation_`,
    `loss_curve_`, `best_loss_`, `n_iter_`, `t_`, `stop_reason_` ("tol", "max_iter", "until"
    or "partial_fit"), and `coefs_`/`intercepts_` in scikit-learn's layout.
    """

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def fit(self, X: Any, y: Any) -> MLPClassifier:
        """Train from scratch on rows X with labels y (1-D, or a 0/1 multilabel matrix)."""
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> MLPClassifier:
        """One epoch over (X, y), continuing from the current weights. The first call needs
        `classes` (every label any later batch may hold) unless y is a multilabel matrix."""
        return self._fit(X, y, incremental=True, classes=classes)

    @property
    def _output(self) -> str:
        return "softmax" if self.out_activation_ == "softmax" else "sigmoid"

    def _default_loss(self) -> Callable | str:
        return "ce" if self.out_activation_ == "softmax" else binary_log_loss

    def _validate(self, X: Any, y: Any, first: bool, incremental: bool, classes: Any) -> tuple:
        x, y = validate_data(self, X, y, reset=first, dtype=self._np_dtype(), multi_output=True)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        kind = type_of_target(y)
        if first:
            if incremental and classes is None and kind != "multilabel-indicator":
                raise DataError(
                    "MLPClassifier.partial_fit: pass classes= (every label any batch may hold) "
                    "on the first call"
                )
            self._set_classes(y, kind, classes)
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise DataError(
                f"MLPClassifier.partial_fit: classes {np.unique(classes)} differ from the "
                f"first call's {self.classes_}"
            )
        return x, self._encode(y, kind, x.dtype)

    def _set_classes(self, y: np.ndarray, kind: str, classes: Any) -> None:
        if kind == "multilabel-indicator":
            self.classes_ = np.arange(y.shape[1])
            self.out_activation_ = "logistic"
            self.n_outputs_ = y.shape[1]
            return
        if kind not in ("binary", "multiclass"):
            raise DataError(
                f"MLPClassifier: target type {kind!r} is not supported; expected binary or "
                f"multiclass labels, or a 0/1 multilabel indicator matrix"
            )
        self.classes_ = np.unique(y if classes is None else classes)
        if len(self.classes_) < 2:
            raise DataError(
                f"MLPClassifier needs at least two classes to train, but y has one class "
                f"({self.classes_[0]!r})"
            )
        binary = len(self.classes_) == 2
        self.out_activation_ = "logistic" if binary else "softmax"
        self.n_outputs_ = 1 if binary else len(self.classes_)
        if _is_cross_entropy(self.loss) and binary:
            raise ConfigError(
                "MLPClassifier: loss 'ce' needs a softmax output, but binary targets get one "
                "sigmoid unit; use loss=None or 'bce'"
            )

    def _encode(self, y: np.ndarray, kind: str, dtype: np.dtype) -> np.ndarray:
        """Targets as the loss wants them: integer labels for cross-entropy, else the 0/1
        matrix of one column per output unit."""
        if self._multilabel:
            if kind != "multilabel-indicator" or y.shape[1] != self.n_outputs_:
                raise DataError(
                    f"MLPClassifier: fitted on a 0/1 label matrix with {self.n_outputs_} "
                    f"columns; y is {kind} with shape {y.shape}"
                )
            return y.astype(dtype)
        if y.ndim != 1:
            raise DataError(f"MLPClassifier: fitted on one label per row; y has shape {y.shape}")
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if len(unknown):
            raise DataError(
                f"MLPClassifier: y has classes {unknown} not in classes_ {self.classes_}"
            )
        labels = np.searchsorted(self.classes_, y)
        if self.out_activation_ == "logistic":
            return labels.astype(dtype).reshape(-1, 1)
        if _is_cross_entropy(self._loss_spec()):
            return labels.astype(np.intp)
        return np.eye(self.n_outputs_, dtype=dtype)[labels]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, one column per class of `classes_` (per label for
        multilabel targets)."""
        a = self._forward(X)
        if self._binary:
            return np.hstack([1 - a, a])
        return a

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class per row (for multilabel targets, every label with p > ½)."""
        a = self._forward(X)
        if self.out_activation_ == "softmax":
            return self.classes_[a.argmax(axis=1)]
        if self._binary:
            return self.classes_[(a[:, 0] > 0.5).astype(np.intp)]
        return (a > 0.5).astype(np.int64)

    @property
    def _binary(self) -> bool:
        return self.out_activation_ == "logistic" and self.n_outputs_ == 1

    @property
    def _multilabel(self) -> bool:
        return self.out_activation_ == "logistic" and self.n_outputs_ > 1

    def _fitted_state(self) -> dict[str, Any]:
        state = super()._fitted_state()
        state["classes_"] = self.classes_.tolist()
        state["classes_dtype"] = self.classes_.dtype.str
        state["out_activation_"] = self.out_activation_
        return state

    def _restore(self, model: nn.Sequential, fitted: dict[str, Any]) -> None:
        dtype = fitted.pop("classes_dtype")
        super()._restore(model, fitted)
        self.classes_ = np.asarray(fitted["classes_"], dtype=np.dtype(dtype))


class MLPRegressor(RegressorMixin, _MLP):
    """A multilayer perceptron regressor trained by chainrule's backpropagation.

    The output layer is linear, a^{(L)} = z^{(L)}, one unit per target column. The default
    loss is scikit-learn's, C = (1/2n) Σ_i Σ_j (a_ij − y_ij)²; `loss` may instead name
    "squared" or "mse" from `chainrule.nn.LOSSES`, or be any callable `loss(a, y) -> scalar
    Tensor` that chainrule can differentiate.

    Fitted attributes: `model_` (the `chainrule.nn.Sequential`), `n_features_in_`,
    `feature_names_in_` (DataFrame input), `n_outputs_`, `out_activation_` ("identity"),
    `loss_curve_`, `best_loss_`, `n_iter_`, `t_`, `stop_reason_`, `coefs_`/`intercepts_`.
    """

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X: Any, y: Any) -> MLPRegressor:
        """Train from scratch on rows X with targets y (1-D, or one column per output)."""
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X: Any, y: Any) -> MLPRegressor:
        """One epoch over (X, y), continuing from the current weights."""
        return self._fit(X, y, incremental=True)

    def _default_loss(self) -> Callable:
        return half_squared_error

    def _check_loss(self) -> None:
        super()._check_loss()
        if self.loss in ("ce", "bce") or isinstance(self.loss, nn.CrossEntropyLoss | nn.BCELoss):
            expected = "'squared', 'mse', None or a callable (not a classification loss)"
            raise refuse("MLPRegressor", "loss", expected, self.loss)

    def _validate(self, X: Any, y: Any, first: bool, incremental: bool, classes: Any) -> tuple:
        x, y = validate_data(
            self, X, y, reset=first, dtype=self._np_dtype(), multi_output=True, y_numeric=True
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        y = y.reshape(len(y), -1).astype(x.dtype, copy=False)
        if first:
            self.n_outputs_ = y.shape[1]
            self.out_activation_ = "identity"
        elif y.shape[1] != self.n_outputs_:
            raise DataError(
                f"MLPRegressor.partial_fit: y has {y.shape[1]} outputs, expected {self.n_outputs_}"
            )
        return x, y

    def predict(self, X: Any) -> np.ndarray:
        """a^{(L)} for each row: shape (n,) for a single target, (n, outputs) otherwise."""
        a = self._forward(X)
        return a.ravel() if self.n_outputs_ == 1 else a

    def _fitted_state(self) -> dict[str, Any]:
        state = super()._fitted_state()
        state["out_activation_"] = self.out_activation_
        return state


ESTIMATORS: dict[str, type[_MLP]] = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}


def load(path: str | os.PathLike) -> MLPClassifier | MLPRegressor:
    """The estimator `est.save(path)` wrote, fitted, rebuilt without pickle."""
    model, metadata = io.load_with_metadata(path)
    kind = metadata.get("estimator")
    if not isinstance(kind, str) or kind not in ESTIMATORS or not isinstance(model, nn.Sequential):
        raise ModelFileError(
            f"{path} holds a chainrule model but no scikit-learn estimator; load it with "
            f"chainrule.load, or save one with MLPClassifier/MLPRegressor.save"
        )
    check_estimator(metadata, f"{path}: metadata", *widths(model, f"{path}: metadata"))
    params = dict(metadata["params"])
    if isinstance(params.get("hidden_layer_sizes"), list):
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    estimator = ESTIMATORS[kind](**params)
    estimator._restore(model, dict(metadata["fitted"]))
    estimator._optimizer = io.load_optimizer(path, model)  # partial_fit continues exactly
    if metadata.get("dropped_params"):
        warnings.warn(
            f"{path}: parameters {metadata['dropped_params']} were callables and not saved; "
            f"the estimator predicts as saved, but set them again before training it further",
            UserWarning,
            stacklevel=2,
        )
    return estimator
