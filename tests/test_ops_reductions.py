"""Reductions and indexing, against PyTorch (float64) and central differences.

Shapes, axes (None, an int, a negative int, a tuple) and keepdims are chosen by hypothesis,
0-d tensors and axes of size 1 included. The points where a reduction has no derivative
(ties for max and min, zeros in products, std = 0) are checked against PyTorch's own values.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import assert_matches_torch, oracle
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import chainrule as cr
from chainrule import ops

torch = oracle()


shapes = array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)


@st.composite
def shape_and_axis(draw, tuples=True):
    """A shape and an axis of it: None, an int (maybe negative) or a tuple of distinct axes.
    A 0-d tensor has one axis as PyTorch counts, named 0 or -1."""
    shape = draw(shapes)
    ndim = max(len(shape), 1)
    one = st.integers(-ndim, ndim - 1)
    choices = [st.none(), one]
    if tuples:
        axes = st.lists(one, min_size=1, max_size=ndim, unique_by=lambda i: i % ndim)
        choices.append(axes.map(tuple))
    return shape, draw(st.one_of(choices))


def reduced_shape(shape, axis, keepdims):
    """The shape numpy gives a reduction (a 0-d tensor stays 0-d, as in PyTorch)."""
    if not shape:
        return ()
    axes = range(len(shape)) if axis is None else np.atleast_1d(axis) % len(shape)
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def dims(t, axis):
    """PyTorch's dim for our axis: every dim when None (dim 0 of a 0-d tensor)."""
    if axis is None:
        return tuple(range(t.ndim)) if t.ndim else 0
    return axis


def torch_max_like(name):
    """max/min the PyTorch way for each axis form: torch.max(t) for None, torch.max(t, dim)
    for an int, torch.amax(t, dims) for a tuple."""
    full, amax = getattr(torch, name), getattr(torch, "a" + name)

    def f(t, axis, keepdims):
        if axis is None:
            return full(t).reshape(reduced_shape(tuple(t.shape), None, keepdims))
        if isinstance(axis, int):
            return full(t, axis, keepdim=keepdims).values
        return amax(t, axis, keepdim=keepdims)

    return f


def torch_prod(t, axis, keepdims):
    """torch.prod takes one dim at a time: reduce the axes one by one, keeping them."""
    out = t
    for d in sorted({int(i) % max(t.ndim, 1) for i in np.atleast_1d(dims(t, axis))}):
        out = out.prod(d, keepdim=True)
    return out.reshape(reduced_shape(tuple(t.shape), axis, keepdims))


# name -> (ours(t, axis, keepdims), PyTorch's(t, axis, keepdims), domain of the input)
REDUCTIONS = {
    "sum": (ops.sum, lambda t, a, k: torch.sum(t, dims(t, a), keepdim=k)),
    "mean": (ops.mean, lambda t, a, k: torch.mean(t, dims(t, a), keepdim=k)),
    "max": (ops.max, torch_max_like("max")),
    "min": (ops.min, torch_max_like("min")),
    "prod": (ops.prod, torch_prod),
    "logsumexp": (ops.logsumexp, lambda t, a, k: torch.logsumexp(t, dims(t, a), keepdim=k)),
}


def compare(name, ours_f, torch_f, x, check_differences=True):
    """Forward and gradient (for a random upstream) against PyTorch, then central differences."""
    t = cr.tensor(x, requires_grad=True)
    out = ours_f(t)
    g = np.random.default_rng(1).normal(size=out.shape)
    out.backward(g)
    theirs = torch.tensor(x, requires_grad=True)
    t_out = torch_f(theirs)
    t_out.backward(torch.tensor(g))
    assert out.shape == tuple(t_out.shape), f"{name}: shape {out.shape} vs {tuple(t_out.shape)}"
    assert_matches_torch(out.data, t_out, f"{name} forward")
    assert_matches_torch(t.grad, theirs.grad, f"{name} ∂/∂x")
    if check_differences:
        report = cr.gradcheck(ours_f, [x])
        assert report, f"{name}: central differences disagree\n{report}"


@pytest.mark.parametrize("name", list(REDUCTIONS))
@given(shape_axis=shape_and_axis(), keepdims=st.booleans(), seed=st.integers(0, 2**16))
def test_reduction_rule(name, shape_axis, keepdims, seed):
    shape, axis = shape_axis
    ours, theirs = REDUCTIONS[name]
    x = np.random.default_rng(seed).normal(size=shape)
    compare(
        f"{name} axis={axis} keepdims={keepdims}",
        lambda t: ours(t, axis, keepdims),
        lambda t: theirs(t, axis, keepdims),
        x,
    )


@pytest.mark.parametrize("name", ["var", "std"])
@given(
    shape_axis=shape_and_axis(),
    keepdims=st.booleans(),
    ddof=st.sampled_from([0, 1]),
    seed=st.integers(0, 2**16),
)
def test_var_and_std_with_ddof(name, shape_axis, keepdims, ddof, seed):
    shape, axis = shape_axis
    n = int(np.prod(shape)) // int(np.prod(reduced_shape(shape, axis, False)))
    assume(n > ddof)  # n − ddof <= 0 has no variance: tested on its own below
    x = np.random.default_rng(seed).normal(size=shape)
    ours, torch_f = getattr(ops, name), getattr(torch, name)
    compare(
        f"{name} axis={axis} keepdims={keepdims} ddof={ddof}",
        lambda t: ours(t, axis, keepdims, ddof=ddof),
        lambda t: torch_f(t, dims(t, axis), correction=ddof, keepdim=keepdims),
        x,
        check_differences=n > 1,  # a slice of one element: std's gradient is PyTorch's 0 at 0
    )


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
@given(shape_axis=shape_and_axis(tuples=False), seed=st.integers(0, 2**16))
def test_running_sum_and_product(name, shape_axis, seed):
    shape, axis = shape_axis
    x = np.random.default_rng(seed).normal(size=shape)
    torch_f = getattr(torch, name)
    compare(
        f"{name} axis={axis}",
        lambda t: getattr(t, name)(axis),
        lambda t: torch_f(t.reshape(-1), 0) if axis is None else torch_f(t, axis),
        x,
    )


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@given(shape_axis=shape_and_axis(tuples=False), keepdims=st.booleans(), seed=st.integers(0, 99))
def test_argmax_and_argmin_are_integer_indices_without_gradient(name, shape_axis, keepdims, seed):
    shape, axis = shape_axis
    x = np.random.default_rng(seed).integers(0, 3, size=shape).astype(float)  # ties are common
    t = cr.tensor(x, requires_grad=True)
    index = getattr(t, name)(axis, keepdims=keepdims)
    assert index.dtype.kind == "i" and not index.requires_grad
    if axis is None:  # the flattened tensor's index, as numpy and PyTorch give it
        assert int(index.item()) == getattr(torch, name)(torch.tensor(x)).item()
    else:
        theirs = getattr(torch, name)(torch.tensor(x), axis, keepdim=keepdims)
        np.testing.assert_array_equal(index.data, theirs.numpy())


@pytest.mark.parametrize("name", ["any", "all"])
@given(shape_axis=shape_and_axis(), keepdims=st.booleans(), seed=st.integers(0, 99))
def test_any_and_all_are_boolean_without_gradient(name, shape_axis, keepdims, seed):
    shape, axis = shape_axis
    x = np.random.default_rng(seed).integers(0, 2, size=shape).astype(float)
    result = getattr(cr.tensor(x, requires_grad=True), name)(axis, keepdims)
    x_torch = torch.tensor(x)
    theirs = getattr(torch, name)(x_torch, dim=dims(x_torch, axis), keepdim=keepdims)
    assert result.dtype == np.bool_ and not result.requires_grad
    np.testing.assert_array_equal(result.data, theirs.numpy())


# ---- the points without a derivative: PyTorch's values --------------------------------------

TIES = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])


@pytest.mark.parametrize(
    ("what", "ours", "theirs", "expected"),
    [
        (
            "max over everything: split evenly (torch.max(x))",
            lambda t: t.max(),
            torch.max,
            [[0, 1 / 2, 1 / 2], [0, 0, 0]],
        ),
        (
            "max over an int axis: the first one (torch.max(x, dim))",
            lambda t: t.max(1),
            lambda t: torch.max(t, 1).values,
            [[0, 1, 0], [1, 0, 0]],
        ),
        (
            "max over a tuple of axes: split evenly (torch.amax)",
            lambda t: t.max((1,)),
            lambda t: torch.amax(t, (1,)),
            [[0, 1 / 2, 1 / 2], [1 / 2, 1 / 2, 0]],
        ),
        (
            "min over everything: split evenly",
            lambda t: (-t).min(),
            lambda t: torch.min(-t),
            [[0, -1 / 2, -1 / 2], [0, 0, 0]],
        ),
        (
            "min over an int axis: the first one",
            lambda t: (-t).min(axis=0),
            lambda t: torch.min(-t, 0).values,
            [[0, -1, -1], [-1, 0, 0]],
        ),
    ],
)
def test_ties_follow_pytorch(what, ours, theirs, expected):
    t = cr.tensor(TIES, requires_grad=True)
    ours(t).sum().backward()
    x = torch.tensor(TIES, requires_grad=True)
    theirs(x).sum().backward()
    assert_matches_torch(t.grad, x.grad, what)
    np.testing.assert_array_equal(t.grad, expected)


def test_max_of_a_nan_is_nan_and_its_gradient_goes_to_the_nan():
    t = cr.tensor([1.0, np.nan, 3.0], requires_grad=True)
    out = t.max()
    out.backward()
    assert np.isnan(out.item())
    np.testing.assert_array_equal(t.grad, [0.0, 1.0, 0.0])  # torch.max gives the same


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        ([2.0, 0.0, 3.0], [0.0, 6.0, 0.0]),  # one zero: only it moves the product
        ([2.0, 0.0, 0.0], [0.0, 0.0, 0.0]),  # two zeros: nothing does
        ([0.0], [1.0]),
        ([[0.0, 2.0], [3.0, 0.5]], [[3.0, 0.0], [0.0, 0.0]]),
    ],
)
def test_prod_is_exact_with_zeros(x, expected):
    t = cr.tensor(x, requires_grad=True)
    t.prod().backward()
    theirs = torch.tensor(x, requires_grad=True)
    theirs.prod().backward()
    assert_matches_torch(t.grad, theirs.grad, f"prod with zeros {x}")
    np.testing.assert_array_equal(t.grad, expected)


def test_prod_along_an_axis_with_zeros_in_some_rows():
    x = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.5, -2.0, 4.0]])
    for axis in (0, 1, -1, (0, 1), None):
        compare(
            f"prod axis={axis} with zeros",
            lambda t, axis=axis: t.prod(axis),
            lambda t, axis=axis: torch_prod(t, axis, False),
            x,
        )


@pytest.mark.parametrize(
    "x",
    [
        [2.0, 0.0, 3.0, 0.0, 5.0],
        [0.0, 2.0, 3.0],
        [2.0, 3.0, 0.0],
        [[1.5, 0.0, 2.0, -1.0], [0.0, 0.0, 3.0, 2.0], [2.0, -1.0, 0.5, 3.0]],
    ],
)
def test_cumprod_is_exact_with_zeros(x):
    x = np.array(x)
    for axis in range(-x.ndim, x.ndim):
        compare(
            f"cumprod axis={axis} with zeros {x.tolist()}",
            lambda t, axis=axis: t.cumprod(axis),
            lambda t, axis=axis: torch.cumprod(t, axis),
            x,
        )


def test_cumprod_gradient_with_zeros_in_pytorchs_numbers():
    t = cr.tensor([2.0, 0.0, 3.0, 0.0, 5.0], requires_grad=True)
    t.cumprod(0).sum().backward()
    np.testing.assert_array_equal(t.grad, [1.0, 8.0, 0.0, 0.0, 0.0])  # torch's, by hand: 1 + 0
    # ∂/∂x_1 (the first zero) = x_0 + x_0 x_2 = 2 + 6; after it, every product holds a zero


def test_var_and_std_default_to_numpys_ddof_0_and_ddof_1_is_pytorchs_default():
    x = np.array([[1.0, 2.0, 4.0], [3.0, -1.0, 0.5]])
    t = cr.tensor(x)
    np.testing.assert_allclose(t.var().data, np.var(x), rtol=1e-15)
    np.testing.assert_allclose(t.std(axis=1).data, np.std(x, axis=1), rtol=1e-15)
    assert_matches_torch(t.var(ddof=1).data, torch.var(torch.tensor(x)), "var ddof=1")
    assert_matches_torch(t.std(0, ddof=1).data, torch.std(torch.tensor(x), 0), "std ddof=1")


def test_std_of_equal_values_has_pytorchs_zero_gradient():
    t = cr.tensor([2.0, 2.0, 2.0], requires_grad=True)
    out = t.std()
    out.backward()
    assert out.item() == 0.0
    np.testing.assert_array_equal(t.grad, [0.0, 0.0, 0.0])


def test_var_with_no_degrees_of_freedom_warns_and_is_nan_as_in_pytorch():
    t = cr.tensor([2.0], requires_grad=True)
    with pytest.warns(RuntimeWarning, match=r"var: n − ddof = 0 degrees of freedom"):
        out = t.var(ddof=1)
    assert np.isnan(out.item())


def test_a_negative_ddof_is_refused():
    with pytest.raises(cr.ConfigError, match=r"std: ddof must be a finite number >= 0, got -1"):
        cr.tensor([1.0, 2.0]).std(ddof=-1)


def test_logsumexp_is_stable_and_matches_pytorch_at_the_extremes():
    x = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4], [-np.inf, -np.inf, -np.inf]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = cr.tensor(x).logsumexp(axis=1)
    theirs = torch.logsumexp(torch.tensor(x), 1)
    np.testing.assert_array_equal(out.data, theirs.numpy())
    assert out.data[0] == 1e4 and out.data[2] == -np.inf
    t = cr.tensor(x[:2], requires_grad=True)
    t.logsumexp(1).sum().backward()
    x_torch = torch.tensor(x[:2], requires_grad=True)
    torch.logsumexp(x_torch, 1).sum().backward()
    assert_matches_torch(t.grad, x_torch.grad, "logsumexp ∂/∂x at ±1e4")
    np.testing.assert_allclose(t.grad, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-12)


def test_reductions_keep_float32():
    t = cr.tensor(np.arange(1.0, 7.0, dtype=np.float32).reshape(2, 3), requires_grad=True)
    for f in (ops.sum, ops.mean, ops.max, ops.prod, ops.var, ops.std, ops.logsumexp):
        t.grad = None
        out = f(t, 1)
        out.backward(np.ones(out.shape, np.float32))
        assert out.dtype == np.float32 and t.grad.dtype == np.float32, f.__name__


def test_an_empty_axis_has_no_maximum():
    with pytest.raises(cr.ShapeError, match=r"max: an empty axis of shape \(0, 3\)"):
        cr.tensor(np.zeros((0, 3))).max(axis=0)


# ---- bug 5: reductions of a 0-d tensor ------------------------------------------------------


@pytest.mark.parametrize("name", ["sum", "mean", "prod", "max", "min", "logsumexp"])
@pytest.mark.parametrize("axis", [0, -1, (0,), None])
@pytest.mark.parametrize("keepdims", [False, True])
def test_bug5_a_0d_tensor_reduces_over_axis_0_as_in_pytorch(name, axis, keepdims):
    """Bug 5: `x.sum(0)` on a 0-d tensor crashed in backward (ZeroDivisionError) and
    `x.mean(0)` raised in forward; PyTorch treats the one element as axis 0 (or -1)."""
    ours, theirs = REDUCTIONS[name]
    compare(
        f"0-d {name} axis={axis}",
        lambda t: ours(t, axis, keepdims),
        lambda t: theirs(t, axis, keepdims),
        np.array(1.7),
    )


def test_bug5_a_0d_tensor_has_no_axis_1_as_in_pytorch():
    with pytest.raises(cr.ShapeError, match=r"sum: axis 1 is out of range .*valid axes: -1 to 0"):
        cr.tensor(2.0).sum(1)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda t: t.sum(2), cr.ShapeError, r"sum: axis 2 is out of range .*-2 to 1"),
        (lambda t: t.mean((0, -2)), cr.ShapeError, r"mean: axes \(0, -2\) name the same"),
        (lambda t: t.max(-3), cr.ShapeError, r"max: axis -3 is out of range"),
        (lambda t: t.var(1.0), cr.ConfigError, r"var: axis must be an integer, got 1.0"),
        (lambda t: t.argmax((0, 1)), cr.ConfigError, r"argmax: axis must be an integer"),
        (lambda t: t.cumsum(2), cr.ShapeError, r"cumsum: axis 2 is out of range"),
        (lambda t: t.any(5), cr.ShapeError, r"any: axis 5 is out of range"),
    ],
)
def test_a_bad_axis_is_named_as_the_shape_ops_name_it(call, error, message):
    with pytest.raises(error, match=message):
        call(cr.tensor(np.ones((2, 3))))


# ---- bug 3: indexing --------------------------------------------------------------------------


def test_bug3_an_index_out_of_range_is_an_index_error():
    """Bug 3: an out-of-range index raised ShapeError; numpy and PyTorch raise IndexError."""
    t = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(IndexError, match=r"getitem: index 2 is out of bounds .*shape \(2, 2\)"):
        t[2]
    with pytest.raises(IndexError):
        t[0, -3]
    with pytest.raises(IndexError):
        cr.tensor(1.0)[0]


def test_bug3_iteration_and_unpacking_work_and_carry_the_gradient():
    """Bug 3: Python's iteration protocol stops only on IndexError, so `list(t)`,
    `for row in t` and `a, b = t` crashed."""
    t = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    first, second = t
    rows = [row for row in t]
    assert len(list(t)) == len(rows) == 2
    np.testing.assert_array_equal(second.data, [3.0, 4.0])
    (first * 2 + second * 3 + rows[0]).sum().backward()
    np.testing.assert_array_equal(t.grad, [[3.0, 3.0], [3.0, 3.0]])
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        iter(cr.tensor(1.0))  # as in numpy and PyTorch


def test_bug3_a_float_index_tensor_is_refused_not_truncated():
    """Bug 3: `t[cr.tensor(1.7)]` silently read t[1]; numpy and PyTorch refuse a float index."""
    t = cr.tensor([1.0, 2.0, 3.0])
    message = r"getitem: an index tensor must hold integers or booleans, got float64"
    with pytest.raises(IndexError, match=message):
        t[cr.tensor(1.7)]
    with pytest.raises(IndexError, match=message):
        t[:, cr.tensor([0.0])]


def test_bug3_integer_and_boolean_index_tensors_work_alone_and_in_a_tuple():
    """Bug 3: a Tensor inside a tuple (`x[:, i]`, `x[i, j]`) was refused; with its gradient
    it must match PyTorch's."""
    x = np.arange(12.0).reshape(3, 4) / 7
    i = np.array([2, 0, 2])
    j = np.array([1, 3, 1])
    mask = x > 0.5
    cases = {
        "x[i]": (lambda t: t[cr.tensor(i, dtype=int)], lambda t: t[torch.tensor(i)]),
        "x[:, i]": (lambda t: t[:, cr.tensor(i, dtype=int)], lambda t: t[:, torch.tensor(i)]),
        "x[i, j]": (
            lambda t: t[cr.tensor(i, dtype=int), cr.tensor(j, dtype=int)],
            lambda t: t[torch.tensor(i), torch.tensor(j)],
        ),
        "x[1, j]": (lambda t: t[1, cr.tensor(j, dtype=int)], lambda t: t[1, torch.tensor(j)]),
        "x[argmax]": (lambda t: t[t.argmax(0)], lambda t: t[t.argmax(0)]),
        "x[mask]": (lambda t: t[cr.tensor(mask, dtype=bool)], lambda t: t[torch.tensor(mask)]),
        "x[x > 0.5]": (lambda t: t[t > 0.5], lambda t: t[t > 0.5]),
        "x[mask row]": (
            lambda t: t[cr.tensor(mask[:, 1], dtype=bool), 1:],
            lambda t: t[torch.tensor(mask[:, 1]), 1:],
        ),
    }
    for what, (ours, theirs) in cases.items():
        compare(what, ours, theirs, x)


# ---- sum and mean stay as they were on the training path ------------------------------------


def test_sum_and_mean_gradients_are_fresh_arrays_a_leaf_can_keep():
    x = cr.tensor(np.ones((3, 2)), requires_grad=True)
    x.sum().backward()
    assert x.grad.flags.writeable and x.grad.flags.owndata
    x.mean(axis=0).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((3, 2), 1 + 1 / 3))
