"""What the engine's hot paths promise besides speed (which only the benchmark suite measures):
no wasted gradient, in-place updates, dtypes kept, no warnings, the same numbers as before."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import oracle

import chainrule as cr

torch = oracle()


def _boom(g: np.ndarray) -> np.ndarray:
    raise AssertionError("the input batch's gradient was computed, but nothing needs it")


def test_first_layer_grad_input_is_never_computed_for_an_input_without_grad():
    layer = cr.nn.Linear(3, 2, rng=0)
    z = layer(cr.tensor(np.ones((4, 3))))
    z._vjps = (_boom, *z._vjps[1:])  # the rule for ∂C/∂x would raise if it ran
    z.sum().backward()
    assert layer.weight.grad is not None and layer.bias.grad is not None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_updates_parameters_in_place_and_keeps_their_dtype(dtype):
    model = cr.nn.mlp([3, 4, 2], "sigmoid", dtype=dtype, rng=0)
    arrays = [p.data for p in model.parameters()]
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    c = cr.nn.CrossEntropyLoss()(
        model(cr.tensor(np.ones((5, 3), dtype))), np.array([0, 1, 0, 1, 1])
    )
    c.backward()
    before = [a.copy() for a in arrays]
    opt.step()
    for p, array, old in zip(model.parameters(), arrays, before, strict=True):
        assert p.data is array and p.data.dtype == dtype and p.grad.dtype == dtype
        np.testing.assert_allclose(p.data, old - 0.1 * p.grad, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_saturates_as_the_formula_does_without_a_warning(dtype):
    values = np.array([-1e4, -200.0, -50.0, 0.0, 50.0, 200.0, 1e4], dtype)
    with np.errstate(over="ignore"):
        expected = (1.0 / (1.0 + np.exp(-values))).astype(dtype)  # e⁻ᶻ = inf gives exactly 0
    z = cr.tensor(values, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow RuntimeWarning would fail the test
        a = z.sigmoid()
        a.sum().backward()
    np.testing.assert_array_equal(a.data, expected)
    assert a.data[0] == 0.0 and a.data[-1] == 1.0
    np.testing.assert_array_equal(z.grad, expected * (1.0 - expected))


def test_sigmoid_of_a_scalar_is_an_array_node():
    a = cr.tensor(0.0, requires_grad=True).sigmoid()
    assert isinstance(a.data, np.ndarray) and a.data.shape == () and a.item() == 0.5


def test_sigmoid_and_cross_entropy_match_pytorch_in_float64():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((7, 5)) * 30  # saturated and moderate values both
    labels = rng.integers(0, 5, 7)
    ours = cr.tensor(z, requires_grad=True)
    c = cr.nn.CrossEntropyLoss()(ours.sigmoid() * 4.0, labels)
    c.backward()
    theirs = torch.tensor(z, requires_grad=True)
    t = torch.nn.functional.cross_entropy(torch.sigmoid(theirs) * 4.0, torch.tensor(labels))
    t.backward()
    assert float(c.data) == pytest.approx(t.item(), rel=1e-14)
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12, atol=1e-300)


def test_backward_visits_children_before_parents_whatever_the_graph_shape():
    # x feeds a node made long after the ones beside it; birth order still puts it last
    x = cr.tensor(np.array([0.3, -0.2]), requires_grad=True)
    early = x * 2.0
    late = (early.exp() + early).sum() + (x * x).sum()
    late.backward()
    expected = 2 * (np.exp(2 * x.data) + 1) + 2 * x.data
    np.testing.assert_allclose(x.grad, expected, rtol=1e-15)
