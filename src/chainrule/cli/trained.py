"""A trained model as the command line keeps it: the network with the preprocessing, loss
name and metadata that 'chainrule train' saved beside it, so commands take raw rows."""

from __future__ import annotations

import csv
from dataclasses import dataclass
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

    @classmethod
    def load(cls, path: str | Path) -> Trained:
        model, metadata = load_network(path)
        if "preprocessing" not in metadata or "loss" not in metadata:
            raise ModelFileError(
                f"{path} holds a network but no training record (saved with cr.save, not "
                f"'chainrule train'); the command line needs a model from 'chainrule train'"
            )
        return cls(
            model, Preprocessing.from_dict(metadata["preprocessing"]), metadata["loss"], metadata
        )

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
