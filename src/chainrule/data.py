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

import csv
import io
import math
import os
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chainrule.checks import at_least, fraction, int_at_least, one_of, refuse
from chainrule.errors import ConfigError, DataError, DataWarning
from chainrule.fetch import SOURCES
from chainrule.fetch import fetch as fetch  # cr.data.fetch("mnist"), beside load

# A numeric target column with at most this many distinct whole numbers is read as class
# labels (0/1, digits 0-9, ...); anything else numeric is a regression target.
MAX_NUMERIC_CLASSES = 20


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


def _rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(seed)


_GATES = {"and": (0, 0, 0, 1), "or": (0, 1, 1, 1), "xor": (0, 1, 1, 0)}


def logic_gate(gate: str, n: int = 4, noise: float = 0.0, seed: int | None = 0) -> Dataset:
    """The truth table of `gate` ("and", "or", "xor"): rows (0,0), (0,1), (1,0), (1,1).

    `n` > 4 repeats the four rows (n rounded up to a multiple of 4); `noise` adds Gaussian
    jitter of that standard deviation to the inputs.
    """
    gate = one_of("logic_gate", "gate", gate, _GATES)
    n = int_at_least(gate, "n", n, 4)
    noise = at_least(gate, "noise", noise, 0.0)
    repeats = math.ceil(n / 4)
    X = np.tile(np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64), (repeats, 1))
    y = np.tile(np.array(_GATES[gate]), repeats)
    if noise:
        X = X + _rng(seed).normal(0.0, noise, X.shape)
    return _xy(gate, X, y, ["0", "1"])


def moons(n: int = 400, noise: float = 0.1, seed: int | None = 0) -> Dataset:
    """Two interleaving half circles: the upper one class 0, the lower (shifted) one class 1."""
    n = int_at_least("moons", "n", n, 2)
    noise = at_least("moons", "noise", noise, 0.0)
    g = _rng(seed)
    upper = n // 2
    angle = np.concatenate([np.linspace(0, np.pi, upper), np.linspace(0, np.pi, n - upper)])
    X = np.column_stack([np.cos(angle), np.sin(angle)])
    X[upper:] = np.column_stack([1 - np.cos(angle[upper:]), 0.5 - np.sin(angle[upper:])])
    y = np.repeat([0, 1], [upper, n - upper])
    X += g.normal(0.0, noise, X.shape)
    return _xy("moons", X, y, ["0", "1"])


def circles(n: int = 400, noise: float = 0.05, seed: int | None = 0) -> Dataset:
    """A ring (class 0) around a smaller concentric circle (class 1, half the radius)."""
    n = int_at_least("circles", "n", n, 2)
    noise = at_least("circles", "noise", noise, 0.0)
    g = _rng(seed)
    outer = n // 2
    angle = g.uniform(0, 2 * np.pi, n)
    radius = np.where(np.arange(n) < outer, 1.0, 0.5)
    X = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    X += g.normal(0.0, noise, X.shape)
    y = np.repeat([0, 1], [outer, n - outer])
    return _xy("circles", X, y, ["0", "1"])


def spirals(n: int = 400, noise: float = 0.1, seed: int | None = 0) -> Dataset:
    """Two spirals wound into each other (the hardest of the playground's sets)."""
    n = int_at_least("spirals", "n", n, 2)
    noise = at_least("spirals", "noise", noise, 0.0)
    g = _rng(seed)
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
    n = int_at_least("blobs", "n", n, 3)
    noise = at_least("blobs", "noise", noise, 0.0)
    g = _rng(seed)
    centres = np.array([[-4.0, -2.0], [4.0, -2.0], [0.0, 4.0]])
    y = np.arange(n) % 3
    X = centres[y] + g.normal(0.0, noise, (n, 2))
    return _xy("blobs", X, y, ["0", "1", "2"])


def gauss(n: int = 200, noise: float = 1.0, seed: int | None = 0) -> Dataset:
    """Two Gaussian clusters (the playground's "Gaussian" set): centres (2, 2) and (−2, −2)."""
    n = int_at_least("gauss", "n", n, 2)
    noise = at_least("gauss", "noise", noise, 0.0)
    g = _rng(seed)
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


# A number as a CSV writes it: ASCII digits, an optional sign, point and exponent, and spaces
# or tabs around it. Python's float() also takes "1_000" and other scripts' digits ("١٦"),
# which no CSV writer produces and which usually mean a column is not what it seems; NaN and
# infinity match so that they get their own message.
_NUMBER = re.compile(
    r"[ \t]*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)[ \t]*",
    re.IGNORECASE | re.ASCII,
)


def strict_float(text: str) -> float | None:
    """The number `text` spells in a CSV's plain decimal notation, else None."""
    return float(text) if _NUMBER.fullmatch(text) else None


def _number(text: str, line: int, column: str, path: Path) -> float:
    value = strict_float(text)
    where = f"{path}: line {line}, column {column!r}"
    if value is None:
        raise DataError(
            f"{where}: {text!r} is not a number; expected numeric features written with ASCII "
            f"digits, a point and an optional exponent (no underscores or other scripts' digits)"
        )
    if math.isinf(value) and "inf" not in text.lower():
        raise DataError(
            f"{where}: {text.strip()} overflows a float64 (the largest is "
            f"{np.finfo(np.float64).max:.4g}); rescale the column"
        )
    if not math.isfinite(value):
        raise DataError(
            f"{where}: {text.strip()} is not a finite number; remove or impute NaN and "
            f"infinity first"
        )
    return value


def read_table(
    path: str | os.PathLike[str], text: str | None = None
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the (line number, fields) of each non-blank row of a CSV file, after
    checking the file exists, has a header and data rows, and every row has the header's width.
    Given `text` (an upload), that text is the CSV, nothing is read and `path` only names it."""
    path = Path(path)
    try:
        if text is None:
            if not path.is_file():
                raise DataError(f"no such file: {path}")
            with path.open(newline="", encoding="utf-8-sig") as f:
                text = f.read()
        reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
        # a line with nothing on it is skipped; ",," is a row of empty fields, not a blank line
        lines = [(i, row) for i, row in enumerate(reader, start=1) if _filled(row)]
    except (UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{path} is not a readable CSV text file: {err}") from None
    if not lines:
        raise DataError(f"{path} is empty; expected a header row and data rows")
    header = [h.strip() for h in lines[0][1]]
    _check_header(path, header)
    rows = lines[1:]
    if not rows:
        raise DataError(f"{path} has a header but no data rows")
    for line, row in rows:
        if len(row) != len(header):
            raise DataError(
                f"{path}: line {line} has {len(row)} fields but the header has "
                f"{len(header)}; expected every row to have {len(header)}"
            )
    return header, rows


def _filled(row: list[str]) -> bool:
    return len(row) > 1 or (len(row) == 1 and bool(row[0].strip()))


def _check_header(path: Path, header: list[str]) -> None:
    """Refuse a header with a nameless column or a name used twice: a column is found by its
    name (the target, a model's features), so either would read the wrong column."""
    empty = [i + 1 for i, name in enumerate(header) if not name]
    if empty:
        raise DataError(
            f"{path}: the header's column {empty[0]} has no name ({len(empty)} nameless in "
            f"all); expected the first line to name every column"
        )
    counts = Counter(header)
    twice = [name for name, n in counts.items() if n > 1]
    if twice:
        places = {name: [i + 1 for i, h in enumerate(header) if h == name] for name in twice[:3]}
        shown = "; ".join(
            f"{name!r} at columns {', '.join(map(str, where))}" for name, where in places.items()
        )
        raise DataError(
            f"{path}: duplicate column names in the header: {shown}"
            f"{' and more' if len(twice) > 3 else ''}; expected each name once"
        )


def target_index(header: list[str], target: str | None) -> int:
    """The position of the target column: by name, else by (possibly negative) index;
    the last column when `target` is None."""
    if target is None:
        return len(header) - 1
    if target in header:
        return header.index(target)
    try:
        index = int(target)
    except ValueError:
        index = None
    if index is not None and -len(header) <= index < len(header):
        return index % len(header)
    raise DataError(
        f"target column {target!r} is not in the file; columns are {', '.join(header)} "
        f"(give a name or an index 0..{len(header) - 1})"
    )


def numeric_rows(
    path: Path, header: list[str], rows: list[tuple[int, list[str]]], columns: list[int]
) -> np.ndarray:
    """The fields at `columns` of every row as floats; a bad field names its line and column."""
    return np.array(
        [[_number(fields[c], line, header[c], path) for c in columns] for line, fields in rows],
        dtype=np.float64,
    ).reshape(len(rows), len(columns))


def label_text(value: str) -> str:
    """A class label as stored: whole numbers in their plain form ("1.0" -> "1"), text stripped."""
    text = value.strip()
    number = strict_float(text)
    if number is None:
        return text
    return str(int(number)) if math.isfinite(number) and number == int(number) else text


def _is_class_column(values: list[str]) -> bool:
    found = [strict_float(v) for v in values]
    numbers = [x for x in found if x is not None]
    if len(numbers) < len(found):
        return True
    whole = all(math.isfinite(x) and x == int(x) for x in numbers)
    return whole and len(set(numbers)) <= MAX_NUMERIC_CLASSES


def _class_order(names: set[str]) -> list[str]:
    numbers = {name: strict_float(name) for name in names}
    if any(x is None for x in numbers.values()):
        return sorted(names)
    return sorted(names, key=lambda name: numbers[name] or 0.0)


def _suggest_target(
    path: Path, header: list[str], rows: list[tuple[int, list[str]]], features: list[int]
) -> None:
    """Refuse, suggesting --target, a feature column of text only: a label column that is not
    the last (the target's default place) would otherwise read as a bad number."""
    for c in features:
        if not any(_is_number(fields[c]) for _, fields in rows):
            line, fields = rows[0]
            raise DataError(
                f"{path}: column {header[c]!r} is text ({fields[c].strip()!r} on line {line}), "
                f"not a number; if it is the label, give --target {header[c]} (target= from "
                f"Python): the target is the last column unless told"
            )


def _is_number(text: str) -> bool:
    return strict_float(text) is not None


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
        _suggest_target(path, header, rows, features)
    X = numeric_rows(path, header, rows, features)
    values = [fields[t] for _, fields in rows]
    feature_names = [header[c] for c in features]
    _warn_constant(path, X, feature_names)
    if _is_class_column(values):
        labels = [label_text(v) for v in values]
        if any(not v for v in labels):
            line = rows[labels.index("")][0]
            raise DataError(f"{path}: line {line}: the target {header[t]!r} is empty")
        classes = _class_order(set(labels))
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


def _warn_constant(path: Path, X: np.ndarray, names: list[str]) -> None:
    """One DataWarning naming the feature columns whose values are all equal: standardised
    they are 0 in every row, so the network has nothing to learn from them."""
    if len(X) < 2:
        return
    same = np.all(X[0] == X, axis=0)
    constant = [name for name, flat in zip(names, same, strict=True) if flat]
    if constant:
        more = f", ... ({len(constant)} in all)" if len(constant) > 6 else ""
        shown = ", ".join(constant[:6]) + more
        warnings.warn(
            f"{path}: feature column(s) {shown} hold one value in every row; they carry "
            f"nothing for the network to learn from",
            DataWarning,
            stacklevel=3,
        )


def split(
    dataset: Dataset, test_fraction: float, seed: int | None = 0
) -> tuple[Dataset, Dataset | None]:
    """Shuffled (train, test) parts with round(test_fraction · n) test rows (None when 0);
    a dataset with a published split (`n_train`) keeps it."""
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
