"""The lecture's rules at their edges, comparisons, products and `cr.Function`, against PyTorch
(float64) and central differences.

Each bug of issue 10 this file covers has a regression test whose docstring names it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import assert_matches_torch, oracle
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import chainrule as cr
from chainrule import ops
from chainrule.errors import DTypeError
from chainrule.function import Function

torch = oracle()


def run_both(ours_f, torch_f, arrays, seed=1):
    """Forward and backward of both engines on the same inputs and the same upstream gradient;
    returns ours and theirs as (output, [gradient per input])."""
    leaves = [cr.tensor(a, requires_grad=True) for a in arrays]
    out = ours_f(*leaves)
    g = np.random.default_rng(seed).normal(size=out.shape)
    out.backward(g)
    t_leaves = [torch.tensor(a, requires_grad=True) for a in arrays]
    t_out = torch_f(*t_leaves)
    t_out.backward(torch.tensor(g))
    return (out.data, [t.grad for t in leaves]), (t_out, [t.grad for t in t_leaves])


def check(name, ours_f, torch_f, arrays, gradcheck=True):
    (out, grads), (t_out, t_grads) = run_both(ours_f, torch_f, arrays)
    assert_matches_torch(out, t_out, f"{name} forward")
    for i, (ours, theirs) in enumerate(zip(grads, t_grads, strict=True)):
        assert ours.shape == np.shape(arrays[i]), f"{name}: gradient shape {ours.shape}"
        assert_matches_torch(ours, theirs, f"{name} ∂/∂input{i}")
    if gradcheck:
        report = cr.gradcheck(ours_f, arrays)
        assert report, f"{name}: central differences disagree\n{report}"


seeds = st.integers(0, 2**16)
pairs = mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3)


# ---- power at zero (bug 1) ---------------------------------------------------------------------


def test_power_with_exponent_zero_at_base_zero_has_pytorchs_zero_gradient():
    """Bug 1 (power at zero): x ** 0.0 at x = 0 gave NaN (0 · 0⁻¹ = 0 · ∞); PyTorch gives 0."""
    x = np.array([0.0, 0.0, 1.5, -2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no 0 · ∞ computed on the way
        check("x ** 0.0", lambda t: t**0.0, lambda t: t**0.0, [x], gradcheck=False)
    t = cr.tensor(x, requires_grad=True)
    (t**0.0).sum().backward()
    np.testing.assert_array_equal(t.grad, np.zeros(4))


def test_power_of_zero_base_has_pytorchs_gradient_in_the_exponent():
    """Bug 1 (power at zero): 0.0 ** y gave NaN (0 · ln 0) in ∂/∂y; PyTorch gives 0 for y ≥ 0."""
    y = np.array([0.0, 0.5, 1.0, 2.0, 3.0])
    check("0.0 ** y", lambda t: 0.0**t, lambda t: 0.0**t, [y], gradcheck=False)
    t = cr.tensor(y, requires_grad=True)
    (0.0**t).sum().backward()
    np.testing.assert_array_equal(t.grad, np.zeros(5))


def test_power_at_zero_with_both_operands_tensors_agrees_with_pytorch_everywhere():
    """Bug 1 (power at zero), every case at once: x ∈ {0, ±2} against n ∈ {0, 1, 2, −1, 0.5},
    including the infinities PyTorch itself returns (0 ** −1), compared value for value."""
    x = np.repeat([0.0, 2.0, -2.0], 5)
    n = np.tile([0.0, 1.0, 2.0, -1.0, 0.5], 3)
    with np.errstate(all="ignore"):
        (out, grads), (t_out, t_grads) = run_both(lambda a, b: a**b, lambda a, b: a**b, [x, n])
    np.testing.assert_array_equal(out, t_out.detach().numpy())
    for ours, theirs in zip(grads, t_grads, strict=True):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-14, equal_nan=True)
    assert not np.isnan(grads[0][x == 0]).any() and not np.isnan(grads[1][x == 0]).any()


def test_power_keeps_float32_where_the_exponent_is_zero():
    t = cr.tensor(np.array([0.0, 1.0], np.float32), requires_grad=True)
    (t ** cr.tensor(np.array([0.0, 2.0], np.float32))).sum().backward()
    assert t.grad.dtype == np.float32
    np.testing.assert_array_equal(t.grad, [0.0, 2.0])


# ---- matmul with a 1-D operand (bug 2) ----------------------------------------------------------


@st.composite
def matmul_shapes(draw):
    """Two operands of rank 1 to 4 that multiply: batch axes broadcast, inner sizes agree."""
    rank_a, rank_b = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    n, k, m = (draw(st.integers(1, 3)) for _ in range(3))
    batch = draw(mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3))
    batch_a, batch_b = batch.input_shapes
    a = (k,) if rank_a == 1 else (*batch_a[len(batch_a) - (rank_a - 2) :], n, k)
    b = (k,) if rank_b == 1 else (*batch_b[len(batch_b) - (rank_b - 2) :], k, m)
    return a[-rank_a:] if rank_a > 2 else a, b[-rank_b:] if rank_b > 2 else b


@given(shapes=matmul_shapes(), seed=seeds)
def test_matmul_of_every_rank_pair_matches_pytorch(shapes, seed):
    """Bug 2 (matmul with a 1-D operand): the restore of the dropped axis was keyed on the
    output's rank, so 1-D @ 3-D returned twice the gradient and 3-D @ 1-D raised. Ranks 1–4 on
    either side, batch axes broadcasting, against PyTorch and central differences."""
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=s) for s in shapes]
    check(f"matmul {shapes}", lambda a, b: a @ b, torch.matmul, arrays)


@pytest.mark.parametrize(
    "shapes",
    [((4,), (2, 4, 3)), ((2, 3, 4), (4,)), ((4,), (4,)), ((3, 4), (4,)), ((4,), (2, 1, 4, 3))],
    ids=str,
)
def test_matmul_with_a_one_dimensional_operand_against_an_n_dimensional_one(shapes):
    """Bug 2 (matmul with a 1-D operand): the cases the peer suites found, one by one."""
    rng = np.random.default_rng(5)
    arrays = [rng.normal(size=s) for s in shapes]
    check(f"matmul {shapes}", lambda a, b: a @ b, torch.matmul, arrays)


# ---- remainder: % -------------------------------------------------------------------------------


def clear_of_jumps(a, b):
    """Move a so that a / b is at least 0.1 from a whole number: the remainder jumps there."""
    q = a / b
    return (np.floor(q) + 0.1 + 0.8 * (q - np.floor(q))) * b


@given(shapes=pairs, seed=seeds)
def test_remainder_matches_pytorch_with_broadcasting(shapes, seed):
    rng = np.random.default_rng(seed)
    a, b = (rng.normal(size=s) * 3 for s in shapes.input_shapes)
    b = np.sign(b) * (np.abs(b) + 0.5) + (b == 0)
    a = clear_of_jumps(a, b)
    check("x % y", lambda x, y: x % y, torch.remainder, [a, b])


def test_remainder_takes_the_sign_of_the_divisor_and_numbers_on_either_side():
    x = cr.tensor([5.0, -5.0, 5.0, -5.0], requires_grad=True)
    y = cr.tensor([3.0, 3.0, -3.0, -3.0], requires_grad=True)
    z = x % y
    np.testing.assert_array_equal(z.data, [2.0, 1.0, -1.0, -2.0])  # Python's 5 % -3 == -1
    z.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(y.grad, [-1.0, 2.0, 2.0, -1.0])  # −⌊x/y⌋
    np.testing.assert_array_equal((x % 2).data, [1.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal((7 % y).data, [1.0, 1.0, -2.0, -2.0])


# ---- comparisons --------------------------------------------------------------------------------

COMPARISONS = {
    "<": (lambda a, b: a < b, np.less),
    "<=": (lambda a, b: a <= b, np.less_equal),
    ">": (lambda a, b: a > b, np.greater),
    ">=": (lambda a, b: a >= b, np.greater_equal),
    "==": (lambda a, b: a == b, np.equal),
    "!=": (lambda a, b: a != b, np.not_equal),
}


@pytest.mark.parametrize("symbol", list(COMPARISONS))
@given(shapes=pairs, seed=seeds)
def test_comparisons_give_boolean_tensors_that_take_no_gradient(symbol, shapes, seed):
    compare, reference = COMPARISONS[symbol]
    rng = np.random.default_rng(seed)
    a, b = (rng.integers(-1, 2, size=s).astype(float) for s in shapes.input_shapes)  # ties
    x, y = cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True)
    for out, expected in [
        (compare(x, y), reference(a, b)),
        (compare(x, 0.0), reference(a, 0.0)),
        (compare(0.0, y), reference(0.0, b)),
        (compare(a, y), reference(a, b)),  # a numpy array on the left defers to the tensor
    ]:
        assert isinstance(out, cr.Tensor) and out.dtype == np.bool_
        assert not out.requires_grad and out.is_leaf
        np.testing.assert_array_equal(out.data, expected)
    torch_out = compare(torch.tensor(a), torch.tensor(b))
    np.testing.assert_array_equal(compare(x, y).data, torch_out.numpy())


def test_comparing_with_none_or_text_is_pythons_equality_and_orders_are_refused():
    t = cr.tensor([1.0, 2.0])
    assert (t == None) is False and (t != "a") is True  # noqa: E711  (PyTorch's answers)
    assert t in [None, "a", t] and [None, "a"].count(t) == 0
    for order in (lambda: t < "a", lambda: t >= None, lambda: cr.maximum(t, "a")):
        with pytest.raises(DTypeError, match="real numbers") as err:
            order()
        assert isinstance(err.value, TypeError)
    with pytest.raises(DTypeError, match="complex"):
        t == 1j  # noqa: B015


def test_a_boolean_tensor_cannot_require_grad():
    mask = cr.tensor([1.0, -1.0]) > 0
    with pytest.raises(cr.GradError, match="floating-point"):
        cr.Tensor(mask.data, requires_grad=True, dtype=np.bool_)
    assert ((mask == 2).data == [False, False]).all()  # compared as a bool, not cast to one


def test_a_comparison_that_does_not_broadcast_names_both_shapes():
    with pytest.raises(cr.ShapeError, match=r"lt: shapes \(2,\) and \(3,\) do not broadcast"):
        _ = cr.tensor([1.0, 2.0]) < cr.tensor([1.0, 2.0, 3.0])


def test_a_mask_from_a_comparison_selects_and_passes_gradients_like_pytorch():
    x = np.array([-2.0, -0.5, 0.5, 2.0])
    check("x * (x > 0)", lambda t: t * (t > 0), lambda t: t * (t > 0), [x])


# ---- == is a value comparison now; identity stays with `is` and hash ---------------------------


def test_tensors_stay_usable_as_dict_keys_and_set_members():
    a, b = cr.tensor([1.0, 2.0]), cr.tensor([1.0, 2.0])  # equal values, different tensors
    table = {a: "a", b: "b"}
    assert table[a] == "a" and table[b] == "b" and len(table) == 2
    assert a in {a} and b not in {a} and len({a, b, a}) == 2
    assert a in [a] and [a].index(a) == 0
    assert hash(a) != hash(b)
    seen = [a, b]
    seen.remove(a)  # list.remove tries `is` first, so it takes a itself
    assert seen[0] is b


def test_equality_is_elementwise_and_truth_needs_one_element():
    a, b = cr.tensor([1.0, 2.0]), cr.tensor([1.0, 3.0])
    np.testing.assert_array_equal((a == b).data, [True, False])
    np.testing.assert_array_equal((a != b).data, [False, True])
    assert bool(cr.tensor(3.0) > 2) and not (cr.tensor([1.0]) > 2)
    with pytest.raises(ValueError, match=r"truth value of a tensor of shape \(2,\) is ambiguous"):
        bool(a == b)
    with pytest.raises(ValueError, match="ambiguous"):
        b in [a]  # noqa: B015  (value equality, as for numpy arrays and PyTorch tensors)
    assert 2.0 in a and 5.0 not in a and cr.tensor(3.0) in b


# ---- where, maximum, minimum --------------------------------------------------------------------


@given(shapes=mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3), seed=seeds)
def test_where_routes_the_gradient_to_the_chosen_operand(shapes, seed):
    rng = np.random.default_rng(seed)
    c_shape, a_shape, b_shape = shapes.input_shapes
    cond = rng.random(c_shape) > 0.5
    a, b = rng.normal(size=a_shape), rng.normal(size=b_shape)
    check(
        "where",
        lambda x, y: ops.where(cond, x, y),
        lambda x, y: torch.where(torch.tensor(cond), x, y),
        [a, b],
    )
    picked = ops.where(cr.tensor(a) > 0, cr.tensor(a), 0.0)
    np.testing.assert_array_equal(picked.data, np.where(a > 0, a, 0.0))


CHOICES = {"maximum": (ops.maximum, torch.maximum), "minimum": (ops.minimum, torch.minimum)}


@pytest.mark.parametrize("name", list(CHOICES))
@given(shapes=pairs, seed=seeds)
def test_maximum_and_minimum_match_pytorch_with_broadcasting(name, shapes, seed):
    ours, theirs = CHOICES[name]
    rng = np.random.default_rng(seed)
    a, b = (rng.normal(size=s) for s in shapes.input_shapes)
    # a on even tenths, b on odd ones: never tied, so central differences see no kink
    a, b = 0.2 * np.round(a * 5), 0.2 * np.round(b * 5) + 0.1
    check(name, ours, theirs, [a, b])


@pytest.mark.parametrize("name", list(CHOICES))
def test_maximum_and_minimum_split_the_gradient_evenly_at_a_tie_as_pytorch_does(name):
    """PyTorch's convention at x = y: each operand gets half the upstream gradient."""
    ours, theirs = CHOICES[name]
    a, b = np.array([1.0, 2.0, 3.0, -1.0]), np.array([1.0, 0.0, 5.0, -1.0])
    check(f"{name} with ties", ours, theirs, [a, b], gradcheck=False)
    x, y = cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True)
    x.maximum(y).backward(np.ones(4)) if name == "maximum" else x.minimum(y).backward(np.ones(4))
    np.testing.assert_array_equal(x.grad[[0, 3]], [0.5, 0.5])
    np.testing.assert_array_equal(y.grad[[0, 3]], [0.5, 0.5])


# ---- products: dot, inner, outer, tensordot, einsum --------------------------------------------

vectors = st.integers(1, 4)


@given(k=vectors, seed=seeds)
def test_dot_inner_and_outer_of_vectors_match_pytorch(k, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=k), rng.normal(size=k + 1)
    check("dot", ops.dot, torch.dot, [a, b[:k]])
    check("inner", ops.inner, torch.inner, [a, b[:k]])
    check("outer", ops.outer, torch.outer, [a, b])
    check("Tensor.dot", lambda x, y: x.dot(y), lambda x, y: x.dot(y), [a, b[:k]])
    check("Tensor.outer", lambda x, y: x.outer(y), lambda x, y: x.outer(y), [a, b])


@given(
    rank_a=st.integers(0, 3),
    rank_b=st.integers(0, 3),
    sides=st.lists(vectors, min_size=4, max_size=4),
    seed=seeds,
)
def test_dot_and_inner_of_every_rank_follow_numpy(rank_a, rank_b, sides, seed):
    """numpy's dot (last axis of x against the second-to-last of y, or its only one) and inner
    (last against last), checked against numpy's values, PyTorch and central differences."""
    rng = np.random.default_rng(seed)
    k, m, *free = sides
    a = rng.normal(size=(*free[: rank_a - 1], k) if rank_a else ())
    b_dot = rng.normal(size=(*free[: rank_b - 2], k, m) if rank_b > 1 else (k,) * rank_b)
    b_inner = rng.normal(size=(*free[: rank_b - 1], k) if rank_b else ())
    for name, ours, reference, b, axes in [
        ("dot", ops.dot, np.dot, b_dot, ([-1], [max(rank_b - 2, 0)])),
        ("inner", ops.inner, np.inner, b_inner, ([-1], [-1])),
    ]:
        np.testing.assert_allclose(ours(a, b).data, reference(a, b), rtol=1e-12, atol=1e-12)
        if rank_a and rank_b:
            check(name, ours, lambda x, y, axes=axes: torch.tensordot(x, y, dims=axes), [a, b])
        else:
            check(name, ours, torch.mul, [a, b])


def test_outer_flattens_operands_as_numpy_does():
    a, b = np.arange(6.0).reshape(2, 3), np.array([1.0, -1.0])
    check("outer 2-D", ops.outer, lambda x, y: torch.outer(x.reshape(-1), y), [a, b])


@given(
    free_a=st.lists(vectors, max_size=2),
    free_b=st.lists(vectors, max_size=2),
    summed=st.lists(vectors, max_size=2),
    seed=seeds,
)
def test_tensordot_matches_pytorch_for_integer_and_listed_axes(free_a, free_b, summed, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(*free_a, *summed))
    b = rng.normal(size=(*summed, *free_b))
    n = len(summed)
    check(
        f"tensordot {n}",
        lambda x, y: ops.tensordot(x, y, n),
        lambda x, y: torch.tensordot(x, y, dims=n),
        [a, b],
    )
    # the same sum with y's axes reversed, given as lists of axes
    b_t = np.transpose(b)
    axes_a = list(range(len(free_a), a.ndim))
    axes_b = [b_t.ndim - 1 - i for i in range(n)]
    check(
        "tensordot listed",
        lambda x, y: ops.tensordot(x, y, (axes_a, axes_b)),
        lambda x, y: torch.tensordot(x, y, dims=(axes_a, axes_b)),
        [a, b_t],
    )


EINSUMS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),  # implicit output: ik
    ("i,i->", [(3,), (3,)]),
    ("i,j->ij", [(3,), (2,)]),
    ("ij->ji", [(2, 3)]),
    ("ij->i", [(2, 3)]),  # j summed in x alone: its gradient is broadcast back
    ("ii->i", [(3, 3)]),  # a diagonal
    ("ii", [(3, 3)]),  # the trace
    ("iij,jk->ik", [(3, 3, 2), (2, 4)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("...ij,...jk->...ik", [(2, 1, 2, 3), (4, 3, 2)]),  # batch axes broadcast
    ("...i,i->...", [(2, 3), (3,)]),
    ("ba...", [(2, 3, 4)]),  # implicit with ellipsis: ... first, then a, b
    ("Ab,bA", [(2, 3), (3, 2)]),
    ("bij,bjk,bkl->bil", [(2, 2, 3), (2, 3, 4), (2, 4, 2)]),
    ("i,i,i->i", [(3,), (3,), (3,)]),
]


@pytest.mark.parametrize(("subscripts", "shapes"), EINSUMS, ids=[s for s, _ in EINSUMS])
def test_einsum_and_its_einsum_gradients_match_pytorch(subscripts, shapes):
    rng = np.random.default_rng(len(subscripts))
    arrays = [rng.normal(size=s) for s in shapes]
    check(
        f"einsum {subscripts}",
        lambda *t: ops.einsum(subscripts, *t),
        lambda *t: torch.einsum(subscripts, *t),
        arrays,
    )


@settings(max_examples=15)
@given(
    batch=mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3),
    sides=st.lists(vectors, min_size=3, max_size=3),
    seed=seeds,
)
def test_einsum_batched_product_with_broadcasting_matches_pytorch(batch, sides, seed):
    rng = np.random.default_rng(seed)
    n, k, m = sides
    a = rng.normal(size=(*batch.input_shapes[0], n, k))
    b = rng.normal(size=(*batch.input_shapes[1], k, m))
    spec = "...nk,...km->...nm"
    check(spec, lambda x, y: ops.einsum(spec, x, y), lambda x, y: torch.einsum(spec, x, y), [a, b])


def test_the_same_tensor_twice_in_an_einsum_gets_both_gradients():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    ops.einsum("i,i->", x, x).backward()
    np.testing.assert_array_equal(x.grad, 2 * x.data)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda a, b: ops.einsum("ij,jk->ik", a), cr.ConfigError, "one term per operand"),
        (lambda a, b: ops.einsum("i1,jk", a, b), cr.ConfigError, "letters"),
        (lambda a, b: ops.einsum("ijk,jk", a, b), cr.ShapeError, "'ijk' does not fit .*\\(2, 3\\)"),
        (lambda a, b: ops.einsum("ij,jk->ik", a, a), cr.ShapeError, r"\(2, 3\), \(2, 3\)"),
        (lambda a, b: ops.einsum("...j->j", a), cr.ShapeError, "write '...' after '->'"),
        (lambda a, b: ops.tensordot(a, b, 3), cr.ConfigError, "axes must be between 0 and 2"),
        (lambda a, b: ops.tensordot(a, b, ([0], [1])), cr.ShapeError, r"\(2, 3\) and \(3, 4\)"),
        (lambda a, b: ops.dot(a, a), cr.ShapeError, r"dot: shapes \(2, 3\) and \(2, 3\)"),
    ],
)
def test_product_errors_name_what_was_wrong(call, error, message):
    a, b = cr.tensor(np.ones((2, 3))), cr.tensor(np.ones((3, 4)))
    with pytest.raises(error, match=message):
        call(a, b)


def test_tensor_matmul_method_is_the_operator():
    a, b = np.ones((2, 3)), np.arange(3.0)
    check("Tensor.matmul", lambda x, y: x.matmul(y), torch.matmul, [a, b])


# ---- cr.Function: a rule of the student's own ---------------------------------------------------


class Cube(Function):
    """f(x) = x³, f'(x) = 3x²."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x**2


class Swish(Function):
    """a = z σ(βz); da/dz = σ(βz) + β a (1 − σ(βz)); β is a number, not an input tensor."""

    @staticmethod
    def forward(ctx, z, beta):
        s = 1 / (1 + np.exp(-beta * z))
        a = z * s
        ctx.save_for_backward(s, a)
        ctx.beta = beta
        return a

    @staticmethod
    def backward(ctx, g):
        s, a = ctx.saved_tensors
        return g * (s + ctx.beta * a * (1 - s)), None


class Product(Function):
    """f(x, y) = x y: the product rule, with broadcasting left to the engine."""

    calls = 0

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx, g):
        Product.calls += 1
        x, y = ctx.saved_tensors
        return g * y, g * x


def test_a_function_matches_the_built_in_rule_and_passes_gradcheck():
    x = np.linspace(-2, 2, 7)
    check("Cube", Cube.apply, lambda t: t**3, [x])
    check("Swish", lambda z: Swish.apply(z, 1.5), lambda z: z * torch.sigmoid(1.5 * z), [x])
    report = cr.gradcheck(lambda z: Swish.apply(z, 0.5), [x])
    assert report and report.max_rel_error < 1e-6


@given(shapes=pairs, seed=seeds)
def test_a_function_with_broadcast_inputs_gets_gradients_summed_back(shapes, seed):
    rng = np.random.default_rng(seed)
    a, b = (rng.normal(size=s) for s in shapes.input_shapes)
    check("Product", Product.apply, torch.mul, [a, b])


def test_a_function_joins_the_graph_and_backward_runs_once_per_upstream():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = cr.tensor([3.0, 4.0], requires_grad=True)
    before = Product.calls
    z = Product.apply(x * 2, y)
    assert z.op == "Product" and z.requires_grad and len(z.parents) == 2
    (z.sigmoid()).sum().backward()
    assert Product.calls == before + 1  # one call answers both inputs
    s = 1 / (1 + np.exp(-2 * x.data * y.data))
    np.testing.assert_allclose(x.grad, s * (1 - s) * 2 * y.data, rtol=1e-14)
    np.testing.assert_allclose(y.grad, s * (1 - s) * 2 * x.data, rtol=1e-14)


def test_a_function_records_nothing_under_no_grad_and_tells_which_inputs_need_gradients():
    seen = {}

    class Probe(Function):
        @staticmethod
        def forward(ctx, x, y):
            seen["needs"] = ctx.needs_input_grad
            return x + y

        @staticmethod
        def backward(ctx, g):
            return g, g

    x, y = cr.tensor([1.0], requires_grad=True), cr.tensor([2.0])
    assert Probe.apply(x, y).requires_grad and seen["needs"] == (True, False)
    with cr.no_grad():
        out = Probe.apply(x, y)
    assert not out.requires_grad and out.is_leaf and seen["needs"] == (False, False)
    y_plain = Probe.apply(x, np.array([5.0]))  # a numpy array is a constant, not a parent
    assert y_plain.parents == (x,)


def test_a_none_gradient_means_no_gradient_through_that_input():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    Swish.apply(x, 1.0).sum().backward()
    assert x.grad.shape == (2,)


def test_a_float32_function_keeps_float32_gradients():
    x = cr.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    out = Cube.apply(x)
    out.backward(np.ones(2, np.float32))
    assert out.dtype == np.float32 and x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [3.0, 12.0])


def make(forward, backward):
    return type(
        "Broken",
        (Function,),
        {"forward": staticmethod(forward), "backward": staticmethod(backward)},
    )


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            make(lambda ctx, x: x * 2, lambda ctx, g: g[:1]),
            r"Broken.backward: the gradient for input 0 has shape \(1,\), but the input has shape",
        ),
        (
            make(lambda ctx, x: x * 2, lambda ctx, g: np.ones((3, 2))),
            r"gradient for input 0 has shape \(3, 2\)",
        ),
        (
            make(lambda ctx, x: x * 2, lambda ctx, g: g > 0),
            "Broken.backward: the gradient for input 0 must be floating-point, got bool",
        ),
        (make(lambda ctx, x: x * 2, lambda ctx, g: [1.0, 1.0]), "must be a numpy array, got list"),
        (
            make(lambda ctx, x: x * 2, lambda ctx, g: (g, g)),
            r"Broken.backward returned 2 gradient\(s\) for 1 input\(s\)",
        ),
    ],
)
def test_a_wrong_gradient_from_a_function_is_refused_by_name(rule, message):
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(cr.GradError, match=message):
        rule.apply(x).sum().backward()


def test_a_wrong_forward_is_refused_by_name():
    rule = make(lambda ctx, x: [1.0], lambda ctx, g: g)
    with pytest.raises(cr.GradError, match="Broken.forward must return a numpy array, got list"):
        rule.apply(cr.tensor([1.0], requires_grad=True))
    rule = make(lambda ctx, x: x > 0, lambda ctx, g: g)
    with pytest.raises(cr.GradError, match="floating-point array, got bool"):
        rule.apply(cr.tensor([1.0], requires_grad=True))
    with pytest.raises(NotImplementedError, match="forward"):
        Function.apply(cr.tensor([1.0]))


def test_gradcheck_catches_a_wrong_rule_written_as_a_function():
    wrong = make(lambda ctx, x: x**3, lambda ctx, g: g * 2)  # should be 3x²
    assert not cr.gradcheck(wrong.apply, [np.array([1.0, 2.0])])


def test_gradcheck_nudges_a_transposed_input_itself():
    """A Fortran-ordered input (a transpose) was nudged in a copy, so its numeric gradient read
    0 and a right rule failed; gradcheck now works on a C-ordered copy it nudges in place."""
    w = np.arange(6.0).reshape(2, 3).T
    assert not w.flags.c_contiguous
    assert cr.gradcheck(lambda t: (t * t).sum(), [w])


def test_the_functional_ops_sit_at_the_top_as_in_torch():
    # torch.cat, torch.where, torch.einsum, ... are cr.cat, cr.where, cr.einsum, ...
    for name in ("cat", "stack", "where", "maximum", "einsum", "tensordot", "one_hot", "gather"):
        assert getattr(cr, name) is getattr(cr.ops, name), name
    assert cr.Function is Function
