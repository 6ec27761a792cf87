"""Tensor's named methods, one line each, forwarding to the op of chainrule.ops of the same
name, as torch.Tensor has them: `t.sum(axis)` is `ops.sum(t, axis)`. The rules themselves are in
chainrule/ops/; this table only makes them reachable from a tensor. Tensor (chainrule.tensor)
takes them from TensorMethods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from chainrule.errors import ArgumentTypeError

if TYPE_CHECKING:
    from chainrule.tensor import ArrayLike, Tensor

# chainrule.ops, bound by chainrule.tensor once ops can load: every op builds on Tensor, so this
# table cannot import ops before Tensor exists.
ops: Any = None


class TensorMethods:
    """The named methods of Tensor (shape, joining, reductions, elementwise, activations)."""

    __slots__ = ()

    # ---- shape: chainrule.ops.shape -------------------------------------------------------

    @property
    def T(self) -> Tensor:
        return ops.transpose(self)

    def transpose(self, *axes: int | Sequence[int]) -> Tensor:
        """Axes reversed (no argument, like `.T`) or in the order given: `(1, 0)` or `1, 0`
        (numpy's; PyTorch's transpose(dim0, dim1) is `swapaxes`)."""
        return ops.transpose(self, _dims(axes) if axes else None)

    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        """The same numbers in a new shape, given as `2, 3` or `(2, 3)` (one -1 is inferred)."""
        return ops.reshape(self, _dims(shape))

    def view(self, *shape: int | Sequence[int]) -> Tensor:
        """PyTorch's name for `reshape`: chainrule has no in-place ops, so no aliasing to track."""
        return ops.view(self, _dims(shape))

    def squeeze(self, axis: int | tuple[int, ...] | None = None) -> Tensor:
        return ops.squeeze(self, axis)

    def unsqueeze(self, axis: int) -> Tensor:
        return ops.unsqueeze(self, axis)

    def flatten(self, start: int = 0, end: int = -1) -> Tensor:
        return ops.flatten(self, start, end)

    def ravel(self) -> Tensor:
        return ops.ravel(self)

    def expand(self, *sizes: int | Sequence[int]) -> Tensor:
        """Broadcast to `sizes` (`2, 3` or `(2, 3)`); −1 keeps an axis's length."""
        return ops.expand(self, _dims(sizes))

    def broadcast_to(self, shape: int | Sequence[int]) -> Tensor:
        return ops.broadcast_to(self, shape)

    def permute(self, *axes: int | Sequence[int]) -> Tensor:
        return ops.permute(self, _dims(axes))

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        return ops.swapaxes(self, axis1, axis2)

    def moveaxis(self, source: int | Sequence[int], destination: int | Sequence[int]) -> Tensor:
        return ops.moveaxis(self, source, destination)

    def flip(self, *axes: int | Sequence[int]) -> Tensor:
        """Reversed along the axes given (`0, 1` or `(0, 1)`), along every axis without any."""
        return ops.flip(self, _dims(axes) if axes else None)

    def roll(self, shift: int | Sequence[int], axis: int | Sequence[int] | None = None) -> Tensor:
        return ops.roll(self, shift, axis)

    def repeat(self, *sizes: int | Sequence[int]) -> Tensor:
        """PyTorch's repeat: the whole tensor copied `sizes[i]` times along axis i (numpy's tile);
        numpy's np.repeat, each element repeated in place, is `repeat_interleave`."""
        return ops.repeat(self, _dims(sizes))

    def repeat_interleave(self, repeats: int | Sequence[int], axis: int | None = None) -> Tensor:
        return ops.repeat_interleave(self, repeats, axis)

    def tile(self, *reps: int | Sequence[int]) -> Tensor:
        return ops.tile(self, _dims(reps))

    def diagonal(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
        return ops.diagonal(self, offset, axis1, axis2)

    def trace(self, offset: int = 0) -> Tensor:
        return ops.trace(self, offset)

    def tril(self, diagonal: int = 0) -> Tensor:
        return ops.tril(self, diagonal)

    def triu(self, diagonal: int = 0) -> Tensor:
        return ops.triu(self, diagonal)

    # ---- joining and splitting: chainrule.ops.joining ---------------------------------------

    def split(self, sizes: int | Sequence[int], axis: int = 0) -> list[Tensor]:
        return ops.split(self, sizes, axis)

    def chunk(self, chunks: int, axis: int = 0) -> list[Tensor]:
        return ops.chunk(self, chunks, axis)

    def gather(self, axis: int, index: ArrayLike) -> Tensor:
        return ops.gather(self, axis, index)

    def scatter_add(self, axis: int, index: ArrayLike, src: ArrayLike) -> Tensor:
        return ops.scatter_add(self, axis, index, src)

    def masked_fill(self, mask: ArrayLike, value: float) -> Tensor:
        return ops.masked_fill(self, mask, value)

    # ---- reductions: chainrule.ops.reductions ---------------------------------------------

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return ops.sum(self, axis, keepdims)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return ops.mean(self, axis, keepdims)

    def max(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """The largest values over `axis` (values only, unlike `torch.max(t, dim)`)."""
        return ops.max(self, axis, keepdims)

    def min(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """The smallest values over `axis` (values only, unlike `torch.min(t, dim)`)."""
        return ops.min(self, axis, keepdims)

    def argmax(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        return ops.argmax(self, axis, keepdims)

    def argmin(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        return ops.argmin(self, axis, keepdims)

    def prod(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return ops.prod(self, axis, keepdims)

    def var(
        self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False, ddof: float = 0
    ) -> Tensor:
        """Σ (t − t̄)² / (n − ddof); ddof=0 as numpy (PyTorch's default is ddof=1)."""
        return ops.var(self, axis, keepdims, ddof)

    def std(
        self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False, ddof: float = 0
    ) -> Tensor:
        """√var; ddof=0 as numpy (PyTorch's default is ddof=1)."""
        return ops.std(self, axis, keepdims, ddof)

    def logsumexp(
        self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False
    ) -> Tensor:
        return ops.logsumexp(self, axis, keepdims)

    def cumsum(self, axis: int | None = None) -> Tensor:
        return ops.cumsum(self, axis)

    def cumprod(self, axis: int | None = None) -> Tensor:
        return ops.cumprod(self, axis)

    def any(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return ops.any(self, axis, keepdims)

    def all(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return ops.all(self, axis, keepdims)

    # ---- elementwise functions: chainrule.ops.elementwise ---------------------------------

    def exp(self) -> Tensor:
        return ops.exp(self)

    def log(self) -> Tensor:
        return ops.log(self)

    def exp2(self) -> Tensor:
        return ops.exp2(self)

    def expm1(self) -> Tensor:
        return ops.expm1(self)

    def log2(self) -> Tensor:
        return ops.log2(self)

    def log10(self) -> Tensor:
        return ops.log10(self)

    def log1p(self) -> Tensor:
        return ops.log1p(self)

    def logaddexp(self, other: ArrayLike) -> Tensor:
        return ops.logaddexp(self, other)

    def square(self) -> Tensor:
        return ops.square(self)

    def sqrt(self) -> Tensor:
        return ops.sqrt(self)

    def rsqrt(self) -> Tensor:
        return ops.rsqrt(self)

    def erf(self) -> Tensor:
        return ops.erf(self)

    def sin(self) -> Tensor:
        return ops.sin(self)

    def cos(self) -> Tensor:
        return ops.cos(self)

    def tan(self) -> Tensor:
        return ops.tan(self)

    def sinh(self) -> Tensor:
        return ops.sinh(self)

    def cosh(self) -> Tensor:
        return ops.cosh(self)

    # PyTorch spells the inverses both ways (asin and numpy's arcsin); so does Tensor.
    def arcsin(self) -> Tensor:
        return ops.arcsin(self)

    def arccos(self) -> Tensor:
        return ops.arccos(self)

    def arctan(self) -> Tensor:
        return ops.arctan(self)

    def arcsinh(self) -> Tensor:
        return ops.arcsinh(self)

    def arccosh(self) -> Tensor:
        return ops.arccosh(self)

    def arctanh(self) -> Tensor:
        return ops.arctanh(self)

    asin, acos, atan = arcsin, arccos, arctan
    asinh, acosh, atanh = arcsinh, arccosh, arctanh

    def abs(self) -> Tensor:
        return ops.abs(self)

    __abs__ = abs  # abs(t)

    def sign(self) -> Tensor:
        return ops.sign(self)

    def floor(self) -> Tensor:
        return ops.floor(self)

    def ceil(self) -> Tensor:
        return ops.ceil(self)

    def round(self) -> Tensor:
        return ops.round(self)

    def trunc(self) -> Tensor:
        return ops.trunc(self)

    def clip(self, low: float | None = None, high: float | None = None) -> Tensor:
        """min(max(t, low), high); either bound may be None, not both (PyTorch's `clamp`)."""
        return ops.clip(self, low, high)

    clamp = clip

    # ---- activations: chainrule.ops.activations -------------------------------------------

    def sigmoid(self) -> Tensor:
        return ops.sigmoid(self)

    def tanh(self) -> Tensor:
        return ops.tanh(self)

    def relu(self) -> Tensor:
        return ops.relu(self)

    def softplus(self) -> Tensor:
        return ops.softplus(self)

    def leaky_relu(self, negative_slope: float = 0.01) -> Tensor:
        return ops.leaky_relu(self, negative_slope)

    def elu(self, alpha: float = 1.0) -> Tensor:
        return ops.elu(self, alpha)

    def gelu(self, approximate: str = "none") -> Tensor:
        return ops.gelu(self, approximate)

    def silu(self) -> Tensor:
        return ops.silu(self)

    def mish(self) -> Tensor:
        return ops.mish(self)

    def hardtanh(self, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
        return ops.hardtanh(self, min_val, max_val)

    def logsigmoid(self) -> Tensor:
        return ops.logsigmoid(self)

    def softsign(self) -> Tensor:
        return ops.softsign(self)

    def softmax(self, axis: int = -1) -> Tensor:
        return ops.softmax(self, axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return ops.log_softmax(self, axis)


def _dims(args: tuple[int | Sequence[int], ...]) -> tuple[int, ...]:
    """numpy's two spellings of a shape or an axis order: integers, or one sequence of them."""
    given: Any = args[0] if len(args) == 1 and not isinstance(args[0], int | np.integer) else args
    if isinstance(given, str | bytes) or not isinstance(given, Sequence | np.ndarray):
        raise ArgumentTypeError(f"expected integers or one sequence of them, got {args}")
    if not all(isinstance(d, int | np.integer) and not isinstance(d, bool) for d in given):
        raise ArgumentTypeError(f"expected integers or one sequence of them, got {args}")
    return tuple(int(d) for d in given)
