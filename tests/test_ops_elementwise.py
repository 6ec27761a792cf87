"""The elementwise functions and activations of issue 10, each against PyTorch (float64) and
central differences, on shapes and values hypothesis chooses inside each function's domain and
away from its kinks; then, at the points where a function has no derivative, the value PyTorch
uses there, which chainrule must use too.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import assert_matches_torch, oracle
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import chainrule as cr
from chainrule import ops

torch = oracle()
F = torch.nn.functional


def anywhere(x):
    return x


def positive(x):
    return np.abs(x) + 0.5


def inside_unit(x):
    """In (−0.9, 0.9): the domain of arcsin, arccos and arctanh, clear of its edges ±1."""
    return 0.9 * np.tanh(x)


def above_one(x):
    """x ≥ 1.5: arccosh's domain, clear of its edge 1."""
    return np.abs(x) + 1.5


def off_grid(x):
    """x on the grid k/4 + 1/8: at least 1/8 from every multiple of 1/4, so clear of every kink
    and step tested here (0, the integers and halves, the bounds ±0.5, 0.75, ±1)."""
    return np.floor(4 * x) / 4 + 0.125


# name -> (chainrule function, PyTorch function, domain of the input)
UNARY = {
    "abs": (lambda t: t.abs(), torch.abs, off_grid),
    "abs(t)": (abs, torch.abs, off_grid),
    "sqrt": (lambda t: t.sqrt(), torch.sqrt, positive),
    "rsqrt": (lambda t: t.rsqrt(), torch.rsqrt, positive),
    "square": (lambda t: t.square(), torch.square, anywhere),
    "sign": (lambda t: t.sign(), torch.sign, off_grid),
    "sin": (lambda t: t.sin(), torch.sin, anywhere),
    "cos": (lambda t: t.cos(), torch.cos, anywhere),
    "tan": (lambda t: t.tan(), torch.tan, inside_unit),
    "sinh": (lambda t: t.sinh(), torch.sinh, anywhere),
    "cosh": (lambda t: t.cosh(), torch.cosh, anywhere),
    "arcsin": (lambda t: t.arcsin(), torch.arcsin, inside_unit),
    "arccos": (lambda t: t.arccos(), torch.arccos, inside_unit),
    "arctan": (lambda t: t.arctan(), torch.arctan, anywhere),
    "arcsinh": (lambda t: t.arcsinh(), torch.arcsinh, anywhere),
    "arccosh": (lambda t: t.arccosh(), torch.arccosh, above_one),
    "arctanh": (lambda t: t.arctanh(), torch.arctanh, inside_unit),
    "log2": (lambda t: t.log2(), torch.log2, positive),
    "log10": (lambda t: t.log10(), torch.log10, positive),
    "log1p": (lambda t: t.log1p(), torch.log1p, inside_unit),
    "exp2": (lambda t: t.exp2(), torch.exp2, anywhere),
    "expm1": (lambda t: t.expm1(), torch.expm1, anywhere),
    "floor": (lambda t: t.floor(), torch.floor, off_grid),
    "ceil": (lambda t: t.ceil(), torch.ceil, off_grid),
    "round": (lambda t: t.round(), torch.round, off_grid),
    "trunc": (lambda t: t.trunc(), torch.trunc, off_grid),
    "erf": (lambda t: t.erf(), torch.erf, anywhere),
    "clip(lo, hi)": (lambda t: t.clip(-0.5, 0.75), lambda t: t.clamp(-0.5, 0.75), off_grid),
    "clip(None, hi)": (lambda t: t.clip(None, 0.75), lambda t: t.clamp(max=0.75), off_grid),
    "clip(lo, None)": (lambda t: t.clip(-0.5), lambda t: t.clamp(min=-0.5), off_grid),
    "leaky_relu": (lambda t: t.leaky_relu(), F.leaky_relu, off_grid),
    "leaky_relu 0.2": (lambda t: t.leaky_relu(0.2), lambda t: F.leaky_relu(t, 0.2), off_grid),
    "elu": (lambda t: t.elu(), F.elu, off_grid),
    "elu alpha 1.5": (lambda t: t.elu(1.5), lambda t: F.elu(t, 1.5), off_grid),
    "gelu": (lambda t: t.gelu(), F.gelu, anywhere),
    "gelu tanh": (lambda t: t.gelu("tanh"), lambda t: F.gelu(t, approximate="tanh"), anywhere),
    "silu": (lambda t: t.silu(), F.silu, anywhere),
    "mish": (lambda t: t.mish(), F.mish, anywhere),
    "hardtanh": (lambda t: t.hardtanh(), F.hardtanh, off_grid),
    "hardtanh(-0.5, 0.75)": (
        lambda t: t.hardtanh(-0.5, 0.75),
        lambda t: F.hardtanh(t, -0.5, 0.75),
        off_grid,
    ),
    "logsigmoid": (lambda t: t.logsigmoid(), F.logsigmoid, anywhere),
    "softsign": (lambda t: t.softsign(), F.softsign, anywhere),
}

shapes = array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)


def run_ours(f, arrays, dtype=np.float64):
    leaves = [cr.tensor(np.asarray(a, dtype), requires_grad=True) for a in arrays]
    out = f(*leaves)
    g = np.random.default_rng(1).normal(size=out.shape).astype(dtype)
    out.backward(g)
    return out, leaves, g


def run_torch(f, arrays, g):
    leaves = [torch.tensor(np.asarray(a, np.float64), requires_grad=True) for a in arrays]
    out = f(*leaves)
    out.backward(torch.tensor(np.asarray(g, np.float64)))
    return out.detach().numpy(), [t.grad.numpy() for t in leaves]


def check_against_oracles(name, ours_f, torch_f, arrays):
    out, leaves, g = run_ours(ours_f, arrays)
    t_out, t_grads = run_torch(torch_f, arrays, g)
    assert_matches_torch(out.data, t_out, f"{name} forward")
    for i, (leaf, theirs) in enumerate(zip(leaves, t_grads, strict=True)):
        assert leaf.grad.shape == np.shape(arrays[i]), f"{name}: gradient shape {leaf.grad.shape}"
        assert_matches_torch(leaf.grad, theirs, f"{name} ∂/∂input{i}")
    report = cr.gradcheck(ours_f, [np.asarray(a, np.float64) for a in arrays])
    assert report, f"{name}: central differences disagree\n{report}"


@pytest.mark.parametrize("name", list(UNARY))
@settings(max_examples=10)
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_unary_function_against_pytorch_and_central_differences(name, shape, seed):
    ours_f, torch_f, domain = UNARY[name]
    x = domain(np.random.default_rng(seed).normal(size=shape))
    check_against_oracles(name, ours_f, torch_f, [x])


LOGADDEXP = (ops.logaddexp, torch.logaddexp)


@settings(max_examples=15)
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
    seed=st.integers(0, 2**16),
)
def test_logaddexp_broadcasts_and_sums_each_gradient_back(shapes, seed):
    rng = np.random.default_rng(seed)
    a, b = (3 * rng.normal(size=s) for s in shapes.input_shapes)
    check_against_oracles("logaddexp", *LOGADDEXP, [a, b])


def test_logaddexp_takes_a_plain_number_on_either_side_and_the_method():
    x = np.array([-2.0, 0.0, 3.0])
    check_against_oracles(
        "logaddexp(t, 1)",
        lambda t: t.logaddexp(1.0),
        lambda t: torch.logaddexp(t, torch.tensor(1.0)),
        [x],
    )
    check_against_oracles(
        "logaddexp(1, t)",
        lambda t: ops.logaddexp(1.0, t),
        lambda t: torch.logaddexp(torch.tensor(1.0), t),
        [x],
    )
    with pytest.raises(cr.ShapeError, match="logaddexp: shapes"):
        ops.logaddexp(cr.tensor(np.ones(2)), cr.tensor(np.ones(3)))


# ---- where there is no derivative: PyTorch's value ------------------------------------------

KINKS = {
    "abs at 0": (lambda t: t.abs(), torch.abs, [0.0, -0.0, 1.0, -1.0]),
    "sign": (lambda t: t.sign(), torch.sign, [0.0, -2.0, 3.0]),
    "floor at its steps": (lambda t: t.floor(), torch.floor, [-1.0, 0.0, 2.0, 2.5]),
    "ceil at its steps": (lambda t: t.ceil(), torch.ceil, [-1.0, 0.0, 2.0, 2.5]),
    "round at halves": (lambda t: t.round(), torch.round, [-2.5, -0.5, 0.5, 1.5, 2.5, 3.0]),
    "trunc at its steps": (lambda t: t.trunc(), torch.trunc, [-1.0, 0.0, 2.0]),
    "sqrt at 0": (lambda t: t.sqrt(), torch.sqrt, [0.0, 4.0]),
    "clip at its bounds": (
        lambda t: t.clip(-1.0, 1.0),
        lambda t: t.clamp(-1.0, 1.0),
        [-1.0, 1.0, -2.0, 2.0],
    ),
    "clip(None, hi) at hi": (
        lambda t: t.clip(None, 1.0),
        lambda t: t.clamp(max=1.0),
        [1.0, 2.0, -5.0],
    ),
    "clip(lo, None) at lo": (
        lambda t: t.clip(-1.0, None),
        lambda t: t.clamp(min=-1.0),
        [-1.0, -2.0, 5.0],
    ),
    "hardtanh at its bounds": (
        lambda t: t.hardtanh(),
        F.hardtanh,
        [-1.0, 1.0, 0.0, -2.0, 2.0],
    ),
    "leaky_relu at 0": (lambda t: t.leaky_relu(0.2), lambda t: F.leaky_relu(t, 0.2), [0.0]),
    "elu at 0": (lambda t: t.elu(1.5), lambda t: F.elu(t, 1.5), [0.0]),
}


@pytest.mark.parametrize("name", list(KINKS))
def test_at_a_point_without_a_derivative_the_value_is_pytorchs(name):
    ours_f, torch_f, points = KINKS[name]
    x = cr.tensor(points, requires_grad=True)
    t = torch.tensor(points, requires_grad=True)
    with np.errstate(divide="ignore"):  # sqrt's 1/(2·0) at 0 is ∞, as PyTorch's
        out = ours_f(x)
        out.backward(np.ones(len(points)))
    t_out = torch_f(t)
    t_out.backward(torch.ones_like(t_out))
    np.testing.assert_array_equal(out.data, t_out.detach().numpy())
    np.testing.assert_array_equal(x.grad, t.grad.numpy())


def test_the_stated_conventions_hold():
    """The rules table's words, as numbers: |x|' = 0 and sign' = 0 at 0, steps flat, √x' = ∞
    at 0, clip passes its bounds and hardtanh stops at them."""

    def grad(f, values):
        t = cr.tensor(values, requires_grad=True)
        f(t).backward(np.ones(len(values)))
        return t.grad

    assert grad(lambda t: t.abs(), [0.0]).tolist() == [0.0]
    assert grad(lambda t: t.sign(), [0.0, 1.0]).tolist() == [0.0, 0.0]
    assert grad(lambda t: t.round(), [0.5, 1.2]).tolist() == [0.0, 0.0]
    with np.errstate(divide="ignore"):
        assert grad(lambda t: t.sqrt(), [0.0]).tolist() == [np.inf]
    assert grad(lambda t: t.clip(0.0, 1.0), [0.0, 1.0]).tolist() == [1.0, 1.0]
    assert grad(lambda t: t.hardtanh(0.0, 1.0), [0.0, 1.0]).tolist() == [0.0, 0.0]


def test_clip_needs_at_least_one_bound_as_pytorch_does():
    with pytest.raises(RuntimeError, match="At least one of 'min' or 'max'"):
        torch.clamp(torch.zeros(2), None, None)
    for call in (lambda t: t.clip(), lambda t: t.clip(None, None), lambda t: t.clamp()):
        with pytest.raises(cr.ConfigError, match="clip: low or high must be given"):
            call(cr.tensor([1.0, 2.0], requires_grad=True))


def test_bad_settings_are_named():
    t = cr.tensor([1.0])
    with pytest.raises(cr.ConfigError, match="hardtanh: max_val must be at least min_val"):
        t.hardtanh(1.0, -1.0)
    with pytest.raises(cr.ConfigError, match="gelu: approximate must be one of none, tanh"):
        t.gelu("erf")
    with pytest.raises(cr.ConfigError, match="leaky_relu: negative_slope must be a finite"):
        t.leaky_relu(float("nan"))
    with pytest.raises(cr.ConfigError, match="elu: alpha must be a finite"):
        t.elu(float("inf"))


# ---- far out: stable where the naive form overflows or cancels ------------------------------

HUGE = np.array([-1000.0, -50.0, -20.0, 0.0, 20.0, 50.0, 1000.0])
STABLE = {
    "logsigmoid": (ops.logsigmoid, F.logsigmoid),
    "silu": (ops.silu, F.silu),
    "mish": (ops.mish, F.mish),
    "elu": (ops.elu, F.elu),
    "softsign": (ops.softsign, F.softsign),
    "gelu": (ops.gelu, F.gelu),
    "logaddexp(t, 0)": (lambda t: ops.logaddexp(t, 0.0), lambda t: torch.logaddexp(t, t * 0)),
}


@pytest.mark.parametrize("name", list(STABLE))
def test_huge_inputs_give_pytorchs_values_without_a_warning(name):
    ours_f, torch_f = STABLE[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, (leaf,), g = run_ours(ours_f, [HUGE])
    t_out, (t_grad,) = run_torch(torch_f, [HUGE], g)
    assert np.all(np.isfinite(out.data)) and np.all(np.isfinite(leaf.grad))
    assert_matches_torch(out.data, t_out, f"{name} forward, huge z")
    assert_matches_torch(leaf.grad, t_grad, f"{name} ∂/∂z, huge z")


def test_logsigmoid_keeps_its_digits_in_both_tails():
    out = ops.logsigmoid(cr.tensor([-1000.0, 40.0])).data
    assert out[0] == -1000.0 and out[1] == pytest.approx(-np.exp(-40.0), rel=1e-15)


def test_erf_is_exact_far_out_and_at_zero():
    x = np.array([-6.0, -3.0, -1e-8, 0.0, 1e-8, 0.5, 3.0, 6.0])
    ours = ops.erf(cr.tensor(x)).data
    assert_matches_torch(ours, torch.erf(torch.tensor(x)), "erf, tails", tol=1e-15)


# ---- float32 stays float32 -------------------------------------------------------------------


@pytest.mark.parametrize("name", list(UNARY))
def test_float32_stays_float32(name):
    ours_f, _, domain = UNARY[name]
    x = domain(np.random.default_rng(0).normal(size=(2, 3)))
    out, (leaf,), _ = run_ours(ours_f, [x], np.float32)
    assert out.dtype == np.float32, f"{name}: forward made {out.dtype}"
    assert leaf.grad.dtype == np.float32, f"{name}: gradient made {leaf.grad.dtype}"


def test_logaddexp_keeps_float32():
    out, leaves, _ = run_ours(ops.logaddexp, [np.ones((2, 1)), np.zeros(3)], np.float32)
    assert out.dtype == np.float32 and all(t.grad.dtype == np.float32 for t in leaves)
    assert ops.logaddexp(cr.tensor(np.ones(2, np.float32)), 2.0).dtype == np.float32


def test_pytorchs_and_numpys_spellings_are_the_same_function():
    t = cr.tensor([0.25, 0.5])
    pairs = [("asin", "arcsin"), ("acos", "arccos"), ("atan", "arctan")]
    pairs += [("asinh", "arcsinh"), ("atanh", "arctanh"), ("clamp", "clip")]
    for torch_name, numpy_name in pairs:
        assert getattr(cr.Tensor, torch_name) is getattr(cr.Tensor, numpy_name)
    assert cr.tensor([2.0]).acosh().op == "leaf"  # no graph when nothing needs a gradient
    np.testing.assert_array_equal(abs(-t).data, t.data)
