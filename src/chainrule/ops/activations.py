"""The activation functions a layer applies, a = σ(z), each beside its σ'(z)."""

from __future__ import annotations

import numpy as np

from chainrule.tensor import Tensor, node

__all__ = ["log_softmax", "relu", "sigmoid", "sigmoid_backward", "softmax", "softplus", "tanh"]


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
