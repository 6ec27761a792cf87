"""The playground's data sets: rows of raw inputs (x₁, x₂), or an uploaded CSV's columns.

The classification sets are chainrule.data's generators under TensorFlow Playground's names
(circle is data.circles, spiral data.spirals, xor/and/or data.logic_gate); plane and bump are
the two regression sets. `noise` runs from 0 to 0.5 for every set and is scaled to each
generator's own noise (SCALE), so 0.1 is a moderate noise everywhere. A CSV is parsed in
memory by data.read_csv, the reader and errors of the command line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from chainrule import data
from chainrule.checks import refuse
from chainrule.data import Dataset
from chainrule.errors import DataError

if TYPE_CHECKING:
    from chainrule.playground.config import Config

MAX_CSV_ROWS = 5000
MAX_CSV_FEATURES = 32
MAX_CLASSES = 20
CSV_NAME = "upload.csv"  # what a CSV's errors call it: the client never names a file


def _plane(n: int, noise: float, seed: int | None) -> Dataset:
    """y = (x₁ + x₂)/2 on the square [−1, 1]², plus Gaussian noise."""
    g = np.random.default_rng(seed)
    X = g.uniform(-1.0, 1.0, (n, 2))
    y = X.sum(axis=1) / 2 + g.normal(0.0, noise, n)
    return Dataset("plane", X, y, ["x1", "x2"], None, "y")


def _bump(n: int, noise: float, seed: int | None) -> Dataset:
    """A Gaussian bump y = exp(−(x₁² + x₂²)) on the square [−2, 2]², plus Gaussian noise."""
    g = np.random.default_rng(seed)
    X = g.uniform(-2.0, 2.0, (n, 2))
    y = np.exp(-(X**2).sum(axis=1)) + g.normal(0.0, noise, n)
    return Dataset("bump", X, y, ["x1", "x2"], None, "y")


def _gate(name: str) -> Callable[[int, float, int | None], Dataset]:
    return lambda n, noise, seed: data.logic_gate(name, n, noise, seed)


# name -> (generator(n, noise, seed), what noise 1.0 means in the generator's own units)
CLASSIFICATION: dict[str, tuple[Callable[[int, float, int | None], Dataset], float]] = {
    "circle": (data.circles, 0.5),
    "xor": (_gate("xor"), 1.0),
    "gauss": (data.gauss, 10.0),
    "spiral": (data.spirals, 1.0),
    "moons": (data.moons, 1.0),
    "blobs": (data.blobs, 10.0),
    "and": (_gate("and"), 1.0),
    "or": (_gate("or"), 1.0),
}
REGRESSION: dict[str, tuple[Callable[[int, float, int | None], Dataset], float]] = {
    "plane": (_plane, 0.5),
    "bump": (_bump, 0.5),
}


def _uploaded(config: Config) -> Dataset:
    """The CSV text of `config`, read as `chainrule train` reads a file, within the limits."""
    ds = data.read_csv(CSV_NAME, config.target, text=config.csv)
    if len(ds) > MAX_CSV_ROWS:
        raise refuse("playground", "csv", f"at most {MAX_CSV_ROWS} data rows", f"{len(ds)} rows")
    if ds.X.shape[1] > MAX_CSV_FEATURES:
        raise refuse(
            "playground", "csv", f"at most {MAX_CSV_FEATURES} feature columns", ds.X.shape[1]
        )
    if ds.class_names is not None and len(ds.class_names) > MAX_CLASSES:
        raise refuse("playground", "csv", f"at most {MAX_CLASSES} classes", len(ds.class_names))
    if len(ds) < 4:
        raise DataError(f"{CSV_NAME} has {len(ds)} data rows; expected at least 4")
    return ds


def generate(name: str, n: int, noise: float, seed: int) -> Dataset:
    """The generated set `name` with `noise` on the playground's 0..0.5 scale."""
    make_set, scale = {**CLASSIFICATION, **REGRESSION}[name]
    return make_set(n, noise * scale, seed)


def make(config: Config) -> Dataset:
    """The rows `config` asks for: a generated set (raw inputs x1, x2) or the uploaded CSV."""
    if config.dataset == "csv":
        return _uploaded(config)
    return generate(config.dataset, config.n, config.noise, config.seed)


def extent(X: np.ndarray) -> list[float]:
    """[x₁ min, x₁ max, x₂ min, x₂ max] around the points, with a margin of a tenth."""
    low, high = X[:, :2].min(axis=0), X[:, :2].max(axis=0)
    pad = np.maximum((high - low) * 0.1, 0.1)
    low, high = low - pad, high + pad
    return [float(low[0]), float(high[0]), float(low[1]), float(high[1])]
