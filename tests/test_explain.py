"""explain(): the chain rule's product equals autodiff (to 1e-8), finite differences (±0.001)
and PyTorch, for every layer, activation, loss, weight and bias; sensitivity ranks by |∂C/∂w|."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_matches_torch, oracle

import chainrule as cr
from chainrule import nn
from chainrule.errors import ConfigError, ShapeError
from chainrule.lecture.explain import Explanation, explain
from chainrule.lecture.sensitivity import sensitivity

torch = oracle()

ACTIVATIONS = [name for name, cls in nn.ACTIVATIONS.items() if cls.elementwise]
LOSSES = ["squared", "mse", "bce", "ce"]
SIZES = [3, 4, 3, 2]  # three Linear layers: l = 1, 2, L = 3


def network(activation: str, loss: str, seed: int = 0) -> nn.Sequential:
    """A 3-4-3-2 network; the output fits the loss (sigmoid for BCE, logits for CE)."""
    output = {"bce": "sigmoid", "ce": None}.get(loss, activation)
    return nn.mlp(SIZES, activation, output, rng=seed)


def data(loss: str, n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, SIZES[0]))
    if loss == "ce":
        Y = rng.integers(0, SIZES[-1], size=n)
    elif loss == "bce":
        Y = rng.integers(0, 2, size=(n, SIZES[-1])).astype(np.float64)
    else:
        Y = rng.normal(size=(n, SIZES[-1]))
    return X, Y


def torch_gradient(model: nn.Sequential, X, Y, loss: str, position: int, which: str):
    """The same network and loss in PyTorch; the gradient of layer `position`'s parameter."""
    layers = []
    for m in model:
        if isinstance(m, nn.Linear):
            lin = torch.nn.Linear(m.in_features, m.out_features, dtype=torch.float64)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(m.weight.data))
                lin.bias.copy_(torch.from_numpy(m.bias.data))
            layers.append(lin)
        else:
            layers.append(
                {
                    nn.Sigmoid: torch.nn.Sigmoid,
                    nn.Tanh: torch.nn.Tanh,
                    nn.ReLU: torch.nn.ReLU,
                    nn.Softplus: torch.nn.Softplus,
                    nn.Identity: torch.nn.Identity,
                    nn.LeakyReLU: torch.nn.LeakyReLU,
                    nn.ELU: torch.nn.ELU,
                    nn.GELU: torch.nn.GELU,
                    nn.SiLU: torch.nn.SiLU,
                    nn.Mish: torch.nn.Mish,
                    nn.Hardtanh: torch.nn.Hardtanh,
                    nn.Softsign: torch.nn.Softsign,
                }[type(m)](**(m.config() if hasattr(m, "config") else {}))
            )
    net = torch.nn.Sequential(*layers)
    out = net(torch.from_numpy(np.asarray(X, np.float64)))
    if loss == "ce":
        c = torch.nn.functional.cross_entropy(
            out.reshape(-1, out.shape[-1]), torch.as_tensor(Y).reshape(-1).long()
        )
    else:
        y = torch.from_numpy(np.asarray(Y, np.float64)).reshape(out.shape)
        if loss == "squared":
            n = out.shape[0] if out.ndim > 1 else 1
            c = ((out - y) ** 2).sum() / n
        elif loss == "mse":
            c = torch.nn.functional.mse_loss(out, y)
        else:
            c = torch.nn.functional.binary_cross_entropy(out, y)
    c.backward()
    return getattr(net[position], which).grad.numpy()


@pytest.mark.parametrize("batch", [False, True], ids=["one-example", "batch"])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_value_equals_autodiff_numeric_and_torch_for_every_layer(activation, loss, batch):
    model = network(activation, loss)
    X, Y = data(loss, 5)
    x, y = (X, Y) if batch else (X[0], Y[0])
    positions = [i for i, m in enumerate(model) if isinstance(m, nn.Linear)]
    for layer, position in enumerate(positions, start=1):
        rows, cols = model[position].weight.shape
        for j, k in [(0, 0), (rows - 1, cols - 1), (rows // 2, None)]:
            e = explain(model, x, y, loss, layer=layer, j=j, k=k)
            what = f"{activation}/{loss} layer {layer} w[{j}, {k}]"
            assert abs(e.value - e.autodiff) <= 1e-8 * max(1.0, abs(e.autodiff)), what
            assert abs(e.value - e.numeric) <= 1e-6, what
            assert e.agree, what
            grad = torch_gradient(model, x, y, loss, position, "bias" if k is None else "weight")
            assert_matches_torch(e.autodiff, grad[(j,) if k is None else (j, k)], what, tol=1e-10)


@pytest.mark.parametrize(
    "activation",
    [nn.LeakyReLU(3.0), nn.ELU(0.5), nn.Hardtanh(-0.5, 0.25), nn.GELU("tanh")],
    ids=repr,
)
def test_an_activations_own_settings_are_the_slope_explain_uses(activation):
    model = nn.Sequential(nn.Linear(3, 4), activation, nn.Linear(4, 2))
    X, Y = data("squared", 5)
    e = explain(model, X, Y, "squared", layer=1, j=1, k=2)
    assert e.agree
    grad = torch_gradient(model, X, Y, "squared", 0, "weight")
    assert_matches_torch(e.value, grad[1, 2], repr(activation), tol=1e-10)


def test_worked_example_by_hand():
    # The lecture's simple network, one neuron per layer, numbers worked by hand:
    #   x = a^{(0)} = 1, w^{(1)} = 0, b^{(1)} = 0  ->  z^{(1)} = 0, a^{(1)} = σ(0) = 0.5,
    #                                                  σ'(z^{(1)}) = 0.5 · 0.5 = 0.25
    #   w^{(2)} = 2, b^{(2)} = 0  ->  z^{(2)} = 2 · 0.5 = 1, a^{(2)} = σ(1) = 0.7310585786
    #                                 σ'(z^{(2)}) = 0.7310585786 · 0.2689414214 = 0.1966119332
    #   y = 1, C = (a^{(2)} − y)² = 0.0723294881;  ∂C/∂a^{(2)} = 2(a^{(2)} − y) = −0.5378828427
    # Output layer: ∂C/∂w^{(2)} = a^{(1)} σ'(z^{(2)}) 2(a^{(2)} − y)
    #                           = 0.5 × 0.1966119332 × −0.5378828427 = −0.0528770928
    # One layer back: ∂C/∂a^{(1)} = w^{(2)} σ'(z^{(2)}) ∂C/∂a^{(2)} = 2 × 0.1966... × −0.5378...
    #                             = −0.2115083711
    #                 ∂C/∂w^{(1)} = x σ'(z^{(1)}) ∂C/∂a^{(1)} = 1 × 0.25 × −0.2115083711
    #                             = −0.0528770928
    model = nn.Sequential(nn.Linear(1, 1), nn.Sigmoid(), nn.Linear(1, 1), nn.Sigmoid())
    model.load_state_dict(
        {"0.weight": [[0.0]], "0.bias": [0.0], "2.weight": [[2.0]], "2.bias": [0.0]}
    )
    out = explain(model, [1.0], [1.0], nn.SquaredError(), layer=2, j=0, k=0)
    assert [f.value for f in out.factors] == pytest.approx(
        [0.5, 0.1966119332, -0.5378828427], abs=1e-10
    )
    assert out.value == pytest.approx(-0.0528770928, abs=1e-10)
    hidden = explain(model, [1.0], [1.0], nn.SquaredError(), layer=1, j=0, k=0)
    assert [f.value for f in hidden.factors] == pytest.approx([1.0, 0.25, -0.2115083711], abs=1e-10)
    (path,) = hidden.paths
    assert path.terms[0].weight == 2.0
    assert path.values[0] == pytest.approx(-0.2115083711, abs=1e-10)
    assert hidden.value == pytest.approx(-0.0528770928, abs=1e-10)
    assert (hidden.loss_plus + hidden.loss_minus) / 2 == pytest.approx(0.0723294881, abs=1e-6)


def test_batch_is_the_mean_of_the_per_example_terms():
    model = network("sigmoid", "squared")
    X, Y = data("squared", 4)
    e = explain(model, X, Y, "squared", layer=2, j=1, k=2)
    singles = [explain(model, X[i], Y[i], "squared", 2, 1, 2).value for i in range(4)]
    np.testing.assert_allclose(e.per_example, singles, rtol=1e-12, atol=1e-15)
    assert e.value == pytest.approx(np.mean(singles), abs=1e-15)
    assert e.n == 4
    with pytest.raises(ConfigError, match="one value per example"):
        _ = e.factors[0].value


def test_loss_factors_are_written_per_loss():
    X, Y = data("squared", 3)
    forms = {
        "squared": "2(a_0^{(3)} − y_0)",
        "mse": "2(a_0^{(3)} − y_0)/2",
        "bce": "(a_0^{(3)} − y_0)/(a_0^{(3)}(1 − a_0^{(3)})·2)",
        "ce": "p_0^{(3)} − y_0",
    }
    for loss, form in forms.items():
        X, Y = data(loss, 3)
        e = explain(network("sigmoid", loss), X[0], Y[0], loss, layer=3, j=0, k=1)
        assert e.factors[-1].form == form
        assert ("fused" in str(e)) == (loss == "ce")
    # Fused softmax + cross-entropy: ∂C/∂z_j = p_j − y_j, so no σ' factor at the output.
    ce = explain(network("tanh", "ce"), X[0], 1, "ce", layer=3, j=1, k=0)
    assert [f.name for f in ce.factors] == ["∂z_1^{(3)}/∂w_{10}^{(3)}", "∂C/∂z_1^{(3)}"]


def test_str_shows_the_chain_paths_and_checks():
    model = nn.mlp([2, 3, 2], "sigmoid", "sigmoid", rng=3)
    e = explain(model, [0.5, -0.2], [1.0, 0.0], nn.SquaredError(), layer=1, j=2, k=1)
    text = str(e)
    assert "∂C/∂w_{21}^{(1)} = ∂z_2^{(1)}/∂w_{21}^{(1)} · ∂a_2^{(1)}/∂z_2^{(1)}" in text
    assert "∂z_2^{(1)}/∂w_{21}^{(1)} = a_1^{(0)} = x_1 = -0.2" in text
    assert "σ'(z_2^{(1)}) = a_2^{(1)}(1 − a_2^{(1)})" in text
    assert "∂C/∂a_2^{(1)} = Σ_p w_{p2}^{(2)} σ'(z_p^{(2)}) ∂C/∂a_p^{(2)}" in text
    assert "p = 0: w_{02}^{(2)} σ'(z_0^{(2)}) ∂C/∂a_0^{(2)} =" in text
    assert "sum over 2 paths" in text
    assert "agree: yes" in text
    assert "(C(w + 0.001) − C(w − 0.001)) / 0.002" in text
    assert "\\frac{\\partial C}{\\partial w_{21}^{(1)}}" in e._repr_latex_()
    assert "| factor | equals | value |" in e._repr_markdown_()
    batch = explain(model, [[0.5, -0.2], [0.1, 0.3]], [[1.0, 0.0], [0, 1]], "squared", 1, 2)
    text = str(batch)
    assert "∂C/∂w = 1/n Σ_i ∂C_i/∂w over n = 2 examples" in text
    assert "∂z_2^{(1)}/∂b_2^{(1)} = 1" in text
    assert "example 0 in full" in text


def test_explain_leaves_the_model_as_it_was():
    model = network("tanh", "mse")
    before = {k: v.copy() for k, v in model.state_dict().items()}
    marker = np.full_like(model[0].weight.data, 7.0)
    model[0].weight.grad = marker
    X, Y = data("mse", 3)
    explain(model, X, Y, "mse", layer=1, j=0, k=0)
    assert model[0].weight.grad is marker and np.all(marker == 7.0)
    assert model[2].weight.grad is None
    for name, value in model.state_dict().items():
        assert np.array_equal(value, before[name]), name


def test_float32_models_are_explained_with_looser_agreement():
    model = network("sigmoid", "squared").to(np.float32)
    X, Y = data("squared", 3)
    e = explain(model, X, Y, "squared", layer=2, j=0, k=0)
    assert e.agree
    assert e.value == pytest.approx(e.autodiff, rel=1e-4, abs=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layer": 0, "j": 0}, r"layer must be in 1\.\.3: .*\(3 is the output layer L\), got 0"),
        ({"layer": 4, "j": 0}, r"layer must be in 1\.\.3"),
        ({"layer": 2, "j": 3}, r"j must be in 0\.\.2 \(layer 2, its neurons, has 3\), got 3"),
        ({"layer": 2, "j": 0, "k": 4}, r"k must be in 0\.\.3 .*, got 4"),
        ({"layer": 1, "j": -1}, r"j must be in 0\.\.3"),
    ],
)
def test_bad_indices_name_the_valid_range(kwargs, message):
    # Indices are arguments, so every one out of range is a ConfigError (the CLI's exit 2).
    X, Y = data("squared", 2)
    with pytest.raises(ConfigError, match=message):
        explain(network("sigmoid", "squared"), X, Y, "squared", **kwargs)


def test_bad_models_losses_and_inputs_are_named():
    X, Y = data("squared", 2)
    with pytest.raises(ConfigError, match="expected an nn.Sequential of Linear layers"):
        explain(nn.Linear(3, 2), X, Y, "squared", 1, 0, 0)
    twice = nn.Sequential(nn.Linear(3, 2), nn.Sigmoid(), nn.Tanh())
    with pytest.raises(ConfigError, match=r"model\[2\] is Tanh"):
        explain(twice, X, Y, "squared", 1, 0, 0)
    soft = nn.Sequential(nn.Linear(3, 2), nn.Softmax())
    with pytest.raises(ConfigError, match="use CrossEntropyLoss on the logits"):
        explain(soft, X, [0, 1], "ce", 1, 0, 0)
    model = network("sigmoid", "squared")
    with pytest.raises(ConfigError, match=r"loss must be one of squared, mse, bce, ce, got 'l1'"):
        explain(model, X, Y, "l1", 1, 0, 0)
    with pytest.raises(ShapeError, match=r"x has shape \(2, 4\).*expected \(3,\)"):
        explain(model, np.zeros((2, 4)), Y, "squared", 1, 0, 0)
    no_bias = nn.Sequential(nn.Linear(3, 2, bias=False), nn.Sigmoid())
    with pytest.raises(ConfigError, match="layer 1 has no bias"):
        explain(no_bias, X, Y, "squared", 1, 0)
    with pytest.raises(cr.GradError, match="outside no_grad"), cr.no_grad():
        explain(model, X, Y, "squared", 1, 0, 0)


def test_sensitivity_ranks_every_weight_by_its_gradient():
    model = network("tanh", "bce")
    X, Y = data("bce", 6)
    ranking = sensitivity(model, X, Y, "bce")
    assert len(ranking) == sum(p.data.size for p in model.parameters())
    sizes = [abs(r.gradient) for r in ranking]
    assert sizes == sorted(sizes, reverse=True)
    for r, after in zip(ranking.rows[:-1], ranking.rows[1:], strict=True):
        assert r.ratio == pytest.approx(abs(r.gradient) / abs(after.gradient))
    assert ranking[-1].ratio is None
    top = ranking[0]
    e = explain(model, X, Y, "bce", top.layer, top.j, top.k)
    assert top.gradient == pytest.approx(e.autodiff, abs=1e-15)
    assert isinstance(e, Explanation)


def test_sensitivity_says_21_times_as_the_slide_does():
    # ∂C/∂w_k = 2(a − y) x_k with a = 0, y = −0.5: the gradient is x itself, [2.1, 0.1].
    model = nn.Sequential(nn.Linear(2, 1, bias=False))
    model[0].weight.data[...] = 0.0
    ranking = sensitivity(model, [[2.1, 0.1]], [[-0.5]], nn.SquaredError())
    assert [r.gradient for r in ranking] == pytest.approx([2.1, 0.1])
    assert ranking.headline().startswith("w_{00}^{(1)} moves the loss 21× more than w_{01}^{(1)}")
    text = str(ranking)
    assert "0.weight[0, 1]" in text and "21×" in text
    assert "| rank | weight |" in ranking._repr_markdown_()


def test_sensitivity_rejects_what_it_cannot_name():
    with pytest.raises(ConfigError, match="model must be an nn.Sequential"):
        sensitivity(nn.Linear(2, 1), [[1.0, 2.0]], [[1.0]], "squared")


def test_cross_entropy_takes_one_hot_rows_and_tensors_like_labels():
    model = network("relu", "ce")
    X, labels = data("ce", 4)
    one_hot = np.eye(SIZES[-1])[labels]
    by_label = explain(model, X, labels, "ce", layer=2, j=1, k=0)
    by_rows = explain(model, cr.tensor(X), cr.tensor(one_hot), nn.CrossEntropyLoss(), 2, 1, 0)
    assert by_rows.value == pytest.approx(by_label.value, abs=1e-15)
    assert by_rows.agree and by_label.agree


def test_softplus_network_is_explained_and_agrees_for_every_layer():
    assert "softplus" in ACTIVATIONS  # from the registry: nothing in explain names it
    model = network("softplus", "squared", seed=4)
    X, Y = data("squared", 3)
    for layer in (1, 2, 3):
        e = explain(model, X[0], Y[0], "squared", layer=layer, j=0, k=1)
        assert e.agree and abs(e.value - e.numeric) <= 1e-6
    text = str(e)
    assert "softplus'(z_0^{(3)}) = 1 − e^{−a_0^{(3)}} = 1 − e^{−" in text
    hidden = str(explain(model, X[0], Y[0], "squared", layer=1, j=0, k=1))
    assert "Σ_p w_{p0}^{(2)} softplus'(z_p^{(2)}) ∂C/∂a_p^{(2)}" in hidden
    latex = explain(model, X[0], Y[0], "squared", 2, 0, 1)._repr_latex_()
    assert r"\operatorname{softplus}'" in latex


class Square(nn.Activation):
    """a = z², an activation explain has never heard of."""

    name = "square"
    symbol = "sq"
    definition = "sq(z) = z²"
    slope = "2{z}"

    @staticmethod
    def derivative(z, a):
        return 2 * z

    def forward(self, z):
        return z * z


def test_a_newly_registered_activation_is_explained_without_an_edit(monkeypatch):
    monkeypatch.setitem(nn.ACTIVATIONS, "square", Square)
    model = nn.mlp([3, 2, 2], "square", None, rng=5)
    X, Y = data("squared", 2)
    for layer in (1, 2):
        e = explain(model, X, Y[:, :2], "squared", layer=layer, j=1, k=0)
        assert e.agree, str(e)
    hidden = explain(model, X[0], Y[0, :2], "squared", layer=1, j=1, k=0)
    assert "sq'(z_1^{(1)}) = 2z_1^{(1)} = 2" in str(hidden)
    assert r"\operatorname{sq}'" in hidden._repr_markdown_()
