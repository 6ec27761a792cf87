"""Callbacks: what `fit(..., callbacks=[...])` calls at each step of training.

The API (fit calls the hooks; override any of them, each does nothing by default):

    class Callback:
        def on_train_begin(self, run: Run) -> None   # before the first batch
        def on_batch_end(self, run: Run) -> None     # after optimizer.step() on one batch
        def on_epoch_end(self, run: Run) -> None     # once the epoch's loss is in run.history
        def on_train_end(self, run: Run) -> None     # always: also after Ctrl-C or an error

    @dataclass
    class Run:   # fit's state, as a callback sees it
        model, optimizer, loss, history, epochs     # the run's parts; epochs is fit's bound
        epoch: int          # 1-based, the current epoch
        batch: int          # 0-based, the current batch within the epoch
        x, y, output, batch_loss                    # the current batch and its C
        stop_reason: str | None
        def stop(self, reason: str = "callback") -> None
            # training ends after the current batch; the reason (one of train.STOP_REASONS:
            # until, epochs, tol, callback, diverged, interrupted) goes to History.stop_reason

    ProgressBar(total: int | None = None, done: int = 0, transient: bool = False)
    HealthMonitor(every: int)
    Checkpoint(path, every: int, metadata: Callable[[Run], dict] | None = None)
    EarlyStopping(monitor: str = "loss", tol: float = 1e-4, patience: int = 10)
    LivePlot(every=1, interval=2.0, gradients=False, resolution=60, held_out="validation")
        # chainrule.liveplot: curves and boundary redrawn in place in a notebook

`Callback` and `Run` are defined beside the loop in `chainrule.train` (fit builds the Run) and
are the same objects here. Ctrl-C is fit's own: it stops after the current batch with the
reason "interrupted". Write your own by subclassing Callback:

    class StopAtAccuracy(Callback):
        def on_epoch_end(self, run):
            if run.history.accuracy[-1] >= 0.95:
                run.stop("until")
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chainrule import files, io
from chainrule.checks import at_least, one_of, positive_int, refuse
from chainrule.liveplot import LivePlot
from chainrule.nn.losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, NLLLoss
from chainrule.optim import SGD, Optimizer
from chainrule.train import STOP_REASONS, Callback, Run

__all__ = [
    "STOP_REASONS",
    "Callback",
    "Checkpoint",
    "EarlyStopping",
    "HealthMonitor",
    "LivePlot",
    "ProgressBar",
    "Run",
]


class ProgressBar(Callback):
    """A rich progress bar with epoch, loss, accuracy and ETA; nothing if rich is missing.

    `total` epochs in all (default: `done` + fit's `epochs`); `done` epochs are already behind
    (a resumed run); `transient` clears the bar at the end; `held_out` names fit's
    `validation` rows on the bar ("test" where the caller calls them that, as the CLI does).
    fit(progress=True) adds one.
    """

    def __init__(
        self,
        total: int | None = None,
        done: int = 0,
        transient: bool = False,
        held_out: str = "val",
    ) -> None:
        self.total = None if total is None else positive_int("ProgressBar", "total", total)
        self.done = 0 if done == 0 else positive_int("ProgressBar", "done", done)
        self.transient = transient
        self.held_out = held_out
        self.progress: Any = None

    def on_train_begin(self, run: Run) -> None:
        try:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
        except ImportError:
            return
        self.progress = Progress(
            TextColumn("epoch {task.completed}/{task.total}"),
            BarColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeRemainingColumn(),
            transient=self.transient,
        )
        total = self.total if self.total is not None else self.done + run.epochs
        self.task = self.progress.add_task("train", total=total, completed=self.done, stats="")
        self.progress.start()

    def on_epoch_end(self, run: Run) -> None:
        if self.progress is None:
            return
        history = run.history
        stats = f"loss {history.loss[-1]:.4g}"
        if history.accuracy:
            stats += f"  acc {history.accuracy[-1]:.3f}"
        if history.val_accuracy:
            stats += f"  {self.held_out} acc {history.val_accuracy[-1]:.3f}"
        elif history.val_loss:
            stats += f"  {self.held_out} {history.val_loss[-1]:.4g}"
        self.progress.update(self.task, completed=self.done + run.epoch, stats=stats)

    def on_train_end(self, run: Run) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class HealthMonitor(Callback):
    """Every `every` epochs, the gradient health (chainrule.lecture.health) of the epoch's last
    batch goes to History.health, and a GradientHealthWarning names what looks bad. The update
    ratios use SGD's lr (Adam's steps are not lr times the gradient, so they are not judged on
    that scale), and a cross-entropy loss is compared with its chance value ln K.
    fit(health_every=N) is shorthand for callbacks=[HealthMonitor(N)]."""

    def __init__(self, every: int) -> None:
        # The one reach from the training loop into a teaching room, made when it is used.
        from chainrule.lecture.health import GradientHealthWarning, gradient_health

        self.every = positive_int("HealthMonitor", "every", every)
        self._gradient_health = gradient_health
        self._warning = GradientHealthWarning

    def on_epoch_end(self, run: Run) -> None:
        if run.epoch % self.every:
            return
        lr, chance = step_lr(run.optimizer), _chance(run)
        report = self._gradient_health(run.model, run.x, epoch=run.epoch, lr=lr, **chance)
        run.history.health.append(report.to_dict())
        if report.hints:
            # stacklevel 6 points at fit's caller: this hook, _record, _epoch, train, fit
            hint = f"epoch {run.epoch}: " + "; ".join(report.hints)
            warnings.warn(hint, self._warning, stacklevel=6)


def step_lr(optimizer: Optimizer) -> float | None:
    """The lr of gradient health's update ratio lr·‖∂C/∂W‖/‖W‖: SGD's, over 1 − μ with momentum
    μ (the step its velocity builds up to); None for an optimizer whose step is not a multiple
    of the gradient (Adam divides it by √v̂, so a small gradient still takes a step of ~lr)."""
    if not isinstance(optimizer, SGD):
        return None
    return optimizer.lr / (1 - optimizer.momentum)


def _chance(run: Run) -> dict[str, Any]:
    """The losses so far, and the K of their chance value ln K, for a cross-entropy loss: 2 for
    BCE (each output a yes or no), the output's width for CE and NLL (gradient_health's
    default); nothing for any other loss, which has no chance value, or a sum over examples."""
    if getattr(run.loss, "reduction", None) != "mean":
        return {}
    if isinstance(run.loss, BCELoss | BCEWithLogitsLoss):
        return {"loss": run.history.loss, "n_classes": 2}
    if isinstance(run.loss, CrossEntropyLoss | NLLLoss):
        return {"loss": run.history.loss}
    return {}


class Checkpoint(Callback):
    """Every `every` epochs, `cr.save(model, path, metadata, optimizer=...)` with the run's
    optimizer, so a run resumed from it steps on exactly: written to a temporary file and
    renamed, so a crash mid-write leaves the previous checkpoint whole. `metadata(run)` gives
    the JSON metadata to store; by default the epoch and the History so far."""

    def __init__(
        self,
        path: str | os.PathLike,
        every: int,
        metadata: Callable[[Run], dict[str, Any]] | None = None,
    ) -> None:
        self.path = Path(path)
        self.every = positive_int("Checkpoint", "every", every)
        self.metadata = metadata if metadata is not None else _epoch_and_history
        # a missing folder, a folder or a device at `path`: found now, not after `every` epochs
        files.target(self.path, "Checkpoint:")

    def on_epoch_end(self, run: Run) -> None:
        if run.epoch % self.every == 0:
            io.save(run.model, self.path, metadata=self.metadata(run), optimizer=run.optimizer)


def _epoch_and_history(run: Run) -> dict[str, Any]:
    return {"epoch": run.epoch, "history": run.history.to_dict()}


class EarlyStopping(Callback):
    """scikit-learn's rule: stop (reason "tol") when `monitor` has not improved on its best by
    at least `tol` for `patience` epochs in a row.

    `monitor` is a History list: "loss" or "val_loss" (lower is better: an epoch fails to
    improve when value > best − tol), "accuracy" or "val_accuracy" (higher is better: value <
    best + tol). scikit-learn's MLP stops when its count exceeds n_iter_no_change, which is
    patience = n_iter_no_change + 1 here. `best` and `wait` (the count) persist on the object,
    so one EarlyStopping passed to successive fit calls counts across them.
    """

    def __init__(self, monitor: str = "loss", tol: float = 1e-4, patience: int = 10) -> None:
        names = ("loss", "val_loss", "accuracy", "val_accuracy")
        self.monitor = one_of("EarlyStopping", "monitor", monitor, names)
        self.tol = at_least("EarlyStopping", "tol", tol, 0.0)
        self.patience = positive_int("EarlyStopping", "patience", patience)
        self.lower_is_better = monitor.endswith("loss")
        self.best = math.inf if self.lower_is_better else -math.inf
        self.wait = 0

    def on_epoch_end(self, run: Run) -> None:
        values = getattr(run.history, self.monitor)
        if not values:
            expected = "a History list this run records (val_ needs fit's validation=)"
            raise refuse("EarlyStopping", "monitor", expected, self.monitor)
        value = values[-1]
        if self.lower_is_better:
            stalled, better = value > self.best - self.tol, value < self.best
        else:
            stalled, better = value < self.best + self.tol, value > self.best
        self.wait = self.wait + 1 if stalled else 0
        if better:
            self.best = value
        if self.wait >= self.patience:
            run.stop("tol")
