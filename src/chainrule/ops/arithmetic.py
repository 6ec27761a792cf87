"""The lecture's table of derivative rules: sum, difference, product, quotient, power."""

from __future__ import annotations

import numpy as np

from chainrule.ops.base import ArrayLike, broadcast_error, lift
from chainrule.tensor import Tensor, node

__all__ = ["add", "div", "mul", "neg", "power", "reciprocal", "sub"]


def add(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Sum rule: (f + g)' = f' + g'."""
    x, y = lift(x, y)
    try:
        out = x.data + y.data
    except ValueError:
        raise broadcast_error("add", x, y) from None
    return node(out, (x, y), "add", (lambda g: g, lambda g: g))


def sub(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Difference rule: (f − g)' = f' − g'."""
    x, y = lift(x, y)
    try:
        out = x.data - y.data
    except ValueError:
        raise broadcast_error("sub", x, y) from None
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
        raise broadcast_error("mul", x, y) from None
    return node(out, (x, y), "mul", (lambda g: g * b, lambda g: g * a))


def div(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Quotient rule: (f/g)' = (f' g − g' f) / g²."""
    x, y = lift(x, y)
    a, b = x.data, y.data
    try:
        out = a / b
    except ValueError:
        raise broadcast_error("div", x, y) from None
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
        raise broadcast_error("pow", x, y) from None
    return node(
        out,
        (x, y),
        "pow",
        (lambda g: g * n * a ** (n - 1), lambda g: g * out * np.log(a)),
    )
