"""The step fit runs on each batch (forward, loss, backward, update), and the compiled step
fit keeps between its calls.

A fit of a few batches (a playground frame, a notebook cell run again, a benchmark's repeat)
would record its steps anew every time, and recording costs more than a few replays save. So
the compiled step is kept on the optimizer, and the next fit with that optimizer replays it
when the model and the loss are the same objects. Whatever changed in them since (a training
mode, a setting such as a Dropout's p, a layer replaced, a parameter frozen) is the records'
own guard: a record that no longer holds is recorded again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


class _Kept:
    """fit's last train step on an optimizer and its compiled step. A copy or a pickle of the
    optimizer keeps none: the records name the original's tensors."""

    def __init__(self) -> None:
        self.entry: tuple[TrainStep, CompiledStep] | None = None

    def __reduce__(self) -> tuple[type, tuple]:  # pickle, copy and deepcopy: an empty one
        return (_Kept, ())


KEPT = "_fit_compiled"  # the optimizer's attribute that holds its _Kept


def kept_compiled(train_step: TrainStep) -> CompiledStep:
    """The compiled step the last fit with this optimizer made, when its model and loss are the
    same objects; else a new one, kept for the next fit."""
    kept = vars(train_step.optimizer).get(KEPT)
    if not isinstance(kept, _Kept):
        kept = _Kept()
        setattr(train_step.optimizer, KEPT, kept)
    if kept.entry is not None:
        last, step = kept.entry
        if last.model is train_step.model and last.loss is train_step.loss:
            return step
    step = CompiledStep(train_step, extras=True)
    kept.entry = (train_step, step)
    return step
