"""Elementwise functions of one input: each output element depends on one input element, so
the local derivative is a plain product, g ⊙ f'(x)."""

from __future__ import annotations

import numpy as np

from chainrule.tensor import Tensor, node

__all__ = ["clip", "exp", "log"]


def exp(x: Tensor) -> Tensor:
    """(eˣ)' = eˣ: the derivative is the output itself."""
    out = np.exp(x.data)
    return node(out, (x,), "exp", (lambda g: g * out,))


def log(x: Tensor) -> Tensor:
    """(ln x)' = 1/x."""
    a = x.data
    return node(np.log(a), (x,), "log", (lambda g: g / a,))


def clip(x: Tensor, low: float, high: float) -> Tensor:
    """clip(z) = min(max(z, low), high); derivative 1 inside [low, high], 0 outside."""
    a = x.data
    out = np.clip(a, low, high)
    return node(out, (x,), "clip", (lambda g: g * ((a >= low) & (a <= high)),))
