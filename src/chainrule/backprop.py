"""The backward pass: the chain rule applied once per edge of the graph, children before
parents, gradients summed where paths meet (the lecture's "many paths"), and broadcasting
undone. `Tensor.backward()` runs it; a compiled step replays the same rules in the order it
captured (chainrule.compile).
"""

from __future__ import annotations

from itertools import count
from operator import attrgetter
from typing import TYPE_CHECKING

import numpy as np

from chainrule.errors import GradError

if TYPE_CHECKING:
    from chainrule.tensor import Tensor

# Every tensor takes the next birth number when it is made, after its parents, so sorting a
# graph's nodes by it, newest first, puts every child before its parents: the reverse
# topological order backward needs, without a depth-first search.
by_birth = attrgetter("_seq")
_passes = count(1)


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` back to `shape`: the derivative of numpy broadcasting.

    A value broadcast to many positions influences the loss through each of them, so its
    gradient is the sum of theirs (the lecture's "many paths").
    """
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def reachable(root: Tensor, leaves: bool) -> list[Tensor]:
    """Every tensor `root` depends on that requires grad (root included; leaves only if
    `leaves`)."""
    stamp = next(_passes)  # marks this walk's visits, so no set of seen tensors is needed
    root._mark = stamp
    found = [root]
    stack = [root]
    while stack:
        for p in stack.pop()._parents:
            if p.requires_grad and p._mark != stamp:
                p._mark = stamp
                if p._parents:
                    found.append(p)
                    stack.append(p)
                elif leaves:
                    found.append(p)
    return found


def topological_order(root: Tensor) -> list[Tensor]:
    """Every tensor `root` depends on that requires grad, parents before children."""
    order = reachable(root, leaves=True)
    order.sort(key=by_birth)
    return order


def backward_pass(root: Tensor, seed: np.ndarray) -> None:
    """Apply every node's local rule once, children before parents, summing where paths meet.

    An op's result (a node) collects its upstream gradient in `_up` until all of its children
    are done; a leaf adds each arriving gradient to `.grad` at once.
    """
    if not root._parents:
        accumulate(root, seed, True)
        return
    nodes = reachable(root, leaves=False)
    nodes.sort(key=by_birth, reverse=True)
    root._up = seed
    for t in nodes:
        up = t._up
        t._up = None
        if up is None:
            continue
        if t._retain:
            accumulate(t, up, False)
        for parent, vjp in zip(t._parents, t._vjps):  # noqa: B905
            if not parent.requires_grad:
                continue  # e.g. the input batch: its gradient is never computed
            g = vjp(up)
            data = parent.data
            if g.shape != data.shape:
                g = unbroadcast(g, data.shape)
            if g.dtype != data.dtype:
                g = g.astype(data.dtype)
            if parent._parents:
                parent._up = g if parent._up is None else parent._up + g
            else:
                # A leaf may keep `g` itself only if no one else holds it: not the upstream
                # passed through unchanged, not a view, not read-only.
                accumulate(parent, g, g is not up and g.flags.owndata and g.flags.writeable)


def accumulate(t: Tensor, grad: np.ndarray, owned: bool) -> None:
    if grad.shape != t.data.shape:
        raise GradError(f"internal: gradient shape {grad.shape} != tensor shape {t.data.shape}")
    if t.grad is None:
        t.grad = grad if owned else np.array(grad)
    else:
        t.grad += grad
