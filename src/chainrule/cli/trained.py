"""A trained model as the command line keeps it: the network with the preprocessing, loss
name and metadata that 'chainrule train' saved beside it, so commands take raw rows.

A network saved from Python (`cr.save`, an estimator's `.save()`) has no such record: the
commands then use rows as they are (no standardisation), take the loss and the classes from
its last layer (and an estimator's `classes_`), say so in one line, and go on."""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import data as datasets
from chainrule import nn
from chainrule.errors import ModelFileError
from chainrule.io import load_with_metadata
from chainrule.nn.layers import Sequential
from chainrule.nn.module import Module
from chainrule.preprocess import Preprocessing, decode, targets
from chainrule.tensor import Tensor
from chainrule.train import predicting, prepare


@dataclass
class Trained:
    """A model file's contents: the network, its preprocessing, loss name and metadata."""

    model: Sequential
    prep: Preprocessing
    loss: str
    metadata: dict[str, Any]
    recorded: bool = True  # False: saved from Python, prep and loss read off the network

    @classmethod
    def load(cls, path: str | Path) -> Trained:
        model, metadata = load_network(path)
        if "preprocessing" in metadata and "loss" in metadata:
            prep = Preprocessing.from_dict(metadata["preprocessing"])
            return cls(model, prep, metadata["loss"], metadata)
        trained = from_python(model, metadata)
        print(
            f"note: {path} has no training record (saved from Python): its rows are used as "
            f"they are, not standardised, and its loss is taken as {trained.loss} from its "
            f"last layer",
            file=sys.stderr,
        )
        return trained

    @property
    def n_classes(self) -> int | None:
        return len(self.prep.class_names) if self.prep.class_names is not None else None

    @property
    def loss_fn(self) -> Module:
        return nn.LOSSES[self.loss]()

    def prepared(self, X_raw: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw rows and their labels (or numbers) as the network and its loss take them:
        standardised features and targets(), in the model's dtype (labels stay integers for ce)."""
        y_model = targets(y, self.loss, self.n_classes, self.prep)
        return prepare(self.prep.features(X_raw), y_model, self.loss_fn, self.model.dtype)

    def output(self, X_raw: np.ndarray) -> np.ndarray:
        """a^{(L)} for raw rows (standardised first), without recording a graph."""
        with predicting(self.model):
            return self.model(Tensor(self.prep.features(X_raw), dtype=self.model.dtype)).data

    def predict(self, X_raw: np.ndarray) -> np.ndarray:
        return decode(self.output(X_raw), self.loss, self.n_classes, self.prep)

    def dataset(self, source: str, target: str | None) -> tuple[datasets.Dataset, np.ndarray]:
        """The dataset `source` checked against the model, with its labels in the model's
        numbering (numbers as they are for regression)."""
        if target is None:
            target = _csv_target(source, self.prep.target_name)
        ds = datasets.load(source, target)
        if not self.recorded:
            self.prep = _named_by(self.prep, ds)
        self.prep.check(ds)
        y = self.prep.labels(ds) if self.prep.is_classification else ds.y
        return ds, y


def load_network(path: str | Path) -> tuple[Sequential, dict[str, Any]]:
    """The network in a model file and its metadata; the commands walk its layers, so it
    must be a Sequential (as every 'chainrule train' model is)."""
    model, metadata = load_with_metadata(path)
    if not isinstance(model, Sequential):
        raise ModelFileError(
            f"{path} holds a {type(model).__name__}; the command line reads Sequential networks"
        )
    return model, metadata


def _csv_target(source: str, name: str) -> str | None:
    """The model's target column name, when `source` is a CSV file that has it."""
    path = Path(source)
    if source in datasets.DATASETS or not path.is_file():
        return None
    with path.open(newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f), [])
    return name if name in [h.strip() for h in header] else None


def from_python(model: Sequential, metadata: dict[str, Any]) -> Trained:
    """A network saved without a training record, as the commands can use it: features
    unscaled; the loss and the task from the last layer (logits of K > 1 outputs: ce; one
    sigmoid: bce; one linear output: squared error, a regression); an estimator's classes_,
    feature names and loss curve where its file has them."""
    linears = [m for m in model if isinstance(m, nn.Linear)]
    if not linears:
        raise ModelFileError("the network has no Linear layer; the command line reads MLPs")
    n_in, n_out = linears[0].in_features, linears[-1].out_features
    last = model[len(model) - 1]
    fitted = metadata.get("fitted", {})
    classes: int | None
    if isinstance(last, nn.Sigmoid):
        loss, classes = ("bce", 2) if n_out == 1 else ("squared", n_out)
    elif isinstance(last, nn.Softmax):
        loss, classes = "squared", n_out
    else:
        loss, classes = ("ce", n_out) if n_out > 1 else ("squared", None)
    names = fitted.get("classes_")
    class_names = None
    if classes is not None:
        class_names = [str(c) for c in names] if names else [str(k) for k in range(classes)]
    features = fitted.get("feature_names_in_") or [f"x{k + 1}" for k in range(n_in)]
    prep = Preprocessing(list(features), np.zeros(n_in), np.ones(n_in), class_names, "target")
    record = dict(metadata)
    if "loss_curve_" in fitted:  # an estimator's epochs, for `plot --kind loss`
        record["history"] = {"loss": fitted["loss_curve_"], "stop_reason": fitted["stop_reason_"]}
    return Trained(model, prep, loss, record, recorded=False)


def _named_by(prep: Preprocessing, ds: datasets.Dataset) -> Preprocessing:
    """An unrecorded model's preprocessing with the feature (and class) names of `ds`, when
    their numbers fit the network: a network saved from Python knows only its sizes."""
    changes: dict[str, Any] = {}
    if len(ds.feature_names) == len(prep.feature_names):
        changes["feature_names"] = list(ds.feature_names)
    known = prep.class_names is not None and ds.class_names is not None
    if known and len(ds.class_names or []) == len(prep.class_names or []):
        changes["class_names"] = list(ds.class_names or [])
    return replace(prep, **changes)
