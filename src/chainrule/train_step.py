"""The step fit runs on each batch (forward, loss, backward, update), and the compiled step
fit keeps between its calls.

A fit of a few batches (a playground frame, a notebook cell run again, a benchmark's repeat)
would record its steps anew every time, and recording costs more than a few replays save. So
the compiled step is kept on the optimizer, and the next fit with that optimizer replays it
when the model and the loss are the same objects with the same settings (any attribute
assigned since, a Dropout's p or a layer replaced, makes a new one: a record holds such
settings as constants). Training modes, parameters and shapes are the records' own guard.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.compile import CompiledStep
from chainrule.nn.losses import Loss
from chainrule.nn.module import Module
from chainrule.optim import Optimizer
from chainrule.tensor import Tensor

__all__ = ["KEPT", "TrainStep", "kept_compiled"]


@dataclass(slots=True)  # no __dict__ for CompiledStep's functools.update_wrapper to copy
class TrainStep:
    """Forward, loss, backward, update on one batch; returns the loss C and the output. It holds
    the model, loss and optimizer alone, none of one fit's data, so that a compiled step of it
    can serve the next fit too."""

    model: Module
    loss: Loss | Callable
    optimizer: Optimizer

    def __call__(self, xb: np.ndarray, yb: np.ndarray) -> tuple[Tensor, Tensor]:
        output = self.model(Tensor(xb))
        c = self.loss(output, yb)
        self.optimizer.zero_grad()
        c.backward()
        self.optimizer.step()
        return c, output


def _settings(train_step: TrainStep) -> list[tuple[Module, dict[str, Any]]]:
    """Every module's attributes but its `training` flag, which each replay checks itself: what
    a compiled step's records may hold as constants (a Dropout's p, a loss's smoothing)."""
    loss = [train_step.loss] if isinstance(train_step.loss, Module) else []
    modules = (*train_step.model.modules(), *loss)
    return [(m, {k: v for k, v in vars(m).items() if k != "training"}) for m in modules]


def _unchanged(settings: list[tuple[Module, dict[str, Any]]], now: list) -> bool:
    """The same modules with the same attributes, each the very object it was."""
    return len(settings) == len(now) and all(
        m is n and kept.keys() == held.keys() and all(held[k] is v for k, v in kept.items())
        for (m, kept), (n, held) in zip(settings, now, strict=True)
    )


class _Kept:
    """fit's compiled step on an optimizer, and the settings it was made with. A copy or a
    pickle of the optimizer keeps nothing: the records name the original's tensors."""

    def __init__(self) -> None:
        self.step: CompiledStep | None = None
        self.settings: list[tuple[Module, dict[str, Any]]] = []

    def __reduce__(self) -> tuple[type, tuple]:  # pickle, copy and deepcopy: an empty one
        return (_Kept, ())


KEPT = "_fit_compiled"  # the optimizer's attribute that holds its _Kept


def kept_compiled(train_step: TrainStep) -> CompiledStep:
    """The compiled step the last fit with this optimizer made, when its model and loss are the
    same objects with the same settings; else a new one, kept for the next fit."""
    optimizer = train_step.optimizer
    kept = vars(optimizer).get(KEPT)
    if not isinstance(kept, _Kept):
        kept = _Kept()
        setattr(optimizer, KEPT, kept)
    now = _settings(train_step)
    if kept.step is None or not _unchanged(kept.settings, now):
        kept.step, kept.settings = CompiledStep(train_step, extras=True), now
    return kept.step
