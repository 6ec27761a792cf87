"""Elementwise functions: each output element depends on one input element, so the local
derivative is a plain product, g ⊙ f'(x).

Where a function has no derivative at a point, the value used there is PyTorch's, so the two
agree everywhere: |x|' = 0 at 0; sign, floor, ceil, round and trunc have slope 0 everywhere
(their steps have no derivative, and between the steps they are flat); √x' = ∞ at 0; clip
passes the gradient at its bounds (x = low or x = high counts as inside).
"""

from __future__ import annotations

import math

import numpy as np

from chainrule.checks import refuse
from chainrule.ops.base import ArrayLike, apply, broadcast_error, lift
from chainrule.tensor import Rule, Tensor, numeric_array

__all__ = [
    "abs",
    "arccos",
    "arccosh",
    "arcsin",
    "arcsinh",
    "arctan",
    "arctanh",
    "ceil",
    "clip",
    "cos",
    "cosh",
    "erf",
    "exp",
    "exp2",
    "expm1",
    "floor",
    "log",
    "log10",
    "log1p",
    "log2",
    "logaddexp",
    "round",
    "rsqrt",
    "sign",
    "sin",
    "sinh",
    "sqrt",
    "square",
    "tan",
    "trunc",
]

_LN2 = math.log(2.0)  # Python floats, so that float32 data stays float32 (numpy 2's NEP 50)
_LN10 = math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)

# ---- powers and roots ---------------------------------------------------------------------------


def square(x: Tensor) -> Tensor:
    """(x²)' = 2x."""
    return apply(_square, "square", (x,))


def _square(a: np.ndarray) -> Rule:
    return a * a, (lambda g: 2.0 * g * a,)


def sqrt(x: Tensor) -> Tensor:
    """(√x)' = 1/(2√x), from the output (∞ at x = 0, as PyTorch)."""
    return apply(_sqrt, "sqrt", (x,))


def _sqrt(a: np.ndarray) -> Rule:
    out = np.sqrt(a)
    return out, (lambda g: g / (2.0 * out),)


def rsqrt(x: Tensor) -> Tensor:
    """(1/√x)' = −1/(2 x√x) = −a³/2, from the output a = 1/√x."""
    return apply(_rsqrt, "rsqrt", (x,))


def _rsqrt(a: np.ndarray) -> Rule:
    out = 1.0 / np.sqrt(a)
    return out, (lambda g: -0.5 * g * out * out * out,)


# ---- exponentials and logarithms ----------------------------------------------------------------


def exp(x: Tensor) -> Tensor:
    """(eˣ)' = eˣ: the derivative is the output itself."""
    return apply(_exp, "exp", (x,))


def _exp(a: np.ndarray) -> Rule:
    out = np.exp(a)
    return out, (lambda g: g * out,)


def exp2(x: Tensor) -> Tensor:
    """(2ˣ)' = 2ˣ ln 2, from the output."""
    return apply(_exp2, "exp2", (x,))


def _exp2(a: np.ndarray) -> Rule:
    out = np.exp2(a)
    return out, (lambda g: g * out * _LN2,)


def expm1(x: Tensor) -> Tensor:
    """(eˣ − 1)' = eˣ = a + 1; exact digits for tiny x, where eˣ − 1 would lose them."""
    return apply(_expm1, "expm1", (x,))


def _expm1(a: np.ndarray) -> Rule:
    out = np.expm1(a)
    return out, (lambda g: g * (out + 1.0),)


def log(x: Tensor) -> Tensor:
    """(ln x)' = 1/x."""
    return apply(_log, "log", (x,))


def _log(a: np.ndarray) -> Rule:
    return np.log(a), (lambda g: g / a,)


def log2(x: Tensor) -> Tensor:
    """(log₂ x)' = 1/(x ln 2)."""
    return apply(_log2, "log2", (x,))


def _log2(a: np.ndarray) -> Rule:
    return np.log2(a), (lambda g: g / (a * _LN2),)


def log10(x: Tensor) -> Tensor:
    """(log₁₀ x)' = 1/(x ln 10)."""
    return apply(_log10, "log10", (x,))


def _log10(a: np.ndarray) -> Rule:
    return np.log10(a), (lambda g: g / (a * _LN10),)


def log1p(x: Tensor) -> Tensor:
    """(ln(1 + x))' = 1/(1 + x); exact digits for tiny x, where 1 + x would lose them."""
    return apply(_log1p, "log1p", (x,))


def _log1p(a: np.ndarray) -> Rule:
    return np.log1p(a), (lambda g: g / (1.0 + a),)


def logaddexp(x: ArrayLike, y: ArrayLike) -> Tensor:
    """a = ln(eˣ + eʸ); ∂a/∂x = eˣ⁻ᵃ, ∂a/∂y = eʸ⁻ᵃ (a softmax of the two).

    numpy forms neither eˣ nor eʸ, so x = 1000 does not overflow; x − a ≤ 0, so neither do
    the derivatives.
    """
    x, y = lift(x, y)
    try:
        return apply(_logaddexp, "logaddexp", (x, y))
    except ValueError:
        raise broadcast_error("logaddexp", x, y) from None


def _logaddexp(a: np.ndarray, b: np.ndarray) -> Rule:
    out = np.logaddexp(a, b)
    return out, (lambda g: g * np.exp(a - out), lambda g: g * np.exp(b - out))


def erf(x: Tensor) -> Tensor:
    """erf(x) = (2/√π) ∫₀ˣ e^{−t²} dt; erf'(x) = (2/√π) e^{−x²}.

    numpy has no erf, and scipy is not a dependency of the engine, so each value goes through
    the standard library's `math.erf`, which is exact to the last digit or two of float64. That
    is one Python call per element (about 10× a numpy ufunc such as tanh): exactness was
    chosen over speed, as PyTorch's exact GELU also uses erf.
    """
    return apply(_erf, "erf", (x,))


def _erf(a: np.ndarray) -> Rule:
    return erf_of(a), (lambda g: g * _TWO_OVER_SQRT_PI * np.exp(-a * a),)


def erf_of(a: np.ndarray) -> np.ndarray:
    """erf of every element of `a`, by `math.erf`, in `a`'s dtype (no graph: for GELU too)."""
    values = np.fromiter(map(math.erf, a.ravel().tolist()), np.float64, a.size)
    return values.reshape(a.shape).astype(a.dtype, copy=False)


# ---- trigonometric and hyperbolic functions -----------------------------------------------------


def sin(x: Tensor) -> Tensor:
    """(sin x)' = cos x."""
    return apply(_sin, "sin", (x,))


def _sin(a: np.ndarray) -> Rule:
    return np.sin(a), (lambda g: g * np.cos(a),)


def cos(x: Tensor) -> Tensor:
    """(cos x)' = −sin x."""
    return apply(_cos, "cos", (x,))


def _cos(a: np.ndarray) -> Rule:
    return np.cos(a), (lambda g: -g * np.sin(a),)


def tan(x: Tensor) -> Tensor:
    """(tan x)' = 1 + tan² x = 1 + a², from the output."""
    return apply(_tan, "tan", (x,))


def _tan(a: np.ndarray) -> Rule:
    out = np.tan(a)
    return out, (lambda g: g * (1.0 + out * out),)


def arcsin(x: Tensor) -> Tensor:
    """(arcsin x)' = 1/√(1 − x²), for −1 < x < 1."""
    return apply(_arcsin, "arcsin", (x,))


def _arcsin(a: np.ndarray) -> Rule:
    return np.arcsin(a), (lambda g: g / np.sqrt(1.0 - a * a),)


def arccos(x: Tensor) -> Tensor:
    """(arccos x)' = −1/√(1 − x²), for −1 < x < 1."""
    return apply(_arccos, "arccos", (x,))


def _arccos(a: np.ndarray) -> Rule:
    return np.arccos(a), (lambda g: -g / np.sqrt(1.0 - a * a),)


def arctan(x: Tensor) -> Tensor:
    """(arctan x)' = 1/(1 + x²)."""
    return apply(_arctan, "arctan", (x,))


def _arctan(a: np.ndarray) -> Rule:
    return np.arctan(a), (lambda g: g / (1.0 + a * a),)


def sinh(x: Tensor) -> Tensor:
    """(sinh x)' = cosh x."""
    return apply(_sinh, "sinh", (x,))


def _sinh(a: np.ndarray) -> Rule:
    return np.sinh(a), (lambda g: g * np.cosh(a),)


def cosh(x: Tensor) -> Tensor:
    """(cosh x)' = sinh x."""
    return apply(_cosh, "cosh", (x,))


def _cosh(a: np.ndarray) -> Rule:
    return np.cosh(a), (lambda g: g * np.sinh(a),)


def arcsinh(x: Tensor) -> Tensor:
    """(arsinh x)' = 1/√(x² + 1)."""
    return apply(_arcsinh, "arcsinh", (x,))


def _arcsinh(a: np.ndarray) -> Rule:
    return np.arcsinh(a), (lambda g: g / np.sqrt(a * a + 1.0),)


def arccosh(x: Tensor) -> Tensor:
    """(arcosh x)' = 1/√(x² − 1), for x > 1."""
    return apply(_arccosh, "arccosh", (x,))


def _arccosh(a: np.ndarray) -> Rule:
    return np.arccosh(a), (lambda g: g / np.sqrt(a * a - 1.0),)


def arctanh(x: Tensor) -> Tensor:
    """(artanh x)' = 1/(1 − x²), for −1 < x < 1."""
    return apply(_arctanh, "arctanh", (x,))


def _arctanh(a: np.ndarray) -> Rule:
    return np.arctanh(a), (lambda g: g / (1.0 - a * a),)


# ---- kinks and steps: PyTorch's value where there is no derivative ------------------------------


def abs(x: Tensor) -> Tensor:  # numpy's and PyTorch's name, shadowing the builtin here
    """|x|' = sign(x): −1, or 1, and 0 at the kink x = 0 (PyTorch's choice)."""
    return apply(_abs, "abs", (x,))


def _abs(a: np.ndarray) -> Rule:
    return np.abs(a), (lambda g: g * np.sign(a),)


def sign(x: Tensor) -> Tensor:
    """sign(x) ∈ {−1, 0, 1}; slope 0 everywhere (the jump at 0 has none: PyTorch's 0)."""
    return apply(_sign, "sign", (x,))


def _sign(a: np.ndarray) -> Rule:
    return np.sign(a), (np.zeros_like,)


def floor(x: Tensor) -> Tensor:
    """⌊x⌋; slope 0 everywhere (the steps have none: PyTorch's 0)."""
    return apply(_floor, "floor", (x,))


def _floor(a: np.ndarray) -> Rule:
    return np.floor(a), (np.zeros_like,)


def ceil(x: Tensor) -> Tensor:
    """⌈x⌉; slope 0 everywhere (the steps have none: PyTorch's 0)."""
    return apply(_ceil, "ceil", (x,))


def _ceil(a: np.ndarray) -> Rule:
    return np.ceil(a), (np.zeros_like,)


def round(x: Tensor) -> Tensor:  # numpy's and PyTorch's name, as abs
    """x to the nearest integer, halves to even (as numpy and PyTorch); slope 0 everywhere."""
    return apply(_round, "round", (x,))


def _round(a: np.ndarray) -> Rule:
    return np.round(a), (np.zeros_like,)


def trunc(x: Tensor) -> Tensor:
    """x with its fraction cut off, towards 0; slope 0 everywhere."""
    return apply(_trunc, "trunc", (x,))


def _trunc(a: np.ndarray) -> Rule:
    return np.trunc(a), (np.zeros_like,)


def clip(x: Tensor, low: float | None = None, high: float | None = None) -> Tensor:
    """clip(x) = min(max(x, low), high), either bound optional; slope 1 for low ≤ x ≤ high,
    else 0. At a bound the gradient passes, as `torch.clamp`'s does.

    Without either bound PyTorch refuses the call (numpy 2 returns x unchanged, which hides the
    mistake): chainrule refuses it too, with a ConfigError.
    """
    if low is None and high is None:
        raise refuse("clip", "low or high", "given (at least one of the two)", None)
    for bound in (low, high):
        if bound is not None:
            numeric_array(bound)  # text or None inside a bound: DTypeError, not numpy's error
    return apply(_clip, "clip", (x,), low, high)


def _clip(a: np.ndarray, low: float | None, high: float | None) -> Rule:
    return np.clip(a, low, high), (lambda g: g * _within(a, low, high),)


def _within(a: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
    """low ≤ a ≤ high, elementwise, a missing bound being no bound."""
    if low is None:
        return a <= high
    if high is None:
        return a >= low
    return (a >= low) & (a <= high)
