"""The lecture's table of derivative rules: sum, difference, product, quotient, power (and
the remainder, `%`, whose slopes are those of a difference)."""

from __future__ import annotations

import numpy as np

from chainrule.ops.base import ArrayLike, apply, broadcast_error, lift
from chainrule.tensor import Rule, Tensor, node

__all__ = ["add", "div", "mul", "neg", "power", "reciprocal", "remainder", "sub"]


def add(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Sum rule: (f + g)' = f' + g'."""
    x, y = lift(x, y)
    try:
        out, vjps = _add(x.data, y.data)
    except ValueError:
        raise broadcast_error("add", x, y) from None
    return node(out, (x, y), "add", vjps, _add, (x, y))


def _add(a: np.ndarray, b: np.ndarray) -> Rule:
    return a + b, (_passed, _passed)


def _passed(g: np.ndarray) -> np.ndarray:
    return g


def sub(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Difference rule: (f − g)' = f' − g'."""
    x, y = lift(x, y)
    try:
        out, vjps = _sub(x.data, y.data)
    except ValueError:
        raise broadcast_error("sub", x, y) from None
    return node(out, (x, y), "sub", vjps, _sub, (x, y))


def _sub(a: np.ndarray, b: np.ndarray) -> Rule:
    return a - b, (_passed, np.negative)


def neg(x: Tensor) -> Tensor:
    """Multiplication by the constant −1: (−f)' = −f'."""
    return apply(_neg, "neg", (x,))


def _neg(a: np.ndarray) -> Rule:
    return -a, (np.negative,)


def mul(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Product rule: (fg)' = f g' + f' g (with a constant c: (cf)' = c f')."""
    x, y = lift(x, y)
    try:
        out, vjps = _mul(x.data, y.data)
    except ValueError:
        raise broadcast_error("mul", x, y) from None
    return node(out, (x, y), "mul", vjps, _mul, (x, y))


def _mul(a: np.ndarray, b: np.ndarray) -> Rule:
    return a * b, (lambda g: g * b, lambda g: g * a)


def div(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Quotient rule: (f/g)' = (f' g − g' f) / g²."""
    x, y = lift(x, y)
    try:
        out, vjps = _div(x.data, y.data)
    except ValueError:
        raise broadcast_error("div", x, y) from None
    return node(out, (x, y), "div", vjps, _div, (x, y))


def _div(a: np.ndarray, b: np.ndarray) -> Rule:
    out = a / b
    return out, (lambda g: g / b, lambda g: -g * out / b)


def reciprocal(x: Tensor) -> Tensor:
    """Reciprocal rule: (1/f)' = −f'/f²."""
    return apply(_reciprocal, "reciprocal", (x,))


def _reciprocal(a: np.ndarray) -> Rule:
    out = 1.0 / a
    return out, (lambda g: -g * out * out,)


def power(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Power rule: (xⁿ)' = n xⁿ⁻¹; for the exponent, (cʸ)' = cʸ ln c.

    At x = 0 the two formulas meet 0 · ∞ and ln 0; PyTorch's values are kept there: x⁰ is the
    constant 1, so its slope in x is 0 wherever n = 0, and 0ʸ is flat in y for y ≥ 0 (0 there).
    """
    x, y = lift(x, y)
    try:
        out, vjps = _power(x.data, y.data)
    except ValueError:
        raise broadcast_error("pow", x, y) from None
    return node(out, (x, y), "pow", vjps, _power, (x, y))


def _power(a: np.ndarray, n: np.ndarray) -> Rule:
    out = a**n
    return out, (lambda g: g * _base_slope(a, n), lambda g: g * _exponent_slope(a, n, out))


def _base_slope(a: np.ndarray, n: np.ndarray) -> np.ndarray:
    """∂(aⁿ)/∂a = n aⁿ⁻¹, and 0 where n = 0 (where 0⁻¹ would make it 0 · ∞)."""
    if np.count_nonzero(n) == n.size:  # the usual x ** 2: no zero exponent, no mask to build
        return n * a ** (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n == 0, 0.0, n * a ** (n - 1))


def _exponent_slope(a: np.ndarray, n: np.ndarray, out: np.ndarray) -> np.ndarray:
    """∂(aⁿ)/∂n = aⁿ ln a, and 0 where a = 0 and n ≥ 0 (where it would be 0 · ln 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((a == 0) & (n >= 0), 0.0, out * np.log(a))


def remainder(x: ArrayLike, y: ArrayLike) -> Tensor:
    """x mod y = x − y ⌊x/y⌋, with the sign of y (Python's `%`, numpy's and PyTorch's remainder).

    ∂/∂x = 1 and ∂/∂y = −⌊x/y⌋: between its jumps (where x/y is a whole number) the result is
    x minus a fixed multiple of y. At a jump chainrule takes these same values, as PyTorch does.
    """
    x, y = lift(x, y)
    try:
        return apply(_remainder, "mod", (x, y))
    except ValueError:
        raise broadcast_error("mod", x, y) from None


def _remainder(a: np.ndarray, b: np.ndarray) -> Rule:
    return np.remainder(a, b), (lambda g: g, lambda g: -g * np.floor_divide(a, b))
