"""Tensor: a numpy array that remembers how it was made, so the chain rule can run backwards.

A tensor made by an op keeps its parents, the op's name and one local derivative rule per
parent (a vector-Jacobian product: upstream gradient in, this parent's gradient out).
`backward()` visits the graph in reverse topological order and applies those rules: that is
backpropagation, the chain rule applied once per edge.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from itertools import count
from typing import Any, ParamSpec, TypeVar

import numpy as np

from chainrule import tensor_methods
from chainrule.backprop import backward_pass
from chainrule.checks import real_array
from chainrule.errors import ArgumentTypeError, GradError, ShapeError
from chainrule.threads import for_backward

ArrayLike = Any
VJP = Callable[[np.ndarray], np.ndarray]
Rule = tuple[np.ndarray, tuple[VJP, ...]]  # a kernel's result: the value and its local rules
Kernel = Callable[..., Rule]
# The kernels whose output shape can depend on their inputs' values (x[mask]), each with the
# test, on the op's arguments, of when it does: a compiled step then keeps every shape check.
VALUE_SHAPED: dict[Kernel, Callable[..., bool]] = {}
P = ParamSpec("P")
R = TypeVar("R")


class _GradMode(threading.local):
    """Whether ops record a graph, kept per thread as PyTorch keeps it: a thread predicting
    under `no_grad()` must not stop another thread's training from recording. The class
    attribute is what every thread sees until it sets its own, so a new thread records."""

    enabled = True


_grad_mode = _GradMode()


class _Tracing(threading.local):
    """The capture recording this thread's training step (`chainrule.compile`), or None. Ops,
    tensors, modules, optimizers and backward() report to it while it records."""

    capture: Any = None


tracing = _Tracing()


class _Assigned:
    """The number of the latest assignment to any module's attribute (its `training` flag, a
    parameter, a layer, a setting such as a Dropout's p), each a new number: a compiled step
    compares the modules it recorded with their state then only when this has moved."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last = 0


assigned = _Assigned()
assignment_numbers = count(1)


# Every tensor takes the next number when it is made, after its parents: the order the
# backward pass sorts by (backprop.by_birth).
_birth = count()


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


def numeric_array(value: ArrayLike, dtype: Any = None) -> np.ndarray:
    """`value` (a Tensor's data, or anything numpy takes) as an array of real numbers:
    checks.real_array, which refuses strings, None, complex numbers and objects."""
    return real_array(value.data if isinstance(value, Tensor) else value, dtype)


def as_array(value: ArrayLike, dtype: Any = None) -> np.ndarray:
    """`value` as a floating numpy array: float32/float64 kept, anything else float64."""
    array = numeric_array(value, dtype)
    if dtype is None and array.dtype.kind != "f":
        array = array.astype(np.float64)
    return array


class Tensor(tensor_methods.TensorMethods):
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
        if tracing.capture is not None:
            tracing.capture.born(self, data, dtype)

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
        if tracing.capture is not None:
            tracing.capture.backward(self, grad)
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
        for_backward(backward_pass, self, seed)
        if tracing.capture is not None:
            tracing.capture.backward_done()

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
            raise ArgumentTypeError("len() of a 0-d tensor")
        return len(self.data)

    def __contains__(self, value: ArrayLike) -> bool:
        """`value in t`: whether any element equals it (numpy's and PyTorch's meaning)."""
        return bool(np.any(self.data == (value.data if isinstance(value, Tensor) else value)))

    def __bool__(self) -> bool:
        """The truth of a one-element tensor (`if t > 0:`); more elements are ambiguous."""
        if self.data.size != 1:
            raise ShapeError(
                f"the truth value of a tensor of shape {self.data.shape} is ambiguous: it has "
                f"{self.data.size} elements; reduce it first (.any(), .all()) or compare by "
                f"identity with `is`"
            )
        return bool(self.data)

    def item(self) -> float:
        """The number in a one-element tensor."""
        if self.data.size != 1:
            raise ShapeError(
                f"item() needs a tensor of one element, got shape {self.data.shape}; reduce it "
                f"first (.sum(), .mean()) or index one element"
            )
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

    # Comparisons give boolean tensors that take no gradient: chainrule.ops.compare. With
    # None or text, == and != are Python's (False and True), as in PyTorch, so that
    # `t in [None, "a"]` still works; <, ≤, >, ≥ refuse them (DTypeError).
    def __eq__(self, other: object) -> Tensor:  # type: ignore[override]
        if other is None or isinstance(other, str | bytes):
            return NotImplemented
        return ops.eq(self, other)

    def __ne__(self, other: object) -> Tensor:  # type: ignore[override]
        if other is None or isinstance(other, str | bytes):
            return NotImplemented
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

    # ---- indexing and iteration: chainrule.ops.shape ------------------------------------

    def __getitem__(self, index: Any) -> Tensor:
        return ops.getitem(self, index)

    def __iter__(self) -> Iterator[Tensor]:
        """The sub-tensors along the first axis (`for row in t`, `a, b = t`), as numpy and
        PyTorch iterate; each is `t[i]`, so gradients flow back through it."""
        if self.data.ndim == 0:
            raise ArgumentTypeError("iteration over a 0-d tensor (use t.item() for its number)")
        return (ops.getitem(self, i) for i in range(len(self.data)))


def tensor(data: ArrayLike, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Make a leaf tensor from a list, scalar or numpy array (float64 unless it is float32)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def node(
    data: np.ndarray,
    parents: tuple[Tensor, ...],
    op: str,
    vjps: tuple[VJP, ...],
    kernel: Kernel | None = None,
    args: tuple = (),
) -> Tensor:
    """The tensor an op returns: `data`, plus the graph edge back to `parents` when any of them
    needs a gradient. `vjps[i](upstream)` is `upstream × ∂out/∂parents[i]` (before broadcasting
    is undone).

    `kernel(*arrays)` is the op on arrays alone, returning `(data, vjps)`: given the op's
    `args` (tensors, as their data, and settings), a compiled step replays the op by calling it
    (`chainrule.compile`). An op without one cannot be compiled.
    """
    out = _new_tensor(Tensor)
    out.data = data
    out.grad = None
    out._up = None
    out._retain = False
    out._seq = next(_birth)
    out._mark = 0
    if tracing.capture is not None:
        tracing.capture.op(out, op, kernel, args)
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


def detached(data: np.ndarray) -> Tensor:
    """A leaf over a floating array chainrule computed itself (a compiled step's loss, fit's
    output), without Tensor()'s checks of a user's data: they run once per step, and the
    checks cost fit 1 µs of a 72 µs step on W1. Inside a capture it is an ordinary Tensor,
    so that the capture sees where the array came from."""
    if tracing.capture is not None:
        return Tensor(data)
    return node(data, (), "leaf", ())


_new_tensor = Tensor.__new__


from chainrule import ops  # noqa: E402  (ops builds on Tensor; Tensor's operators call ops)

tensor_methods.ops = ops
