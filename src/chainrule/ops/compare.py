"""Comparisons, and the ops that choose between values: where, maximum, minimum.

A comparison is a step function: flat everywhere it is defined, so it returns a boolean
tensor that takes no gradient (PyTorch's rule). Choosing passes the upstream gradient to the
value chosen; where maximum or minimum meets a tie, each side gets half (PyTorch's choice).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from chainrule.ops.base import ArrayLike, apply, broadcast_error, lift
from chainrule.tensor import Rule, Tensor, node, numeric_array

__all__ = ["eq", "ge", "gt", "le", "lt", "maximum", "minimum", "ne", "where"]


def _compare(name: str, test: Callable[..., np.ndarray], x: ArrayLike, y: ArrayLike) -> Tensor:
    # A plain number is compared as it is, not cast to the tensor's dtype first: a boolean
    # tensor compared with 2 must read False, not True == bool(2). Strings, None and complex
    # numbers are refused as cr.tensor refuses them (a DTypeError, not numpy's loop error).
    a, b = numeric_array(x), numeric_array(y)
    try:
        mask, rules = _compared(a, b, test)
    except ValueError:
        raise broadcast_error(name, *lift(x, y)) from None
    # a plain number goes to a compiled step's record as the array it was compared as
    operands = (x if isinstance(x, Tensor) else a, y if isinstance(y, Tensor) else b)
    return node(mask, (), name, rules, _compared, (*operands, test))


def _compared(a: np.ndarray, b: np.ndarray, test: Callable[..., np.ndarray]) -> Rule:
    return test(a, b), ()


def lt(x: ArrayLike, y: ArrayLike) -> Tensor:
    """x < y, elementwise: a boolean tensor, no gradient."""
    return _compare("lt", np.less, x, y)


def le(x: ArrayLike, y: ArrayLike) -> Tensor:
    """x ≤ y, elementwise: a boolean tensor, no gradient."""
    return _compare("le", np.less_equal, x, y)


def gt(x: ArrayLike, y: ArrayLike) -> Tensor:
    """x > y, elementwise: a boolean tensor, no gradient."""
    return _compare("gt", np.greater, x, y)


def ge(x: ArrayLike, y: ArrayLike) -> Tensor:
    """x ≥ y, elementwise: a boolean tensor, no gradient."""
    return _compare("ge", np.greater_equal, x, y)


def eq(x: ArrayLike, y: ArrayLike) -> Tensor:
    """x = y, elementwise: a boolean tensor, no gradient (what `==` gives between tensors)."""
    return _compare("eq", np.equal, x, y)


def ne(x: ArrayLike, y: ArrayLike) -> Tensor:
    """x ≠ y, elementwise: a boolean tensor, no gradient."""
    return _compare("ne", np.not_equal, x, y)


def where(condition: ArrayLike, x: ArrayLike, y: ArrayLike) -> Tensor:
    """x where the condition holds, y elsewhere; ∂/∂x = [condition], ∂/∂y = [not condition].

    The three broadcast together; each operand's gradient is summed back to its own shape.
    """
    if not isinstance(condition, Tensor):
        condition = Tensor(condition, dtype=np.bool_)
    elif condition.requires_grad:
        condition = condition.detach()  # a condition takes no gradient, as in PyTorch
    x, y = lift(x, y)
    try:
        return apply(_where, "where", (x, y, condition))
    except ValueError:
        raise broadcast_error("where", x, y) from None


def _where(a: np.ndarray, b: np.ndarray, condition: np.ndarray) -> Rule:
    """The condition is a parent that never requires grad: rules for x and y only."""
    chosen = np.asarray(condition, bool)
    out = np.where(chosen, a, b)
    return out, (lambda g: np.where(chosen, g, 0.0), lambda g: np.where(chosen, 0.0, g))


def maximum(x: ArrayLike, y: ArrayLike) -> Tensor:
    """max(x, y), elementwise; ∂/∂x = 1 where x > y, ½ where x = y, 0 where x < y."""
    return _choose("maximum", np.maximum, np.greater, x, y)


def minimum(x: ArrayLike, y: ArrayLike) -> Tensor:
    """min(x, y), elementwise; ∂/∂x = 1 where x < y, ½ where x = y, 0 where x > y."""
    return _choose("minimum", np.minimum, np.less, x, y)


def _choose(
    name: str,
    pick: Callable[..., np.ndarray],
    wins: Callable[..., np.ndarray],
    x: ArrayLike,
    y: ArrayLike,
) -> Tensor:
    """maximum or minimum: the winner's slope is 1, the loser's 0, a tie splits it in halves."""
    x, y = lift(x, y)
    try:
        return apply(_choose_kernel, name, (x, y), pick, wins)
    except ValueError:
        raise broadcast_error(name, x, y) from None


def _choose_kernel(
    a: np.ndarray, b: np.ndarray, pick: Callable[..., np.ndarray], wins: Callable[..., np.ndarray]
) -> Rule:
    def vjp_x(g: np.ndarray) -> np.ndarray:
        return np.where(a == b, 0.5 * g, np.where(wins(a, b), g, 0.0))

    # what x does not take, y does: g − ½g is exactly ½g at a tie
    return pick(a, b), (vjp_x, lambda g: g - vjp_x(g))
