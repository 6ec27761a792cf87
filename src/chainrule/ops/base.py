"""What every op shares: lifting plain numbers to tensors and the broadcasting error."""

from __future__ import annotations

import numpy as np

from chainrule.errors import ShapeError
from chainrule.tensor import ArrayLike, Kernel, Tensor, node, numeric_array

Axis = int | tuple[int, ...] | None


def constant(value: ArrayLike, dtype: np.dtype) -> Tensor:
    """`value` as a tensor that needs no gradient; Python scalars and integer arrays take
    `dtype` so that `2 * t` keeps a float32 `t` float32."""
    array = numeric_array(value)  # strings, None and complex numbers refused, as by cr.tensor
    if array.dtype.kind != "f" or array.ndim == 0:
        array = array.astype(dtype)
    return Tensor(array)


def lift(x: ArrayLike, y: ArrayLike) -> tuple[Tensor, Tensor]:
    """Both operands as tensors; a non-tensor takes the dtype of the tensor beside it."""
    if not isinstance(x, Tensor):
        x = constant(x, y.data.dtype if isinstance(y, Tensor) else np.dtype(np.float64))
    if not isinstance(y, Tensor):
        y = constant(y, x.data.dtype)
    return x, y


def broadcast_error(op: str, x: Tensor, y: Tensor) -> ShapeError:
    return ShapeError(
        f"{op}: shapes {x.shape} and {y.shape} do not broadcast (each axis, aligned from the "
        f"right, must be equal or 1)"
    )


def apply(kernel: Kernel, op: str, parents: tuple[Tensor, ...], *settings: object) -> Tensor:
    """The node of `op` from its kernel: `kernel(parents' data..., settings...)` gives the
    value and the local rules, which a compiled step replays with the same calls."""
    out, vjps = kernel(*[p.data for p in parents], *settings)
    return node(out, parents, op, vjps, kernel, (*parents, *settings))
