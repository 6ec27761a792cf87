"""Joining and splitting: several tensors become one, or one becomes several, or elements are
picked and placed by an index. The gradient is cut apart, put together or routed back along
the same seams.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.checks import positive_int, refuse
from chainrule.errors import ConfigError, DataError, ShapeError
from chainrule.ops.base import ArrayLike, apply, constant
from chainrule.ops.shape import axis_index, counts_of
from chainrule.tensor import VJP, Rule, Tensor

__all__ = [
    "cat",
    "chunk",
    "concatenate",
    "gather",
    "masked_fill",
    "one_hot",
    "scatter_add",
    "split",
    "stack",
]


def _tensors(op: str, tensors: Sequence[ArrayLike]) -> tuple[Tensor, ...]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, Sequence) or not tensors:
        raise refuse(op, "tensors", "a non-empty list of tensors", tensors)
    dtype = next((t.data.dtype for t in tensors if isinstance(t, Tensor)), np.dtype(np.float64))
    return tuple(t if isinstance(t, Tensor) else constant(t, dtype) for t in tensors)


def _stretch(ax: int, start: int, stop: int) -> VJP:
    along = (slice(None),) * ax + (slice(start, stop),)
    return lambda g: g[along]


def concatenate(tensors: Sequence[ArrayLike], axis: int = 0) -> Tensor:
    """The tensors end to end along `axis` (`cat` is PyTorch's name). Derivative: each input
    gets its own stretch of the gradient back."""
    parts = _tensors("concatenate", tensors)
    ax = axis_index("concatenate", axis, parts[0].data.ndim)
    try:
        return apply(_concatenate, "concatenate", parts, ax)
    except ValueError:
        shapes = ", ".join(str(t.shape) for t in parts)
        raise ShapeError(
            f"concatenate: shapes {shapes} must have the same number of axes and agree on every "
            f"axis but {axis}"
        ) from None


def _concatenate(*arrays_then_axis: Any) -> Rule:
    *arrays, ax = arrays_then_axis
    out = np.concatenate(arrays, axis=ax)
    ends = np.cumsum([a.shape[ax] for a in arrays])
    return out, tuple(_stretch(ax, end - a.shape[ax], end) for a, end in zip(arrays, ends))  # noqa: B905


cat = concatenate


def _layer(ax: int, i: int) -> VJP:
    return lambda g: np.take(g, i, axis=ax)


def stack(tensors: Sequence[ArrayLike], axis: int = 0) -> Tensor:
    """Tensors of one shape stacked along a new axis `axis`. Derivative: input i gets the
    gradient's layer i along that axis."""
    parts = _tensors("stack", tensors)
    shapes = {t.shape for t in parts}
    if len(shapes) > 1:
        raise ShapeError(f"stack: tensors must share one shape, got {sorted(shapes)}")
    ax = axis_index("stack", axis, parts[0].data.ndim + 1)
    return apply(_stack, "stack", parts, ax)


def _stack(*arrays_then_axis: Any) -> Rule:
    *arrays, ax = arrays_then_axis
    return np.stack(arrays, axis=ax), tuple(_layer(ax, i) for i in range(len(arrays)))


def _piece(a: np.ndarray, ax: int, start: int, stop: int) -> Rule:
    along = (slice(None),) * ax + (slice(start, stop),)

    def vjp(g: np.ndarray) -> np.ndarray:
        full = np.zeros(a.shape, g.dtype)
        full[along] = g
        return full

    return a[along], (vjp,)


def _pieces(x: Tensor, ax: int, lengths: Sequence[int]) -> list[Tensor]:
    ends = np.cumsum(lengths, dtype=np.intp)
    pieces = zip(lengths, ends, strict=True)
    return [apply(_piece, "split", (x,), ax, int(end) - n, int(end)) for n, end in pieces]


def split(x: Tensor, sizes: int | Sequence[int], axis: int = 0) -> list[Tensor]:
    """PyTorch's split: pieces along `axis`, of length `sizes` each (the last may be shorter),
    or of the lengths listed (summing to the axis's length). numpy's np.split(a, k) is `chunk`.
    Derivative: each piece's gradient lands in its own stretch of x's gradient, and the
    pieces' gradients add up there."""
    ax = axis_index("split", axis, x.data.ndim)
    n = x.data.shape[ax]
    if isinstance(sizes, int | np.integer):
        size = positive_int("split", "sizes", sizes)
        equal = [size] * (n // size) + ([n % size] if n % size else [])
        return _pieces(x, ax, equal or [0])
    lengths = counts_of("split", "sizes", sizes)
    if sum(lengths) != n:
        raise ShapeError(f"split: lengths {list(sizes)} must sum to {n}, the length of axis {axis}")
    return _pieces(x, ax, lengths)


def chunk(x: Tensor, chunks: int, axis: int = 0) -> list[Tensor]:
    """PyTorch's chunk: `chunks` pieces of length ⌈n / chunks⌉ along `axis` (the last shorter,
    or fewer pieces when n runs out). Derivative: as `split`'s."""
    count = positive_int("chunk", "chunks", chunks)
    ax = axis_index("chunk", axis, x.data.ndim)
    size = -(-x.data.shape[ax] // count)
    return split(x, size, ax) if size else _pieces(x, ax, [0] * count)


def _whole_numbers(op: str, name: str, values: ArrayLike, error: type[Exception]) -> np.ndarray:
    """Integer indices or labels; floats (every Tensor holds floats) only when whole."""
    array = values.data if isinstance(values, Tensor) else np.asarray(values)
    if array.dtype.kind == "f" and np.all(np.isfinite(array) & (array == np.round(array))):
        return array.astype(np.intp)
    if array.dtype.kind not in "iu":
        raise error(f"{op}: {name} must hold whole numbers, got {array.dtype} values {array!r}")
    return array.astype(np.intp, copy=False)


def _placed(op: str, shape: tuple[int, ...], ax: int, index: np.ndarray) -> tuple[Any, ...]:
    """Where index puts each element (torch's rule): along `ax` the index's value, on every
    other axis the element's own position."""
    if index.ndim != len(shape):
        raise ShapeError(f"{op}: index has {index.ndim} axes, the tensor {len(shape)}")
    if any(m > n for d, (m, n) in enumerate(zip(index.shape, shape)) if d != ax):  # noqa: B905
        raise ShapeError(
            f"{op}: index shape {index.shape} exceeds tensor shape {shape} on an axis other than "
            f"{ax}"
        )
    if index.size and (index.min() < 0 or index.max() >= shape[ax]):
        bad = index.min() if index.min() < 0 else index.max()
        raise ConfigError(
            f"{op}: index {bad} is out of range for axis {ax} of length {shape[ax]} "
            f"(0 to {shape[ax] - 1})"
        )
    where: list[np.ndarray] = list(np.indices(index.shape, sparse=True))
    where[ax] = index
    return tuple(where)


def gather(x: Tensor, axis: int, index: ArrayLike) -> Tensor:
    """PyTorch's gather: out[i][j] = x[index[i][j]][j] for axis 0 (x[i][index[i][j]] for axis 1):
    along `axis` the index picks, elsewhere each element keeps its place. Derivative: each
    element of x receives the gradient of every place it was picked for (summed)."""
    ax = axis_index("gather", axis, x.data.ndim)
    return apply(_gather, "gather", (x,), ax, _whole_numbers("gather", "index", index, ConfigError))


def _gather(a: np.ndarray, ax: int, index: np.ndarray) -> Rule:
    where = _placed("gather", a.shape, ax, index)

    def vjp(g: np.ndarray) -> np.ndarray:
        full = np.zeros(a.shape, g.dtype)
        np.add.at(full, where, g)
        return full

    return a[where], (vjp,)


def scatter_add(x: Tensor, axis: int, index: ArrayLike, src: ArrayLike) -> Tensor:
    """PyTorch's scatter_add: x with src[i][j] added to x[index[i][j]][j] for axis 0. Derivative:
    x's gradient is the upstream gradient; src[i][j]'s is the upstream gradient where it was
    added (a gather), and 0 for elements of src the index does not reach."""
    if not isinstance(src, Tensor):
        src = constant(src, x.data.dtype)
    ax = axis_index("scatter_add", axis, x.data.ndim)
    at = _whole_numbers("scatter_add", "index", index, ConfigError)
    return apply(_scatter_add, "scatter_add", (x, src), ax, at)


def _scatter_add(a: np.ndarray, source: np.ndarray, ax: int, at: np.ndarray) -> Rule:
    where = _placed("scatter_add", a.shape, ax, at)
    if source.ndim != at.ndim or any(m > n for m, n in zip(at.shape, source.shape)):  # noqa: B905
        raise ShapeError(f"scatter_add: index shape {at.shape} exceeds src shape {source.shape}")
    reach = tuple(slice(0, m) for m in at.shape)
    out = a.copy()
    np.add.at(out, where, source[reach])

    def src_vjp(g: np.ndarray) -> np.ndarray:
        full = np.zeros(source.shape, g.dtype)
        full[reach] = g[where]
        return full

    return out, (lambda g: g, src_vjp)


def masked_fill(x: Tensor, mask: ArrayLike, value: float) -> Tensor:
    """PyTorch's masked_fill: `value` where the boolean `mask` (broadcast to x's shape) is True,
    x elsewhere. Derivative: the upstream gradient where x was kept, 0 where it was filled."""
    fill = _boolean(mask)
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise refuse("masked_fill", "value", "a number", value)
    try:
        fits = np.broadcast_shapes(fill.shape, x.data.shape) == x.data.shape
    except ValueError:
        fits = False
    if not fits:
        raise ShapeError(f"masked_fill: mask shape {fill.shape} does not broadcast to {x.shape}")
    # the mask is a parent that never requires grad, so that a compiled step reads it afresh
    held = Tensor(mask.data if isinstance(mask, Tensor) else fill, dtype=np.bool_)
    return apply(_masked_fill, "masked_fill", (x, held), value)


def _masked_fill(a: np.ndarray, fill: np.ndarray, value: float) -> Rule:
    keep = np.logical_not(fill)
    return np.where(keep, a, np.asarray(value, a.dtype)), (lambda g: g * keep,)


def _boolean(mask: ArrayLike) -> np.ndarray:
    array = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    if array.dtype != np.bool_:
        raise refuse("masked_fill", "mask", "boolean (True where to fill)", array.dtype)
    return array


def one_hot(labels: ArrayLike, num_classes: int = -1, dtype: Any = np.float64) -> Tensor:
    """PyTorch's one_hot: label c becomes a row of 0s with a 1 at position c (a new last axis
    of length `num_classes`; −1 takes the largest label + 1). The rows are float (chainrule's
    tensors are), and take no gradient: labels are data, not a function of the weights."""
    y = _whole_numbers("one_hot", "labels", labels, DataError)
    if num_classes == -1 and y.size:
        num_classes = int(y.max()) + 1
    classes = positive_int("one_hot", "num_classes (or -1 with at least one label)", num_classes)
    if y.size and (y.min() < 0 or y.max() >= classes):
        bad = y.min() if y.min() < 0 else y.max()
        raise DataError(
            f"one_hot: label {bad} is out of range for {classes} classes (0 to {classes - 1})"
        )
    return Tensor(y[..., None] == np.arange(classes), dtype=dtype)
