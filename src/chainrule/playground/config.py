"""A playground session's settings: the JSON config a page sends, checked field by field.

Every refusal is a ConfigError in checks.py's one shape, "playground: <field> must be ...,
got ...", so the server's 4xx answer names the bad field. The limits keep one session small
(a classroom shares one server): LIMITS is what `GET /api/options` shows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from chainrule.checks import (
    at_least,
    int_at_least,
    one_of,
    positive,
    refuse,
)
from chainrule.nn.layers import ACTIVATIONS
from chainrule.nn.losses import LOSSES
from chainrule.playground.datasets import (
    CLASSIFICATION,
    MAX_CLASSES,
    MAX_CSV_FEATURES,
    MAX_CSV_ROWS,
    REGRESSION,
)
from chainrule.playground.features import DEFAULT_FEATURES, FEATURES

OWNER = "playground"
MAX_HIDDEN_LAYERS = 6
MAX_NEURONS = 8
MAX_N = 2000  # points of a generated data set
MAX_CSV_BYTES = 1_000_000
MAX_LR = 10.0
MAX_SEED = 2**32 - 1

# The playground's three optimizers, each a registry optimizer (optim.OPTIMIZERS) and its settings.
OPTIMIZERS: dict[str, tuple[str, dict[str, float]]] = {
    "sgd": ("sgd", {}),
    "momentum": ("sgd", {"momentum": 0.9}),
    "adam": ("adam", {}),
}
# Softmax is left out: it belongs inside cross-entropy, not between hidden layers.
HIDDEN_ACTIVATIONS = [name for name, cls in ACTIVATIONS.items() if cls.elementwise]
LOSS_NAMES = ["auto", *LOSSES]
PROBLEMS = ("classification", "regression")

LIMITS = {
    "max_hidden_layers": MAX_HIDDEN_LAYERS,
    "max_neurons": MAX_NEURONS,
    "max_n": MAX_N,
    "max_csv_bytes": MAX_CSV_BYTES,
    "max_csv_rows": MAX_CSV_ROWS,
    "max_csv_features": MAX_CSV_FEATURES,
    "max_classes": MAX_CLASSES,
}


@dataclass
class Config:
    """What a session was asked for; `loss` "auto" is cross-entropy for classes, squared error
    for numbers. `csv` holds an uploaded file's text (dataset "csv" only)."""

    dataset: str = "circle"
    n: int = 400
    noise: float = 0.1
    seed: int = 0
    features: list[str] = field(default_factory=lambda: list(DEFAULT_FEATURES))
    hidden: list[int] = field(default_factory=lambda: [4, 2])
    activation: str = "tanh"
    loss: str = "auto"
    optimizer: str = "sgd"
    lr: float = 0.03
    batch_size: int = 10
    train_ratio: float = 0.5
    l1: float = 0.0
    l2: float = 0.0
    problem: str | None = None
    csv: str | None = None
    target: str | None = None

    def public(self) -> dict[str, Any]:
        """The settings as JSON, without the uploaded text (it can be a megabyte)."""
        d = asdict(self)
        d.pop("csv")
        return d


KEYS = list(Config.__dataclass_fields__)


def _at_most(name: str, value: Any, high: float, number: float) -> None:
    if number > high:
        raise refuse(OWNER, name, f"at most {high:g}", value)


def _count(name: str, value: Any, low: int, high: int) -> int:
    number = int_at_least(OWNER, name, value, low)
    _at_most(name, value, high, number)
    return number


def _between(name: str, value: Any, low: float, high: float) -> float:
    number = at_least(OWNER, name, value, low)
    _at_most(name, value, high, number)
    return number


def _features(value: Any) -> list[str]:
    expected = f"a non-empty list of distinct names from {', '.join(FEATURES)}"
    if not isinstance(value, list) or not value or len(set(map(str, value))) != len(value):
        raise refuse(OWNER, "features", expected, value)
    for name in value:
        if not isinstance(name, str) or name not in FEATURES:
            raise refuse(OWNER, "features", expected, value)
    return [str(name) for name in value]


def _hidden(value: Any) -> list[int]:
    expected = (
        f"a list of 0 to {MAX_HIDDEN_LAYERS} layer sizes, each a whole number from 1 to "
        f"{MAX_NEURONS}"
    )
    if not isinstance(value, list) or len(value) > MAX_HIDDEN_LAYERS:
        raise refuse(OWNER, "hidden", expected, value)
    for size in value:
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_NEURONS:
            raise refuse(OWNER, "hidden", expected, value)
    return list(value)


def _text(name: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise refuse(OWNER, name, "a string", value)
    return value


def _csv(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise refuse(OWNER, "csv", 'the CSV file\'s text (with dataset "csv")', value)
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_CSV_BYTES:
        raise refuse(OWNER, "csv", f"at most {MAX_CSV_BYTES} bytes", f"{size} bytes")
    return value


def parse(body: Any) -> Config:
    """The Config for a JSON body: defaults for missing keys, every given key checked."""
    if not isinstance(body, dict):
        raise refuse(OWNER, "the request body", "a JSON object of settings", type(body).__name__)
    unknown = sorted(set(body) - set(KEYS))
    if unknown:
        raise refuse(OWNER, "every key", f"one of {', '.join(KEYS)}", unknown[0])
    c = Config(**body)
    names = [*CLASSIFICATION, *REGRESSION, "csv"]
    c.dataset = one_of(OWNER, "dataset", c.dataset, names)
    c.n = _count("n", c.n, 4, MAX_N)
    c.noise = _between("noise", c.noise, 0.0, 0.5)
    c.seed = _count("seed", c.seed, 0, MAX_SEED)
    c.features = _features(c.features)
    c.hidden = _hidden(c.hidden)
    c.activation = one_of(OWNER, "activation", c.activation, HIDDEN_ACTIVATIONS)
    c.loss = one_of(OWNER, "loss", c.loss, LOSS_NAMES)
    c.optimizer = one_of(OWNER, "optimizer", c.optimizer, OPTIMIZERS)
    c.lr = positive(OWNER, "lr", c.lr)
    _at_most("lr", body.get("lr"), MAX_LR, c.lr)
    c.batch_size = _count("batch_size", c.batch_size, 1, MAX_CSV_ROWS)
    c.train_ratio = _between("train_ratio", c.train_ratio, 0.1, 0.9)
    c.l1 = _between("l1", c.l1, 0.0, 1.0)
    c.l2 = _between("l2", c.l2, 0.0, 1.0)
    if c.problem is not None:
        c.problem = one_of(OWNER, "problem", c.problem, PROBLEMS)
    c.target = _text("target", c.target)
    if c.dataset == "csv":
        c.csv = _csv(c.csv)
    elif c.csv is not None or c.target is not None:
        key = "csv" if c.csv is not None else "target"
        raise refuse(OWNER, key, 'given only with dataset "csv"', f"dataset {c.dataset!r}")
    return c
