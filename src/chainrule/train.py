"""fit(): the lecture's loop. "Until total error is small enough, repeat: feed forward, compute
the weight changes, add them up over the examples, change the weights."

This is the one training loop. Everything else that trains (the CLI, the scikit-learn
estimators) calls `fit`, and what they add around it (a progress bar, gradient health,
checkpoints, early stopping) is a `Callback`: fit calls its hooks with the `Run`, the state of
the training run, and a hook may end training with `run.stop(reason)`.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

import numpy as np

from chainrule.checks import positive_int, refuse
from chainrule.errors import ConfigError, DataError, DivergedError, ShapeError
from chainrule.nn.losses import LOSSES, BCELoss, CrossEntropyLoss, SquaredError
from chainrule.nn.module import Module
from chainrule.optim import SGD, Optimizer
from chainrule.tensor import ArrayLike, Tensor, no_grad

# Why a run ended: fit's own bounds ("until", "epochs"), a NaN loss ("diverged"), Ctrl-C
# ("interrupted"), callbacks.EarlyStopping ("tol"), or any other callback's stop ("callback").
STOP_REASONS = ("until", "epochs", "tol", "callback", "diverged", "interrupted")

# sampler(n) -> the indices of the rows one epoch visits, in the order it visits them.
Sampler = Callable[[int], ArrayLike]


class Step(Protocol):
    """step(rows): one update on the batch of those rows (None: all n), setting run.batch_loss;
    returns the batch's row count and accuracy (None for regression). fit's own is _LocalStep;
    chainrule.distributed's adds up the gradients of shards of the rows on Dask workers."""

    @property
    def n(self) -> int: ...  # the rows the batches are drawn from

    def __call__(self, rows: np.ndarray | None) -> tuple[int, float | None]: ...


@dataclass(repr=False)
class History:
    """What a training run did, epoch by epoch."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    stop_reason: str = ""
    wall_time: float = 0.0
    health: list[dict[str, Any]] = field(default_factory=list)  # HealthReport.to_dict()s

    @property
    def epochs(self) -> int:
        return len(self.loss)

    def extend(self, other: History) -> None:
        """Append the epochs of `other`, a run that continued this one: its per-epoch lists
        follow these, its stop reason replaces this one's, and its wall time adds to it."""
        for f in fields(self):
            mine = getattr(self, f.name)
            if isinstance(mine, list):
                mine.extend(getattr(other, f.name))
        self.stop_reason = other.stop_reason
        self.wall_time += other.wall_time

    def __repr__(self) -> str:
        """One line (the per-epoch lists are `loss`, `accuracy`, ...): epochs, first and last
        loss, best validation loss, stop reason, wall time."""
        from chainrule.notebook import history_repr  # a room above the spine

        return history_repr(self)

    def _repr_html_(self) -> str:
        """In a notebook: the summary as a table, and the loss curve when matplotlib is there."""
        from chainrule.notebook import history_html

        return history_html(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and numbers (JSON-ready); the lists are copies, not this History's."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: list(v) if isinstance(v, list) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass
class Run:
    """What a callback sees of a training run: fit's state, updated before each hook.

    `epoch` counts from 1 and `batch` from 0 within the epoch; `x`, `y`, `output` and
    `batch_loss` are the last batch's rows, targets, forward output a^{(L)} and loss C.
    """

    model: Module
    optimizer: Optimizer
    loss: Callable
    history: History
    epochs: int
    epoch: int = 0
    batch: int = 0
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    output: Tensor | None = None
    batch_loss: float = math.nan
    stop_reason: str | None = None

    def stop(self, reason: str = "callback") -> None:
        """End training after the current batch, for `reason` (one of train.STOP_REASONS),
        which goes to History.stop_reason. The first reason given is the one kept."""
        if reason not in STOP_REASONS:
            raise refuse("Run.stop", "reason", f"one of {', '.join(STOP_REASONS)}", reason)
        if self.stop_reason is None:
            self.stop_reason = reason


class Callback:
    """fit calls these hooks with the Run; override any (each does nothing by default).

    on_train_begin before the first batch; on_batch_end after optimizer.step() on each batch;
    on_epoch_end once the epoch's loss (and validation loss) are in run.history; on_train_end
    always, however training ended (also on Ctrl-C, DivergedError or another exception).
    Hooks run in the order of fit's `callbacks` list.
    """

    def on_train_begin(self, run: Run) -> None:
        """Training is about to start (run.epoch is 0)."""

    def on_batch_end(self, run: Run) -> None:
        """One batch has updated the weights."""

    def on_epoch_end(self, run: Run) -> None:
        """One epoch is done and recorded in run.history."""

    def on_train_end(self, run: Run) -> None:
        """Training has ended; run.history.stop_reason says why (empty after an exception)."""


def is_labels(y: np.ndarray) -> bool:
    """Class labels: one integer per row (0..K−1), as CrossEntropyLoss takes them."""
    return y.ndim == 1 and y.dtype.kind in "iu"


def loss_module(loss: Module | Callable | str, y: np.ndarray) -> Callable:
    """The loss fit trains with: "auto" is the command line's choice, cross-entropy for class
    labels and squared error for real targets; anything else is taken as given."""
    if loss == "auto":
        return CrossEntropyLoss() if is_labels(y) else SquaredError()
    if isinstance(loss, str):
        try:
            return LOSSES[loss]()
        except KeyError:
            expected = ["auto", *sorted(LOSSES)]
            raise ConfigError(f"unknown loss {loss!r}; expected one of {expected}") from None
    if not callable(loss):
        raise ConfigError(f"loss must be a loss module, a callable or a name, got {loss!r}")
    return loss


def _loss_hint(loss: Callable, y: np.ndarray) -> str:
    """What to change when the loss refused the network's output for the targets `y` (as
    given to fit)."""
    if is_labels(y) and isinstance(loss, CrossEntropyLoss):
        return f"cross-entropy needs one output per class: {int(y.max()) + 1} in the last layer"
    if is_labels(y):
        return (
            "Y holds class labels: loss='ce' (or 'auto') takes them, with one output per class; "
            "squared error wants one target column per output"
        )
    if isinstance(loss, CrossEntropyLoss | BCELoss):
        return "Y holds real numbers: loss='squared' (or 'auto') takes one column per output"
    return "the network's last layer needs one output per target column"


def _array(value: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(value.data if isinstance(value, Tensor) else value)
    if array.ndim == 0:
        raise DataError(f"fit: {name} must have one row per example, got a scalar")
    if array.dtype.kind in "fc" and not np.all(np.isfinite(array)):
        raise DataError(f"fit: {name} contains NaN or infinity; clean or impute it first")
    return array


def prepare(X: ArrayLike, Y: ArrayLike, loss: Callable, dtype: np.dtype) -> tuple:
    """Features in the model's dtype; targets as integer labels for cross-entropy, else in the
    model's dtype."""
    x = _array(X, "X")
    y = _array(Y, "Y")
    if len(x) != len(y):
        raise DataError(f"fit: X has {len(x)} rows but Y has {len(y)}; expected one target per row")
    x = x.astype(dtype, copy=False)
    labels = isinstance(loss, CrossEntropyLoss) and y.ndim == 1
    y = y.astype(np.intp, copy=False) if labels else y.astype(dtype, copy=False)
    return x, y


def correct(loss: Callable, output: np.ndarray, y: np.ndarray) -> tuple[int, int] | None:
    """How many outputs are classified right, and of how many, for classification losses
    (None for regression): counts, so that shards of a batch add up to the batch's."""
    # count_nonzero / size is np.mean of the booleans without its Python-level wrapper: fit
    # calls this after every batch
    if isinstance(loss, CrossEntropyLoss):
        truth = y if y.ndim == 1 else y.argmax(axis=1)
        right = output.argmax(axis=1) == truth
    elif isinstance(loss, BCELoss):
        right = (output > 0.5) == (y.reshape(output.shape) > 0.5)
    else:
        return None
    return int(np.count_nonzero(right)), right.size


def accuracy(loss: Callable, output: np.ndarray, y: np.ndarray) -> float | None:
    """Fraction classified right, for classification losses (None for regression)."""
    counts = correct(loss, output, y)
    return None if counts is None else counts[0] / counts[1]


@contextmanager
def stop_on_ctrl_c(flag: list[bool]) -> Iterator[None]:
    """Ctrl-C asks training to stop after the current batch instead of killing it mid-step."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def ask_to_stop(signum: int, frame: Any) -> None:
        flag[0] = True

    before = signal.signal(signal.SIGINT, ask_to_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def _first_non_finite(model: Module) -> str:
    for name, p in model.named_parameters():
        if not np.all(np.isfinite(p.data)) or (
            p.grad is not None and not np.all(np.isfinite(p.grad))
        ):
            return name
    return "none of the parameters (only the loss)"


@contextmanager
def predicting(model: Module) -> Iterator[Module]:
    """`model.eval()` and no_grad for the block; each module's `training` is restored after,
    so a prediction between two epochs leaves a Dropout layer as training left it."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with no_grad():
            yield model
    finally:
        for m, mode in modes:
            m.training = mode


def evaluate(
    model: Module, X: np.ndarray, Y: np.ndarray, loss: Callable
) -> tuple[float, float | None]:
    """Loss and accuracy (None for regression) of `model` on (X, Y), in eval mode, no graph."""
    with predicting(model):
        out = model(Tensor(X))
        return float(loss(out, Y).data), accuracy(loss, out.data, Y)


def _hooks(
    callbacks: Sequence[Callback] | None, progress: bool, health_every: int | None
) -> list[Callback]:
    """The callbacks in the order fit calls them: the HealthMonitor that `health_every` stands
    for, then the caller's, then the ProgressBar of `progress` (last, to show the epoch whole).
    chainrule.callbacks is imported here, not at the top, because that room stands on this
    module (and its HealthMonitor on the lecture room): the spine imports no room above it."""
    callbacks = () if callbacks is None else callbacks
    if isinstance(callbacks, Callback) or not all(isinstance(c, Callback) for c in callbacks):
        raise refuse("fit", "callbacks", "a list of callbacks.Callback objects", callbacks)
    hooks = list(callbacks)
    if health_every is None and not progress:
        return hooks
    from chainrule.callbacks import HealthMonitor, ProgressBar

    if health_every is not None:
        hooks.insert(0, HealthMonitor(positive_int("fit", "health_every", health_every)))
    if progress:
        hooks.append(ProgressBar())
    return hooks


def fit(
    model: Module,
    X: ArrayLike,
    Y: ArrayLike,
    loss: Module | Callable | str = "auto",
    optimizer: Optimizer | None = None,
    epochs: int = 100,
    batch_size: int | None = None,
    until: float | None = None,
    seed: int | None = None,
    validation: tuple[ArrayLike, ArrayLike] | None = None,
    progress: bool = True,
    health_every: int | None = None,
    callbacks: Sequence[Callback] | None = (),
    sampler: Sampler | None = None,
    client: Any = None,
) -> History:
    """Train `model` on rows X with targets Y by gradient descent; returns the History.

    batch_size=None is the lecture's full batch: the gradient of C = (1/n) Σ_i C_i over all
    examples, then one update. An int gives mini-batches, the rows shuffled every epoch by
    `seed`; `sampler(n)` replaces that shuffle: it returns the row indices one epoch visits,
    in order, and the batches are consecutive slices of it. Stops when the epoch's training
    loss is <= `until` ("until total error is small enough"), after `epochs` epochs, when a
    callback calls `run.stop(reason)`, or on Ctrl-C after the current batch. A NaN or infinite
    loss raises DivergedError naming the epoch. The optimizer defaults to SGD(lr=0.1).

    `loss="auto"` chooses as the command line does: CrossEntropyLoss for class labels (Y one
    integer per row), SquaredError for real targets. A loss that refuses the output's shape
    says which loss would fit.

    `callbacks` see every batch and epoch (see Callback). `progress=True` adds a
    callbacks.ProgressBar, and `health_every=N` a callbacks.HealthMonitor(N), which checks
    gradient health every N epochs into History.health and warns when it looks bad.

    `client`, a dask.distributed Client, trains on its cluster (chainrule.distributed): X and
    Y (numpy or dask arrays) in shards on the workers, each summing ∂C_i/∂w over its rows of
    the batch; the same batches, History and callbacks, with run.x/y/output None. A killed
    worker's part of a step is computed again; a cluster out of reach is a ClusterError. Dask
    pickles what it sends, so use only a cluster of your own, never one others can reach.
    """
    given = Y if _lazy(Y) else _array(Y, "Y")
    loss_fn = loss_module(loss, given)
    epochs = positive_int("fit", "epochs", epochs)
    if batch_size is not None:
        batch_size = positive_int("fit", "batch_size", batch_size)
    if until is not None and not until >= 0:
        raise ConfigError(f"fit: until must be a loss >= 0, got {until!r}")
    hooks = _hooks(callbacks, progress, health_every)
    optimizer = optimizer if optimizer is not None else SGD(model.parameters(), lr=0.1)
    run = Run(model, optimizer, loss_fn, History(), epochs)
    step = _step(run, X, Y, client)
    val = prepare(*validation, loss_fn, model.dtype) if validation is not None else None
    if sampler is None and batch_size is not None and batch_size < step.n:
        sampler = np.random.default_rng(seed).permutation
    loop = _Loop(run, hooks, step, val, batch_size or step.n, sampler, until)
    model.train()
    start = time.perf_counter()
    try:
        loop.train()
    except (ShapeError, DataError) as err:
        # a loss that refuses the output's shape or the targets' kind says which loss fits
        if not str(err).startswith(type(loss_fn).__name__):
            raise
        raise type(err)(f"{err}; {_loss_hint(loss_fn, given)}") from None
    finally:
        run.history.wall_time = time.perf_counter() - start
        for hook in hooks:
            hook.on_train_end(run)
    return run.history


def _lazy(value: object) -> bool:
    """A dask collection (a dask.array): its rows are on a cluster, not in this process."""
    return hasattr(value, "__dask_graph__")


def _step(run: Run, X: ArrayLike, Y: ArrayLike, client: Any) -> Step:
    """This machine's step on (X, Y), or chainrule.distributed's on `client`'s workers: a room
    above the spine, imported only when a client asks for it."""
    if client is not None:
        from chainrule.distributed import DaskStep

        return DaskStep(client, run, X, Y)
    if _lazy(X) or _lazy(Y):
        raise ConfigError("fit: X and Y are dask arrays; pass client= to train on their cluster")
    return _LocalStep(run, *prepare(X, Y, run.loss, run.model.dtype))


@dataclass
class _LocalStep:
    """Forward, loss, backward and update on the batch's rows of x and y, in this process."""

    run: Run
    x: np.ndarray
    y: np.ndarray

    @property
    def n(self) -> int:
        return len(self.x)

    def __call__(self, rows: np.ndarray | None) -> tuple[int, float | None]:
        run = self.run
        xb, yb = (self.x, self.y) if rows is None else (self.x[rows], self.y[rows])
        run.x, run.y = xb, yb
        run.output = run.model(Tensor(xb))
        c = run.loss(run.output, yb)
        run.optimizer.zero_grad()
        c.backward()
        run.optimizer.step()
        run.batch_loss = float(c.data)
        return len(xb), accuracy(run.loss, run.output.data, yb)


@dataclass
class _Loop:
    """One fit call's loop over epochs and batches, calling the hooks at each step."""

    run: Run
    hooks: list[Callback]
    step: Step
    val: tuple[np.ndarray, np.ndarray] | None
    size: int
    sampler: Sampler | None
    until: float | None
    ctrl_c: list[bool] = field(default_factory=lambda: [False])

    def train(self) -> None:
        run = self.run
        for hook in self.hooks:
            hook.on_train_begin(run)
        with stop_on_ctrl_c(self.ctrl_c):
            for epoch in range(1, run.epochs + 1):
                run.epoch = epoch
                self._epoch()
                if run.stop_reason is not None:
                    break
        run.history.stop_reason = run.stop_reason or "epochs"

    def _order(self) -> np.ndarray | None:
        """This epoch's row order from the sampler; None for the full batch in row order."""
        if self.sampler is None:
            return None
        order = np.asarray(self.sampler(self.step.n))
        if order.ndim != 1 or order.dtype.kind not in "iu" or len(order) == 0:
            raise refuse("fit", "sampler(n)", "a non-empty 1-D array of row indices", order)
        return order

    def _batches(self) -> Iterator[np.ndarray | None]:
        """Each batch's row indices; None for the full batch."""
        order = self._order()
        if order is None:
            yield None
            return
        for lo in range(0, len(order), self.size):
            yield order[lo : lo + self.size]

    def _epoch(self) -> None:
        run = self.run
        total, right, seen, acc = 0.0, 0.0, 0, None
        for batch, rows in enumerate(self._batches()):
            run.batch = batch
            size, acc = self.step(rows)
            total += run.batch_loss * size
            right += (acc or 0.0) * size
            seen += size
            for hook in self.hooks:
                hook.on_batch_end(run)
            if self.ctrl_c[0]:
                run.stop("interrupted")
            if run.stop_reason is not None:
                break
        self._record(total / seen, None if acc is None else right / seen)

    def _record(self, epoch_loss: float, epoch_accuracy: float | None) -> None:
        run, history = self.run, self.run.history
        history.loss.append(epoch_loss)
        if epoch_accuracy is not None:
            history.accuracy.append(epoch_accuracy)
        if not np.isfinite(epoch_loss):
            run.stop_reason = history.stop_reason = "diverged"
            raise DivergedError(
                f"training diverged at epoch {run.epoch}: the loss is {epoch_loss} (first "
                f"non-finite values in {_first_non_finite(run.model)}); try a smaller "
                f"learning rate (lr={getattr(run.optimizer, 'lr', '?')} now)",
                history,
            )
        if self.val is not None:
            v_loss, v_acc = evaluate(run.model, *self.val, run.loss)
            history.val_loss.append(v_loss)
            if v_acc is not None:
                history.val_accuracy.append(v_acc)
        if self.until is not None and epoch_loss <= self.until:
            run.stop("until")
        for hook in self.hooks:
            hook.on_epoch_end(run)
