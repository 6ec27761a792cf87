"""One playground session: its data, its network, and training a few batches at a time.

The network is `nn.mlp`, its output layer L chosen by `preprocess.head` exactly as `chainrule
train` chooses it; inputs are the chosen features, standardised on the training rows by
`preprocess.Preprocessing` (so an exported model file carries the same preprocessing the CLI
saves). Training is `fit`, the one loop, on the batches of a row order that runs on across
calls; the loss and optimizer come from the registries `nn.LOSSES` and `optim.OPTIMIZERS`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule import data
from chainrule.checks import refuse
from chainrule.data import Dataset
from chainrule.errors import DivergedError
from chainrule.nn.layers import Sequential, blocks, mlp
from chainrule.nn.losses import LOSSES, Loss
from chainrule.optim import OPTIMIZERS, Optimizer
from chainrule.playground import datasets
from chainrule.playground.config import OWNER, Config
from chainrule.playground.features import engineer
from chainrule.preprocess import Preprocessing, head, resolve_loss, targets
from chainrule.train import Callback, Run, fit
from chainrule.train import evaluate as evaluate_loss

MAX_HISTORY = 200  # points of the loss chart a session keeps (then every other one goes)


class Regularisation(Callback):
    """L1 and L2 as TensorFlow Playground applies them, after each batch's update: every
    weight (not the biases) moves toward 0 by η(λ₁ sign(w) + λ₂ w), and an L1 step that would
    carry a weight across 0 leaves it at 0. The chain rule shown by `explain` is for C alone."""

    def __init__(self, model: Sequential, lr: float, l1: float, l2: float) -> None:
        self.weights = [b.linear.weight for b in blocks(model)]
        self.lr, self.l1, self.l2 = lr, l1, l2

    def on_batch_end(self, run: Run) -> None:
        for weight in self.weights:
            w = weight.data
            shrunk = w - self.lr * (self.l1 * np.sign(w) + self.l2 * w)
            if self.l1:
                shrunk[np.sign(shrunk) != np.sign(w)] = 0.0
            w[...] = shrunk


@dataclass
class Split:
    """One part (train or test) of the data: raw inputs for the scatter, the network's input
    rows (features, standardised) and the targets as the loss takes them."""

    raw: Dataset
    x: np.ndarray
    y: np.ndarray


@dataclass
class Record:
    """The losses after each call that trained: the chart's points. When there are more than
    MAX_HISTORY, every other one is dropped, so the chart spans the whole run at half the
    detail and a state stays small (it travels with every step)."""

    step: list[int] = field(default_factory=list)
    train_loss: list[float | None] = field(default_factory=list)
    test_loss: list[float | None] = field(default_factory=list)

    def add(self, step: int, train: float | None, test: float | None) -> None:
        self.step.append(step)
        self.train_loss.append(train)
        self.test_loss.append(test)
        if len(self.step) > MAX_HISTORY:  # every other point goes, the newest stays
            self.step = self.step[-1::-2][::-1]
            self.train_loss = self.train_loss[-1::-2][::-1]
            self.test_loss = self.test_loss[-1::-2][::-1]


def finite_or_none(value: float | None) -> float | None:
    """A number JSON can carry: NaN and infinity (a diverged run) become null."""
    return None if value is None or not math.isfinite(value) else float(value)


class Session:
    """The data, network, optimizer and progress of one page; not thread-safe on its own (the
    server holds a lock per session)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        full = datasets.make(config)
        classification = full.is_classification
        self.problem = "classification" if classification else "regression"
        if config.problem not in (None, self.problem):
            raise refuse(OWNER, "problem", f"{self.problem!r} for this data set", config.problem)
        config.problem = self.problem
        if not classification and config.loss not in ("auto", "squared", "mse"):
            raise refuse(OWNER, "loss", "one of auto, squared, mse for regression", config.loss)
        self.loss_name = resolve_loss(config.loss, classification)
        config.loss = self.loss_name
        self.inputs = list(full.feature_names)  # the raw columns: x1, x2 or the CSV's
        if config.dataset == "csv":
            config.features = list(self.inputs)
        self.features = list(config.features)
        self.classes = full.class_names
        self.n_classes = len(full.class_names) if full.class_names is not None else None
        train_raw, test_raw = self._split(full)
        self.prep = Preprocessing.fit(self._engineered(train_raw))
        self.train = self._part(train_raw)
        self.test = self._part(test_raw) if test_raw is not None else None
        self.extent = datasets.extent(full.X) if len(self.inputs) == 2 else None
        self._grids: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.reset()

    # ---- data ----------------------------------------------------------------------------------

    def _split(self, full: Dataset) -> tuple[Dataset, Dataset | None]:
        test_share = 1.0 - self.config.train_ratio
        if round(test_share * len(full)) >= len(full) - 1:
            raise refuse(OWNER, "train_ratio", f"large enough to train on {len(full)} rows", 0)
        return data.split(full, test_share, self.config.seed)

    def feature_rows(self, X_raw: np.ndarray) -> np.ndarray:
        """The chosen features of rows of raw inputs (a CSV's columns are its features)."""
        return X_raw if self.config.dataset == "csv" else engineer(X_raw, self.features)

    def _engineered(self, raw: Dataset) -> Dataset:
        X = self.feature_rows(raw.X)
        return Dataset(raw.name, X, raw.y, self.features, raw.class_names, raw.target_name)

    def network_input(self, X_raw: np.ndarray) -> np.ndarray:
        """a^{(0)} for rows of raw inputs: the features, standardised."""
        return self.prep.features(self.feature_rows(X_raw))

    def grid(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(features, a^{(0)}) at the centres of a size × size grid over the extent, row-major
        with row 0 at the top (x₂ max); kept, since the extent and scaling never change."""
        if size not in self._grids:
            assert self.extent is not None
            x1 = np.linspace(self.extent[0], self.extent[1], size)
            x2 = np.linspace(self.extent[3], self.extent[2], size)
            a, b = np.meshgrid(x1, x2)
            points = np.column_stack([a.ravel(), b.ravel()])
            self._grids[size] = (self.feature_rows(points), self.network_input(points))
            while len(self._grids) > 4:  # a few sizes at most: a page uses one or two
                del self._grids[next(iter(self._grids))]
        return self._grids[size]

    def _part(self, raw: Dataset) -> Split:
        y = targets(raw.y, self.loss_name, self.n_classes, self.prep)
        return Split(raw, self.network_input(raw.X), y)

    def example(self, which: Any) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of training row `which` (x 1-D), or of every training row for "batch"."""
        if which in (None, "batch"):
            return self.train.x, self.train.y
        i = self._row(which)
        return self.train.x[i], self.train.y[i]

    def rows(self, which: Any) -> tuple[np.ndarray, np.ndarray]:
        """`example`, always as rows: one training row, or all of them for "batch"."""
        if which in (None, "batch"):
            return self.train.x, self.train.y
        i = self._row(which)
        return self.train.x[i : i + 1], self.train.y[i : i + 1]

    def _row(self, which: Any) -> int:
        n = len(self.train.x)
        try:
            i = int(which)
        except (TypeError, ValueError):
            i = -1
        if not 0 <= i < n:
            raise refuse(OWNER, "example", f'a training row 0..{n - 1} or "batch"', which)
        return i

    # ---- the network -----------------------------------------------------------------------------

    def reset(self) -> None:
        """Fresh weights from the config's seed; the batch order and the chart start over."""
        c = self.config
        outputs, output_activation = head(self.loss_name, self.n_classes)
        sizes = [len(self.features), *c.hidden, outputs]
        self.model = mlp(sizes, c.activation, output_activation, rng=c.seed)
        self.loss: Loss = LOSSES[self.loss_name]()
        self.optimizer = self._optimizer()
        self.hooks: list[Callback] = []
        if c.l1 or c.l2:
            self.hooks.append(Regularisation(self.model, c.lr, c.l1, c.l2))
        self.order = np.random.default_rng(c.seed)
        self.pending = np.empty(0, dtype=np.intp)
        self.step = 0
        self.seen = 0
        self.edited = False
        self.record = Record()
        self._losses()

    def _optimizer(self) -> Optimizer:
        from chainrule.playground.config import OPTIMIZERS as CHOICES

        name, settings = CHOICES[self.config.optimizer]
        return OPTIMIZERS[name](self.model.parameters(), lr=self.config.lr, **settings)

    def _rows(self, count: int) -> np.ndarray:
        """The next `count` training rows of an order that reshuffles after each pass."""
        n = len(self.train.x)
        while len(self.pending) < count:
            self.pending = np.concatenate([self.pending, self.order.permutation(n)])
        rows, self.pending = self.pending[:count], self.pending[count:]
        return rows

    def train_batches(self, batches: int) -> None:
        """`batches` updates of `batch_size` rows each, by `fit`; then the losses."""
        size = min(self.config.batch_size, len(self.train.x))
        rows = self._rows(batches * size)
        sampler: Callable[[int], np.ndarray] = lambda n: rows  # noqa: E731
        try:
            fit(
                self.model,
                self.train.x,
                self.train.y,
                loss=self.loss,
                optimizer=self.optimizer,
                epochs=1,
                batch_size=size,
                sampler=sampler,
                progress=False,
                callbacks=self.hooks,
            )
        except DivergedError as err:
            raise DivergedError(
                f"playground: training diverged after step {self.step}: the loss is not a "
                f"number any more; lower lr (now {self.config.lr:g}) and reset",
                err.history,
            ) from None
        self.step += batches
        self.seen += len(rows)
        self._losses()

    def _losses(self) -> None:
        self.train_loss, self.train_accuracy = self._evaluate(self.train)
        self.test_loss, self.test_accuracy = (
            self._evaluate(self.test) if self.test is not None else (None, None)
        )
        self.record.add(self.step, self.train_loss, self.test_loss)

    def _evaluate(self, part: Split) -> tuple[float | None, float | None]:
        loss, acc = evaluate_loss(self.model, part.x, part.y, self.loss)
        return finite_or_none(loss), acc

    def output(self, x: np.ndarray) -> np.ndarray:
        """a^{(L)} (the logits z^{(L)} under cross-entropy) for network input rows."""
        from chainrule.tensor import Tensor, no_grad

        with no_grad():
            return self.model(Tensor(x)).data

    def set_weight(self, layer: Any, j: Any, k: Any, value: Any) -> None:
        """w_{jk}^{(layer)} (k "bias": b_j^{(layer)}) becomes `value`, as a user edited it."""
        from chainrule.checks import finite

        linear = self.linear(layer)
        j = _index("j", j, linear.out_features)
        number = finite(OWNER, "value", value)
        if k == "bias":
            assert linear.bias is not None
            linear.bias.data[j] = number
        else:
            linear.weight.data[j, _index("k", k, linear.in_features)] = number
        self.edited = True
        self._losses()

    def linear(self, layer: Any) -> Any:
        """The Linear layer l (1..L, as the lecture counts)."""
        found = list(blocks(self.model))
        return found[_index("layer", layer, len(found) + 1, low=1) - 1].linear

    # ---- what the page shows ---------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        """Whole passes over the training rows so far."""
        return self.seen // len(self.train.x)

    def layers(self) -> list[dict[str, Any]]:
        """`layers[l-1]["weight"][j][k]` is w_{jk}^{(l)}; `["bias"][j]` is b_j^{(l)}."""
        return [
            {"weight": _floats(b.linear.weight.data), "bias": _floats(b.linear.bias.data)}
            for b in blocks(self.model)
            if b.linear.bias is not None
        ]

    def state(self) -> dict[str, Any]:
        r = self.record
        return {
            "epoch": self.epoch,
            "step": self.step,
            "train_loss": self.train_loss,
            "test_loss": self.test_loss,
            "train_accuracy": self.train_accuracy,
            "test_accuracy": self.test_accuracy,
            "layers": self.layers(),
            "history": {
                "step": list(r.step),
                "train_loss": list(r.train_loss),
                "test_loss": list(r.test_loss),
            },
        }


def _floats(values: Any) -> Any:
    """A JSON-ready list (or number); NaN and infinity (a diverged run) become null."""
    a = np.asarray(values, dtype=np.float64)
    if np.all(np.isfinite(a)):
        return a.tolist()
    cleaned = a.astype(object)
    cleaned[~np.isfinite(a)] = None
    return cleaned.tolist()


def _index(name: str, value: Any, size: int, low: int = 0) -> int:
    try:
        i = low - 1 if isinstance(value, bool) else int(value)
    except (TypeError, ValueError, OverflowError):
        i = low - 1
    if isinstance(value, float) and value != i:
        i = low - 1
    if not low <= i < size:
        raise refuse(OWNER, name, f"a whole number in {low}..{size - 1}", value)
    return i
