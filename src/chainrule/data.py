"""Datasets: rows of features X (one example per row, the lecture's a^{(0)}) and targets y.

Four kinds, one registry (`DATASETS`), one entry point (`load`):

- generated 2-D sets for seeing decision boundaries (`and`, `or`, `xor`, `moons`, `circles`,
  `spirals`, `blobs`, `gauss`), seeded, with `n` and `noise`; features named `x1`, `x2`;
- the real sets shipped inside scikit-learn (`iris`, `wine`, `breast-cancer`, `digits`);
- MNIST and Fashion-MNIST (`chainrule.idx`): downloaded once into a cache by `fetch`, or from
  IDX files of your own (`mnist:DIR`);
- CSV files with a header row.

Class labels are kept as integers 0..K−1 in `y` with their names in `class_names`; a numeric
(regression) target has `class_names = None` and float `y`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chainrule.checks import at_least, fraction, int_at_least, one_of, refuse
from chainrule.csvfile import (  # the CSV reader; its names stay reachable as data.X
    MAX_NUMERIC_CLASSES as MAX_NUMERIC_CLASSES,
)
from chainrule.csvfile import (
    class_order,
    is_class_column,
    label_text,
    numeric_rows,
    read_table,
    suggest_target,
    target_index,
    warn_constant,
)
from chainrule.errors import ArgumentTypeError, ConfigError, DataError
from chainrule.fetch import SOURCES
from chainrule.fetch import fetch as fetch  # cr.data.fetch("mnist"), beside load


@dataclass(repr=False)
class Dataset:
    """Feature rows X (n, features), targets y (n,), and the names that go with them.

    Unpacks as `X, y = dataset`. `n_train`, when set, is a published split: rows before it are
    the training set, the rest the test set (MNIST's 60,000 and 10,000); `note` is a line for
    the user about how the data was found.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    class_names: list[str] | None
    target_name: str = "target"
    n_train: int | None = None
    note: str = ""

    @property
    def is_classification(self) -> bool:
        return self.class_names is not None

    def __len__(self) -> int:
        return len(self.X)

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.X, self.y))

    def __repr__(self) -> str:
        kind = f"{len(self.class_names)} classes" if self.class_names else "a numeric target"
        return f"<Dataset {self.name}: {len(self)} rows, {self.X.shape[1]} features, {kind}>"

    def _repr_html_(self) -> str:
        from chainrule.notebook import dataset_html  # shape, classes, names, a 2-D scatter

        return dataset_html(self)

    def subset(self, rows: np.ndarray) -> Dataset:
        """The same dataset restricted to `rows` (an index array)."""
        return Dataset(
            self.name,
            self.X[rows],
            self.y[rows],
            self.feature_names,
            self.class_names,
            self.target_name,
        )


def _xy(name: str, X: np.ndarray, y: np.ndarray, classes: list[str]) -> Dataset:
    return Dataset(name, X.astype(np.float64), y.astype(np.intp), ["x1", "x2"], classes, "label")


# The most rows a generated set makes (8 bytes × 2 features each: 160 MB of X): a larger n is
# a typo, which would otherwise end in a MemoryError.
MAX_GENERATED_ROWS = 10_000_000


def _rows(owner: str, n: int, low: int) -> int:
    n = int_at_least(owner, "n", n, low)
    if n > MAX_GENERATED_ROWS:
        raise refuse(owner, "n", f"at most {MAX_GENERATED_ROWS:,} rows", n)
    return n


def _rng(owner: str, seed: int | None) -> np.random.Generator:
    if seed is not None:
        seed = int_at_least(owner, "seed", seed, 0)
    return np.random.default_rng(seed)


_GATES = {"and": (0, 0, 0, 1), "or": (0, 1, 1, 1), "xor": (0, 1, 1, 0)}


def logic_gate(gate: str, n: int = 4, noise: float = 0.0, seed: int | None = 0) -> Dataset:
    """The truth table of `gate` ("and", "or", "xor"): rows (0,0), (0,1), (1,0), (1,1).

    `n` > 4 repeats the four rows (n rounded up to a multiple of 4); `noise` adds Gaussian
    jitter of that standard deviation to the inputs.
    """
    gate = one_of("logic_gate", "gate", gate, _GATES)
    n = _rows(gate, n, 4)
    noise = at_least(gate, "noise", noise, 0.0)
    repeats = math.ceil(n / 4)
    X = np.tile(np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64), (repeats, 1))
    y = np.tile(np.array(_GATES[gate]), repeats)
    if noise:
        X = X + _rng(gate, seed).normal(0.0, noise, X.shape)
    return _xy(gate, X, y, ["0", "1"])


def moons(n: int = 400, noise: float = 0.1, seed: int | None = 0) -> Dataset:
    """Two interleaving half circles: the upper one class 0, the lower (shifted) one class 1."""
    n = _rows("moons", n, 2)
    noise = at_least("moons", "noise", noise, 0.0)
    g = _rng("moons", seed)
    upper = n // 2
    angle = np.concatenate([np.linspace(0, np.pi, upper), np.linspace(0, np.pi, n - upper)])
    X = np.column_stack([np.cos(angle), np.sin(angle)])
    X[upper:] = np.column_stack([1 - np.cos(angle[upper:]), 0.5 - np.sin(angle[upper:])])
    y = np.repeat([0, 1], [upper, n - upper])
    X += g.normal(0.0, noise, X.shape)
    return _xy("moons", X, y, ["0", "1"])


def circles(n: int = 400, noise: float = 0.05, seed: int | None = 0) -> Dataset:
    """A ring (class 0) around a smaller concentric circle (class 1, half the radius)."""
    n = _rows("circles", n, 2)
    noise = at_least("circles", "noise", noise, 0.0)
    g = _rng("circles", seed)
    outer = n // 2
    angle = g.uniform(0, 2 * np.pi, n)
    radius = np.where(np.arange(n) < outer, 1.0, 0.5)
    X = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    X += g.normal(0.0, noise, X.shape)
    y = np.repeat([0, 1], [outer, n - outer])
    return _xy("circles", X, y, ["0", "1"])


def spirals(n: int = 400, noise: float = 0.1, seed: int | None = 0) -> Dataset:
    """Two spirals wound into each other (the hardest of the playground's sets)."""
    n = _rows("spirals", n, 2)
    noise = at_least("spirals", "noise", noise, 0.0)
    g = _rng("spirals", seed)
    first = n // 2
    X, y = [], []
    for label, (count, phase) in enumerate([(first, 0.0), (n - first, np.pi)]):
        t = np.linspace(0.0, 1.0, count)
        radius = 5 * t
        angle = 1.75 * 2 * np.pi * t + phase
        X.append(np.column_stack([radius * np.sin(angle), radius * np.cos(angle)]))
        y.append(np.full(count, label))
    points = np.concatenate(X)
    points += g.normal(0.0, noise * 5 / 2, points.shape)
    return _xy("spirals", points, np.concatenate(y), ["0", "1"])


def blobs(n: int = 300, noise: float = 1.0, seed: int | None = 0) -> Dataset:
    """Three round Gaussian clusters (three classes), `noise` their standard deviation."""
    n = _rows("blobs", n, 3)
    noise = at_least("blobs", "noise", noise, 0.0)
    g = _rng("blobs", seed)
    centres = np.array([[-4.0, -2.0], [4.0, -2.0], [0.0, 4.0]])
    y = np.arange(n) % 3
    X = centres[y] + g.normal(0.0, noise, (n, 2))
    return _xy("blobs", X, y, ["0", "1", "2"])


def gauss(n: int = 200, noise: float = 1.0, seed: int | None = 0) -> Dataset:
    """Two Gaussian clusters (the playground's "Gaussian" set): centres (2, 2) and (−2, −2)."""
    n = _rows("gauss", n, 2)
    noise = at_least("gauss", "noise", noise, 0.0)
    g = _rng("gauss", seed)
    y = np.arange(n) % 2
    centres = np.array([[2.0, 2.0], [-2.0, -2.0]])
    X = centres[y] + g.normal(0.0, noise, (n, 2))
    return _xy("gauss", X, y, ["0", "1"])


def _sklearn(name: str, loader: str) -> Dataset:
    try:
        from sklearn import datasets
    except ImportError:
        raise DataError(
            f"dataset {name!r} ships with scikit-learn, which is not installed; "
            f"pip install 'chainrule[sklearn]'"
        ) from None
    bunch = getattr(datasets, loader)()
    features = [str(f).replace(" ", "_") for f in bunch.feature_names]
    classes = [str(c) for c in bunch.target_names]
    return Dataset(
        name,
        bunch.data.astype(np.float64),
        bunch.target.astype(np.intp),
        features,
        classes,
        "label",
    )


def iris() -> Dataset:
    """Fisher's iris: 150 flowers, 4 measurements, 3 species."""
    return _sklearn("iris", "load_iris")


def wine() -> Dataset:
    """178 wines, 13 chemical measurements, 3 cultivars."""
    return _sklearn("wine", "load_wine")


def breast_cancer() -> Dataset:
    """569 tumours, 30 measurements of cell nuclei, malignant or benign."""
    return _sklearn("breast-cancer", "load_breast_cancer")


def digits() -> Dataset:
    """1,797 handwritten digits as 8×8 images of 0..16 intensities (64 features), 10 classes."""
    return _sklearn("digits", "load_digits")


@dataclass(frozen=True)
class DatasetInfo:
    """A registry entry: how to make the dataset, one line saying what it is, whether it is
    generated (and so takes n, noise and seed), and the hidden layers and epochs it needs by
    default when the command line's (one hidden layer of 32, 50 epochs) are not enough."""

    make: Callable[..., Dataset]
    description: str
    generated: bool
    hidden: tuple[int, ...] | None = None
    epochs: int | None = None


def _gate(name: str) -> Callable[..., Dataset]:
    def make(n: int = 4, noise: float = 0.0, seed: int | None = 0) -> Dataset:
        return logic_gate(name, n, noise, seed)

    return make


DATASETS: dict[str, DatasetInfo] = {
    "and": DatasetInfo(_gate("and"), "the truth table of AND", True),
    "or": DatasetInfo(_gate("or"), "the truth table of OR", True),
    "xor": DatasetInfo(_gate("xor"), "XOR: not linearly separable", True),
    "moons": DatasetInfo(moons, "two interleaving half circles", True),
    "circles": DatasetInfo(circles, "a ring around a circle", True),
    # one hidden layer of 32 ends at chance on the spirals: they need two, and longer
    "spirals": DatasetInfo(spirals, "two interleaved spirals", True, (32, 32), 300),
    "blobs": DatasetInfo(blobs, "three Gaussian clusters", True),
    "gauss": DatasetInfo(gauss, "two Gaussian clusters", True),
    "iris": DatasetInfo(iris, "iris flowers: 3 species", False),
    "wine": DatasetInfo(wine, "wines: chemistry, 3 cultivars", False),
    "breast-cancer": DatasetInfo(breast_cancer, "tumours: malignant or benign", False),
    "digits": DatasetInfo(digits, "8x8 images of handwritten digits", False),
}
GENERATED_OPTIONS = ("n", "noise", "seed")


def known_names() -> str:
    """The names `load` accepts, for error messages and help text."""
    return ", ".join([*DATASETS, *SOURCES]) + ", mnist:DIR, or a .csv file"


def load(
    source: str | os.PathLike[str], target: str | None = None, **options: float | None
) -> Dataset:
    """The dataset named `source`: a DATASETS name, "mnist" or "fashion-mnist" (from the cache
    that `fetch` fills), "mnist:DIR" (IDX files of your own), or a CSV file path.

    `target` picks a CSV's target column by name or index (the last column by default);
    `n`, `noise` and `seed` go to a generated set (`load("moons", n=1000, noise=0.2)`).
    """
    spec = str(source)
    given = {k: v for k, v in options.items() if v is not None}
    for key in given:
        one_of("load", "option", key, GENERATED_OPTIONS)
    if given and not (spec in DATASETS and DATASETS[spec].generated):
        generated = ", ".join(name for name, info in DATASETS.items() if info.generated)
        raise refuse("load", next(iter(given)), f"given for a generated set ({generated})", spec)
    if spec in DATASETS:
        if target is not None:
            raise refuse(
                "load", "target", f"None for the built-in {spec!r} (CSV files only)", target
            )
        return DATASETS[spec].make(**given)
    name, _, folder = spec.partition(":")
    if name in SOURCES:
        from chainrule import idx  # it stands on this module's Dataset

        return idx.mnist(folder, name) if folder else idx.cached(name)
    path = Path(spec)
    if path.suffix.lower() == ".csv" or path.exists() or os.sep in spec:
        return read_csv(path, target)
    raise ConfigError(f"unknown dataset {spec!r}; expected one of {known_names()}")


# --- CSV ----------------------------------------------------------------------------------------


def read_csv(
    path: str | os.PathLike[str], target: str | None = None, text: str | None = None
) -> Dataset:
    """A dataset from a CSV file with a header row: numeric features, and a target column
    (by name or index, the last by default) of class labels (text, or at most 20 distinct
    whole numbers) or numbers (regression). `text`: as for `read_table`."""
    path = Path(path)
    header, rows = read_table(path, text)
    if len(header) < 2:
        raise DataError(f"{path} has one column; expected feature columns and a target column")
    t = target_index(header, target)
    features = [c for c in range(len(header)) if c != t]
    if target is None:
        suggest_target(path, header, rows, features)
    X = numeric_rows(path, header, rows, features)
    values = [fields[t] for _, fields in rows]
    feature_names = [header[c] for c in features]
    warn_constant(path, X, feature_names)
    if is_class_column(values):
        labels = [label_text(v) for v in values]
        if any(not v for v in labels):
            line = rows[labels.index("")][0]
            raise DataError(f"{path}: line {line}: the target {header[t]!r} is empty")
        classes = class_order(set(labels))
        if len(classes) < 2:
            raise DataError(
                f"{path}: the target {header[t]!r} has only one class ({classes[0]!r}); "
                f"expected at least 2 classes"
            )
        index = {name: i for i, name in enumerate(classes)}
        y = np.array([index[v] for v in labels], dtype=np.intp)
        return Dataset(path.stem, X, y, feature_names, classes, header[t])
    y = numeric_rows(path, header, rows, [t])[:, 0]
    return Dataset(path.stem, X, y, feature_names, None, header[t])


def split(
    dataset: Dataset, test_fraction: float, seed: int | None = 0
) -> tuple[Dataset, Dataset | None]:
    """Shuffled (train, test) parts with round(test_fraction · n) test rows (None when 0);
    a dataset with a published split (`n_train`) keeps it."""
    if not isinstance(dataset, Dataset):
        raise ArgumentTypeError(
            f"split: dataset must be a Dataset (data.load(...)), got {dataset!r:.60}"
        )
    share = fraction("split", "test split", test_fraction)
    n = len(dataset)
    if dataset.n_train is not None:
        return dataset.subset(np.arange(dataset.n_train)), dataset.subset(
            np.arange(dataset.n_train, n)
        )
    n_test = round(share * n)
    if n_test == 0:
        return dataset, None
    if n_test == n:
        raise refuse("split", "test split", f"small enough to leave training rows of {n}", share)
    order = np.random.default_rng(seed).permutation(n)
    return dataset.subset(np.sort(order[n_test:])), dataset.subset(np.sort(order[:n_test]))
