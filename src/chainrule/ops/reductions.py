"""Reductions: many elements in, one out; the gradient is spread back over what was reduced."""

from __future__ import annotations

import builtins

import numpy as np

from chainrule.ops.base import Axis
from chainrule.tensor import Tensor, node

__all__ = ["mean", "sum"]


def _expand(g: np.ndarray, shape: tuple[int, ...], axis: Axis, keepdims: bool) -> np.ndarray:
    """Give a reduced gradient back its reduced axes, then broadcast it over them."""
    if not keepdims:
        axes = range(len(shape)) if axis is None else np.atleast_1d(axis)
        g = np.expand_dims(g, tuple(int(i) % len(shape) for i in axes))
    return np.broadcast_to(g, shape)


def sum(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Σ over `axis`: every summed element gets the upstream gradient unchanged."""
    shape = x.data.shape
    out = np.sum(x.data, axis=axis, keepdims=keepdims)
    return node(np.asarray(out), (x,), "sum", (lambda g: _expand(g, shape, axis, keepdims),))


def mean(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """(1/n) Σ over `axis`: every element gets 1/n of the upstream gradient."""
    shape = x.data.shape
    out = np.asarray(np.mean(x.data, axis=axis, keepdims=keepdims))
    n = x.data.size // builtins.max(out.size, 1)
    return node(out, (x,), "mean", (lambda g: _expand(g / n, shape, axis, keepdims),))
