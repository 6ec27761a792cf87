"""The exercise generator: same seed, same sheet; every number in the key equals autodiff's."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
from chainrule.lecture.exercise import activations, exercise
from chainrule.lecture.notation import fixed

CASES = [
    ((2, 3, 2), 0, "sigmoid"),
    ((2, 3, 2), 7, "sigmoid"),
    ((3, 2), 1, "sigmoid"),
    ((2, 4, 3, 2), 11, "tanh"),
    ((3, 3, 1), 4, "relu"),
    ((1, 1, 1, 1, 1), 2, "sigmoid"),
    ((2, 3, 2), 7, "softplus"),
    ((2, 3, 1), 3, "identity"),
]


def autodiff(sheet):
    """Forward and backward through the sheet's network with chainrule, keeping every a."""
    model = sheet.model()
    a = cr.tensor(sheet.x)
    activations = [a]
    for layer in model:
        a = layer(a)
        if not isinstance(layer, cr.nn.Linear):
            activations.append(a.retain_grad())
    cost = cr.nn.SquaredError()(a, sheet.y)  # one example: C = Σ_j (a_j − y_j)²
    cost.backward()
    return model, activations, cost


@pytest.mark.parametrize(("sizes", "seed", "activation"), CASES)
def test_key_equals_autodiff(sizes, seed, activation):
    sheet = exercise(sizes, seed, activation=activation)
    model, activations, cost = autodiff(sheet)
    L = len(sizes) - 1
    assert sheet.cost == pytest.approx(cost.item(), rel=1e-12)
    for m in range(1, L + 1):
        np.testing.assert_allclose(sheet.a[m], activations[m].data, rtol=1e-12)
    for m, dcost_da in sheet.dcost_da.items():
        np.testing.assert_allclose(dcost_da, activations[m].grad, rtol=1e-10, atol=1e-14)
    weight = model[2 * (sheet.layer - 1)].weight
    expected = weight.grad[sheet.j, sheet.k]
    assert sheet.gradient == pytest.approx(expected, rel=1e-10, abs=1e-14)
    assert sheet.updated_weight == pytest.approx(
        weight.data[sheet.j, sheet.k] - sheet.lr * expected
    )
    # The key prints these numbers as autodiff gives them, rounded to 4 decimals.
    key = sheet.answers
    assert f"= {fixed(cost.item())}$" in key
    assert f"= {fixed(expected)}$" in key
    assert f"= {fixed(sheet.updated_weight)}$" in key
    for m in range(1, L + 1):
        for value in activations[m].data:
            assert f"= {fixed(value)}$" in key
    for m in sheet.dcost_da:
        for value in activations[m].grad:
            assert f"= {fixed(value)}$" in key


@pytest.mark.parametrize(("sizes", "seed", "activation"), CASES[:4])
def test_gradient_equals_finite_differences(sizes, seed, activation):
    sheet = exercise(sizes, seed, activation=activation)
    model = sheet.model()
    weight = model[2 * (sheet.layer - 1)].weight
    loss = cr.nn.SquaredError()

    def cost_at(value):
        weight.data[sheet.j, sheet.k] = value
        with cr.no_grad():
            return loss(model(cr.tensor(sheet.x)), sheet.y).item()

    w0 = weight.data[sheet.j, sheet.k]
    eps = 1e-6
    numeric = (cost_at(w0 + eps) - cost_at(w0 - eps)) / (2 * eps)
    assert sheet.gradient == pytest.approx(numeric, rel=1e-6, abs=1e-10)


def test_same_seed_same_sheet_and_another_seed_another():
    first, again = exercise((2, 3, 2), 3), exercise((2, 3, 2), 3)
    assert first.questions == again.questions
    assert first.answers == again.answers
    assert exercise((2, 3, 2), 4).questions != first.questions


def test_sheet_states_the_network_and_asks_the_four_questions():
    sheet = exercise((2, 3, 2), 0)
    q = sheet.questions
    assert q.startswith("# Backpropagation exercise (network 2-3-2, sigmoid, seed 0)")
    for row, bias, weights in zip(range(3), sheet.biases[0], sheet.weights[0], strict=True):
        cells = " | ".join(f"{v:g}" for v in [*weights, bias])
        assert f"| $j = {row}$ | {cells} |" in q
    w = f"w_{{{sheet.j}{sheet.k}}}^{{({sheet.layer})}}"
    assert f"3. $\\partial C/\\partial {w}$, by the chain rule." in q
    assert "4. The weight after one step of gradient descent" in q
    assert "Answer key" not in q  # the key is separate
    assert sheet.answers.startswith("# Answer key (network 2-3-2, sigmoid, seed 0)")
    # Weights and inputs are one-decimal numbers a student can work with, never 0.
    for array in [*sheet.weights, *sheet.biases, sheet.x]:
        assert np.all(np.round(array * 10) == array * 10) and np.all(array != 0)


def test_every_layer_and_neuron_gets_asked_about_over_seeds():
    asked = {(s.layer, s.j, s.k) for s in (exercise((2, 2, 2), seed) for seed in range(60))}
    assert {layer for layer, _, _ in asked} == {1, 2}
    assert len(asked) == 8


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"sizes": (2,)},
            r"exercise: sizes must be 2 to 5 layer sizes \(inputs first\), got \(2,\)",
        ),
        ({"sizes": (2, 0, 1)}, r"layer size in \[2, 0, 1\] must be a whole number from 1 to 6"),
        ({"sizes": (2, 30, 1)}, "got 30$"),
        ({"sizes": 5}, "sizes must be a list of layer sizes, got 5"),
        ({"seed": -1}, "exercise: seed must be an integer >= 0, got -1"),
        ({"lr": 0}, "exercise: lr must be a finite number > 0, got 0"),
        ({"activation": "swish"}, "activation must be one of sigmoid, tanh, relu, softplus"),
        ({"activation": "softmax"}, "got 'softmax'"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(cr.ConfigError, match=message):
        exercise(**kwargs)


def test_public_name():
    assert cr.exercise is exercise


def run_cli(*args: str):
    """`chainrule exercise ...` through the CLI's own app, errors kept as exceptions (main
    would turn them into a line on stderr)."""
    from typer.testing import CliRunner

    from chainrule.cli import app

    return CliRunner().invoke(app, ["exercise", *args])


def test_cli_prints_questions_or_answers_as_markdown():
    out = run_cli("--sizes", "2,3,2", "--seed", "5")
    assert out.exit_code == 0
    assert out.output.strip() == exercise((2, 3, 2), 5).questions
    out = run_cli(
        "--sizes", "3,2,1", "--seed", "2", "--lr", "0.1", "--activation", "tanh", "--answers"
    )
    assert out.exit_code == 0
    assert out.output.strip() == exercise((3, 2, 1), 2, lr=0.1, activation="tanh").answers


@pytest.mark.parametrize(
    ("sizes", "message"),
    [("2,x", "--sizes '2,x' is not a list of layer sizes"), ("2", "sizes must be 2 to 5")],
)
def test_cli_bad_sizes_are_named(sizes, message):
    out = run_cli("--sizes", sizes)
    assert out.exit_code != 0
    assert isinstance(out.exception, cr.ConfigError)
    assert message in str(out.exception)


def test_the_chainrule_command_runs_it(capsys):
    from chainrule.cli import main

    assert main(["exercise", "--sizes", "2,2,1", "--seed", "9", "--answers"]) == 0
    assert capsys.readouterr().out.strip() == exercise((2, 2, 1), 9).answers
    assert main(["exercise", "--sizes", "2,x"]) == 2
    assert "--sizes '2,x' is not a list of layer sizes" in capsys.readouterr().err


def test_on_a_terminal_the_markdown_is_rendered(capsys, monkeypatch):
    import sys

    from chainrule.cli.lecture import exercise_command

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    exercise_command(sizes="2,2", seed=1, answers=False, raw=False)
    shown = capsys.readouterr().out
    assert "Backpropagation exercise" in shown
    assert "# Backpropagation exercise" not in shown  # the heading was rendered, not echoed
    exercise_command(sizes="2,2", seed=1, answers=False, raw=True)
    assert capsys.readouterr().out.strip() == exercise((2, 2), 1).questions


@given(
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    seed=st.integers(0, 10_000),
    activation=st.sampled_from(activations()),
)
def test_any_sheet_equals_autodiff(sizes, seed, activation):
    sheet = exercise(sizes, seed, activation=activation)
    model, activations, cost = autodiff(sheet)
    assert sheet.cost == pytest.approx(cost.item(), rel=1e-12)
    for m, dcost_da in sheet.dcost_da.items():
        np.testing.assert_allclose(dcost_da, activations[m].grad, rtol=1e-10, atol=1e-14)
    weight = model[2 * (sheet.layer - 1)].weight
    assert sheet.gradient == pytest.approx(weight.grad[sheet.j, sheet.k], rel=1e-10, abs=1e-14)


def test_a_new_activation_needs_no_edit_here():
    # softplus is one op and one registry entry: the sheet takes its symbol, definition and
    # slope from nn.ACTIVATIONS, and its key still equals autodiff's.
    assert activations() == [n for n, c in cr.nn.ACTIVATIONS.items() if c.elementwise]
    assert "softplus" in activations() and "softmax" not in activations()
    sheet = exercise((2, 3, 2), seed=7, activation="softplus")
    model, activations_, cost = autodiff(sheet)
    assert isinstance(model[1], cr.nn.Softplus)
    assert sheet.cost == pytest.approx(cost.item(), rel=1e-12)
    for m, dcost_da in sheet.dcost_da.items():
        np.testing.assert_allclose(dcost_da, activations_[m].grad, rtol=1e-10, atol=1e-14)
    weight = model[2 * (sheet.layer - 1)].weight
    assert sheet.gradient == pytest.approx(weight.grad[sheet.j, sheet.k], rel=1e-10, abs=1e-14)
    assert "$\\operatorname{softplus}(z) = \\ln(1 + e^{z})$" in sheet.questions
    assert "$\\operatorname{softplus}'(z) = 1 - e^{-a}$" in sheet.answers


def test_cli_offers_every_activation_of_the_registry():
    out = run_cli("--help")
    assert all(name in out.output for name in activations())
    out = run_cli("--sizes", "2,2,1", "--seed", "3", "--activation", "softplus", "--answers")
    assert out.exit_code == 0, out.output
    assert out.output.strip() == exercise((2, 2, 1), 3, activation="softplus").answers
