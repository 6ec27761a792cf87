"""Dropout: while training, each activation a_j is kept with probability 1 − p and scaled by
1/(1 − p) (inverted dropout), else zeroed; while predicting it passes a through unchanged.

The scaling keeps every neuron's expected output E[a_j · m_j/(1 − p)] = a_j, so the next layer
sees the same sizes in training and in prediction and needs no rescaling after training.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.checks import refuse
from chainrule.nn import init as inits
from chainrule.nn.module import Module
from chainrule.tensor import Rule, Tensor, node


def _probability(p: Any) -> float:
    """p in [0, 1], as PyTorch's Dropout takes it (p = 1 drops everything)."""
    if isinstance(p, bool) or not isinstance(p, int | float | np.integer | np.floating):
        raise refuse("Dropout", "p", "a probability in [0, 1]", p)
    if not 0 <= p <= 1:
        raise refuse("Dropout", "p", "a probability in [0, 1]", p)
    return float(p)


def dropout(a: Tensor, p: float, rng: np.random.Generator | None = None) -> Tensor:
    """out = a · m/(1 − p) with m_j ~ Bernoulli(1 − p);  ∂out/∂a = m/(1 − p), the same mask.

    p = 1 keeps nothing: out = 0 and ∂out/∂a = 0, as in PyTorch (no division by 1 − p = 0).
    The mask is drawn from `rng`, or from chainrule's generator when it is None.
    """
    out, vjps = _dropout(a.data, p, rng)
    return node(out, (a,), "dropout", vjps, _dropout, (a, p, rng))


def _dropout(a: np.ndarray, p: float, rng: np.random.Generator | None) -> Rule:
    """A fresh mask at every call, so a compiled step draws one per step, as eager does."""
    keep = (rng if rng is not None else inits.generator()).random(a.shape) >= p
    scale = np.zeros((), a.dtype) if p == 1 else np.asarray(1.0 / (1.0 - p), a.dtype)
    mask = keep * scale  # m/(1 − p), in a's dtype
    return a * mask, (lambda g: g * mask,)


class Dropout(Module):
    """Zero each input with probability p while `training`, scaling the rest by 1/(1 − p);
    the identity after `eval()`.

    `rng` is a seed or a numpy Generator for the masks; None draws them from chainrule's own
    generator (`cr.manual_seed(n)` makes them repeatable), read at each call so a later
    `manual_seed` takes effect.
    """

    def __init__(self, p: float = 0.5, *, rng: inits.RNG = None) -> None:
        super().__init__()
        self.p = _probability(p)
        self.rng = None if rng is None else inits.generator(rng)

    def forward(self, a: Tensor) -> Tensor:
        if not isinstance(a, Tensor):
            a = Tensor(a)
        if not self.training or self.p == 0:
            return a
        return dropout(a, self.p, self.rng)

    def config(self) -> dict[str, Any]:
        return {"p": self.p}

    def extra_repr(self) -> str:
        return f"p={self.p}"
