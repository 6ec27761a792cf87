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
from chainrule.tensor import VJP, Tensor, node, numeric_array

Rule = tuple[np.ndarray, tuple[VJP, ...]]  # a kernel's result: the value and its local rule

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
    out = 1.0 / np.sqrt(x.data)
    return node(out, (x,), "rsqrt", (lambda g: -0.5 * g * out * out * out,))


# ---- exponentials and logarithms ----------------------------------------------------------------


def exp(x: Tensor) -> Tensor:
    """(eˣ)' = eˣ: the derivative is the output itself."""
    return apply(_exp, "exp", (x,))


def _exp(a: np.ndarray) -> Rule:
    out = np.exp(a)
    return out, (lambda g: g * out,)


def exp2(x: Tensor) -> Tensor:
    """(2ˣ)' = 2ˣ ln 2, from the output."""
    out = np.exp2(x.data)
    return node(out, (x,), "exp2", (lambda g: g * out * _LN2,))


def expm1(x: Tensor) -> Tensor:
    """(eˣ − 1)' = eˣ = a + 1; exact digits for tiny x, where eˣ − 1 would lose them."""
    out = np.expm1(x.data)
    return node(out, (x,), "expm1", (lambda g: g * (out + 1.0),))


def log(x: Tensor) -> Tensor:
    """(ln x)' = 1/x."""
    return apply(_log, "log", (x,))


def _log(a: np.ndarray) -> Rule:
    return np.log(a), (lambda g: g / a,)


def log2(x: Tensor) -> Tensor:
    """(log₂ x)' = 1/(x ln 2)."""
    a = x.data
    return node(np.log2(a), (x,), "log2", (lambda g: g / (a * _LN2),))


def log10(x: Tensor) -> Tensor:
    """(log₁₀ x)' = 1/(x ln 10)."""
    a = x.data
    return node(np.log10(a), (x,), "log10", (lambda g: g / (a * _LN10),))


def log1p(x: Tensor) -> Tensor:
    """(ln(1 + x))' = 1/(1 + x); exact digits for tiny x, where 1 + x would lose them."""
    a = x.data
    return node(np.log1p(a), (x,), "log1p", (lambda g: g / (1.0 + a),))


def logaddexp(x: ArrayLike, y: ArrayLike) -> Tensor:
    """a = ln(eˣ + eʸ); ∂a/∂x = eˣ⁻ᵃ, ∂a/∂y = eʸ⁻ᵃ (a softmax of the two).

    numpy forms neither eˣ nor eʸ, so x = 1000 does not overflow; x − a ≤ 0, so neither do
    the derivatives.
    """
    x, y = lift(x, y)
    a, b = x.data, y.data
    try:
        out = np.logaddexp(a, b)
    except ValueError:
        raise broadcast_error("logaddexp", x, y) from None
    return node(
        out,
        (x, y),
        "logaddexp",
        (lambda g: g * np.exp(a - out), lambda g: g * np.exp(b - out)),
    )


def erf(x: Tensor) -> Tensor:
    """erf(x) = (2/√π) ∫₀ˣ e^{−t²} dt; erf'(x) = (2/√π) e^{−x²}.

    numpy has no erf, and scipy is not a dependency of the engine, so each value goes through
    the standard library's `math.erf`, which is exact to the last digit or two of float64. That
    is one Python call per element (about 10× a numpy ufunc such as tanh): exactness was
    chosen over speed, as PyTorch's exact GELU also uses erf.
    """
    a = x.data
    return node(erf_of(a), (x,), "erf", (lambda g: g * _TWO_OVER_SQRT_PI * np.exp(-a * a),))


def erf_of(a: np.ndarray) -> np.ndarray:
    """erf of every element of `a`, by `math.erf`, in `a`'s dtype (no graph: for GELU too)."""
    values = np.fromiter(map(math.erf, a.ravel().tolist()), np.float64, a.size)
    return values.reshape(a.shape).astype(a.dtype, copy=False)


# ---- trigonometric and hyperbolic functions -----------------------------------------------------


def sin(x: Tensor) -> Tensor:
    """(sin x)' = cos x."""
    a = x.data
    return node(np.sin(a), (x,), "sin", (lambda g: g * np.cos(a),))


def cos(x: Tensor) -> Tensor:
    """(cos x)' = −sin x."""
    a = x.data
    return node(np.cos(a), (x,), "cos", (lambda g: -g * np.sin(a),))


def tan(x: Tensor) -> Tensor:
    """(tan x)' = 1 + tan² x = 1 + a², from the output."""
    out = np.tan(x.data)
    return node(out, (x,), "tan", (lambda g: g * (1.0 + out * out),))


def arcsin(x: Tensor) -> Tensor:
    """(arcsin x)' = 1/√(1 − x²), for −1 < x < 1."""
    a = x.data
    return node(np.arcsin(a), (x,), "arcsin", (lambda g: g / np.sqrt(1.0 - a * a),))


def arccos(x: Tensor) -> Tensor:
    """(arccos x)' = −1/√(1 − x²), for −1 < x < 1."""
    a = x.data
    return node(np.arccos(a), (x,), "arccos", (lambda g: -g / np.sqrt(1.0 - a * a),))


def arctan(x: Tensor) -> Tensor:
    """(arctan x)' = 1/(1 + x²)."""
    a = x.data
    return node(np.arctan(a), (x,), "arctan", (lambda g: g / (1.0 + a * a),))


def sinh(x: Tensor) -> Tensor:
    """(sinh x)' = cosh x."""
    a = x.data
    return node(np.sinh(a), (x,), "sinh", (lambda g: g * np.cosh(a),))


def cosh(x: Tensor) -> Tensor:
    """(cosh x)' = sinh x."""
    a = x.data
    return node(np.cosh(a), (x,), "cosh", (lambda g: g * np.sinh(a),))


def arcsinh(x: Tensor) -> Tensor:
    """(arsinh x)' = 1/√(x² + 1)."""
    a = x.data
    return node(np.arcsinh(a), (x,), "arcsinh", (lambda g: g / np.sqrt(a * a + 1.0),))


def arccosh(x: Tensor) -> Tensor:
    """(arcosh x)' = 1/√(x² − 1), for x > 1."""
    a = x.data
    return node(np.arccosh(a), (x,), "arccosh", (lambda g: g / np.sqrt(a * a - 1.0),))


def arctanh(x: Tensor) -> Tensor:
    """(artanh x)' = 1/(1 − x²), for −1 < x < 1."""
    a = x.data
    return node(np.arctanh(a), (x,), "arctanh", (lambda g: g / (1.0 - a * a),))


# ---- kinks and steps: PyTorch's value where there is no derivative ------------------------------


def abs(x: Tensor) -> Tensor:  # numpy's and PyTorch's name, shadowing the builtin here
    """|x|' = sign(x): −1, or 1, and 0 at the kink x = 0 (PyTorch's choice)."""
    a = x.data
    return node(np.abs(a), (x,), "abs", (lambda g: g * np.sign(a),))


def sign(x: Tensor) -> Tensor:
    """sign(x) ∈ {−1, 0, 1}; slope 0 everywhere (the jump at 0 has none: PyTorch's 0)."""
    return node(np.sign(x.data), (x,), "sign", (np.zeros_like,))


def floor(x: Tensor) -> Tensor:
    """⌊x⌋; slope 0 everywhere (the steps have none: PyTorch's 0)."""
    return node(np.floor(x.data), (x,), "floor", (np.zeros_like,))


def ceil(x: Tensor) -> Tensor:
    """⌈x⌉; slope 0 everywhere (the steps have none: PyTorch's 0)."""
    return node(np.ceil(x.data), (x,), "ceil", (np.zeros_like,))


def round(x: Tensor) -> Tensor:  # numpy's and PyTorch's name, as abs
    """x to the nearest integer, halves to even (as numpy and PyTorch); slope 0 everywhere."""
    return node(np.round(x.data), (x,), "round", (np.zeros_like,))


def trunc(x: Tensor) -> Tensor:
    """x with its fraction cut off, towards 0; slope 0 everywhere."""
    return node(np.trunc(x.data), (x,), "trunc", (np.zeros_like,))


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
    a = x.data
    return node(np.clip(a, low, high), (x,), "clip", (lambda g: g * _within(a, low, high),))


def _within(a: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
    """low ≤ a ≤ high, elementwise, a missing bound being no bound."""
    if low is None:
        return a <= high
    if high is None:
        return a >= low
    return (a >= low) & (a <= high)
