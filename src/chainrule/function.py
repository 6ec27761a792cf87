"""Function: a rule of your own, written as the lecture writes one, a function and its derivative.

Subclass it with `forward(ctx, *inputs)` (numpy arrays in, a numpy array out) and
`backward(ctx, g)` (the upstream gradient g = ∂C/∂out in, one gradient g · ∂out/∂input per
input out), then call `MyRule.apply(x, ...)`. The result joins the graph through
`tensor.node` exactly as a built-in op does: backward() calls your rule, broadcasting is
undone by the engine, nothing is recorded under `no_grad()`, and `cr.gradcheck` checks it.

>>> import numpy as np
>>> class Cube(Function):
...     @staticmethod
...     def forward(ctx, x):
...         ctx.save_for_backward(x)
...         return x**3
...
...     @staticmethod
...     def backward(ctx, g):
...         (x,) = ctx.saved_tensors
...         return g * 3 * x**2
>>> x = Tensor([2.0], requires_grad=True)
>>> Cube.apply(x).sum().backward()
>>> x.grad
array([12.])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import GradError
from chainrule.tensor import VJP, Tensor, is_grad_enabled, node


class Context:
    """What `forward` leaves for `backward`: arrays saved with `save_for_backward`, and any
    attribute you set (`ctx.alpha = 0.1`)."""

    def __init__(self, needs_input_grad: tuple[bool, ...]) -> None:
        self.needs_input_grad = needs_input_grad  # per input: will its gradient be used?
        self.saved_tensors: tuple[Any, ...] = ()

    def save_for_backward(self, *arrays: Any) -> None:
        """Keep arrays (the inputs, the output, anything) for `backward`, in `saved_tensors`."""
        self.saved_tensors = arrays


class Function:
    """Base of a user-defined rule: override `forward` and `backward`, call `apply`."""

    @staticmethod
    def forward(ctx: Context, *inputs: Any) -> np.ndarray:
        """The rule's value from the inputs' arrays (a tensor input arrives as its `.data`)."""
        raise NotImplementedError("a Function subclass must define forward(ctx, *inputs)")

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Any:
        """One gradient per input of `forward`: `g` times the local derivative (None for an
        input that takes no gradient); a single input may return its array alone."""
        raise NotImplementedError("a Function subclass must define backward(ctx, g)")

    @classmethod
    def apply(cls, *inputs: Any) -> Tensor:
        """Run `forward` on the inputs' arrays and return a tensor that remembers the rule."""
        recording = is_grad_enabled()
        needs = tuple(recording and isinstance(x, Tensor) and x.requires_grad for x in inputs)
        ctx = Context(needs)
        arrays = [x.data if isinstance(x, Tensor) else x for x in inputs]
        out = cls.forward(ctx, *arrays)
        if not isinstance(out, np.ndarray | np.floating | float):
            raise GradError(
                f"{cls.__name__}.forward must return a numpy array, got {type(out).__name__}"
            )
        out = np.asarray(out)
        if out.dtype.kind != "f":
            raise GradError(
                f"{cls.__name__}.forward must return a floating-point array, got {out.dtype}"
            )
        positions = [i for i, x in enumerate(inputs) if isinstance(x, Tensor)]
        parents = tuple(inputs[i] for i in positions)
        grads = _Gradients(cls, ctx, inputs, needs)
        vjps = tuple(grads.vjp(i) for i in positions)
        return node(out, parents, cls.__name__, vjps)


class _Gradients:
    """Calls `backward` once per upstream gradient and hands each input its share.

    The engine asks for one parent's gradient at a time, all with the same upstream `g`; the
    answer for `g` is kept until every input that needs it has taken its own.
    """

    def __init__(
        self, fn: type[Function], ctx: Context, inputs: tuple[Any, ...], needs: tuple[bool, ...]
    ) -> None:
        self.fn, self.ctx, self.inputs, self.needs = fn, ctx, inputs, needs
        self.upstream: np.ndarray | None = None
        self.answer: tuple[Any, ...] = ()
        self.waiting = 0

    def vjp(self, i: int) -> VJP:
        return lambda g: self.gradient(i, g)

    def gradient(self, i: int, g: np.ndarray) -> np.ndarray:
        if self.upstream is not g:
            self.answer = self._call_backward(g)
            self.upstream = g
            self.waiting = sum(self.needs)
        grad = self._checked(i, self.answer[i], g.shape)
        self.waiting -= 1
        if self.waiting <= 0:  # every input has its gradient: let the arrays go
            self.upstream, self.answer = None, ()
        return grad

    def _call_backward(self, g: np.ndarray) -> tuple[Any, ...]:
        name = self.fn.__name__
        answer = self.fn.backward(self.ctx, g)
        if not isinstance(answer, tuple):
            answer = (answer,)
        if len(answer) != len(self.inputs):
            raise GradError(
                f"{name}.backward returned {len(answer)} gradient(s) for {len(self.inputs)} "
                f"input(s) of forward: return one per input (None for an input without one)"
            )
        return tuple(answer)

    def _checked(self, i: int, grad: Any, out_shape: tuple[int, ...]) -> np.ndarray:
        """`grad` for input i, refused unless it is a floating array of that input's shape, or
        of the output's when the input was broadcast to it (the engine sums it back)."""
        name, data = self.fn.__name__, self.inputs[i].data
        if grad is None:
            return np.zeros_like(data)  # no gradient through this input: it contributes 0
        if not isinstance(grad, np.ndarray | np.floating | float):
            raise GradError(
                f"{name}.backward: the gradient for input {i} must be a numpy array, got "
                f"{type(grad).__name__}"
            )
        grad = np.asarray(grad)
        if grad.dtype.kind != "f":
            raise GradError(
                f"{name}.backward: the gradient for input {i} must be floating-point, got "
                f"{grad.dtype}"
            )
        if grad.shape != data.shape and not (
            grad.shape == out_shape and _broadcasts_to(data.shape, out_shape)
        ):
            raise GradError(
                f"{name}.backward: the gradient for input {i} has shape {grad.shape}, but the "
                f"input has shape {data.shape} (a gradient has its input's shape, or the "
                f"output's when the input was broadcast)"
            )
        return grad


def _broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False
