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
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from chainrule.checks import int_at_least, positive_int, refuse
from chainrule.compile import CompiledStep
from chainrule.errors import ArgumentTypeError, ConfigError, DataError, DivergedError, ShapeError
from chainrule.examples import accuracy, loss_hint, loss_module, prepare, rows_of
from chainrule.history import History
from chainrule.nn.losses import Loss
from chainrule.nn.module import Module
from chainrule.optim import SGD, Optimizer
from chainrule.tensor import ArrayLike, Tensor, detached, no_grad
from chainrule.threads import for_fit
from chainrule.train_step import TrainStep, kept_compiled

# Why a run ended: fit's own bounds ("until", "epochs"), a NaN loss ("diverged"), Ctrl-C
# ("interrupted"), callbacks.EarlyStopping ("tol"), or any other callback's stop ("callback").
STOP_REASONS = ("until", "epochs", "tol", "callback", "diverged", "interrupted")

# A finite loss can still be a blow-up (1e20 after 0.3): an epoch loss above both
# DIVERGENCE_GROWTH times the best epoch loss of the run so far and DIVERGENCE_FLOOR stops
# training as a NaN does. Noisy mini-batch training moves the loss by a few times at most, and
# the floor keeps a loss already near 0 (best 1e-9) from tripping on a harmless 1e-5.
DIVERGENCE_GROWTH = 1e4
DIVERGENCE_FLOOR = 1.0

# sampler(n) -> the indices of the rows one epoch visits, in the order it visits them.
Sampler = Callable[[int], ArrayLike]


class Step(Protocol):
    """step(rows): one update on the batch of those rows (None: all n), setting run.batch_loss;
    returns the batch's row count and accuracy (None for regression). fit's own is _LocalStep;
    chainrule.distributed's adds up the gradients of shards of the rows on Dask workers."""

    @property
    def n(self) -> int: ...  # the rows the batches are drawn from

    def __call__(self, rows: np.ndarray | None) -> tuple[int, float | None]: ...


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
    if (
        isinstance(callbacks, Callback)
        or not isinstance(callbacks, Iterable)
        or not all(isinstance(c, Callback) for c in callbacks)
    ):
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
    compile: bool = True,  # noqa: A002  (the design's name: cr.fit(..., compile=True))
    client: Any = None,
) -> History:
    """Train `model` on rows X with targets Y by gradient descent; returns the History.

    batch_size=None is the lecture's full batch: the gradient of C = (1/n) Σ_i C_i over all
    examples, then one update. An int gives mini-batches, the rows shuffled every epoch by
    `seed`; `sampler(n)` replaces that shuffle: it returns the row indices one epoch visits,
    in order, and the batches are consecutive slices of it. Stops when the epoch's training
    loss is <= `until` ("until total error is small enough"), after `epochs` epochs, when a
    callback calls `run.stop(reason)`, or on Ctrl-C after the current batch. A NaN or infinite
    epoch loss raises DivergedError naming the epoch, and so does a finite one that has grown
    above both 10⁴ × the run's best epoch loss and 1.0 (DIVERGENCE_GROWTH, DIVERGENCE_FLOOR):
    a loss of 1e20 after 0.3 is a blow-up, not noise. Empty X raises DataError, and so do
    class labels that are not whole numbers (never rounded). The optimizer defaults to
    SGD(lr=0.1).

    `loss="auto"` chooses as the command line does: CrossEntropyLoss for class labels (Y one
    integer per row), SquaredError for real targets. A loss that refuses the output's shape
    says which loss would fit.

    `callbacks` see every batch and epoch (see Callback). `progress=True` adds a
    callbacks.ProgressBar, and `health_every=N` a callbacks.HealthMonitor(N), which checks
    gradient health every N epochs into History.health and warns when it looks bad.

    `compile=True` (the default) runs each batch as a compiled step (`chainrule.compile`): the
    first batch of each shape is recorded, the others replay it, with the same numbers as
    `compile=False`, which builds and walks the graph at every batch. Compiled, `run.output`
    is the output a^{(L)} as a detached tensor. A loss given as a plain function is not
    compiled, since the replay would skip whatever else it does besides its ops. The compiled
    step is kept on the optimizer: the next fit with it and the same model and loss objects
    replays what this one recorded, each record checking that what it rests on still holds
    (chainrule.train_step).

    `client`, a dask.distributed Client, trains on its cluster (chainrule.distributed): X and
    Y (numpy or dask arrays) in shards on the workers, each summing ∂C_i/∂w over its rows of
    the batch; the same batches, History and callbacks, with run.x/y/output None. A killed
    worker's part of a step is computed again; a cluster out of reach is a ClusterError. Dask
    pickles what it sends, so use only a cluster of your own, never one others can reach.
    """
    _check_arguments(model, optimizer, seed, sampler, validation)
    given = Y if _lazy(Y) else rows_of(Y, "Y")
    loss_fn = loss_module(loss, given)
    epochs = positive_int("fit", "epochs", epochs)
    if batch_size is not None:
        batch_size = positive_int("fit", "batch_size", batch_size)
    real = isinstance(until, int | float | np.integer | np.floating) and not isinstance(until, bool)
    if until is not None and not (real and until >= 0):
        raise refuse("fit", "until", "a loss >= 0", until)
    hooks = _hooks(callbacks, progress, health_every)
    optimizer = optimizer if optimizer is not None else SGD(model.parameters(), lr=0.1)
    run = Run(model, optimizer, loss_fn, History(), epochs)
    step = _step(run, X, Y, client, compile)
    val = prepare(*validation, loss_fn, model.dtype) if validation is not None else None
    if sampler is None and batch_size is not None and batch_size < step.n:
        sampler = np.random.default_rng(seed).permutation
    loop = _Loop(run, hooks, step, val, batch_size or step.n, sampler, until)
    model.train()
    start = time.perf_counter()
    try:
        with for_fit(model, loop.size) as loop.review:  # the BLAS threads (chainrule.threads)
            loop.train()
    except (ShapeError, DataError) as err:
        # a loss that refuses the output's shape or the targets' kind says which loss fits
        if not str(err).startswith(type(loss_fn).__name__):
            raise
        raise type(err)(f"{err}; {loss_hint(loss_fn, given)}") from None
    finally:
        run.history.wall_time = time.perf_counter() - start
        for hook in hooks:
            hook.on_train_end(run)
    return run.history


def _check_arguments(model: Any, optimizer: Any, seed: Any, sampler: Any, validation: Any) -> None:
    """Refuse, before any work, arguments that would fail deep inside the loop."""
    if not isinstance(model, Module):
        raise ArgumentTypeError(f"fit: model must be a chainrule.nn.Module, got {model!r:.60}")
    if optimizer is not None and not isinstance(optimizer, Optimizer):
        raise ArgumentTypeError(
            f"fit: optimizer must be a chainrule.optim optimizer (optim.SGD(model.parameters(), "
            f"lr=0.1)) or None, got {optimizer!r:.60}"
        )
    if seed is not None:
        int_at_least("fit", "seed", seed, 0)
    if sampler is not None and not callable(sampler):
        raise ArgumentTypeError(f"fit: sampler must be a function of n, got {sampler!r:.60}")
    if validation is not None and (
        not isinstance(validation, tuple | list) or len(validation) != 2
    ):
        raise refuse("fit", "validation", "a pair (X_val, Y_val)", validation)


def _lazy(value: object) -> bool:
    """A dask collection (a dask.array): its rows are on a cluster, not in this process."""
    return hasattr(value, "__dask_graph__")


def _step(run: Run, X: ArrayLike, Y: ArrayLike, client: Any, compiled: bool) -> Step:
    """This machine's step on (X, Y), compiled or not, or chainrule.distributed's on
    `client`'s workers: a room above the spine, imported only when a client asks for it."""
    if client is not None:
        from chainrule.distributed import DaskStep

        return DaskStep(client, run, X, Y)
    if _lazy(X) or _lazy(Y):
        raise ConfigError("fit: X and Y are dask arrays; pass client= to train on their cluster")
    x, y = prepare(X, Y, run.loss, run.model.dtype)
    train_step = TrainStep(run.model, run.loss, run.optimizer)
    step = _LocalStep(run, x, y, train_step)
    if compiled and isinstance(run.loss, Loss):
        step.compiled = kept_compiled(train_step)
    return step


@dataclass
class _LocalStep:
    """Forward, loss, backward and update on the batch's rows of x and y, in this process."""

    run: Run
    x: np.ndarray
    y: np.ndarray
    train_step: TrainStep
    compiled: CompiledStep | None = None

    @property
    def n(self) -> int:
        return len(self.x)

    def __call__(self, rows: np.ndarray | None) -> tuple[int, float | None]:
        run = self.run
        xb, yb = (self.x, self.y) if rows is None else (self.x[rows], self.y[rows])
        run.x, run.y = xb, yb
        if self.compiled is not None:
            loss, output = self.compiled.arrays(xb, yb)
            run.output = detached(output)
        else:
            c, run.output = self.train_step(xb, yb)
            loss = c.data
        run.batch_loss = float(loss)
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
    best: tuple[float, int] = (math.inf, 0)  # the lowest epoch loss so far, and its epoch
    review: Callable[[], None] = lambda: None  # the thread policy's, called at every batch

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
            self.review()
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
        self._check_divergence(epoch_loss)
        if self.val is not None:
            v_loss, v_acc = evaluate(run.model, *self.val, run.loss)
            history.val_loss.append(v_loss)
            if v_acc is not None:
                history.val_accuracy.append(v_acc)
        if self.until is not None and epoch_loss <= self.until:
            run.stop("until")
        for hook in self.hooks:
            hook.on_epoch_end(run)

    def _check_divergence(self, epoch_loss: float) -> None:
        """DivergedError for a NaN or infinite epoch loss, or a finite one far above the best."""
        run = self.run
        best, best_epoch = self.best
        if np.isfinite(epoch_loss):
            if epoch_loss < best:
                self.best = (epoch_loss, run.epoch)
            if epoch_loss <= max(DIVERGENCE_GROWTH * best, DIVERGENCE_FLOOR):
                return
            why = (
                f"the loss grew to {epoch_loss:.4g}, over {DIVERGENCE_GROWTH:g} times its best "
                f"({best:.4g} at epoch {best_epoch})"
            )
        else:
            why = (
                f"the loss is {epoch_loss} (first non-finite values in "
                f"{_first_non_finite(run.model)})"
            )
        run.stop_reason = run.history.stop_reason = "diverged"
        raise DivergedError(
            f"training diverged at epoch {run.epoch}: {why}; try a smaller learning rate "
            f"(lr={getattr(run.optimizer, 'lr', '?')} now)",
            run.history,
        )
