"""One registry entry is enough: softplus was added as one op (`ops.softplus`) and one class
(`nn.Softplus`, registered in `nn.ACTIVATIONS`), and it reaches every view below with no edit
in any of them. The walkthrough is the lecture's sigmoid network only (it turns a given `a`
back into `z`, which needs an inverse the registry does not carry), so it is not among them.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.cli import main
from chainrule.cli.options import HIDDEN_ACTIVATIONS
from chainrule.lecture.exercise import activations
from chainrule.sklearn import MLPClassifier

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
