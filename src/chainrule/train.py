"""fit(): the lecture's loop. "Until total error is small enough, repeat: feed forward, compute
the weight changes, add them up over the examples, change the weights."
"""

from __future__ import annotations

import signal
import threading
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.checks import positive_int
from chainrule.errors import ConfigError, DataError, DivergedError
from chainrule.lecture.health import GradientHealthWarning, gradient_health
from chainrule.nn.losses import LOSSES, BCELoss, CrossEntropyLoss
from chainrule.nn.module import Module
from chainrule.optim import SGD, Optimizer
from chainrule.tensor import ArrayLike, Tensor, no_grad

STOP_REASONS = ("until", "epochs", "diverged", "interrupted")


@dataclass
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "loss": self.loss,
            "accuracy": self.accuracy,
            "val_loss": self.val_loss,
            "val_accuracy": self.val_accuracy,
            "stop_reason": self.stop_reason,
            "wall_time": self.wall_time,
            "health": self.health,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def _loss_module(loss: Module | Callable | str) -> Callable:
    if isinstance(loss, str):
        try:
            return LOSSES[loss]()
        except KeyError:
            raise ConfigError(f"unknown loss {loss!r}; expected one of {sorted(LOSSES)}") from None
    if not callable(loss):
        raise ConfigError(f"loss must be a loss module, a callable or a name, got {loss!r}")
    return loss


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


def accuracy(loss: Callable, output: np.ndarray, y: np.ndarray) -> float | None:
    """Fraction classified right, for classification losses (None for regression)."""
    # count_nonzero / size is np.mean of the booleans without its Python-level wrapper: fit
    # calls this after every batch
    if isinstance(loss, CrossEntropyLoss):
        truth = y if y.ndim == 1 else y.argmax(axis=1)
        right = output.argmax(axis=1) == truth
    elif isinstance(loss, BCELoss):
        right = (output > 0.5) == (y.reshape(output.shape) > 0.5)
    else:
        return None
    return float(np.count_nonzero(right) / right.size)


@contextmanager
def stop_on_ctrl_c(flag: list[bool]):
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


def evaluate(
    model: Module, X: np.ndarray, Y: np.ndarray, loss: Callable
) -> tuple[float, float | None]:
    """Loss and accuracy (None for regression) of `model` on (X, Y), without a graph."""
    with no_grad():
        out = model(Tensor(X))
        return float(loss(out, Y).data), accuracy(loss, out.data, Y)


def fit(
    model: Module,
    X: ArrayLike,
    Y: ArrayLike,
    loss: Module | Callable | str = "squared",
    optimizer: Optimizer | None = None,
    epochs: int = 100,
    batch_size: int | None = None,
    until: float | None = None,
    seed: int | None = None,
    validation: tuple[ArrayLike, ArrayLike] | None = None,
    progress: bool = True,
    health_every: int | None = None,
) -> History:
    """Train `model` on rows X with targets Y by gradient descent; returns the History.

    batch_size=None is the lecture's full batch: the gradient of C = (1/n) Σ_i C_i over all
    examples, then one update. An int gives shuffled mini-batches (shuffled by `seed`).
    Stops when the epoch's training loss is <= `until` ("until total error is small enough"),
    after `epochs` epochs, or on Ctrl-C after the current batch. A NaN or infinite loss raises
    DivergedError naming the epoch. The optimizer defaults to SGD(lr=0.1).
    `health_every=N` checks gradient health (chainrule.lecture.health) from the last batch every N
    epochs, keeps it in `History.health`, and warns (GradientHealthWarning) when it looks bad.
    """
    loss_fn = _loss_module(loss)
    epochs = positive_int("fit", "epochs", epochs)
    if batch_size is not None:
        batch_size = positive_int("fit", "batch_size", batch_size)
    if health_every is not None:
        health_every = positive_int("fit", "health_every", health_every)
    if until is not None and not until >= 0:
        raise ConfigError(f"fit: until must be a loss >= 0, got {until!r}")
    optimizer = optimizer if optimizer is not None else SGD(model.parameters(), lr=0.1)
    dtype = model.dtype
    x, y = prepare(X, Y, loss_fn, dtype)
    val = prepare(*validation, loss_fn, dtype) if validation is not None else None
    n = len(x)
    size = n if batch_size is None else min(batch_size, n)
    rng = np.random.default_rng(seed)
    history = History()
    stop = [False]
    start = time.perf_counter()
    bar = ProgressBar(epochs) if progress else None
    try:
        with stop_on_ctrl_c(stop):
            for epoch in range(1, epochs + 1):
                order = rng.permutation(n) if size < n else None
                total, right, seen = 0.0, 0.0, 0
                for lo in range(0, n, size):
                    if order is None:
                        xb, yb = x, y
                    else:
                        idx = order[lo : lo + size]
                        xb, yb = x[idx], y[idx]
                    out = model(Tensor(xb))
                    c = loss_fn(out, yb)
                    optimizer.zero_grad()
                    c.backward()
                    optimizer.step()
                    total += float(c.data) * len(xb)
                    acc = accuracy(loss_fn, out.data, yb)
                    right += (acc or 0.0) * len(xb)
                    seen += len(xb)
                    if stop[0]:
                        break
                epoch_loss = total / seen
                history.loss.append(epoch_loss)
                if acc is not None:
                    history.accuracy.append(right / seen)
                if not np.isfinite(epoch_loss):
                    history.stop_reason = "diverged"
                    history.wall_time = time.perf_counter() - start
                    raise DivergedError(
                        f"training diverged at epoch {epoch}: the loss is {epoch_loss} (first "
                        f"non-finite values in {_first_non_finite(model)}); try a smaller "
                        f"learning rate (lr={getattr(optimizer, 'lr', '?')} now)",
                        history,
                    )
                if val is not None:
                    v_loss, v_acc = evaluate(model, *val, loss_fn)
                    history.val_loss.append(v_loss)
                    if v_acc is not None:
                        history.val_accuracy.append(v_acc)
                if health_every is not None and epoch % health_every == 0:
                    report = gradient_health(model, xb, epoch=epoch)
                    history.health.append(report.to_dict())
                    if report.hints:
                        hint = f"epoch {epoch}: " + "; ".join(report.hints)
                        warnings.warn(hint, GradientHealthWarning, stacklevel=2)
                if bar is not None:
                    bar.update(epoch, history)
                if stop[0]:
                    history.stop_reason = "interrupted"
                    break
                if until is not None and epoch_loss <= until:
                    history.stop_reason = "until"
                    break
            else:
                history.stop_reason = "epochs"
    finally:
        if bar is not None:
            bar.close()
    history.wall_time = time.perf_counter() - start
    return history


class ProgressBar:
    """A rich progress bar with epoch, loss, accuracy and ETA; nothing if rich is missing.

    `done` epochs are already behind (a resumed run); `transient` clears the bar at the end.
    """

    def __init__(self, total: int, done: int = 0, transient: bool = False) -> None:
        try:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
        except ImportError:
            self.progress = None
            return
        self.progress = Progress(
            TextColumn("epoch {task.completed}/{task.total}"),
            BarColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeRemainingColumn(),
            transient=transient,
        )
        self.task = self.progress.add_task("train", total=total, completed=done, stats="")
        self.progress.start()

    def update(self, epoch: int, history: History) -> None:
        if self.progress is None:
            return
        stats = f"loss {history.loss[-1]:.4g}"
        if history.accuracy:
            stats += f"  acc {history.accuracy[-1]:.3f}"
        if history.val_accuracy:
            stats += f"  val acc {history.val_accuracy[-1]:.3f}"
        elif history.val_loss:
            stats += f"  val {history.val_loss[-1]:.4g}"
        self.progress.update(self.task, completed=epoch, stats=stats)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
