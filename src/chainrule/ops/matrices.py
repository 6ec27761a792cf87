"""Matrices inside a tensor: the diagonal and the triangles of two of its axes (the last two
for tril and triu). Each op's derivative puts the gradient back where the elements came
from, and 0 where nothing came from.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.checks import refuse
from chainrule.errors import ShapeError
from chainrule.ops.base import apply
from chainrule.ops.shape import axis_index, is_whole
from chainrule.tensor import Rule, Tensor

__all__ = ["diagonal", "trace", "tril", "triu"]


def _matrix_axes(op: str, x: Tensor, axis1: int, axis2: int) -> tuple[int, int]:
    ndim = x.data.ndim
    if ndim < 2:
        raise ShapeError(f"{op}: needs a tensor of at least 2 dimensions, got shape {x.shape}")
    a, b = axis_index(op, axis1, ndim), axis_index(op, axis2, ndim)
    if a == b:
        raise ShapeError(f"{op}: axis1 and axis2 must differ, got {axis1} and {axis2}")
    return a, b


def _offset(op: str, name: str, k: Any) -> int:
    if not is_whole(k):
        raise refuse(op, name, "an integer", k)
    return int(k)


def diagonal(x: Tensor, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """The elements x[i, i + offset] of the matrices on axes `axis1`, `axis2` (those two axes
    removed, the diagonal appended last, as numpy and PyTorch do). Derivative: the gradient
    written back onto that diagonal, 0 elsewhere."""
    axes = _matrix_axes("diagonal", x, axis1, axis2)
    return apply(_diagonal, "diagonal", (x,), _offset("diagonal", "offset", offset), *axes)


def _diagonal(x: np.ndarray, k: int, a: int, b: int) -> Rule:
    out = np.diagonal(x, k, a, b).copy()  # a copy: numpy's diagonal view is read-only
    i = np.arange(out.shape[-1])
    rows, cols = i + max(-k, 0), i + max(k, 0)

    def vjp(g: np.ndarray) -> np.ndarray:
        full = np.zeros(x.shape, g.dtype)
        np.moveaxis(full, (a, b), (-2, -1))[..., rows, cols] = g
        return full

    return out, (vjp,)


def trace(x: Tensor, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """Σ_i x[i, i + offset]: `diagonal` then a sum, so its derivative is the upstream gradient
    on that diagonal (the identity matrix, shifted by `offset`, times g)."""
    return diagonal(x, offset, axis1, axis2).sum(axis=-1)


def tril(x: Tensor, k: int = 0) -> Tensor:
    """Lower triangle of the last two axes: x[..., i, j] where j <= i + k, 0 above it.
    Derivative: the same triangle of the gradient (the zeroed elements get 0)."""
    _matrix_axes("tril", x, -2, -1)
    return apply(_tril, "tril", (x,), _offset("tril", "k", k))


def _tril(a: np.ndarray, k: int) -> Rule:
    return np.tril(a, k), (lambda g: np.tril(g, k),)


def triu(x: Tensor, k: int = 0) -> Tensor:
    """Upper triangle of the last two axes: x[..., i, j] where j >= i + k, 0 below it.
    Derivative: the same triangle of the gradient."""
    _matrix_axes("triu", x, -2, -1)
    return apply(_triu, "triu", (x,), _offset("triu", "k", k))


def _triu(a: np.ndarray, k: int) -> Rule:
    return np.triu(a, k), (lambda g: np.triu(g, k),)
