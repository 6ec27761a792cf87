"""What runs on a worker: one shard's sum Σ_i ∂C_i/∂w over its rows of a batch, with
chainrule's own forward and backward() on a copy of the network."""

from __future__ import annotations

import copy
from typing import NamedTuple

import numpy as np

from chainrule.examples import correct
from chainrule.nn.losses import CrossEntropyLoss, Loss, NLLLoss
from chainrule.nn.module import Module
from chainrule.tensor import Tensor


class ShardSum(NamedTuple):
    """What a worker sends back for its shard's rows of a batch: Σ_i ∂C_i/∂w per parameter
    (None for one the loss does not reach), Σ_i C_i, how many terms C_i, and (right, of how
    many) for a classifier."""

    grads: list[np.ndarray | None]
    loss: float
    terms: int
    correct: tuple[int, int] | None


def terms(loss: Loss, a: np.ndarray, y: np.ndarray) -> int:
    """How many terms the loss's mean divides its sum by, on outputs `a` for targets `y`: the
    examples for the lecture's C = 1/n Σ_i C_i, every element for the elementwise means (MSE,
    BCE), and for the class losses each row's (and position's) label that counts, those equal
    to ignore_index left out, as the losses' own means leave them out."""
    if isinstance(loss, CrossEntropyLoss | NLLLoss):
        if loss.ignore_index is not None and y.ndim == a.ndim - 1:
            return int(np.count_nonzero(y != loss.ignore_index))
        return a.size // a.shape[1 if a.ndim > 1 else 0]
    if loss.per_example:
        return a.shape[0] if a.ndim > 1 else 1
    return a.size


def shard_sum(
    net: tuple[Module, Loss],
    weights: list[np.ndarray],
    shard: tuple[np.ndarray, np.ndarray],
    rows: np.ndarray | None,
) -> ShardSum:
    """On a worker: the network `net` (its structure and a loss with reduction="sum") with
    `weights`, forward and backward on the shard's `rows` (all of them for None)."""
    skeleton, loss = net
    x, y = shard if rows is None else (shard[0][rows], shard[1][rows])
    model = copy.deepcopy(skeleton)  # tasks on one worker may run at once: a copy each
    for p, weight in zip(model.parameters(), weights, strict=True):
        p.data = weight
    output = model(Tensor(x))
    c = loss(output, y)
    c.backward()
    grads = [p.grad for p in model.parameters()]
    return ShardSum(
        grads, float(c.data), terms(loss, output.data, y), correct(loss, output.data, y)
    )
