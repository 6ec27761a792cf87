"""Reductions: many elements in, one out; the gradient is spread back over what was reduced.

`axis` and `keepdims` are numpy's: None reduces every axis (the flattened tensor for argmax,
argmin, cumsum and cumprod), an int or a tuple of ints the axes named, negative ones counted
from the end. A 0-d tensor may be reduced over axis 0 or -1, as PyTorch allows: its one
element is its own sum, mean, maximum, ...

Where a function has no derivative at a point, the value used there is PyTorch's: at a tie for
the maximum (or minimum) an int `axis` gives the whole gradient to the first extreme element,
as `torch.max(x, dim)` does, and None or a tuple of axes splits it evenly among the tied
elements, as `torch.max(x)` and `torch.amax` do; std's gradient is 0 where std = 0.
"""

from __future__ import annotations

import builtins
import warnings

import numpy as np

from chainrule.checks import at_least
from chainrule.errors import ShapeError
from chainrule.ops.base import Axis, apply
from chainrule.ops.shape import axes_of, axis_index
from chainrule.tensor import Rule, Tensor, node

__all__ = [
    "all",
    "any",
    "argmax",
    "argmin",
    "cumprod",
    "cumsum",
    "logsumexp",
    "max",
    "mean",
    "min",
    "prod",
    "std",
    "sum",
    "var",
]


# ---- axes ---------------------------------------------------------------------------------


def _valid(op: str, ndim: int, axis: Axis) -> Axis:
    """`axis` checked as the shape ops check it: ShapeError when out of range or named twice,
    ConfigError when not an integer. A 0-d tensor has PyTorch's one axis, 0 or -1: reducing
    over it is reducing over everything, so it becomes None (numpy would refuse any axis)."""
    if axis is not None:
        axes_of(op, axis, builtins.max(ndim, 1))
        if ndim == 0:
            return None
    return axis


def _kept(g: np.ndarray, shape: tuple[int, ...], axis: Axis, keepdims: bool) -> np.ndarray:
    """The reduced gradient `g` with its reduced axes back, as size 1 (keepdims' shape), so it
    broadcasts against the input. With axis None a 0-d `g` broadcasts as it is."""
    if axis is None or keepdims:
        return g
    axes = {i % len(shape) for i in (axis if isinstance(axis, tuple) else (axis,))}
    return g.reshape(tuple(1 if i in axes else n for i, n in enumerate(shape)))


def _spread(g: np.ndarray, shape: tuple[int, ...], axis: Axis, keepdims: bool) -> np.ndarray:
    """`g` copied back over every reduced element, into a fresh array a leaf may keep as its
    `.grad` (np.broadcast_to would give a read-only view that the engine must copy anyway)."""
    full = np.empty(shape, g.dtype)
    full[...] = _kept(g, shape, axis, keepdims)
    return full


def _drop(kept: np.ndarray, axis: Axis, keepdims: bool) -> np.ndarray:
    """A result computed with keepdims=True, with the reduced axes dropped unless `keepdims`."""
    return kept if keepdims else np.squeeze(kept, axis)


def _count(a: np.ndarray, out: np.ndarray) -> int:
    """n, the number of elements each output element reduced."""
    return a.size // out.size if a.size else 1


def _no_grad(values: np.ndarray) -> Tensor:
    """An integer or boolean result: a tensor of that dtype that never takes a gradient."""
    values = np.asarray(values)
    return Tensor(values, dtype=values.dtype)


# ---- sum and mean: the training losses' reductions, kept lean -----------------------------


def sum(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Σ over `axis`: every summed element gets the upstream gradient unchanged."""
    a = x.data
    if axis is not None and a.ndim == 0:
        axis = _valid("sum", 0, axis)
    try:
        out, vjps = _sum(a, axis, keepdims)
    except (ValueError, TypeError):  # checked only on failure: sum is on every loss's path
        _valid("sum", a.ndim, axis)
        raise
    return node(out, (x,), "sum", vjps, _sum, (x, axis, keepdims))


def _sum(a: np.ndarray, axis: Axis, keepdims: bool) -> Rule:
    shape = a.shape
    out = np.asarray(a.sum(axis=axis, keepdims=keepdims))
    return out, (lambda g: _spread(g, shape, axis, keepdims),)


def mean(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """(1/n) Σ over `axis`: every element gets 1/n of the upstream gradient."""
    a = x.data
    if axis is not None and a.ndim == 0:
        axis = _valid("mean", 0, axis)
    try:
        out, vjps = _mean(a, axis, keepdims)
    except (ValueError, TypeError):
        _valid("mean", a.ndim, axis)
        raise
    return node(out, (x,), "mean", vjps, _mean, (x, axis, keepdims))


def _mean(a: np.ndarray, axis: Axis, keepdims: bool) -> Rule:
    shape = a.shape
    out = np.asarray(a.mean(axis=axis, keepdims=keepdims))
    n = _count(a, out)
    return out, (lambda g: _spread(g / n, shape, axis, keepdims),)


# ---- extremes -----------------------------------------------------------------------------


def max(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """The largest element over `axis`: its gradient is the upstream one, the others' is 0.

    At a tie an int `axis` gives it to the first largest element (`torch.max(x, dim)`); None
    or a tuple of axes splits it evenly among the tied ones (`torch.max(x)`, `torch.amax`).
    Unlike `torch.max(x, dim)` this returns the values only; `argmax` gives the indices.
    """
    return _extreme(x, axis, keepdims, "max")


def min(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """The smallest element over `axis`; the gradient as for `max`, ties included."""
    return _extreme(x, axis, keepdims, "min")


def _extreme(x: Tensor, axis: Axis, keepdims: bool, op: str) -> Tensor:
    axis = _valid(op, x.data.ndim, axis)
    try:
        return apply(_extreme_kernel, op, (x,), axis, keepdims, op)
    except ValueError:
        raise ShapeError(f"{op}: an empty axis of shape {x.shape} has no {op}imum") from None


def _extreme_kernel(a: np.ndarray, axis: Axis, keepdims: bool, op: str) -> Rule:
    m = (np.max if op == "max" else np.min)(a, axis=axis, keepdims=True)

    if isinstance(axis, int | np.integer):
        along = int(axis)

        def vjp(g: np.ndarray) -> np.ndarray:  # all of it to the first extreme element
            first = (np.argmax if op == "max" else np.argmin)(a, axis=along, keepdims=True)
            full = np.zeros_like(a)
            np.put_along_axis(full, first, g.reshape(m.shape), axis=along)
            return full

    else:

        def vjp(g: np.ndarray) -> np.ndarray:  # split evenly among the tied ones
            # NaN is the extreme wherever it appears (numpy and PyTorch agree), and NaN != NaN
            tied = (a == m) | (np.isnan(a) & np.isnan(m))
            return tied * (g.reshape(m.shape) / tied.sum(axis=axis, keepdims=True))

    return _drop(m, axis, keepdims), (vjp,)


def argmax(x: Tensor, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """The index of the largest element along `axis` (into the flattened tensor when None),
    the first one at a tie; an integer tensor, which takes no gradient."""
    return _arg(x, axis, keepdims, "argmax")


def argmin(x: Tensor, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """The index of the smallest element along `axis`; as `argmax` otherwise."""
    return _arg(x, axis, keepdims, "argmin")


def _arg(x: Tensor, axis: int | None, keepdims: bool, op: str) -> Tensor:
    a = x.data
    if axis is not None:
        axis_index(op, axis, builtins.max(a.ndim, 1))
        axis = axis if a.ndim else None
    try:
        index = (np.argmax if op == "argmax" else np.argmin)(a, axis=axis, keepdims=keepdims)
    except ValueError:
        raise ShapeError(f"{op}: an empty axis of shape {a.shape} has no extreme") from None
    return _no_grad(index)


# ---- products -----------------------------------------------------------------------------


def prod(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Π over `axis`: ∂/∂x_i is the product of the other elements of x_i's slice.

    That product is taken from the running products to x_i's left and right, never as Π / x_i,
    so it is exact at zeros: with one zero in a slice only the zero gets a gradient (the
    product of the others), with two or more no element does.
    """
    return apply(_prod, "prod", (x,), _valid("prod", x.data.ndim, axis), keepdims)


def _prod(a: np.ndarray, axis: Axis, keepdims: bool) -> Rule:
    out = np.asarray(np.prod(a, axis=axis, keepdims=keepdims))
    return out, (lambda g: _kept(g, a.shape, axis, keepdims) * _others(a, axis),)


def _others(a: np.ndarray, axis: Axis) -> np.ndarray:
    """For each element, the product of the other elements of its reduced slice."""
    if a.size == 0:
        return np.zeros_like(a)
    reduced = range(a.ndim) if axis is None else np.atleast_1d(axis)
    axes = tuple(int(i) % a.ndim for i in reduced)
    last = tuple(range(a.ndim - len(axes), a.ndim))
    moved = np.moveaxis(a, axes, last)  # the reduced axes last, then flattened into one
    rows = moved.reshape(moved.shape[: a.ndim - len(axes)] + (-1,))
    ones = np.ones(rows.shape[:-1] + (1,), a.dtype)
    left = np.cumprod(np.concatenate([ones, rows[..., :-1]], axis=-1), axis=-1)
    right = np.cumprod(np.concatenate([ones, rows[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return np.moveaxis((left * right).reshape(moved.shape), last, axes)


# ---- spread: variance and standard deviation ----------------------------------------------


def var(x: Tensor, axis: Axis = None, keepdims: bool = False, ddof: float = 0) -> Tensor:
    """Σ (x − x̄)² / (n − ddof) over `axis`; ∂/∂x_i = 2 (x_i − x̄) / (n − ddof) (x̄'s own
    dependence on x_i adds a multiple of Σ (x − x̄) = 0).

    `ddof=0`, numpy's default, is the population variance. PyTorch's default (`correction=1`,
    the unbiased sample variance) is `ddof=1`. With n − ddof <= 0 the result is inf or NaN,
    as in numpy and PyTorch, with a RuntimeWarning.
    """
    ddof = at_least("var", "ddof", ddof, 0)
    return apply(_var, "var", (x,), _valid("var", x.data.ndim, axis), keepdims, ddof)


def _var(a: np.ndarray, axis: Axis, keepdims: bool, ddof: float) -> Rule:
    d, dof, v = _variance(a, axis, ddof, "var")
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = d * (2 / dof)
    return _drop(v, axis, keepdims), (lambda g: _kept(g, a.shape, axis, keepdims) * slope,)


def std(x: Tensor, axis: Axis = None, keepdims: bool = False, ddof: float = 0) -> Tensor:
    """√var over `axis`; ∂/∂x_i = (x_i − x̄) / ((n − ddof) std), and 0 where std = 0, as in
    PyTorch. `ddof` as for `var`: 0 by default (numpy's), PyTorch's default is `ddof=1`."""
    ddof = at_least("std", "ddof", ddof, 0)
    return apply(_std, "std", (x,), _valid("std", x.data.ndim, axis), keepdims, ddof)


def _std(a: np.ndarray, axis: Axis, keepdims: bool, ddof: float) -> Rule:
    d, dof, v = _variance(a, axis, ddof, "std")
    s = np.sqrt(v)

    def vjp(g: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = np.where(s == 0, 0.0, d / (dof * s))
        return _kept(g, a.shape, axis, keepdims) * slope

    return _drop(s, axis, keepdims), (vjp,)


def _variance(
    a: np.ndarray, axis: Axis, ddof: float, op: str
) -> tuple[np.ndarray, np.floating, np.ndarray]:
    """x − x̄, n − ddof (at least 0) and the variance with the reduced axes kept, over
    `axis` (already resolved for a 0-d input)."""
    d = a - a.mean(axis=axis, keepdims=True)
    squares = (d * d).sum(axis=axis, keepdims=True)
    freedom = _count(a, squares) - ddof
    if freedom <= 0:
        warnings.warn(
            f"{op}: n − ddof = {freedom:g} degrees of freedom, so the result is inf or nan "
            f"(use a smaller ddof)",
            RuntimeWarning,
            stacklevel=5,  # the caller of var or std (through apply and the kernel)
        )
    dof = a.dtype.type(builtins.max(freedom, 0))  # a numpy scalar: x / 0 is inf, not an error
    with np.errstate(divide="ignore", invalid="ignore"):
        return d, dof, squares / dof


# ---- logsumexp ----------------------------------------------------------------------------


def logsumexp(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """ln Σ eˣ over `axis`, computed as m + ln Σ e^(x − m) with m the maximum, so no eˣ
    overflows; ∂/∂x_i = e^(x_i − out), the softmax of the slice."""
    return apply(_logsumexp, "logsumexp", (x,), _valid("logsumexp", x.data.ndim, axis), keepdims)


def _logsumexp(a: np.ndarray, axis: Axis, keepdims: bool) -> Rule:
    m = np.max(a, axis=axis, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0.0)  # an infinite maximum would give inf − inf = NaN
    with np.errstate(divide="ignore"):  # ln 0 = −inf where every element is −inf, as PyTorch
        kept = np.log(np.exp(a - m).sum(axis=axis, keepdims=True)) + m
    return _drop(kept, axis, keepdims), (
        lambda g: _kept(g, a.shape, axis, keepdims) * np.exp(a - kept),
    )


# ---- running sums and products ------------------------------------------------------------


def cumsum(x: Tensor, axis: int | None = None) -> Tensor:
    """Running sums along `axis` (of the flattened tensor when None, as numpy):
    out_j = Σ_{i≤j} x_i, so ∂C/∂x_i = Σ_{j≥i} g_j, the upstream summed from the end."""
    return apply(_cumsum, "cumsum", (x,), axis)


def _cumsum(a: np.ndarray, axis: int | None) -> Rule:
    rows, k = _scan("cumsum", a, axis)
    out = np.cumsum(rows, axis=k).reshape(rows.shape if axis is None else a.shape)
    return out, (lambda g: _sum_from_end(g.reshape(rows.shape), k).reshape(a.shape),)


def cumprod(x: Tensor, axis: int | None = None) -> Tensor:
    """Running products along `axis`: out_j = Π_{i≤j} x_i, so
    ∂C/∂x_i = Σ_{j≥i} g_j Π_{k≤j, k≠i} x_k.

    Before the first zero of a line that is Σ_{j≥i} g_j out_j / x_i; at the first zero it is
    the same sum with the zero taken as 1; after it every product holds the zero, so 0.
    """
    return apply(_cumprod, "cumprod", (x,), axis)


def _cumprod(a: np.ndarray, axis: int | None) -> Rule:
    rows, k = _scan("cumprod", a, axis)
    shape = a.shape
    out = np.cumprod(rows, axis=k)

    def vjp(g: np.ndarray) -> np.ndarray:
        g = g.reshape(rows.shape)
        zeros = np.cumsum(rows == 0, axis=k)  # zeros met so far along the line
        before = zeros == 0
        grad = np.where(before, _sum_from_end(g * out, k) / np.where(before, rows, 1), 0.0)
        first = (rows == 0) & (zeros == 1)
        if first.any():
            skip_zero = np.cumprod(np.where(first, 1, rows), axis=k)
            grad = np.where(first, _sum_from_end(g * skip_zero, k), grad)
        return grad.reshape(shape)

    return out.reshape(rows.shape if axis is None else shape), (vjp,)


def _scan(op: str, a: np.ndarray, axis: int | None) -> tuple[np.ndarray, int]:
    """`a` laid out for a running sum or product along its axis `k`: flattened when `axis` is
    None (numpy), one element long for a 0-d tensor (PyTorch)."""
    if axis is None:
        return a.reshape(-1), 0
    k = axis_index(op, axis, builtins.max(a.ndim, 1))
    return (a.reshape(1), 0) if a.ndim == 0 else (a, k)


def _sum_from_end(g: np.ndarray, k: int) -> np.ndarray:
    """Σ_{j≥i} g_j along axis k: the running sum taken from the end."""
    return np.flip(np.cumsum(np.flip(g, k), axis=k), k)


# ---- truth --------------------------------------------------------------------------------


def any(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Whether any element over `axis` is nonzero: a boolean tensor, with no gradient."""
    a = x.data
    axis = _valid("any", a.ndim, axis)
    return _no_grad(np.any(a, axis=axis, keepdims=keepdims))


def all(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Whether every element over `axis` is nonzero: a boolean tensor, with no gradient."""
    a = x.data
    axis = _valid("all", a.ndim, axis)
    return _no_grad(np.all(a, axis=axis, keepdims=keepdims))
