"""Gradient health: norms per layer, saturated and dead units, hints, and fit's health_every."""

from __future__ import annotations

import html
import json
import math
import re
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.lecture.health import (
    GradientHealthWarning,
    HealthReport,
    LayerHealth,
    gradient_health,
)


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


def test_deep_sigmoid_networks_vanish_beside_their_top_layer():
    # Eight sigmoid layers: each passes back at most σ' = 0.25 times the gradient above it.
    # Without an lr there is no update ratio: the layers are compared with one another.
    model = nn.mlp([2] + [8] * 8 + [1], "sigmoid", "sigmoid", init="small", rng=0)
    X, Y = moons()
    backward(model, X, Y)
    report = gradient_health(model, X, lr=None)
    norms = [h.grad_norm for h in report.layers]
    assert norms[0] < 1e-2 * max(norms)
    assert all(h.update_ratio is None for h in report.layers)
    assert any(h.startswith("gradients vanish: layer 1's gradient is") for h in report.hints)
    assert report.status == "vanishing"
    assert report.verdict.startswith("vanishing: layer 1's ‖∂C/∂W‖ = ")


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
    with pytest.warns(GradientHealthWarning, match="epoch 1: gradients vanish: layer 1's update"):
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


# ---- the absolute scale: update ratio lr·‖∂C/∂W‖/‖W‖, the chance value, the verdict ----------


def moons_rows(n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    X, y = cr.data.moons(n, seed=0)
    return X, y.reshape(-1, 1).astype(np.float64)


def test_the_stuck_deep_sigmoid_network_of_the_issue_is_vanishing():
    # Issue 13: a deep sigmoid net stayed at loss 0.6931 (ln 2), accuracy 0.5, with every
    # layer's ‖∂C/∂W‖ around 1e-7, and the report said "healthy". Nine sigmoid layers, small
    # init, plain SGD at fit's lr 0.1 for 20 epochs reproduce it.
    X, Y = moons_rows()
    model = nn.mlp([2] + [8] * 8 + [1], "sigmoid", "sigmoid", init="small", rng=0)
    with pytest.warns(GradientHealthWarning, match="gradients vanish: layer 1's update ratio"):
        history = cr.fit(model, X, Y, loss="bce", epochs=20, health_every=10, progress=False)
    assert history.loss[-1] == pytest.approx(math.log(2), abs=1e-3)
    assert history.accuracy[-1] == 0.5
    backward(model, X, Y)
    report = gradient_health(model, X, lr=0.1, loss=history.loss)
    first = report.layers[0]
    assert first.grad_norm < 1e-6
    assert first.update_ratio == pytest.approx(0.1 * first.grad_norm / first.weight_norm)
    assert report.status == "vanishing" and not report.healthy
    # The one sentence names the layer, the ratio's numbers, the bound and the chance value.
    assert report.verdict.startswith("vanishing: layer 1's update ratio lr·‖∂C/∂W‖/‖W‖ = 0.1 × ")
    ratio = re.search(r"= ([0-9.e-]+) is below 1e-5", report.verdict)
    assert ratio and float(ratio[1]) == pytest.approx(first.update_ratio, rel=0.05)
    assert "sits at the chance value ln 2 = 0.6931" in report.verdict
    assert report.verdict.count(". ") == 0 and report.verdict.endswith(".")
    assert any("stayed at the chance value ln 2 = 0.6931 for 5 epochs" in h for h in report.hints)
    # fit's monitor judged it the same way, with fit's SGD lr and the run's losses.
    assert [h["status"] for h in history.health] == ["vanishing", "vanishing"]
    assert history.health[-1]["lr"] == 0.1 and history.health[-1]["n_classes"] == 2


def healthy_moons_network(epochs: int, lr: float = 0.5):
    X, Y = moons_rows()
    model = nn.mlp([2, 16, 16, 1], "tanh", "sigmoid", init="xavier", rng=0)
    optimizer = cr.optim.SGD(model.parameters(), lr=lr)
    history = cr.fit(
        model,
        X,
        Y,
        loss="bce",
        optimizer=optimizer,
        epochs=epochs,
        health_every=5,
        progress=False,
    )
    return model, X, Y, history


def test_a_healthy_moons_network_is_healthy():
    with warnings.catch_warnings():
        warnings.simplefilter("error", GradientHealthWarning)
        model, X, Y, history = healthy_moons_network(epochs=10)
    assert history.accuracy[-1] > 0.85 and history.loss[-1] < 0.35
    assert [h["status"] for h in history.health] == ["healthy", "healthy"]
    backward(model, X, Y)
    report = gradient_health(model, X, lr=0.5, loss=history.loss)
    assert report.healthy and report.status == "healthy"
    ratios = [h.update_ratio for h in report.layers]
    assert all(1e-5 < r < 1e-1 for r in ratios)
    said = re.fullmatch(
        r"healthy: every layer's update ratio lr·‖∂C/∂W‖/‖W‖ lies between (\S+) and (\S+) "
        r"\(lr 0.5\), within 1e-5 to 0.1 around the rule of thumb 1e-3, and the loss (\S+) is "
        r"below the chance value ln 2 = 0.6931\.",
        report.verdict,
    )
    assert said, report.verdict
    assert float(said[1]) == pytest.approx(min(ratios), rel=0.05)
    assert float(said[2]) == pytest.approx(max(ratios), rel=0.05)
    assert float(said[3]) == pytest.approx(history.loss[-1], abs=1e-4)


def test_a_diverging_learning_rate_is_exploding():
    # At lr 20 the same network's loss climbs from 0.61 to over 5 in three epochs. Its
    # gradients are small (‖∂C/∂W‖ < 1): only the update ratio, ‖W‖ against lr·‖∂C/∂W‖, sees it.
    X, Y = moons_rows()
    model = nn.mlp([2, 16, 16, 1], "tanh", "sigmoid", init="xavier", rng=0)
    backward(model, X, Y)
    report = gradient_health(model, X, lr=20.0)
    assert max(h.grad_norm for h in report.layers) < 1
    assert report.status == "exploding" and report.hints[0].startswith("gradients explode")
    worst = max(report.layers, key=lambda h: h.update_ratio)
    assert worst.update_ratio > 0.1
    assert report.verdict.startswith(
        f"exploding: layer {worst.layer}'s update ratio lr·‖∂C/∂W‖/‖W‖ = 20 × "
    )
    assert gradient_health(model, X, lr=0.01).status == "healthy"  # the same gradients
    optimizer = cr.optim.SGD(model.parameters(), lr=20.0)
    with pytest.warns(GradientHealthWarning) as warned:
        history = cr.fit(
            model, X, Y, loss="bce", optimizer=optimizer, epochs=3, health_every=1, progress=False
        )
    assert [str(w.message).split(":")[:2] for w in warned] == [
        [f"epoch {epoch}", " gradients explode"] for epoch in (1, 2, 3)
    ]
    assert history.loss[-1] > 5 > 1 > history.loss[0]
    assert [h["status"] for h in history.health] == ["exploding"] * 3


def test_a_tiny_learning_rate_vanishes_on_the_absolute_scale_only():
    # Layers of one size (no layer below 1/100 of another): only lr·‖∂C/∂W‖/‖W‖ is tiny.
    model, X, Y, history = healthy_moons_network(epochs=2)
    backward(model, X, Y)
    report = gradient_health(model, X, lr=1e-7)
    assert report.status == "vanishing"
    assert "the steps are too small to learn: raise the learning rate" in report.hints[0]
    assert gradient_health(model, X, lr=None).status == "healthy"
    # A loss far below chance (< ln 2 / 10) explains small steps: little is left to learn.
    settled = gradient_health(model, X, lr=1e-7, loss=0.01)
    assert settled.status == "healthy" and "little is left to learn" in settled.verdict


def test_a_loss_at_chance_for_five_epochs_is_stuck():
    model = nn.mlp([2, 8, 3], "tanh", None, init="xavier", rng=0)
    X, Y = moons()
    backward(model, X, (Y[:, 0] * 2).astype(int), nn.CrossEntropyLoss())
    ln3 = math.log(3)
    once = gradient_health(model, X, lr=0.1, loss=ln3)  # K = 3 from the output's width
    assert once.healthy and once.n_classes == 3 and once.chance == pytest.approx(ln3)
    assert "the loss 1.0986 sits at the chance value ln 3 = 1.0986" in once.verdict
    stuck = gradient_health(model, X, lr=0.1, loss=[1.5] + [ln3 + 0.001] * 5)
    assert stuck.status == "stuck" and stuck.loss == pytest.approx(ln3 + 0.001)
    assert stuck.verdict.startswith("stuck: the loss has stayed at the chance value ln 3")
    moving = gradient_health(model, X, lr=0.1, loss=[ln3] * 4 + [0.9 * ln3])
    assert moving.healthy
    as_binary = gradient_health(model, X, lr=0.1, loss=[math.log(2)] * 5, n_classes=2)
    assert as_binary.status == "stuck"
    with pytest.raises(cr.ConfigError, match="n_classes must be an integer >= 2, got 1"):
        gradient_health(model, X, loss=0.5, n_classes=1)
    with pytest.raises(cr.ConfigError, match="lr must be"):
        gradient_health(model, X, lr=-1.0)


def test_health_monitor_passes_sgd_lr_with_momentum_and_not_adams():
    X, Y = moons()
    runs = {}
    for name, make in {
        "sgd": lambda p: cr.optim.SGD(p, lr=0.1, momentum=0.5),
        "adam": lambda p: cr.optim.Adam(p, lr=0.01),
    }.items():
        model = nn.mlp([2, 8, 1], "tanh", None, init="xavier", rng=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GradientHealthWarning)  # its lr is what is tested
            history = cr.fit(
                model,
                X,
                Y,
                loss="squared",
                optimizer=make(model.parameters()),
                epochs=2,
                health_every=2,
                progress=False,
            )
        runs[name] = history.health[0]
    # SGD with momentum μ steps lr/(1 − μ) per unit gradient once its velocity has built up.
    assert runs["sgd"]["lr"] == pytest.approx(0.2)
    assert runs["adam"]["lr"] is None and runs["adam"]["layers"][0]["update_ratio"] is None
    # A squared error has no chance value; nor has a cross-entropy summed over examples.
    assert runs["sgd"]["n_classes"] is None and runs["sgd"]["loss"] is None
    model = nn.mlp([2, 8, 2], "tanh", None, init="xavier", rng=0)
    labels = Y[:, 0].astype(int)
    for loss, chance in ((nn.CrossEntropyLoss(), 2), (nn.CrossEntropyLoss(reduction="sum"), None)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GradientHealthWarning)  # a sum's steps are n× larger
            history = cr.fit(model, X, labels, loss=loss, epochs=1, health_every=1, progress=False)
        assert history.health[0]["n_classes"] == chance


def test_the_notebook_view_has_the_verdict_and_a_row_per_layer():
    model = nn.mlp([2] + [8] * 8 + [1], "sigmoid", "sigmoid", init="small", rng=0)
    X, Y = moons()
    backward(model, X, Y)
    report = gradient_health(model, X, lr=0.1, loss=0.6931)
    page = report._repr_html_()
    assert html.escape(report.verdict) in page and "<table>" in page
    rows = re.findall(r"<tr>(.*?)</tr>", page)
    assert len(rows) == 1 + 9  # the header and one per layer
    header = re.findall(r"<th>(.*?)</th>", rows[0])
    assert header == ["layer", "activation", "‖W‖", "‖∂C/∂W‖", "update ratio", "saturated", "dead"]
    first = re.findall(r"<td>(.*?)</td>", rows[1])
    assert first[0] == "1 (model[0])" and float(first[4]) == pytest.approx(
        report.layers[0].update_ratio, rel=0.05
    )
    assert 'data-status="vanishing"' in page and page.count("<li>") == len(report.hints)
    text = repr(report)
    assert len(text.splitlines()) <= 4 and report.verdict in text and "LayerHealth" not in text
    assert str(report).splitlines()[-len(report.hints) - 2] == report.verdict


def test_the_notebook_view_escapes_text():
    layer = nn.Linear(2, 1, rng=0)
    layer.weight.grad = np.ones((1, 2))
    report = gradient_health(layer)
    report.verdict = "<script>alert(1)</script> & more"
    page = report._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    odd = HealthReport([LayerHealth(1, "<first>", "a&b", 1.0, 2.0, update_ratio=0.005)])
    row = re.findall(r"<td>(.*?)</td>", odd._repr_html_())
    assert row[:2] == ["1 (&lt;first&gt;)", "a&amp;b"]


def test_a_report_kept_before_verdicts_is_judged_again():
    model = nn.mlp([2] + [8] * 8 + [1], "sigmoid", "sigmoid", init="small", rng=0)
    X, Y = moons()
    backward(model, X, Y)
    old = gradient_health(model, X).to_dict()
    for key in ("lr", "loss", "n_classes", "status", "verdict"):
        del old[key]
    for layer in old["layers"]:
        del layer["update_ratio"]
    back = HealthReport.from_dict(old)
    assert back.status == "vanishing" and back.verdict.startswith("vanishing: layer 1's")
    assert back.lr is None and "lr" not in str(back).splitlines()[0]
