"""Every primitive's forward and backward, against PyTorch (float64) and central differences.

The lecture's table of derivative rules, claim by claim: each rule below is checked on shapes
hypothesis chooses, broadcasting included, with inputs kept away from kinks and poles.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import assert_matches_torch, oracle
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import chainrule as cr
from chainrule import ops
from chainrule.tensor import node

torch = oracle()


def anywhere(x):
    return x


def positive(x):
    return np.abs(x) + 0.5


def away_from_zero(x):
    """Keep |x| >= 0.5: clear of relu's kink and the poles of 1/x."""
    return np.sign(x) * (np.abs(x) + 0.5) + (x == 0) * 0.5


# name -> (chainrule function, PyTorch function, domain of the input)
UNARY = {
    "neg (constant multiple −1)": (lambda t: -t, lambda t: -t, anywhere),
    "constant multiple 3f": (lambda t: 3 * t, lambda t: 3 * t, anywhere),
    "power rule x³": (lambda t: t**3, lambda t: t**3, anywhere),
    "power rule x^0.5": (lambda t: t**0.5, lambda t: t**0.5, positive),
    "reciprocal rule 1/x": (lambda t: 1 / t, lambda t: 1 / t, away_from_zero),
    "reciprocal primitive": (ops.reciprocal, torch.reciprocal, away_from_zero),
    "exponent 2^x": (lambda t: 2**t, lambda t: 2**t, anywhere),
    "exp": (lambda t: t.exp(), torch.exp, anywhere),
    "log": (lambda t: t.log(), torch.log, positive),
    "sigmoid": (lambda t: t.sigmoid(), torch.sigmoid, anywhere),
    "tanh": (lambda t: t.tanh(), torch.tanh, anywhere),
    "relu": (lambda t: t.relu(), torch.relu, away_from_zero),
    "softplus": (lambda t: t.softplus(), torch.nn.functional.softplus, anywhere),
    "clip": (lambda t: t.clip(-0.7, 0.9), lambda t: t.clamp(-0.7, 0.9), away_from_zero),
    "softmax": (lambda t: t.softmax(), lambda t: t.softmax(-1), anywhere),
    "softmax axis 0": (lambda t: t.softmax(axis=0), lambda t: t.softmax(0), anywhere),
    "log_softmax": (lambda t: t.log_softmax(), lambda t: t.log_softmax(-1), anywhere),
    "sum": (lambda t: t.sum(), torch.sum, anywhere),
    "sum axis 0 keepdims": (
        lambda t: t.sum(axis=0, keepdims=True),
        lambda t: t.sum(0, keepdim=True),
        anywhere,
    ),
    "mean": (lambda t: t.mean(), torch.mean, anywhere),
    "mean axis -1": (lambda t: t.mean(axis=-1), lambda t: t.mean(-1), anywhere),
    "transpose .T": (lambda t: t.T, lambda t: t.permute(*reversed(range(t.ndim))), anywhere),
    "reshape": (lambda t: t.reshape(-1), lambda t: t.reshape(-1), anywhere),
    "slice": (lambda t: t[::2], lambda t: t[::2], anywhere),
    "fancy index, repeated": (lambda t: t[[0, 0, -1]], lambda t: t[[0, 0, -1]], anywhere),
}

BINARY = {
    "sum rule f+g": (lambda a, b: a + b, lambda a, b: a + b, anywhere, anywhere),
    "difference rule f−g": (lambda a, b: a - b, lambda a, b: a - b, anywhere, anywhere),
    "product rule fg": (lambda a, b: a * b, lambda a, b: a * b, anywhere, anywhere),
    "quotient rule f/g": (lambda a, b: a / b, lambda a, b: a / b, anywhere, away_from_zero),
    "power x^y": (lambda a, b: a**b, lambda a, b: a**b, positive, anywhere),
}

shapes = array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


def run_ours(f, arrays, upstream_seed=1):
    leaves = [cr.tensor(a, requires_grad=True) for a in arrays]
    out = f(*leaves)
    g = np.random.default_rng(upstream_seed).normal(size=out.shape)
    out.backward(g)
    return out.data, [t.grad for t in leaves], g


def run_torch(f, arrays, g):
    leaves = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = f(*leaves)
    out.backward(torch.tensor(g))
    return out.detach().numpy(), [t.grad.numpy() for t in leaves]


def check_against_oracles(name, ours_f, torch_f, arrays):
    # central differences first: without torch they still run before the oracle skips
    report = cr.gradcheck(ours_f, arrays)
    assert report, f"{name}: central differences disagree\n{report}"
    out, grads, g = run_ours(ours_f, arrays)
    for i, ours in enumerate(grads):
        assert ours.shape == arrays[i].shape, f"{name}: gradient shape {ours.shape}"
    t_out, t_grads = run_torch(torch_f, arrays, g)
    assert_matches_torch(out, t_out, f"{name} forward")
    for i, (ours, theirs) in enumerate(zip(grads, t_grads, strict=True)):
        assert_matches_torch(ours, theirs, f"{name} ∂/∂input{i}")


@pytest.mark.parametrize("name", list(UNARY))
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_unary_rule(name, shape, seed):
    ours_f, torch_f, domain = UNARY[name]
    if "axis 0" in name or name.startswith(("slice", "fancy")):
        shape = (max(shape[0], 2), *shape[1:])
    x = domain(np.random.default_rng(seed).normal(size=shape))
    check_against_oracles(name, ours_f, torch_f, [x])


@pytest.mark.parametrize("name", list(BINARY))
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
    seed=st.integers(0, 2**16),
)
def test_binary_rule_with_broadcasting(name, shapes, seed):
    ours_f, torch_f, domain_a, domain_b = BINARY[name]
    rng = np.random.default_rng(seed)
    a, b = (rng.normal(size=s) for s in shapes.input_shapes)
    check_against_oracles(name, ours_f, torch_f, [domain_a(a), domain_b(b)])


MATMUL_SHAPES = [
    ((3, 4), (4, 2)),
    ((1, 5), (5, 1)),
    ((4,), (4, 3)),
    ((3, 4), (4,)),
    ((4,), (4,)),
    ((2, 3, 4), (4, 5)),
    ((2, 3, 4), (2, 4, 5)),
    ((5, 4), (2, 4, 3)),
]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_rule(shapes):
    rng = np.random.default_rng(7)
    arrays = [rng.normal(size=s) for s in shapes]
    check_against_oracles("matmul", lambda a, b: a @ b, lambda a, b: a @ b, arrays)


@given(
    n=st.integers(1, 5), n_in=st.integers(1, 5), n_out=st.integers(1, 5), seed=st.integers(0, 99)
)
def test_fused_linear_equals_x_w_transposed_plus_b(n, n_in, n_out, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=(n, n_in)), rng.normal(size=(n_out, n_in)), rng.normal(size=n_out)]
    check_against_oracles("linear", ops.linear, torch.nn.functional.linear, arrays)


def test_linear_on_one_example_and_without_bias():
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=4), rng.normal(size=(3, 4))
    check_against_oracles("linear 1-D", ops.linear, torch.nn.functional.linear, [x, w])


def test_scalars_on_either_side():
    x = cr.tensor([0.5, 2.0], requires_grad=True)
    y = (2 * x + x * 2 + 1 / x + x / 4 + 2**x + x**3 - 1 + (1 - x)).sum()
    y.backward()
    a = x.data
    expected = 2 + 2 - 1 / a**2 + 0.25 + 2**a * np.log(2) + 3 * a**2 + 0 - 1
    np.testing.assert_allclose(x.grad, expected, rtol=1e-14)


def test_a_wrong_rule_is_caught_by_the_checker():
    """The checker itself is tested: a deliberately wrong derivative must fail it."""

    def bad_square(t):
        return node(t.data**2, (t,), "bad_square", (lambda g: g * t.data,))  # should be 2x

    report = cr.gradcheck(lambda t: bad_square(t).sum(), [np.array([1.0, 2.0, 3.0])])
    assert not report
    assert report.max_rel_error > 0.3
    assert "FAILED" in str(report)


def test_checker_reports_per_input_errors():
    report = cr.gradcheck(lambda a, b: (a * b).sum(), [np.ones(3), np.arange(3.0)])
    assert report and len(report.inputs) == 2
    assert report.inputs[1].shape == (3,)
    assert report.max_abs_error < 1e-8


def test_softmax_and_log_softmax_are_stable_for_huge_logits():
    z = cr.tensor([[1e4, 0.0, -1e4]], requires_grad=True)
    p = z.softmax()
    assert np.all(np.isfinite(p.data)) and np.isclose(p.data.sum(), 1.0)
    z.log_softmax()[0, 1].backward()
    assert np.all(np.isfinite(z.grad))


def test_sigmoid_saturates_without_warnings_or_nans():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = cr.tensor([-1000.0, 0.0, 1000.0]).sigmoid().data
    np.testing.assert_array_equal(a, [0.0, 0.5, 1.0])


def test_softplus_is_stable_for_huge_z_and_agrees_with_pytorch_there():
    # PyTorch returns z itself above its threshold 20, which is off by e^{−z}; from 40 up that is
    # below float64's rounding, so both are exact there and can be compared to 1e-10.
    z = np.array([-1000.0, -700.0, -40.0, -5.0, 0.0, 5.0, 40.0, 700.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, (grad,), g = run_ours(ops.softplus, [z])
    t_out, (t_grad,) = run_torch(torch.nn.functional.softplus, [z], g)
    assert_matches_torch(out, t_out, "softplus forward, huge z")
    assert_matches_torch(grad, t_grad, "softplus ∂/∂z, huge z")
    np.testing.assert_array_equal(out[-2:], [700.0, 1000.0])
    assert out[0] == 0.0 and out[2] == pytest.approx(np.exp(-40.0), rel=1e-15)
    report = cr.gradcheck(ops.softplus, [np.array([-60.0, -30.0, 30.0, 60.0])])
    assert report, report


def test_softplus_keeps_float32_and_its_slope_is_sigmoid():
    z = np.linspace(-8, 8, 9).astype(np.float32)
    t = cr.tensor(z, requires_grad=True)
    a = t.softplus()
    a.sum().backward()
    assert a.data.dtype == np.float32 and t.grad.dtype == np.float32
    np.testing.assert_allclose(t.grad, 1 / (1 + np.exp(-z)), rtol=1e-6)
    assert ops.softplus(cr.tensor(0.0)).data.shape == ()
