"""Matrix products: Z = X Y and the fused layer z = x Wᵀ + b."""

from __future__ import annotations

import numpy as np

from chainrule.errors import ShapeError
from chainrule.ops.base import ArrayLike, lift
from chainrule.tensor import Tensor, node, unbroadcast

__all__ = ["linear", "matmul"]


def matmul(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Z = X Y; ∂C/∂X = G Yᵀ, ∂C/∂Y = Xᵀ G (1-D operands are a row / a column, as numpy)."""
    x, y = lift(x, y)
    a, b = x.data, y.data
    try:
        out = a @ b
    except ValueError:
        raise ShapeError(
            f"matmul: shapes {a.shape} and {b.shape} do not multiply (the last axis of the left "
            f"must equal the {'only' if b.ndim == 1 else 'second-to-last'} axis of the right)"
        ) from None
    if a.ndim == 2 and b.ndim == 2:
        return node(out, (x, y), "matmul", (lambda g: g @ b.T, lambda g: a.T @ g))
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    shape2 = (a2 @ b2).shape if out.ndim != a2.ndim else out.shape

    def vjp_a(g: np.ndarray) -> np.ndarray:
        ga = np.reshape(g, shape2) @ np.swapaxes(b2, -1, -2)
        return unbroadcast(ga, a2.shape).reshape(a.shape)

    def vjp_b(g: np.ndarray) -> np.ndarray:
        gb = np.swapaxes(a2, -1, -2) @ np.reshape(g, shape2)
        return unbroadcast(gb, b2.shape).reshape(b.shape)

    return node(np.asarray(out), (x, y), "matmul", (vjp_a, vjp_b))


# ---- Fused: a whole layer as one node (speed; the algebra is the lecture's) ------------------


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """z = x Wᵀ + b for rows x; ∂C/∂x = G W, ∂C/∂W = Gᵀ x, ∂C/∂b = Σ_rows G.

    One node instead of three (matmul, transpose, add): `w_{jk}` joins input k to neuron j,
    so `∂z_j/∂w_{jk} = a_k`, which summed over the batch is exactly Gᵀ x.
    """
    a, w = x.data, weight.data
    try:  # numpy checks the shapes; we only reword its message
        z = a @ w.T
    except ValueError:
        raise ShapeError(
            f"linear: input has shape {a.shape}, but the layer's weight {w.shape} expects "
            f"{w.shape[1]} features in the last axis"
        ) from None
    if bias is not None:
        z += bias.data
    if a.ndim == 1:
        vjps = (lambda g: g @ w, lambda g: np.outer(g, a), lambda g: g)
    elif a.ndim == 2:
        # np.add.reduce is ndarray.sum without its Python-level wrapper: this runs every step
        vjps = (lambda g: g @ w, lambda g: g.T @ a, lambda g: np.add.reduce(g, axis=0))
    else:
        rows = a.reshape(-1, a.shape[-1])
        vjps = (
            lambda g: g @ w,
            lambda g: g.reshape(-1, g.shape[-1]).T @ rows,
            lambda g: g.reshape(-1, g.shape[-1]).sum(axis=0),
        )
    if bias is None:
        return node(z, (x, weight), "linear", vjps[:2])
    return node(z, (x, weight, bias), "linear", vjps)
