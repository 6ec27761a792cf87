"""One registry entry is enough: softplus was added as one op (`ops.softplus`) and one class
(`nn.Softplus`, registered in `nn.ACTIVATIONS`), and it reaches every view below with no edit
in any of them. The walkthrough is the lecture's sigmoid network only (it turns a given `a`
back into `z`, which needs an inverse the registry does not carry), so it is not among them.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import oracle

import chainrule as cr
from chainrule import nn
from chainrule.cli import main
from chainrule.cli.options import HIDDEN_ACTIVATIONS
from chainrule.lecture.exercise import activations
from chainrule.sklearn import MLPClassifier

torch = oracle()

X = np.array([[0.2, -0.4], [1.0, 0.5], [-0.3, 0.9], [0.7, -1.2]])
LABELS = np.array([0, 1, 1, 0])


def test_softplus_is_one_registry_entry_with_the_lectures_forms():
    softplus = nn.ACTIVATIONS["softplus"]
    assert softplus is nn.Softplus and softplus.name == "softplus"
    z = np.linspace(-3, 3, 7)
    a = nn.Softplus()(cr.tensor(z)).data
    assert np.allclose(a, np.log1p(np.exp(z)))
    assert np.allclose(softplus.derivative(z, a), 1 / (1 + np.exp(-z)))  # σ(z)
    assert "{a}" in softplus.slope or "{z}" in softplus.slope


def test_explain_works_out_a_softplus_network_by_the_chain_rule():
    model = nn.mlp([2, 3, 2], "softplus", rng=0)
    for layer in (1, 2):
        e = cr.explain(model, X[0], [1.0, 0.0], "squared", layer=layer, j=1, k=0)
        assert e.agree and abs(e.value - e.autodiff) < 1e-12
    assert "softplus'" in str(cr.explain(model, X[0], [1.0, 0.0], "squared", layer=1, j=1, k=0))


def test_exercise_writes_a_softplus_sheet():
    # tests/test_exercise.py checks every number of its answer key against autodiff
    assert "softplus" in activations()
    sheet = cr.exercise((2, 3, 2), seed=7, activation="softplus")
    assert "softplus" in sheet.questions and "softplus" in sheet.answers


def test_the_cli_trains_explains_and_writes_sheets_with_softplus(capsys, tmp_path):
    assert "softplus" in HIDDEN_ACTIVATIONS
    path = tmp_path / "s.model"
    args = ["train", "--data", "moons", "--activation", "softplus", "--epochs", "3", "--quiet"]
    assert main([*args, "--save", str(path)]) == 0
    assert isinstance(cr.load(path)[1], nn.Softplus)  # the model file names the layer
    explain = [
        "explain",
        str(path),
        "--data",
        "moons",
        "--example",
        "0",
        "--layer",
        "1",
        "--j",
        "0",
    ]
    assert main(explain) == 0
    assert main(["exercise", "--sizes", "2,2,1", "--activation", "softplus"]) == 0
    assert "softplus" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_the_estimator_takes_softplus_by_name():
    est = MLPClassifier((4,), activation="softplus", max_iter=5, random_state=0).fit(X, LABELS)
    assert isinstance(est.model_[1], nn.Softplus)


# ---- issue 10's activations: each one class in the registry, and it reaches every view ------

NEW = {
    "leaky_relu": (nn.LeakyReLU, lambda z: np.where(z > 0, z, 0.01 * z)),
    "elu": (nn.ELU, lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0)))),
    "gelu": (nn.GELU, lambda z: torch.nn.functional.gelu(torch.tensor(z)).numpy()),
    "silu": (nn.SiLU, lambda z: z / (1 + np.exp(-z))),
    "mish": (nn.Mish, lambda z: z * np.tanh(np.log1p(np.exp(z)))),
    "hardtanh": (nn.Hardtanh, lambda z: np.clip(z, -1, 1)),
    "softsign": (nn.Softsign, lambda z: z / (1 + np.abs(z))),
}
TORCH_LAYERS = {
    "leaky_relu": torch.nn.LeakyReLU,
    "elu": torch.nn.ELU,
    "gelu": torch.nn.GELU,
    "silu": torch.nn.SiLU,
    "mish": torch.nn.Mish,
    "hardtanh": torch.nn.Hardtanh,
    "softsign": torch.nn.Softsign,
}


@pytest.mark.parametrize("name", list(NEW))
def test_each_new_activation_is_one_registry_entry_whose_slope_is_its_ops(name):
    cls, forward = NEW[name]
    assert nn.ACTIVATIONS[name] is cls and cls.name == name and cls.elementwise
    assert "{a}" in cls.slope or "{z}" in cls.slope
    z = np.linspace(-3, 3, 8)  # clear of every kink: 0 and ±1
    a = cls.of(z)
    np.testing.assert_allclose(a, forward(z), rtol=1e-12, atol=1e-15)
    t = cr.tensor(z, requires_grad=True)
    cls()(t).sum().backward()
    np.testing.assert_allclose(cls.derivative(z, a), t.grad, rtol=1e-12, atol=1e-15)
    theirs = torch.tensor(z, requires_grad=True)
    TORCH_LAYERS[name]()(theirs).sum().backward()
    np.testing.assert_allclose(t.grad, theirs.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", list(NEW))
def test_explain_works_out_each_new_activation_by_the_chain_rule(name):
    model = nn.mlp([2, 3, 2], name, name, rng=0)
    for layer in (1, 2):
        for x in X:
            e = cr.explain(model, x, [1.0, 0.0], "squared", layer=layer, j=1, k=0)
            assert e.agree and abs(e.value - e.autodiff) < 1e-12, (name, layer, x)
    text = str(cr.explain(model, X[0], [1.0, 0.0], "squared", layer=1, j=1, k=0))
    assert f"{nn.ACTIVATIONS[name].symbol}'" in text


@pytest.mark.parametrize("name", list(NEW))
def test_exercise_sheets_take_each_new_activation(name):
    assert name in activations()
    sheet = cr.exercise((2, 3, 2), seed=7, activation=name)
    assert nn.ACTIVATIONS[name].symbol in sheet.answers


def test_layers_with_settings_carry_them_into_forms_slopes_and_model_files(tmp_path):
    """The registry's class describes the default layer; a layer built with other settings
    describes itself, and a model file keeps them."""
    z = np.array([-2.0, -0.5, 0.5, 2.0])
    leaky = nn.LeakyReLU(0.2)
    assert nn.LeakyReLU.slope == "[{z} > 0] + 0.01[{z} ≤ 0]"
    assert leaky.slope == "[{z} > 0] + 0.2[{z} ≤ 0]"
    np.testing.assert_array_equal(leaky.derivative(z, leaky(cr.tensor(z)).data), [0.2, 0.2, 1, 1])
    np.testing.assert_array_equal(nn.LeakyReLU.derivative(z, z), [0.01, 0.01, 1, 1])
    assert nn.Hardtanh(-2, 3).slope == "[−2 < {z} < 3]"
    assert nn.ELU(2.0).definition == "elu(z) = max(z, 0) + min(2(e^{z} − 1), 0)"
    assert "tanh" in nn.GELU("tanh").definition and "erf" in nn.GELU.definition
    for layer in (leaky, nn.ELU(2.0), nn.GELU("tanh"), nn.Hardtanh(-2, 3)):
        t = cr.tensor(z, requires_grad=True)
        a = layer(t)
        a.sum().backward()
        np.testing.assert_allclose(layer.derivative(z, a.data), t.grad, rtol=1e-12)
    model = nn.Sequential(nn.Linear(2, 3), leaky, nn.Linear(3, 1), nn.Hardtanh(-2, 3))
    path = tmp_path / "settings.model"
    cr.save(model, path)
    loaded = cr.load(path)
    assert loaded[1].negative_slope == 0.2 and (loaded[3].min_val, loaded[3].max_val) == (-2, 3)
    np.testing.assert_array_equal(loaded(cr.tensor(X)).data, model(cr.tensor(X)).data)


def test_bad_settings_of_the_new_layers_are_named():
    with pytest.raises(cr.ConfigError, match="LeakyReLU: negative_slope must be a finite"):
        nn.LeakyReLU(float("nan"))
    with pytest.raises(cr.ConfigError, match="GELU: approximate must be one of none, tanh"):
        nn.GELU("fast")
    with pytest.raises(cr.ConfigError, match="Hardtanh: max_val must be at least min_val"):
        nn.Hardtanh(1.0, -1.0)


@pytest.mark.parametrize("name", list(NEW))
def test_the_cli_trains_and_saves_with_each_new_activation(name, tmp_path):
    assert name in HIDDEN_ACTIVATIONS
    path = tmp_path / f"{name}.model"
    args = ["train", "--data", "moons", "--activation", name, "--epochs", "2", "--quiet"]
    assert main([*args, "--save", str(path)]) == 0
    assert isinstance(cr.load(path)[1], NEW[name][0])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", list(NEW))
def test_the_estimator_takes_each_new_activation_by_name(name):
    est = MLPClassifier((4,), activation=name, max_iter=5, random_state=0).fit(X, LABELS)
    assert isinstance(est.model_[1], NEW[name][0])
    assert est.predict(X).shape == LABELS.shape
