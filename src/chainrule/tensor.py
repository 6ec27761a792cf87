"""Tensor: a numpy array that remembers how it was made, so the chain rule can run backwards.

A tensor made by an op keeps its parents, the op's name and one local derivative rule per
parent (a vector-Jacobian product: upstream gradient in, this parent's gradient out).
`backward()` visits the graph in reverse topological order and applies those rules: that is
backpropagation, the chain rule applied once per edge.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import count
from operator import attrgetter
from typing import Any, ParamSpec, TypeVar

import numpy as np

from chainrule.errors import GradError, ShapeError

ArrayLike = Any
VJP = Callable[[np.ndarray], np.ndarray]
P = ParamSpec("P")
R = TypeVar("R")


class _GradMode(threading.local):
    """Whether ops record a graph, kept per thread as PyTorch keeps it: a thread predicting
    under `no_grad()` must not stop another thread's training from recording. The class
    attribute is what every thread sees until it sets its own, so a new thread records."""

    enabled = True


_grad_mode = _GradMode()


# Every tensor takes the next number when it is made. A tensor is made after its parents,
# so sorting a graph's nodes by this number, newest first, puts every child before its
# parents: the reverse topological order backward() needs, without a depth-first search.
_birth = count()
_passes = count(1)
_by_birth = attrgetter("_seq")


class no_grad:  # noqa: N801  (named like PyTorch's torch.no_grad)
    """Context manager (and decorator) under which no graph is recorded.

    >>> x = tensor([1.0, 2.0], requires_grad=True)
    >>> with no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """

    def __enter__(self) -> None:
        self._before = _grad_mode.enabled
        _grad_mode.enabled = False

    def __exit__(self, *exc: object) -> None:
        _grad_mode.enabled = self._before

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            with no_grad():
                return fn(*args, **kwargs)

        return wrapped


def is_grad_enabled() -> bool:
    """Whether ops record a graph right now in this thread (False inside `no_grad()`)."""
    return _grad_mode.enabled


def as_array(value: ArrayLike, dtype: Any = None) -> np.ndarray:
    """`value` as a floating numpy array: float32/float64 kept, anything else float64."""
    if isinstance(value, Tensor):
        value = value.data
    array = np.asarray(value, dtype=dtype)
    if dtype is None and array.dtype.kind != "f":
        array = array.astype(np.float64)
    return array


class Tensor:
    """An n-dimensional array with a gradient, and the node of the graph that made it.

    `data` is the numpy array (writable, and may be reassigned); `grad` is None until a
    backward pass reaches the tensor, then the array `∂C/∂(this tensor)` of the same shape.
    """

    __slots__ = (
        "data",
        "grad",
        "requires_grad",
        "op",
        "_parents",
        "_vjps",
        "_up",
        "_retain",
        "_seq",
        "_mark",
    )
    __array_priority__ = 1000  # numpy defers `array + tensor` to Tensor.__radd__

    def __init__(self, data: ArrayLike, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data = as_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise GradError(f"only floating-point tensors can require grad, got {self.data.dtype}")
        self.grad: np.ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self.op = "leaf"
        self._parents: tuple[Tensor, ...] = ()
        self._vjps: tuple[VJP, ...] = ()
        self._up: np.ndarray | None = None
        self._retain = False
        self._seq = next(_birth)
        self._mark = 0

    # ---- the graph ------------------------------------------------------------------------

    @property
    def is_leaf(self) -> bool:
        """True for tensors no op made (inputs and parameters): they keep `.grad`."""
        return not self._parents

    @property
    def parents(self) -> tuple[Tensor, ...]:
        """The tensors this one was computed from (empty for a leaf)."""
        return self._parents

    def retain_grad(self) -> Tensor:
        """Keep `.grad` on this intermediate tensor too (leaves always keep it)."""
        self._retain = True
        return self

    def detach(self) -> Tensor:
        """The same data, cut from the graph: no gradient flows through it."""
        return Tensor(self.data)

    def backward(self, grad: ArrayLike | None = None) -> None:
        """Backpropagate: accumulate `∂self/∂leaf` into every leaf's `.grad` (`+=`).

        On a scalar `grad` may be omitted (it is `∂C/∂C = 1`); on any other shape pass the
        upstream gradient, an array of this tensor's shape.
        """
        if not self.requires_grad:
            raise GradError(
                "backward() on a tensor that does not require grad: no input of the computation "
                "had requires_grad=True (or it was computed under no_grad())"
            )
        if grad is None:
            if self.data.size != 1:
                raise GradError(
                    f"backward() without a gradient needs a scalar, but this tensor has shape "
                    f"{self.data.shape}; call backward(grad) with an array of that shape"
                )
            seed = np.empty(self.data.shape, self.data.dtype)
            seed.fill(1)  # ∂C/∂C = 1 (np.ones is a Python-level wrapper: this is the hot path)
        else:
            seed = np.array(as_array(grad), dtype=self.data.dtype)
            if seed.shape != self.data.shape:
                raise ShapeError(
                    f"backward(grad): grad has shape {seed.shape}, expected the tensor's shape "
                    f"{self.data.shape}"
                )
        _backward_pass(self, seed)

    # ---- array-like surface ---------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        """The length of the first axis; a 0-d tensor has none (TypeError, as numpy's)."""
        if not self.data.ndim:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __contains__(self, value: ArrayLike) -> bool:
        """`value in t`: whether any element equals it (numpy's and PyTorch's meaning)."""
        return bool(np.any(self.data == (value.data if isinstance(value, Tensor) else value)))

    def __bool__(self) -> bool:
        """The truth of a one-element tensor (`if t > 0:`); more elements are ambiguous."""
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor of shape {self.data.shape} is ambiguous: it has "
                f"{self.data.size} elements; reduce it first (.any(), .all()) or compare by "
                f"identity with `is`"
            )
        return bool(self.data)

    def item(self) -> float:
        return self.data.item()

    def numpy(self) -> np.ndarray:
        return self.data

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """numpy 2's protocol: `copy=True` always copies, `copy=False` never does (and raises
        when a dtype change needs one), None copies only for a dtype change. `np.array(t)`
        asks for a copy, so it never aliases `t.data`; `np.asarray(t)` shares it."""
        if copy is False:
            return np.asarray(self.data, dtype=dtype, copy=False)
        return np.array(self.data, dtype=dtype, copy=copy)

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", threshold=20)
        extra = f", op={self.op}" if self._parents else ""
        extra += ", requires_grad=True" if self.requires_grad else ""
        return f"tensor({body}{extra})"

    def _repr_html_(self) -> str:
        """In a notebook: shape, dtype, the op that made it, its grad, a few values."""
        from chainrule.notebook import tensor_html  # a room above the spine: loaded on first use

        return tensor_html(self)

    # `==` compares values, elementwise, as numpy's and PyTorch's do; a tensor is still hashed
    # by identity, so it stays usable as a dict key and in a set (whose lookups try `is` first).
    def __hash__(self) -> int:
        return id(self)

    # ---- operators: each is one primitive of chainrule.ops --------------------------------

    def __add__(self, other: ArrayLike) -> Tensor:
        return ops.add(self, other)

    def __radd__(self, other: ArrayLike) -> Tensor:
        return ops.add(other, self)

    def __sub__(self, other: ArrayLike) -> Tensor:
        return ops.sub(self, other)

    def __rsub__(self, other: ArrayLike) -> Tensor:
        return ops.sub(other, self)

    def __mul__(self, other: ArrayLike) -> Tensor:
        return ops.mul(self, other)

    def __rmul__(self, other: ArrayLike) -> Tensor:
        return ops.mul(other, self)

    def __truediv__(self, other: ArrayLike) -> Tensor:
        return ops.div(self, other)

    def __rtruediv__(self, other: ArrayLike) -> Tensor:
        return ops.div(other, self)

    def __pow__(self, other: ArrayLike) -> Tensor:
        return ops.power(self, other)

    def __rpow__(self, other: ArrayLike) -> Tensor:
        return ops.power(other, self)

    def __matmul__(self, other: ArrayLike) -> Tensor:
        return ops.matmul(self, other)

    def __rmatmul__(self, other: ArrayLike) -> Tensor:
        return ops.matmul(other, self)

    def __neg__(self) -> Tensor:
        return ops.neg(self)

    def __mod__(self, other: ArrayLike) -> Tensor:
        return ops.remainder(self, other)

    def __rmod__(self, other: ArrayLike) -> Tensor:
        return ops.remainder(other, self)

    # Comparisons give boolean tensors that take no gradient: chainrule.ops.compare.
    def __eq__(self, other: object) -> Tensor:  # type: ignore[override]
        return ops.eq(self, other)

    def __ne__(self, other: object) -> Tensor:  # type: ignore[override]
        return ops.ne(self, other)

    def __lt__(self, other: ArrayLike) -> Tensor:
        return ops.lt(self, other)

    def __le__(self, other: ArrayLike) -> Tensor:
        return ops.le(self, other)

    def __gt__(self, other: ArrayLike) -> Tensor:
        return ops.gt(self, other)

    def __ge__(self, other: ArrayLike) -> Tensor:
        return ops.ge(self, other)

    def maximum(self, other: ArrayLike) -> Tensor:
        return ops.maximum(self, other)

    def minimum(self, other: ArrayLike) -> Tensor:
        return ops.minimum(self, other)

    # Products: chainrule.ops.linalg.
    def matmul(self, other: ArrayLike) -> Tensor:
        return ops.matmul(self, other)

    def dot(self, other: ArrayLike) -> Tensor:
        return ops.dot(self, other)

    def inner(self, other: ArrayLike) -> Tensor:
        return ops.inner(self, other)

    def outer(self, other: ArrayLike) -> Tensor:
        return ops.outer(self, other)

    # ---- shape: chainrule.ops.shape -------------------------------------------------------

    def __getitem__(self, index: Any) -> Tensor:
        return ops.getitem(self, index)

    def __iter__(self) -> Iterator[Tensor]:
        """The sub-tensors along the first axis (`for row in t`, `a, b = t`), as numpy and
        PyTorch iterate; each is `t[i]`, so gradients flow back through it."""
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor (use t.item() for its number)")
        return (ops.getitem(self, i) for i in range(len(self.data)))

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
    if len(args) == 1 and not isinstance(args[0], int | np.integer):
        return tuple(int(d) for d in args[0])
    dims = []
    for d in args:
        if not isinstance(d, int | np.integer):
            raise TypeError(f"expected integers or one sequence of them, got {args}")
        dims.append(int(d))
    return tuple(dims)


def tensor(data: ArrayLike, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Make a leaf tensor from a list, scalar or numpy array (float64 unless it is float32)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def node(data: np.ndarray, parents: tuple[Tensor, ...], op: str, vjps: tuple[VJP, ...]) -> Tensor:
    """The tensor an op returns: `data`, plus the graph edge back to `parents` when any of them
    needs a gradient. `vjps[i](upstream)` is `upstream × ∂out/∂parents[i]` (before broadcasting
    is undone)."""
    out = _new_tensor(Tensor)
    out.data = data
    out.grad = None
    out._up = None
    out._retain = False
    out._seq = next(_birth)
    out._mark = 0
    if _grad_mode.enabled:
        for p in parents:
            if p.requires_grad:
                out.requires_grad = True
                out.op = op
                out._parents = parents
                out._vjps = vjps
                return out
    out.requires_grad = False
    out.op = "leaf"
    out._parents = ()
    out._vjps = ()
    return out


_new_tensor = Tensor.__new__


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` back to `shape`: the derivative of numpy broadcasting.

    A value broadcast to many positions influences the loss through each of them, so its
    gradient is the sum of theirs (the lecture's "many paths").
    """
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def _reachable(root: Tensor, leaves: bool) -> list[Tensor]:
    """Every tensor `root` depends on that requires grad (root included; leaves only if
    `leaves`)."""
    stamp = next(_passes)  # marks this walk's visits, so no set of seen tensors is needed
    root._mark = stamp
    found = [root]
    stack = [root]
    while stack:
        for p in stack.pop()._parents:
            if p.requires_grad and p._mark != stamp:
                p._mark = stamp
                if p._parents:
                    found.append(p)
                    stack.append(p)
                elif leaves:
                    found.append(p)
    return found


def topological_order(root: Tensor) -> list[Tensor]:
    """Every tensor `root` depends on that requires grad, parents before children."""
    order = _reachable(root, leaves=True)
    order.sort(key=_by_birth)
    return order


def _backward_pass(root: Tensor, seed: np.ndarray) -> None:
    """Apply every node's local rule once, children before parents, summing where paths meet.

    An op's result (a node) collects its upstream gradient in `_up` until all of its children
    are done; a leaf adds each arriving gradient to `.grad` at once.
    """
    if not root._parents:
        _accumulate(root, seed, True)
        return
    nodes = _reachable(root, leaves=False)
    nodes.sort(key=_by_birth, reverse=True)
    root._up = seed
    for t in nodes:
        up = t._up
        t._up = None
        if up is None:
            continue
        if t._retain:
            _accumulate(t, up, False)
        for parent, vjp in zip(t._parents, t._vjps):  # noqa: B905
            if not parent.requires_grad:
                continue  # e.g. the input batch: its gradient is never computed
            g = vjp(up)
            data = parent.data
            if g.shape != data.shape:
                g = unbroadcast(g, data.shape)
            if g.dtype != data.dtype:
                g = g.astype(data.dtype)
            if parent._parents:
                parent._up = g if parent._up is None else parent._up + g
            else:
                # A leaf may keep `g` itself only if no one else holds it: not the upstream
                # passed through unchanged, not a view, not read-only.
                _accumulate(parent, g, g is not up and g.flags.owndata and g.flags.writeable)


def _accumulate(t: Tensor, grad: np.ndarray, owned: bool) -> None:
    if grad.shape != t.data.shape:
        raise GradError(f"internal: gradient shape {grad.shape} != tensor shape {t.data.shape}")
    if t.grad is None:
        t.grad = grad if owned else np.array(grad)
    else:
        t.grad += grad


def parameters_of(values: Iterable[Tensor]) -> list[Tensor]:
    """The list of tensors in `values`, checked to be Tensors."""
    out = list(values)
    for v in out:
        if not isinstance(v, Tensor):
            raise TypeError(f"expected Tensors (parameters), got {type(v).__name__}")
    return out


from chainrule import ops  # noqa: E402  (ops builds on Tensor; Tensor's operators call ops)
