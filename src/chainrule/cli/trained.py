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
from chainrule import nn, records
from chainrule.cli.options import DTYPES, HIDDEN_ACTIVATIONS, INIT_NAMES, OPTIMIZER_NAMES, TASKS
from chainrule.errors import ModelFileError
from chainrule.io import load_with_metadata
from chainrule.modelfile import (
    Spec,
    integer,
    list_of,
    nullable,
    number,
    one_of,
    record,
    refuse,
    text,
)
from chainrule.nn.layers import Sequential
from chainrule.nn.module import Module
from chainrule.preprocess import (
    CLASSIFICATION_LOSSES,
    REGRESSION_LOSSES,
    Preprocessing,
    decode,
    head,
    targets,
)
from chainrule.tensor import Tensor
from chainrule.train import STOP_REASONS, predicting, prepare


@dataclass
class Trained:
    """A model file's contents: the network, its preprocessing, loss name and metadata."""

    model: Sequential
    prep: Preprocessing
    loss: str
    metadata: dict[str, Any]
    recorded: bool = True  # False: saved from Python, prep and loss read off the network
    source: Path | None = None  # the file of a run being resumed, which may hold its optimizer

    @classmethod
    def resumable(cls, path: Path) -> Trained:
        """The run 'chainrule train --save' wrote to `path`, with every setting --resume
        reads (a network saved from Python has no run to continue)."""
        model, metadata = load_network(path)
        for key in ("preprocessing", *RESUMED):
            if key not in metadata:
                raise ModelFileError(
                    f"{path}: metadata.{key}: missing; --resume continues a run saved by "
                    f"'chainrule train --save'"
                )
        prep = Preprocessing.from_dict(metadata["preprocessing"])
        return cls(model, prep, metadata["loss"], metadata, source=path)

    @classmethod
    def load(cls, path: str | Path) -> Trained:
        model, metadata = load_network(path)
        if "preprocessing" in metadata:
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
    check_record(metadata, model, f"{path}: metadata")
    return model, metadata


# ---- the training record: what 'chainrule train' writes beside the network ------------------

NUMBERS = list_of(number(finite=False), "numbers")  # a diverged epoch's loss may be NaN
SEED = integer(0, 2**63)
HISTORY = record(
    {
        "loss": NUMBERS,
        "accuracy": NUMBERS,
        "val_loss": NUMBERS,
        "val_accuracy": NUMBERS,
        "stop_reason": one_of("", *STOP_REASONS),
        "wall_time": number(0.0),
        "health": list_of(record({}, closed=False), "health reports"),
    },
    closed=False,
)
TEST = {"rows": integer(0, 2**62), "loss": number(finite=False), "accuracy": number(0.0, 1.0)}
# The run's settings as train_command records them; --resume reads them back.
SETTINGS: dict[str, Spec] = {
    "data": text,
    "target": nullable(text),
    "task": nullable(one_of(*TASKS)),
    "data_options": record({"seed": SEED, "n": integer(1), "noise": number(0.0)}),
    "hidden": list_of(integer(1), "positive integers"),
    "activation": one_of(*HIDDEN_ACTIVATIONS),
    "init": one_of(*INIT_NAMES),
    "loss": one_of(*CLASSIFICATION_LOSSES),
    "seed": SEED,
    "dtype": one_of(*DTYPES),
    "test_split": number(0.0, 1.0, open_high=True),
    "optimizer": record(
        {
            "name": one_of(*OPTIMIZER_NAMES),
            "lr": number(0.0, open_low=True),
            "momentum": number(0.0, 1.0, open_high=True),
            "weight_decay": number(0.0),
        },
        required=("name", "lr"),
    ),
    "epochs": integer(1),
    "batch_size": nullable(integer(1)),
    "until": nullable(number(0.0)),
    "history": HISTORY,
    "test": lambda value, where: record(TEST, _tested(value), closed=False)(value, where),
    "chainrule_version": text,
}
RESUMED = ("data", "target", "seed", "test_split", "hidden", "activation")  # what --resume reads


def _tested(test: Any) -> tuple[str, ...]:
    """The test record's required fields: none without a test split ({}), else rows and loss."""
    return () if test == {} else ("rows", "loss")


def check_record(metadata: dict[str, Any], model: Sequential, where: str) -> None:
    """Refuse a training record (or an estimator's) whose fields are not what the commands
    read, or that does not fit the network: a preprocessing vector per input, a class name
    per output of layer L (two for one sigmoid output), a loss that fits the task."""
    if "estimator" in metadata:
        records.check_estimator(metadata, where, *records.widths(model, where))
    if "preprocessing" not in metadata:
        return
    n_in, n_out = records.widths(model, where)
    per_input = {
        "feature_names": list_of(text, "strings", length=n_in),
        "mean": list_of(number(), "numbers", length=n_in),
        "std": list_of(number(0.0, open_low=True), "positive numbers", length=n_in),
    }
    preprocessing = record(
        {
            **per_input,
            "class_names": nullable(list_of(text, "strings", distinct=True)),
            "target_name": text,
            "target_mean": number(),
            "target_std": number(0.0, open_low=True),
        },
        required=("feature_names", "mean", "std", "class_names"),
    )
    spec = record({**SETTINGS, "preprocessing": preprocessing}, ("preprocessing", "loss"), False)
    spec(metadata, where)
    _check_outputs(metadata["loss"], metadata["preprocessing"]["class_names"], n_out, where)


def _check_outputs(loss: str, class_names: list[str] | None, n_out: int, where: str) -> None:
    """The classes (or a regression's one number) must be what layer L's n_out outputs give."""
    if class_names is None:
        if loss not in REGRESSION_LOSSES:
            raise refuse(f"{where}.loss", f"{' or '.join(REGRESSION_LOSSES)} (a regression)", loss)
        if n_out != 1:
            raise refuse(
                f"{where}.preprocessing.class_names",
                f"a list of {n_out} class names (the network has {n_out} outputs)",
                class_names,
            )
        return
    if head(loss, len(class_names))[0] != n_out:
        count = n_out if loss == "ce" or n_out > 1 else 2
        raise refuse(
            f"{where}.preprocessing.class_names",
            f"a list of {count} strings (the network's {n_out} outputs with loss {loss})",
            class_names,
        )


def _csv_target(source: str, name: str) -> str | None:
    """The model's target column name, when `source` is a CSV file that has it."""
    path = Path(source)
    if source in datasets.DATASETS or not path.is_file():
        return None
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f), [])
    except (UnicodeDecodeError, csv.Error):
        return None  # not a readable CSV: datasets.load says so in its own words
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
    fitted = metadata["fitted"] if "estimator" in metadata else {}
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
