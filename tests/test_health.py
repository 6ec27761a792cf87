"""Gradient health: norms per layer, saturated and dead units, hints, and fit's health_every."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.lecture.health import GradientHealthWarning, HealthReport, gradient_health


def backward(model: nn.Sequential, X: np.ndarray, Y: np.ndarray, loss=None) -> None:
    loss = loss or nn.BCELoss()
    model.zero_grad()
    loss(model(cr.tensor(X)), Y).backward()


def moons(n: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    return X, (X[:, 0] * X[:, 1] > 0).astype(np.float64).reshape(-1, 1)


def test_norms_are_each_layers_gradient_and_weights():
    model = nn.mlp([2, 5, 1], "tanh", "sigmoid", rng=0)
    X, Y = moons()
    backward(model, X, Y)
    report = gradient_health(model, X)
    first, second = report.layers
    expected = np.sqrt(np.sum(model[0].weight.grad ** 2) + np.sum(model[0].bias.grad ** 2))
    assert first.grad_norm == pytest.approx(expected, rel=1e-12)
    assert second.weight_norm == pytest.approx(
        np.sqrt(np.sum(model[2].weight.data ** 2) + np.sum(model[2].bias.data ** 2))
    )
    assert (first.layer, first.name, first.activation) == (1, "model[0]", "tanh")
    assert second.activation == "sigmoid" and report.examples == 64


def test_a_healthy_network_gets_no_hints():
    model = nn.mlp([2, 8, 1], "tanh", "sigmoid", init="xavier", rng=0)
    X, Y = moons()
    backward(model, X, Y)
    report = gradient_health(model, X)
    assert report.healthy, report.hints
    assert "healthy" in str(report)


def test_deep_sigmoid_networks_vanish():
    # Eight sigmoid layers: each passes back at most σ' = 0.25 times the gradient above it.
    model = nn.mlp([2] + [8] * 8 + [1], "sigmoid", "sigmoid", init="small", rng=0)
    X, Y = moons()
    backward(model, X, Y)
    report = gradient_health(model, X)
    norms = [h.grad_norm for h in report.layers]
    assert norms[0] < 1e-2 * max(norms)
    assert any(h.startswith("gradients vanish: layer 1's gradient is") for h in report.hints)


def test_saturated_sigmoids_and_dead_relus_are_counted():
    X, Y = moons()
    saturating = nn.mlp([2, 6, 1], "sigmoid", "sigmoid", rng=0)
    saturating[0].weight.data *= 100  # |z| ≫ 5 for nearly every unit: σ'(z) ≈ 0
    backward(saturating, X, Y)
    report = gradient_health(saturating, X)
    a = 1 / (1 + np.exp(-(X @ saturating[0].weight.data.T + saturating[0].bias.data)))
    # σ'(z) = a(1 − a) < 0.01: a outside [0.0101, 0.9899], a = 1.0 (slope 0 in floats) included.
    assert report.layers[0].saturated == pytest.approx(np.mean((a < 0.0101) | (a > 0.9899)))
    assert report.layers[0].saturated > 0.5
    assert any("outputs are saturated" in h for h in report.hints)

    dead = nn.mlp([2, 6, 1], "relu", "sigmoid", rng=0)
    dead[0].bias.data[:4] = -100.0  # four of six units never fire
    backward(dead, X, Y)
    report = gradient_health(dead, X)
    assert report.layers[0].dead == pytest.approx(4 / 6)
    assert report.layers[0].saturated == 0  # a switched-off ReLU is dead, not saturated
    assert any("relu units are dead (σ'(z) = 0 for every example" in h for h in report.hints)
    assert "67%" in str(report)


def test_exploding_and_diverged_gradients_are_named():
    X, Y = moons()
    model = nn.mlp([2, 4, 1], "identity", None, rng=0)
    model[0].weight.data *= 1e4
    backward(model, X, Y * 1e3, nn.SquaredError())
    assert gradient_health(model, X).hints[0].startswith("gradients explode")
    model[0].weight.grad[0, 0] = np.nan
    (hint,) = gradient_health(model).hints
    assert "NaN or infinite" in hint and "layer 1" in hint


def test_report_round_trips_through_json():
    model = nn.mlp([2, 3, 1], "relu", "sigmoid", rng=0)
    X, Y = moons()
    backward(model, X, Y)
    report = gradient_health(model, X, epoch=3)
    back = HealthReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert back == report


def test_no_backward_yet_is_an_error():
    with pytest.raises(cr.GradError, match="run a backward pass first"):
        gradient_health(nn.mlp([2, 3, 1], rng=0))


def test_fit_records_health_every_n_epochs():
    model = nn.mlp([2, 8, 1], "tanh", "sigmoid", init="xavier", rng=0)
    X, Y = moons()
    with warnings.catch_warnings():
        warnings.simplefilter("error", GradientHealthWarning)
        history = cr.fit(model, X, Y, loss="bce", epochs=6, health_every=2, progress=False)
    assert [h["epoch"] for h in history.health] == [2, 4, 6]
    assert all(h["hints"] == [] for h in history.health)
    assert history.to_dict()["health"] == history.health


def test_fit_warns_with_the_hint_when_unhealthy():
    model = nn.mlp([2] + [8] * 8 + [1], "sigmoid", "sigmoid", init="small", rng=0)
    X, Y = moons()
    with pytest.warns(GradientHealthWarning, match="epoch 1: gradients vanish"):
        history = cr.fit(model, X, Y, loss="bce", epochs=1, health_every=1, progress=False)
    assert history.health[0]["hints"]
    with pytest.raises(cr.ConfigError, match="health_every must be a positive integer"):
        cr.fit(model, X, Y, loss="bce", epochs=1, health_every=0, progress=False)


def test_any_module_gets_gradient_norms_per_owner():
    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.first = nn.Linear(2, 3, rng=0)
            self.second = nn.Linear(3, 1, rng=1)

        def forward(self, x):
            return self.second(self.first(x).tanh())

    model = Two()
    X, Y = moons()
    backward(model, X, Y, nn.SquaredError())
    report = gradient_health(model, X)
    assert report.examples == 64
    assert [(h.layer, h.name, h.saturated) for h in report.layers] == [
        (1, "first", None),
        (2, "second", None),
    ]
    assert report.layers[1].grad_norm == pytest.approx(
        np.sqrt(np.sum(model.second.weight.grad**2) + np.sum(model.second.bias.grad**2))
    )


def test_a_new_activation_is_read_from_the_registry():
    # Softplus needs no line in health: its slope 1 − e^{−a} comes from nn.ACTIVATIONS. Four of
    # six units pushed far left have a ≈ e^{−100}: slope ≈ 0 but not 0, so saturated, not dead.
    X, Y = moons()
    model = nn.mlp([2, 6, 1], "softplus", "sigmoid", rng=0)
    model[0].bias.data[:4] = -100.0
    backward(model, X, Y)
    report = gradient_health(model, X)
    first = report.layers[0]
    assert (first.activation, first.dead) == ("softplus", 0.0)
    z = X @ model[0].weight.data.T + model[0].bias.data
    assert first.saturated == pytest.approx(np.mean(-np.expm1(-np.logaddexp(0, z)) < 0.01))
    assert first.saturated >= 4 / 6
    assert any("softplus outputs are saturated" in h for h in report.hints)
