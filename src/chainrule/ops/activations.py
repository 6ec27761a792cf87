"""The activation functions a layer applies, a = σ(z), each beside its σ'(z)."""

from __future__ import annotations

import math

import numpy as np

from chainrule.checks import finite, one_of, refuse
from chainrule.ops.base import apply
from chainrule.ops.elementwise import erf_of
from chainrule.ops.shape import axis_index
from chainrule.tensor import Rule, Tensor, node

__all__ = [
    "elu",
    "gelu",
    "hardtanh",
    "leaky_relu",
    "log_softmax",
    "logsigmoid",
    "mish",
    "relu",
    "sigmoid",
    "sigmoid_backward",
    "silu",
    "softmax",
    "softplus",
    "softsign",
    "tanh",
]


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
    out, vjps = _sigmoid(x.data)
    return node(out, (x,), "sigmoid", vjps, _sigmoid, (x,))


def _sigmoid(a: np.ndarray) -> Rule:
    out = np.negative(a, out=np.empty(a.shape, a.dtype))  # an array even for 0-d input
    _exp_in_place(out)  # e⁻ᶻ overflows to inf for z ≪ 0, and 1/(1 + inf) = 0 is right
    out += 1.0
    np.reciprocal(out, out=out)  # one array, updated in place: no temporaries
    return out, (lambda g: sigmoid_backward(out, g),)


def sigmoid_backward(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    """upstream × local, from the output a = σ(z): g ⊙ a(1 − a), multiplied in that order."""
    delta = g * a
    delta *= 1.0 - a
    return delta


def tanh(x: Tensor) -> Tensor:
    """tanh'(z) = 1 − a², taken from the output a = tanh(z)."""
    out, vjps = _tanh(x.data)
    return node(out, (x,), "tanh", vjps, _tanh, (x,))


def _tanh(a: np.ndarray) -> Rule:
    out = np.tanh(a)
    return out, (lambda g: g * (1.0 - out * out),)


def relu(x: Tensor) -> Tensor:
    """relu(z) = max(z, 0); relu'(z) = 1 where z > 0, else 0 (0 at the kink, as PyTorch)."""
    out, vjps = _relu(x.data)
    return node(out, (x,), "relu", vjps, _relu, (x,))


def _relu(a: np.ndarray) -> Rule:
    return np.maximum(a, 0), (lambda g: g * (a > 0),)


def softplus(x: Tensor) -> Tensor:
    """softplus(z) = ln(1 + eᶻ); softplus'(z) = σ(z) = 1 − e⁻ᵃ, taken from the output a.

    logaddexp(0, z) is ln(e⁰ + eᶻ) without forming eᶻ, so z = ±1000 gives 0 and 1000, no
    overflow; −expm1(−a) keeps σ(z)'s digits where a ≈ eᶻ is tiny (z ≪ 0).
    """
    return apply(_softplus, "softplus", (x,))


def _softplus(a: np.ndarray) -> Rule:
    out = np.logaddexp(0.0, a, out=np.empty(a.shape, a.dtype))  # an array even for 0-d input
    return out, (lambda g: g * -np.expm1(-out),)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """leaky_relu(z) = z for z > 0, else αz (α = `negative_slope`); slope 1 for z > 0, else α
    (α at the kink z = 0, as PyTorch)."""
    slope = finite("leaky_relu", "negative_slope", negative_slope)
    return apply(_leaky_relu, "leaky_relu", (x,), slope)


def _leaky_relu(a: np.ndarray, slope: float) -> Rule:
    positive = a > 0
    out = np.where(positive, a, a * slope)
    return out, (lambda g: np.where(positive, g, g * slope),)


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """elu(z) = z for z > 0, else α(eᶻ − 1); slope 1 for z > 0, else αeᶻ (α at z = 0, as
    PyTorch).

    eᶻ is taken at min(z, 0) only, so a large z cannot overflow in the branch not chosen, and
    αeᶻ is formed directly rather than as a + α, which would lose its digits for z ≪ 0.
    """
    return apply(_elu, "elu", (x,), finite("elu", "alpha", alpha))


def _elu(a: np.ndarray, alpha: float) -> Rule:
    positive = a > 0
    below = np.minimum(a, 0)
    out = np.where(positive, a, alpha * np.expm1(below))
    return out, (lambda g: np.where(positive, g, g * alpha * np.exp(below)),)


_SQRT_HALF = math.sqrt(0.5)
_ONE_OVER_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """gelu(z) = z Φ(z), Φ the standard normal's distribution function, Φ(z) = (1 + erf(z/√2))/2;
    gelu'(z) = Φ(z) + z φ(z), with φ(z) = e^{−z²/2}/√(2π) its density.

    `approximate="tanh"` is PyTorch's other form: Φ(z) ≈ (1 + tanh(√(2/π)(z + 0.044715 z³)))/2,
    differentiated as written. The exact form (the default, as PyTorch's) calls `math.erf` per
    element: see `erf`.
    """
    if one_of("gelu", "approximate", approximate, ("none", "tanh")) == "tanh":
        return apply(_gelu_tanh, "gelu", (x,))
    return apply(_gelu, "gelu", (x,))


def _gelu(z: np.ndarray) -> Rule:
    cdf = 0.5 * (1.0 + erf_of(z * _SQRT_HALF))
    out = z * cdf
    return out, (lambda g: g * (cdf + z * _ONE_OVER_SQRT_2PI * np.exp(-0.5 * z * z)),)


def _gelu_tanh(z: np.ndarray) -> Rule:
    """gelu(z) ≈ z(1 + t)/2 with t = tanh(u), u = √(2/π)(z + 0.044715 z³);
    its slope (1 + t)/2 + z(1 − t²) u'/2, with u' = √(2/π)(1 + 3 · 0.044715 z²)."""
    t = np.tanh(_SQRT_2_OVER_PI * (z + _GELU_CUBIC * z * z * z))
    out = 0.5 * z * (1.0 + t)
    du = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_CUBIC * z * z)
    return out, (lambda g: g * (0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * du),)


def _sigma(z: np.ndarray) -> np.ndarray:
    """σ(z) as `sigmoid` computes it (no overflow, full relative digits in both tails); kept
    apart from `sigmoid`, the hot path, which saves the function call."""
    out = np.negative(z, out=np.empty(z.shape, z.dtype))
    _exp_in_place(out)
    out += 1.0
    return np.reciprocal(out, out=out)


def silu(x: Tensor) -> Tensor:
    """silu(z) = z σ(z) (also called swish); silu'(z) = σ(z)(1 + z(1 − σ(z)))."""
    return apply(_silu, "silu", (x,))


def _silu(z: np.ndarray) -> Rule:
    s = _sigma(z)
    return z * s, (lambda g: g * s * (1.0 + z * (1.0 - s)),)


def mish(x: Tensor) -> Tensor:
    """mish(z) = z t with t = tanh(softplus(z)); mish'(z) = t + z(1 − t²) σ(z), since
    softplus'(z) = σ(z)."""
    return apply(_mish, "mish", (x,))


def _mish(z: np.ndarray) -> Rule:
    t = np.tanh(np.logaddexp(0.0, z))
    return z * t, (lambda g: g * (t + z * (1.0 - t * t) * _sigma(z)),)


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """hardtanh(z) = min(max(z, min_val), max_val); slope 1 for min_val < z < max_val, else 0.

    Unlike `clip`, the slope is 0 *at* the bounds: PyTorch's hardtanh and clamp differ there,
    and chainrule keeps each one's convention.
    """
    low = finite("hardtanh", "min_val", min_val)
    high = finite("hardtanh", "max_val", max_val)
    if low > high:
        raise refuse("hardtanh", "max_val", f"at least min_val = {low:g}", high)
    return apply(_hardtanh, "hardtanh", (x,), low, high)


def _hardtanh(z: np.ndarray, low: float, high: float) -> Rule:
    return np.clip(z, low, high), (lambda g: g * ((z > low) & (z < high)),)


def logsigmoid(x: Tensor) -> Tensor:
    """log σ(z) = −softplus(−z) = −ln(1 + e⁻ᶻ); its slope is 1 − σ(z) = σ(−z).

    Both come from forms that never form e⁻ᶻ for z ≪ 0: log σ(−1000) is −1000, not −inf.
    """
    return apply(_logsigmoid, "logsigmoid", (x,))


def _logsigmoid(z: np.ndarray) -> Rule:
    return np.negative(np.logaddexp(0.0, -z)), (lambda g: g * _sigma(-z),)


def softsign(x: Tensor) -> Tensor:
    """softsign(z) = z/(1 + |z|); softsign'(z) = 1/(1 + |z|)²."""
    return apply(_softsign, "softsign", (x,))


def _softsign(z: np.ndarray) -> Rule:
    d = 1.0 + np.abs(z)
    return z / d, (lambda g: g / (d * d),)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """softmax(z)_i = e^{z_i} / Σ_j e^{z_j}; ∂C/∂z = a ⊙ (g − Σ_j g_j a_j)."""
    axis_index("softmax", axis, x.data.ndim)
    return apply(_softmax, "softmax", (x,), axis)


def _softmax(a: np.ndarray, axis: int) -> Rule:
    z = a - a.max(axis=axis, keepdims=True)  # same result, no overflow
    e = np.exp(z)
    out = e / e.sum(axis=axis, keepdims=True)
    return out, (lambda g: out * (g - (g * out).sum(axis=axis, keepdims=True)),)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """log softmax(z)_i = z_i − log Σ_j e^{z_j}; ∂C/∂z = g − softmax(z) Σ_j g_j."""
    axis_index("log_softmax", axis, x.data.ndim)
    return apply(_log_softmax, "log_softmax", (x,), axis)


def _log_softmax(a: np.ndarray, axis: int) -> Rule:
    z = a - a.max(axis=axis, keepdims=True)
    out = z - np.log(np.exp(z).sum(axis=axis, keepdims=True))
    return out, (lambda g: g - np.exp(out) * g.sum(axis=axis, keepdims=True),)
