"""Products of arrays: Z = X Y, the fused layer z = x Wᵀ + b, and every sum of products
einsum can name (dot, inner, outer, tensordot are einsums with their subscripts written for
you). An einsum's gradient is an einsum too: see `einsum`."""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.backprop import unbroadcast
from chainrule.checks import refuse
from chainrule.errors import ShapeError
from chainrule.ops.arithmetic import mul
from chainrule.ops.base import ArrayLike, apply, constant, lift
from chainrule.ops.shape import reshape
from chainrule.tensor import VJP, Rule, Tensor, node
from chainrule.threads import eager_product

__all__ = ["dot", "einsum", "inner", "linear", "matmul", "outer", "tensordot"]


def matmul(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Z = X Y; ∂C/∂X = G Yᵀ, ∂C/∂Y = Xᵀ G (1-D operands are a row / a column, as numpy)."""
    x, y = lift(x, y)
    a, b = x.data, y.data
    try:
        out = eager_product(a.size * (b.shape[-1] if b.ndim > 1 else 1), np.matmul, a, b)
    except ValueError:
        raise ShapeError(
            f"matmul: shapes {a.shape} and {b.shape} do not multiply (the last axis of the left "
            f"must equal the {'only' if b.ndim == 1 else 'second-to-last'} axis of the right)"
        ) from None
    if a.ndim == 2 and b.ndim == 2:
        return node(out, (x, y), "matmul", _matrix_rules(a, b), _matmul, (x, y))
    return node(np.asarray(out), (x, y), "matmul", _batched_rules(a, b), _batched, (x, y))


def _batched(a: np.ndarray, b: np.ndarray) -> Rule:
    """Z = X Y with a 1-D operand or batch axes (the compiled step's replay of `matmul`)."""
    return np.asarray(a @ b), _batched_rules(a, b)


def _batched_rules(a: np.ndarray, b: np.ndarray) -> tuple[VJP, ...]:
    """A 1-D operand is a row (left) or a column (right) whose axis the product then drops:
    the rules run on the 2-D forms, and each gradient loses the axis its own operand gained.
    Batch axes the engine sums back to each operand's shape."""
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b

    def upstream_2d(g: np.ndarray) -> np.ndarray:
        if b.ndim == 1:
            g = g[..., None]
        return np.expand_dims(g, -2) if a.ndim == 1 else g

    def vjp_a(g: np.ndarray) -> np.ndarray:
        ga = upstream_2d(g) @ np.swapaxes(b2, -1, -2)
        return ga[..., 0, :] if a.ndim == 1 else ga

    def vjp_b(g: np.ndarray) -> np.ndarray:
        gb = np.swapaxes(a2, -1, -2) @ upstream_2d(g)
        return gb[..., 0] if b.ndim == 1 else gb

    return (vjp_a, vjp_b)


def _matmul(a: np.ndarray, b: np.ndarray) -> Rule:
    """Z = X Y for two matrices (the compiled step's replay of `matmul`)."""
    return a @ b, _matrix_rules(a, b)


def _matrix_rules(a: np.ndarray, b: np.ndarray) -> tuple[VJP, ...]:
    return (lambda g: g @ b.T, lambda g: a.T @ g)


# ---- einsum: one rule for every sum of products ---------------------------------------------


def einsum(subscripts: str, *operands: ArrayLike) -> Tensor:
    """numpy's and PyTorch's einsum: `"ij,jk->ik"` is Z = X Y; `...` stands for broadcast
    axes; without `->` the output is the letters that appear once, in alphabetical order
    (after the `...` axes).

    Gradient rule: out = einsum("S₁,…,Sₖ->O", X₁, …, Xₖ) is linear in each Xᵢ, so
    ∂C/∂Xᵢ = einsum("O,S₁,…(without Sᵢ)…,Sₖ->Sᵢ", G, X₁, …, Xₖ): the upstream gradient takes
    the place of the operand. A letter only Sᵢ has (summed over in Xᵢ alone) is broadcast back
    along its axis; a letter Sᵢ repeats (a diagonal) gets the gradient on that diagonal, 0 off it.
    """
    tensors = _lift_all(operands)
    terms, output = _explicit(subscripts, [t.data for t in tensors])
    return _contraction("einsum", terms, output, tensors)


def dot(x: ArrayLike, y: ArrayLike) -> Tensor:
    """numpy's dot: Σ_k x_k y_k for vectors, X Y for matrices; for N-D, the last axis of x
    against the second-to-last of y (the last, if y is 1-D); a 0-d operand multiplies."""
    x, y = lift(x, y)
    if x.ndim == 0 or y.ndim == 0:
        return mul(x, y)
    return _pair("dot", x, y, [x.ndim - 1], [max(y.ndim - 2, 0)])


def inner(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Σ_k x_{…k} y_{…k}: the last axes of both summed against each other (a 0-d one
    multiplies)."""
    x, y = lift(x, y)
    if x.ndim == 0 or y.ndim == 0:
        return mul(x, y)
    return _pair("inner", x, y, [x.ndim - 1], [y.ndim - 1])


def outer(x: ArrayLike, y: ArrayLike) -> Tensor:
    """z_{jk} = x_j y_k (operands of more axes are flattened first, as numpy does)."""
    x, y = lift(x, y)
    x = x if x.ndim == 1 else reshape(x, (-1,))
    y = y if y.ndim == 1 else reshape(y, (-1,))
    return _contraction("outer", ["a", "b"], "ab", [x, y])


def tensordot(x: ArrayLike, y: ArrayLike, axes: int | Sequence[int | Sequence[int]] = 2) -> Tensor:
    """Sums x's `axes[0]` against y's `axes[1]` (an integer n: x's last n against y's first
    n); the result has x's other axes, then y's."""
    x, y = lift(x, y)
    if isinstance(axes, int | np.integer):
        n = int(axes)
        if not 0 <= n <= min(x.ndim, y.ndim):
            raise refuse("tensordot", "axes", f"between 0 and {min(x.ndim, y.ndim)}", axes)
        return _pair("tensordot", x, y, list(range(x.ndim - n, x.ndim)), list(range(n)))
    if len(axes) != 2:
        raise refuse("tensordot", "axes", "an integer or a pair (axes of x, axes of y)", axes)
    return _pair("tensordot", x, y, _axis_list(axes[0], x.ndim), _axis_list(axes[1], y.ndim))


def _axis_list(axes: int | Sequence[int], ndim: int) -> list[int]:
    listed = [axes] if isinstance(axes, int | np.integer) else list(axes)
    if any(not -ndim <= axis < ndim for axis in listed) or len(set(listed)) < len(listed):
        raise refuse("tensordot", "axes", f"distinct axes of a {ndim}-D operand", axes)
    return [int(axis) % ndim for axis in listed]


def _pair(name: str, x: Tensor, y: Tensor, summed_x: list[int], summed_y: list[int]) -> Tensor:
    """Sum x's axes `summed_x` against y's `summed_y`, pairwise, as one einsum."""
    if len(summed_x) != len(summed_y) or any(
        x.shape[i] != y.shape[j] for i, j in zip(summed_x, summed_y, strict=False)
    ):
        raise ShapeError(
            f"{name}: shapes {x.shape} and {y.shape} do not match along the summed axes "
            f"{tuple(summed_x)} and {tuple(summed_y)}"
        )
    letters = iter(string.ascii_letters)
    term_x = [next(letters) for _ in range(x.ndim)]
    term_y = [next(letters) for _ in range(y.ndim)]
    for i, j in zip(summed_x, summed_y, strict=True):
        term_y[j] = term_x[i]
    kept_x = [c for i, c in enumerate(term_x) if i not in summed_x]
    kept_y = [c for j, c in enumerate(term_y) if j not in summed_y]
    return _contraction(name, ["".join(term_x), "".join(term_y)], "".join(kept_x + kept_y), [x, y])


def _lift_all(operands: Sequence[ArrayLike]) -> list[Tensor]:
    """Every operand as a tensor; plain arrays take the dtype of the first tensor."""
    dtype = next((t.data.dtype for t in operands if isinstance(t, Tensor)), np.dtype(np.float64))
    return [t if isinstance(t, Tensor) else constant(t, dtype) for t in operands]


def _explicit(subscripts: str, arrays: list[np.ndarray]) -> tuple[list[str], str]:
    """The subscripts with every `...` written out as letters and the output made explicit."""
    spec = subscripts.replace(" ", "")
    left, arrow, right = spec.partition("->")
    terms = left.split(",")
    if len(terms) != len(arrays) or "->" in right:
        raise refuse(
            "einsum",
            "subscripts",
            f"one term per operand ({len(arrays)}), comma-separated, with at most one '->'",
            subscripts,
        )
    named = set(left.replace(",", "") + right) - {"."}
    if not all(c in string.ascii_letters for c in named):
        raise refuse("einsum", "subscripts", "letters, commas, '...' and '->'", subscripts)
    spare = [c for c in string.ascii_letters if c not in named]
    broadcast = 0  # the number of axes `...` stands for: the most any operand gives it
    for term, a in zip(terms, arrays, strict=True):
        broadcast = max(broadcast, _ellipsis_width(subscripts, term, a))
    dots = "".join(spare[:broadcast])
    written = [
        term.replace("...", dots[broadcast - _ellipsis_width(subscripts, term, a) :])
        for term, a in zip(terms, arrays, strict=True)
    ]
    if arrow:
        if "..." not in right and broadcast:
            raise ShapeError(
                f"einsum {subscripts!r}: the operands have axes '...' stands for, so the output "
                f"must place them: write '...' after '->'"
            )
        return written, right.replace("...", dots)
    once = sorted(c for c in named if left.count(c) == 1)
    return written, dots + "".join(once)


def _ellipsis_width(subscripts: str, term: str, a: np.ndarray) -> int:
    """How many of `a`'s axes the `...` in `term` stands for (0 without one)."""
    letters = len(term.replace("...", ""))
    width = a.ndim - letters if "..." in term else 0
    if (
        term.count("...") > 1
        or "." in term.replace("...", "")
        or width < 0
        or ("..." not in term and letters != a.ndim)
    ):
        raise ShapeError(
            f"einsum {subscripts!r}: the term {term!r} does not fit an operand of shape {a.shape}"
        )
    return width


def _contract(spec: str, arrays: Sequence[np.ndarray]) -> np.ndarray:
    # numpy's contraction-order search costs tens of microseconds: worth it for three or more
    # operands (the order decides the cost) or large ones (it calls BLAS), not for small pairs
    big = len(arrays) > 2 or sum(a.size for a in arrays) > 4096
    return np.asarray(np.einsum(spec, *arrays, optimize=big))


def _contraction(name: str, terms: list[str], output: str, tensors: list[Tensor]) -> Tensor:
    """The node for einsum("terms->output", tensors), with one einsum rule per operand."""
    try:
        return apply(_einsum, name, tuple(tensors), ",".join(terms) + "->" + output)
    except ValueError as err:
        shapes = ", ".join(str(t.shape) for t in tensors)
        raise ShapeError(f"{name}: operands of shapes {shapes} do not fit: {err}") from None


def _einsum(*arrays_then_spec: Any) -> Rule:
    *arrays, spec = arrays_then_spec
    out = _contract(spec, arrays)
    inputs, output = spec.split("->")
    terms = inputs.split(",")
    sizes: dict[str, int] = {}
    for term, a in zip(terms, arrays, strict=True):
        for c, n in zip(term, a.shape, strict=True):
            sizes[c] = max(sizes.get(c, 1), n)
    return out, tuple(_einsum_vjp(i, terms, output, arrays, sizes) for i in range(len(arrays)))


def _einsum_vjp(
    i: int, terms: list[str], output: str, arrays: list[np.ndarray], sizes: dict[str, int]
) -> VJP:
    """∂C/∂Xᵢ = einsum("O,(the other terms)->Sᵢ", G, (the other operands))."""
    own, shape = terms[i], arrays[i].shape
    others = [t for j, t in enumerate(terms) if j != i]
    rest = [a for j, a in enumerate(arrays) if j != i]
    letters = "".join(dict.fromkeys(own))  # each axis letter once: a diagonal is one letter
    elsewhere = set(output).union(*others)
    found = "".join(c for c in letters if c in elsewhere)
    spec = ",".join([output, *others]) + "->" + found

    def vjp(g: np.ndarray) -> np.ndarray:
        grad = _contract(spec, [g, *rest])
        if found != letters:  # summed in Xᵢ alone: every element got the same gradient
            grad = grad.reshape([sizes[c] if c in found else 1 for c in letters])
            grad = np.broadcast_to(grad, [sizes[c] for c in letters])
        if letters != own:  # a repeated letter: the gradient lands on the diagonal
            full = np.zeros(shape, grad.dtype)
            diagonal = np.einsum(own + "->" + letters, full)  # a writable view of `full`
            diagonal[...] = unbroadcast(grad, diagonal.shape)
            return full
        return grad

    return vjp


# ---- Fused: a whole layer as one node (speed; the algebra is the lecture's) ------------------


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """z = x Wᵀ + b for rows x; ∂C/∂x = G W, ∂C/∂W = Gᵀ x, ∂C/∂b = Σ_rows G.

    One node instead of three (matmul, transpose, add): `w_{jk}` joins input k to neuron j,
    so `∂z_j/∂w_{jk} = a_k`, which summed over the batch is exactly Gᵀ x.
    """
    a, w = x.data, weight.data
    if w.ndim not in (1, 2):
        raise ShapeError(
            f"linear: weight must be a matrix (out_features, in_features) or a vector "
            f"(in_features,), got shape {w.shape}"
        )
    product = a.size * (w.shape[0] if w.ndim == 2 else 1)  # rows × in × out multiply-adds
    kernel = _linear if a.ndim == 2 else _linear_one if a.ndim == 1 else _linear_batched
    try:  # numpy checks the shapes; we only reword its message
        if bias is None:
            z, vjps = eager_product(product, kernel, a, w)
            return node(z, (x, weight), "linear", vjps, kernel, (x, weight))
        z, vjps = eager_product(product, kernel, a, w, bias.data)
    except ValueError:
        raise ShapeError(
            f"linear: input has shape {a.shape}, but the layer's weight {w.shape} expects "
            f"{w.shape[-1]} features in the last axis"
        ) from None
    return node(z, (x, weight, bias), "linear", vjps, kernel, (x, weight, bias))


# Each form states its rules for a, W and b; without a bias the third is never applied.


def _affine(a: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """z = a Wᵀ (+ b), the forward pass every form shares."""
    z = a @ w.T
    if b is not None:
        z += b
    return z


def _linear(a: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> Rule:
    """z = a Wᵀ (+ b) for rows a (n, in_features), and the rules for a, W and b."""
    z = _affine(a, w, b)
    # np.add.reduce is ndarray.sum without its Python-level wrapper: this runs every step
    return z, (lambda g: g @ w, lambda g: g.T @ a, lambda g: np.add.reduce(g, axis=0))


def _linear_one(a: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> Rule:
    """z = W a (+ b) for one example a (in_features,)."""
    z = _affine(a, w, b)
    return z, (lambda g: g @ w, lambda g: np.outer(g, a), lambda g: g)


def _linear_batched(a: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> Rule:
    """z = a Wᵀ (+ b) for a (..., in_features): the rules sum W's and b's over every row."""
    z = _affine(a, w, b)
    rows = a.reshape(-1, a.shape[-1])
    return z, (
        lambda g: g @ w,
        lambda g: g.reshape(-1, g.shape[-1]).T @ rows,
        lambda g: g.reshape(-1, g.shape[-1]).sum(axis=0),
    )
