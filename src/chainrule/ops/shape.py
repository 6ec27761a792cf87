"""Shape ops: the same numbers moved around; the gradient is moved back."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import ShapeError
from chainrule.tensor import Tensor, node

__all__ = ["getitem", "reshape", "transpose"]


def reshape(x: Tensor, shape: int | tuple[int, ...]) -> Tensor:
    """Same numbers, new shape: the gradient is reshaped back."""
    before = x.data.shape
    try:
        out = x.data.reshape(shape)
    except ValueError:
        raise ShapeError(
            f"reshape: cannot reshape {before} ({x.data.size} elements) into "
            f"{(shape,) if isinstance(shape, int) else tuple(shape)}"
        ) from None
    return node(out, (x,), "reshape", (lambda g: g.reshape(before),))


def transpose(x: Tensor, axes: tuple[int, ...] | None = None) -> Tensor:
    """Permute axes (reverse them by default, `.T`): the gradient is permuted back."""
    back = None if axes is None else tuple(np.argsort(axes))
    return node(np.transpose(x.data, axes), (x,), "transpose", (lambda g: np.transpose(g, back),))


def _is_basic(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, int | slice | np.integer) or p is None or p is Ellipsis for p in parts)


def getitem(x: Tensor, index: Any) -> Tensor:
    """Select elements; each selected element passes its gradient back to where it came from
    (added up when an index repeats)."""
    if isinstance(index, Tensor):
        index = index.data.astype(np.intp)
    a = x.data
    try:
        out = a[index]
    except IndexError as err:
        raise ShapeError(f"getitem: index {index!r} does not fit shape {a.shape}: {err}") from None

    def vjp(g: np.ndarray) -> np.ndarray:
        full = np.zeros_like(a)
        if _is_basic(index):
            full[index] = g
        else:
            np.add.at(full, index, g)
        return full

    return node(np.asarray(out), (x,), "getitem", (vjp,))
