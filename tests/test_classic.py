"""classic.Network: the slide's delta rule is gradient descent on
E = ½ Σ_examples Σ_z (d_z − o_z)², checked against autodiff and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_matches_torch, oracle

import chainrule as cr
from chainrule import nn
from chainrule.errors import ConfigError, ShapeError
from chainrule.lecture import classic

torch = oracle()

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_D = np.array([[0.0], [1.0], [1.0], [0.0]])


def half_squared_error_gradients(net: classic.Network, X, D) -> list[np.ndarray]:
    """∂E/∂w by chainrule's autodiff on the equivalent module, as arrays shaped like weights."""
    model = net.to_module()
    out = model(cr.tensor(X))
    E = 0.5 * ((out - cr.tensor(D).reshape(out.shape)) ** 2).sum()
    E.backward()
    linears = [m for m in model if isinstance(m, nn.Linear)]
    return [np.concatenate([lin.bias.grad[:, None], lin.weight.grad], axis=1) for lin in linears]


@pytest.mark.parametrize("sizes", [[2, 3, 2], [3, 4, 3, 2], [1, 1]])
@pytest.mark.parametrize("n", [1, 5])
def test_weight_changes_are_minus_lr_times_the_gradient(sizes, n):
    net = classic.Network(sizes, seed=4)
    rng = np.random.default_rng(5)
    X = rng.normal(size=(n, sizes[0]))
    D = rng.uniform(size=(n, sizes[-1]))
    lr = 0.3
    changes = net.weight_changes(X, D, lr)
    for change, grad in zip(changes, half_squared_error_gradients(net, X, D), strict=True):
        np.testing.assert_allclose(change, -lr * grad, rtol=1e-12, atol=1e-15)
    # And against PyTorch, from the bias-folded weights directly.
    ws = [torch.tensor(w, requires_grad=True) for w in net.weights]
    o = torch.from_numpy(X)
    for w in ws:
        o = torch.sigmoid(torch.cat([torch.ones(n, 1, dtype=o.dtype), o], dim=1) @ w.T)
    (0.5 * ((torch.from_numpy(D) - o) ** 2).sum()).backward()
    for change, w in zip(changes, ws, strict=True):
        assert_matches_torch(change, -lr * w.grad, f"classic Δw {sizes} n={n}", tol=1e-10)


def test_one_example_as_a_vector_equals_a_batch_of_one():
    net = classic.Network([2, 3, 2], seed=1)
    x, d = np.array([0.3, -0.7]), np.array([1.0, 0.0])
    for one, batch in zip(
        net.weight_changes(x, d, 0.5), net.weight_changes(x[None], d[None], 0.5), strict=True
    ):
        np.testing.assert_allclose(one, batch, rtol=1e-15)
    assert net.forward(x)[-1].shape == (2,)


def test_betas_are_minus_the_derivative_of_E_by_each_output():
    # β_z = d_z − o_z = −∂E/∂o_z at the output, and β_j = Σ_k w_{j→k} o_k(1 − o_k) β_k is the
    # same −∂E/∂o_j one layer down: the lecture's "many paths" sum.
    net = classic.Network([3, 4, 2], seed=2)
    rng = np.random.default_rng(3)
    X, D = rng.normal(size=(5, 3)), rng.uniform(size=(5, 2))
    betas = net.betas(X, D)
    ws = [torch.tensor(w, requires_grad=True) for w in net.weights]
    o = torch.from_numpy(X)
    outputs = []
    for w in ws:
        o = torch.sigmoid(torch.cat([torch.ones(5, 1, dtype=o.dtype), o], dim=1) @ w.T)
        o.retain_grad()
        outputs.append(o)
    (0.5 * ((torch.from_numpy(D) - o) ** 2).sum()).backward()
    assert len(betas) == 2
    assert_matches_torch(betas[1], -outputs[-1].grad, "classic β at the output", tol=1e-12)
    assert_matches_torch(betas[0], -outputs[0].grad, "classic β one layer down", tol=1e-10)


def test_worked_example_by_hand():
    # One neuron per layer, bias in column 0 (o_0 = 1):
    #   weights[0] = [b = 0, w = 0], weights[1] = [b = 0, w = 2]; x = 1, d = 1, η = 0.5.
    #   hidden: o_1 = σ(0 · 1 + 0 · 1) = 0.5
    #   output: o_2 = σ(0 · 1 + 2 · 0.5) = σ(1) = 0.7310585786
    #   β_output = d − o_2 = 0.2689414214
    #   β_hidden = w_{1→2} o_2 (1 − o_2) β_output = 2 × 0.1966119332 × 0.2689414214 = 0.1057541856
    #   Δw (output) = η o_i o_2 (1 − o_2) β_output for o_i = (1, 0.5):
    #               = 0.5 × (1, 0.5) × 0.1966119332 × 0.2689414214 = (0.0264385, 0.0132193)
    #   Δw (hidden) = η o_i o_1 (1 − o_1) β_hidden for o_i = (1, x = 1):
    #               = 0.5 × (1, 1) × 0.25 × 0.1057541856 = (0.0132193, 0.0132193)
    net = classic.Network([1, 1, 1])
    net.weights = [np.array([[0.0, 0.0]]), np.array([[0.0, 2.0]])]
    o = net.forward([1.0])
    assert [float(v[0]) for v in o] == pytest.approx([1.0, 0.5, 0.7310585786])
    assert [float(b[0]) for b in net.betas([1.0], [1.0])] == pytest.approx(
        [0.1057541856, 0.2689414214]
    )
    hidden, output = net.weight_changes([1.0], [1.0], lr=0.5)
    np.testing.assert_allclose(output, [[0.0264385, 0.0132193]], atol=1e-7)
    np.testing.assert_allclose(hidden, [[0.0132193, 0.0132193]], atol=1e-7)
    # E = ½ (1 − 0.7310585786)² = 0.0361647441
    assert net.total_error([[1.0]], [[1.0]]) == pytest.approx(0.0361647441)


def test_xor_trains_until_the_total_error_is_small_enough():
    net = classic.Network([2, 2, 1], seed=0)
    history = net.train(XOR_X, XOR_D, lr=2.0, until=0.01, max_epochs=20_000)
    assert history[-1] <= 0.01 < history[-2]
    assert len(history) < 20_000
    assert history[-1] == pytest.approx(net.total_error(XOR_X, XOR_D), rel=1e-12)
    assert np.array_equal(net.forward(XOR_X)[-1].round(), XOR_D)


def test_train_stops_after_max_epochs_with_the_final_error_last():
    net = classic.Network([2, 2, 1], seed=0)
    history = net.train(XOR_X, XOR_D, lr=0.5, until=0.0, max_epochs=3)
    assert len(history) == 4
    assert history[-1] == pytest.approx(net.total_error(XOR_X, XOR_D))
    assert history[-1] < history[0]


def test_to_module_and_back():
    net = classic.Network([3, 4, 2], seed=7)
    model = net.to_module()
    assert [type(m) for m in model] == [nn.Linear, nn.Sigmoid, nn.Linear, nn.Sigmoid]
    X = np.random.default_rng(0).normal(size=(6, 3))
    np.testing.assert_allclose(model(cr.tensor(X)).data, net.forward(X)[-1], rtol=1e-14)
    back = classic.Network.from_module(model)
    assert back.sizes == [3, 4, 2]
    for w, v in zip(net.weights, back.weights, strict=True):
        assert np.array_equal(w, v)
    trained = nn.mlp([2, 5, 1], "sigmoid", "sigmoid", rng=1)
    np.testing.assert_allclose(
        classic.Network.from_module(trained).forward(XOR_X)[-1],
        trained(cr.tensor(XOR_X)).data,
        rtol=1e-14,
    )


def test_weights_are_small_random_and_seeded():
    a, b = classic.Network([2, 3, 1], seed=3), classic.Network([2, 3, 1], seed=3)
    assert [w.shape for w in a.weights] == [(3, 3), (1, 4)]
    assert all(np.array_equal(u, v) for u, v in zip(a.weights, b.weights, strict=True))
    assert all(np.abs(w).max() <= 0.5 for w in a.weights)
    assert not np.array_equal(a.weights[0], classic.Network([2, 3, 1], seed=4).weights[0])


def test_bad_arguments_are_named():
    with pytest.raises(ConfigError, match=r"at least two positive integers.*got \[2\]"):
        classic.Network([2])
    with pytest.raises(ConfigError, match="got \\[2, 0, 1\\]"):
        classic.Network([2, 0, 1])
    net = classic.Network([2, 2, 1], seed=0)
    with pytest.raises(ConfigError, match="classic.Network: lr must be a finite number > 0, got 0"):
        net.weight_changes(XOR_X, XOR_D, 0)
    with pytest.raises(ShapeError, match=r"X has shape \(4, 3\); expected \(2,\)"):
        net.train(np.zeros((4, 3)), XOR_D)
    with pytest.raises(ShapeError, match="one desired output d_z per output node"):
        net.weight_changes(XOR_X, np.zeros((4, 2)), 0.1)
    with pytest.raises(ConfigError, match="max_epochs must be a positive integer"):
        net.train(XOR_X, XOR_D, max_epochs=0)
    with pytest.raises(ConfigError, match="classic.train: until must be a finite number >= 0"):
        net.train(XOR_X, XOR_D, until=-1.0)
    with pytest.raises(ConfigError, match="sizes must be at least two positive integers"):
        classic.Network(5)
    with pytest.raises(ConfigError, match="Sigmoid was expected"):
        classic.Network.from_module(nn.mlp([2, 2, 1], "tanh", "sigmoid", rng=0))
    with pytest.raises(ConfigError, match="ending with Sigmoid"):
        classic.Network.from_module(nn.Sequential(nn.Linear(2, 1)))
    with pytest.raises(ConfigError, match="ending with Sigmoid"):
        classic.Network.from_module(nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1), nn.Sigmoid()))
    with pytest.raises(ConfigError, match="layer 0 is .*, where a Linear with bias was expected"):
        classic.Network.from_module(nn.Sequential(nn.Linear(2, 1, bias=False), nn.Sigmoid()))


def test_sigma_and_its_slope_are_the_registrys_sigmoid():
    # The slide's o(1 − o) is nn.Sigmoid's slope, and o = σ(z) its forward: one statement of
    # the lecture's sigmoid. Checked here against PyTorch, independently of both.
    z = np.linspace(-40.0, 40.0, 81)
    o = classic.sigmoid(z)
    z_torch = torch.from_numpy(z).requires_grad_()
    torch.sigmoid(z_torch).sum().backward()
    np.testing.assert_allclose(o, torch.sigmoid(torch.from_numpy(z)).numpy(), rtol=1e-15)
    np.testing.assert_allclose(nn.Sigmoid.derivative(z, o), z_torch.grad.numpy(), rtol=1e-12)
    assert nn.Sigmoid.slope.format(a="o") == "o(1 − o)"
