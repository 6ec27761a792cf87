"""The primitives, each with its forward and its local derivative side by side.

Read top to bottom this is the lecture's table of derivative rules, then the functions a
network is built from. Every op returns `node(forward value, parents, name, vjps)`; `vjps[i]`
maps the upstream gradient `g = ∂C/∂out` to `g · ∂out/∂parent_i` (the chain rule's one step).
Broadcasting is undone for every operand by one helper, `tensor.unbroadcast`, in the engine.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from chainrule.errors import ShapeError
from chainrule.tensor import ArrayLike, Tensor, node, unbroadcast

Axis = int | tuple[int, ...] | None


def constant(value: ArrayLike, dtype: np.dtype) -> Tensor:
    """`value` as a tensor that needs no gradient; Python scalars and integer arrays take
    `dtype` so that `2 * t` keeps a float32 `t` float32."""
    array = np.asarray(value)
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


def _broadcast_error(op: str, x: Tensor, y: Tensor) -> ShapeError:
    return ShapeError(
        f"{op}: shapes {x.shape} and {y.shape} do not broadcast (each axis, aligned from the "
        f"right, must be equal or 1)"
    )


# ---- The lecture's table of derivative rules -------------------------------------------------


def add(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Sum rule: (f + g)' = f' + g'."""
    x, y = lift(x, y)
    try:
        out = x.data + y.data
    except ValueError:
        raise _broadcast_error("add", x, y) from None
    return node(out, (x, y), "add", (lambda g: g, lambda g: g))


def sub(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Difference rule: (f − g)' = f' − g'."""
    x, y = lift(x, y)
    try:
        out = x.data - y.data
    except ValueError:
        raise _broadcast_error("sub", x, y) from None
    return node(out, (x, y), "sub", (lambda g: g, np.negative))


def neg(x: Tensor) -> Tensor:
    """Multiplication by the constant −1: (−f)' = −f'."""
    return node(-x.data, (x,), "neg", (np.negative,))


def mul(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Product rule: (fg)' = f g' + f' g (with a constant c: (cf)' = c f')."""
    x, y = lift(x, y)
    a, b = x.data, y.data
    try:
        out = a * b
    except ValueError:
        raise _broadcast_error("mul", x, y) from None
    return node(out, (x, y), "mul", (lambda g: g * b, lambda g: g * a))


def div(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Quotient rule: (f/g)' = (f' g − g' f) / g²."""
    x, y = lift(x, y)
    a, b = x.data, y.data
    try:
        out = a / b
    except ValueError:
        raise _broadcast_error("div", x, y) from None
    return node(out, (x, y), "div", (lambda g: g / b, lambda g: -g * out / b))


def reciprocal(x: Tensor) -> Tensor:
    """Reciprocal rule: (1/f)' = −f'/f²."""
    a = x.data
    out = 1.0 / a
    return node(out, (x,), "reciprocal", (lambda g: -g * out * out,))


def power(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Power rule: (xⁿ)' = n xⁿ⁻¹; for the exponent, (cʸ)' = cʸ ln c."""
    x, y = lift(x, y)
    a, n = x.data, y.data
    try:
        out = a**n
    except ValueError:
        raise _broadcast_error("pow", x, y) from None
    return node(
        out,
        (x, y),
        "pow",
        (lambda g: g * n * a ** (n - 1), lambda g: g * out * np.log(a)),
    )


# ---- Elementwise functions -------------------------------------------------------------------


def exp(x: Tensor) -> Tensor:
    """(eˣ)' = eˣ: the derivative is the output itself."""
    out = np.exp(x.data)
    return node(out, (x,), "exp", (lambda g: g * out,))


def log(x: Tensor) -> Tensor:
    """(ln x)' = 1/x."""
    a = x.data
    return node(np.log(a), (x,), "log", (lambda g: g / a,))


def _exp_in_place(v: np.ndarray) -> None:
    """v ← eᵛ, where a v too large for the dtype becomes inf without a warning.

    Overflow is rare, and np.errstate costs more than the check, so only then is it entered.
    """
    if v.size and np.maximum.reduce(v, axis=None) > _LOG_MAX[v.dtype.char]:
        with np.errstate(over="ignore"):
            np.exp(v, out=v)
    else:
        np.exp(v, out=v)


_LOG_MAX = {t: float(np.log(np.finfo(t).max)) for t in np.typecodes["Float"]}


def sigmoid(x: Tensor) -> Tensor:
    """σ(z) = 1/(1 + e⁻ᶻ); σ'(z) = a(1 − a), taken from the output a = σ(z)."""
    a = x.data
    out = np.negative(a, out=np.empty(a.shape, a.dtype))  # an array even for 0-d input
    _exp_in_place(out)  # e⁻ᶻ overflows to inf for z ≪ 0, and 1/(1 + inf) = 0 is right
    out += 1.0
    np.reciprocal(out, out=out)  # one array, updated in place: no temporaries
    return node(out, (x,), "sigmoid", (lambda g: sigmoid_backward(out, g),))


def sigmoid_backward(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    """upstream × local, from the output a = σ(z): g ⊙ a(1 − a), multiplied in that order."""
    delta = g * a
    delta *= 1.0 - a
    return delta


def tanh(x: Tensor) -> Tensor:
    """tanh'(z) = 1 − a², taken from the output a = tanh(z)."""
    out = np.tanh(x.data)
    return node(out, (x,), "tanh", (lambda g: g * (1.0 - out * out),))


def relu(x: Tensor) -> Tensor:
    """relu(z) = max(z, 0); relu'(z) = 1 where z > 0, else 0 (0 at the kink, as PyTorch)."""
    a = x.data
    out = np.maximum(a, 0)
    return node(out, (x,), "relu", (lambda g: g * (a > 0),))


def softplus(x: Tensor) -> Tensor:
    """softplus(z) = ln(1 + eᶻ); softplus'(z) = σ(z) = 1 − e⁻ᵃ, taken from the output a.

    logaddexp(0, z) is ln(e⁰ + eᶻ) without forming eᶻ, so z = ±1000 gives 0 and 1000, no
    overflow; −expm1(−a) keeps σ(z)'s digits where a ≈ eᶻ is tiny (z ≪ 0).
    """
    a = x.data
    out = np.logaddexp(0.0, a, out=np.empty(a.shape, a.dtype))  # an array even for 0-d input
    return node(out, (x,), "softplus", (lambda g: g * -np.expm1(-out),))


def clip(x: Tensor, low: float, high: float) -> Tensor:
    """clip(z) = min(max(z, low), high); derivative 1 inside [low, high], 0 outside."""
    a = x.data
    out = np.clip(a, low, high)
    return node(out, (x,), "clip", (lambda g: g * ((a >= low) & (a <= high)),))


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """softmax(z)_i = e^{z_i} / Σ_j e^{z_j}; ∂C/∂z = a ⊙ (g − Σ_j g_j a_j)."""
    z = x.data - x.data.max(axis=axis, keepdims=True)  # same result, no overflow
    e = np.exp(z)
    out = e / e.sum(axis=axis, keepdims=True)
    return node(
        out, (x,), "softmax", (lambda g: out * (g - (g * out).sum(axis=axis, keepdims=True)),)
    )


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """log softmax(z)_i = z_i − log Σ_j e^{z_j}; ∂C/∂z = g − softmax(z) Σ_j g_j."""
    z = x.data - x.data.max(axis=axis, keepdims=True)
    out = z - np.log(np.exp(z).sum(axis=axis, keepdims=True))
    return node(
        out,
        (x,),
        "log_softmax",
        (lambda g: g - np.exp(out) * g.sum(axis=axis, keepdims=True),),
    )


# ---- Reductions and shape ops ----------------------------------------------------------------


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


def matmul(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Z = X Y; ∂C/∂X = G Yᵀ, ∂C/∂Y = Xᵀ G (1-D operands are a row / a column, as numpy)."""
    x, y = lift(x, y)
    a, b = x.data, y.data
    try:
        out = a @ b
    except ValueError:
        raise ShapeError(
            f"matmul: shapes {a.shape} and {b.shape} do not multiply (the last axis of the left "
            f"must equal the {'only' if b.ndim == 1 else 'second-to-last'} axis of the right)"
        ) from None
    if a.ndim == 2 and b.ndim == 2:
        return node(out, (x, y), "matmul", (lambda g: g @ b.T, lambda g: a.T @ g))
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    shape2 = (a2 @ b2).shape if out.ndim != a2.ndim else out.shape

    def vjp_a(g: np.ndarray) -> np.ndarray:
        ga = np.reshape(g, shape2) @ np.swapaxes(b2, -1, -2)
        return unbroadcast(ga, a2.shape).reshape(a.shape)

    def vjp_b(g: np.ndarray) -> np.ndarray:
        gb = np.swapaxes(a2, -1, -2) @ np.reshape(g, shape2)
        return unbroadcast(gb, b2.shape).reshape(b.shape)

    return node(np.asarray(out), (x, y), "matmul", (vjp_a, vjp_b))


# ---- Fused: a whole layer as one node (speed; the algebra is the lecture's) ------------------


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """z = x Wᵀ + b for rows x; ∂C/∂x = G W, ∂C/∂W = Gᵀ x, ∂C/∂b = Σ_rows G.

    One node instead of three (matmul, transpose, add): `w_{jk}` joins input k to neuron j,
    so `∂z_j/∂w_{jk} = a_k`, which summed over the batch is exactly Gᵀ x.
    """
    a, w = x.data, weight.data
    try:  # numpy checks the shapes; we only reword its message
        z = a @ w.T
    except ValueError:
        raise ShapeError(
            f"linear: input has shape {a.shape}, but the layer's weight {w.shape} expects "
            f"{w.shape[1]} features in the last axis"
        ) from None
    if bias is not None:
        z += bias.data
    if a.ndim == 1:
        vjps = (lambda g: g @ w, lambda g: np.outer(g, a), lambda g: g)
    elif a.ndim == 2:
        # np.add.reduce is ndarray.sum without its Python-level wrapper: this runs every step
        vjps = (lambda g: g @ w, lambda g: g.T @ a, lambda g: np.add.reduce(g, axis=0))
    else:
        rows = a.reshape(-1, a.shape[-1])
        vjps = (
            lambda g: g @ w,
            lambda g: g.reshape(-1, g.shape[-1]).T @ rows,
            lambda g: g.reshape(-1, g.shape[-1]).sum(axis=0),
        )
    if bias is None:
        return node(z, (x, weight), "linear", vjps[:2])
    return node(z, (x, weight, bias), "linear", vjps)
