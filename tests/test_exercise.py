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


# ---- chosen weights: ask=[(layer, j, k), ...] ---------------------------------------------------

ASKED = [
    ((2, 3, 2), 0, "sigmoid", [(1, 0, 1), (2, 1, "bias"), (2, 0, 2)]),
    ((2, 4, 3, 2), 11, "tanh", [(3, 1, 0), (1, 3, 1), (1, 0, "bias"), (2, 2, 3)]),
    ((3, 3, 1), 4, "relu", [(2, 0, 0), (1, 2, 2)]),
    ((1, 1, 1, 1, 1), 2, "softplus", [(1, 0, 0), (4, 0, "bias")]),
]


def autodiff_grad(model, layer, j, k):
    linear = model[2 * (layer - 1)]
    if k == "bias":
        return linear.bias.grad[j], linear.bias.data[j]
    return linear.weight.grad[j, k], linear.weight.data[j, k]


@pytest.mark.parametrize(("sizes", "seed", "activation", "ask"), ASKED)
def test_every_asked_weight_in_the_key_equals_autodiff(sizes, seed, activation, ask):
    sheet = exercise(sizes, seed, activation=activation, ask=ask)
    model, activations_, cost = autodiff(sheet)
    assert sheet.asked == ask and len(sheet.gradients) == len(sheet.updated) == len(ask)
    for m, dcost_da in sheet.dcost_da.items():
        np.testing.assert_allclose(dcost_da, activations_[m].grad, rtol=1e-10, atol=1e-14)
    key, questions = sheet.answers, sheet.questions
    for (layer, j, k), gradient, updated in zip(ask, sheet.gradients, sheet.updated, strict=True):
        expected, value = autodiff_grad(model, layer, j, k)
        assert gradient == pytest.approx(expected, rel=1e-10, abs=1e-14)
        assert updated == pytest.approx(value - sheet.lr * expected)
        name = f"b_{{{j}}}^{{({layer})}}" if k == "bias" else f"w_{{{j}{k}}}^{{({layer})}}"
        assert f"$\\partial C/\\partial {name}$" in questions  # asked on the sheet
        assert f"= {fixed(expected)}$" in key  # answered, as autodiff gives it
        assert f"- ${name} - \\eta" in key  # and its update
        assert f"= {fixed(value - sheet.lr * expected)}$" in key
    # The key works backwards down to the lowest layer asked about, no further.
    assert min(sheet.dcost_da) == min(layer for layer, _, _ in ask)
    assert "4. Each of them after one step" in questions


def test_asking_the_seed_picked_weight_gives_todays_sheet():
    for seed in range(6):
        today = exercise((2, 3, 2), seed)
        asked = exercise((2, 3, 2), seed, ask=[(today.layer, today.j, today.k)])
        assert (asked.questions, asked.answers) == (today.questions, today.answers)
        assert today.asked == [(today.layer, today.j, today.k)]


def test_one_asked_bias_reads_as_a_bias():
    sheet = exercise((2, 2, 1), 3, ask=[(2, 0, "bias")])
    model, _, _ = autodiff(sheet)
    assert sheet.gradient == pytest.approx(model[2].bias.grad[0], rel=1e-10)
    assert "4. The bias after one step of gradient descent, $b_{0}^{(2)} - \\eta" in sheet.questions
    assert "The bias, by the chain rule:" in sheet.answers
    assert repr(sheet) == "<Exercise 2-2-1, seed 3: ∂C/∂b_0^{(2)}>"


@given(
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    seed=st.integers(0, 10_000),
    picks=st.lists(
        st.tuples(st.integers(0, 99), st.integers(0, 99), st.integers(0, 99)),
        min_size=1,
        max_size=4,
    ),
)
def test_any_asked_weights_equal_autodiff(sizes, seed, picks):
    L = len(sizes) - 1
    ask = []
    for p, q, r in picks:
        layer = 1 + p % L
        n_in = sizes[layer - 1]
        ask.append((layer, q % sizes[layer], "bias" if r % (n_in + 1) == n_in else r % (n_in + 1)))
    sheet = exercise(sizes, seed, ask=ask)
    model, _, _ = autodiff(sheet)
    for entry, gradient in zip(ask, sheet.gradients, strict=True):
        expected, _ = autodiff_grad(model, *entry)
        assert gradient == pytest.approx(expected, rel=1e-10, abs=1e-14)


@pytest.mark.parametrize(
    ("ask", "message"),
    [
        ([(3, 0, 0)], r"ask entry \(3, 0, 0\) must be \(layer, j, k\) with layer from 1 to 2, got"),
        ([(0, 0, 0)], "with layer from 1 to 2"),
        ([(1, 0)], r"ask entry \(1, 0\) must be \(layer, j, k\)"),
        (
            [(1, 0, 1), (1, 3, 0)],
            r"ask entry \(1, 3, 0\) must be \(layer, j, k\) with j from 0 to 2 and k from 0 to 1 "
            r"or 'bias' for layer 1 \(3 × 2\), got \(1, 3, 0\)",
        ),
        ([(2, 0, 3)], "j from 0 to 1 and k from 0 to 2 or 'bias' for layer 2"),
        ([(2, 0, "weight")], r"got \(2, 0, 'weight'\)"),
        ([(2, True, 0)], "j from 0 to 1"),
        ([], "exercise: ask must be a non-empty list of"),
        (5, "exercise: ask must be a list of"),
        (["120"], "ask entry '120' must be"),
    ],
)
def test_bad_ask_entries_are_named_with_their_ranges(ask, message):
    with pytest.raises(cr.ConfigError, match=message):
        exercise((2, 3, 2), 0, ask=ask)


# ---- Unicode on a terminal; files for the printer -----------------------------------------------


def test_on_a_terminal_no_latex_is_shown(capsys, monkeypatch):
    import sys

    from chainrule.cli.lecture import exercise_command

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    for activation in activations():
        for answers in (False, True):
            exercise_command(
                sizes="2,3,2", seed=1, activation=activation, answers=answers, raw=False,
                ask=["1,0,1", "2,1,bias"],
            )  # fmt: skip
            shown = capsys.readouterr().out
            assert "$" not in shown and "\\" not in shown, (activation, shown)
    exercise_command(sizes="2,3,2", seed=0, answers=False, raw=False)
    shown = " ".join(capsys.readouterr().out.split())  # as read, whatever rich's line breaks
    assert "a⁽⁰⁾ = x" in shown and "zⱼ⁽ˡ⁾ = Σₖ wⱼₖ⁽ˡ⁾ aₖ⁽ˡ⁻¹⁾ + bⱼ⁽ˡ⁾" in shown
    assert "σ(z) = 1/(1 + e⁻ᶻ)" in shown


def test_str_is_the_sheet_in_unicode():
    sheet = exercise((2, 2, 1), 7)
    text = str(sheet)
    assert "$" not in text and "\\" not in text
    assert "3. ∂C/∂w₁₀⁽¹⁾, by the chain rule." in text
    assert "x = (0.2, −0.5), y = (0); learning rate η = 0.5." in text


@pytest.mark.parametrize("fmt", ["md", "tex", "html"])
def test_cli_writes_the_sheet_and_a_separate_key(tmp_path, fmt):
    out = tmp_path / f"sheet.{fmt}"
    result = run_cli("--sizes", "2,3,2", "--seed", "4", "--ask", "1,0,1", "--ask", "2,1,bias",
                     "--format", fmt, "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    key = tmp_path / f"sheet-key.{fmt}"
    assert result.output.strip() == f"wrote {out} and {key}"
    assert sorted(p.name for p in tmp_path.iterdir()) == [key.name, out.name]  # no temp file left
    sheet = exercise((2, 3, 2), 4, ask=[(1, 0, 1), (2, 1, "bias")])
    page, answers = out.read_text(), key.read_text()
    assert "Answer key" not in page and "Answer key" in answers
    for gradient in sheet.gradients:
        assert f"= {fixed(gradient)}" in answers and fixed(gradient) not in page
    if fmt == "md":
        assert (page, answers) == (sheet.questions + "\n", sheet.answers + "\n")
    elif fmt == "tex":
        assert page.startswith("\\documentclass{article}") and page.endswith("\\end{document}\n")
        assert "\\section*{Backpropagation exercise (network 2-3-2, sigmoid, seed 4)}" in page
        assert "\\begin{tabular}{llll}" in page and "\\begin{enumerate}" in page
        assert "$\\partial C/\\partial b_{1}^{(2)}$" in page
        assert answers.count("\\begin{itemize}") == answers.count("\\end{itemize}") > 0
    else:
        assert page.startswith("<!DOCTYPE html>") and "mathjax" in page
        assert "<h1>Backpropagation exercise" in page and "<table>" in page
        # the formulas reach MathJax whole: `\,` and `_` untouched by Markdown
        assert "\\(w_{jk}^{(l)}\\)" in page
        assert "\\eta \\, \\partial C/\\partial b_{1}^{(2)}" in answers
        assert "<em>" not in page + answers


def test_cli_format_follows_the_out_suffix_and_bad_options_are_named(tmp_path):
    assert run_cli("--seed", "2", "--out", str(tmp_path / "a.html")).exit_code == 0
    assert (tmp_path / "a-key.html").read_text().startswith("<!DOCTYPE html>")
    out = run_cli("--format", "pdf", "--out", str(tmp_path / "a.pdf"))
    assert "exercise: --format must be one of md, tex, html, got 'pdf'" in str(out.exception)
    out = run_cli("--answers", "--out", str(tmp_path / "b.md"))
    assert "with --out both are written" in str(out.exception)
    out = run_cli("--ask", "1,x,0")
    assert "--ask '1,x,0' is not a weight; expected layer,j,k such as 1,0,2" in str(out.exception)
    out = run_cli("--ask", "3,0,0")
    assert "ask entry (3, 0, 0) must be (layer, j, k) with layer from 1 to 2" in str(out.exception)
    assert not (tmp_path / "b.md").exists()


def test_cli_prints_tex_without_out():
    out = run_cli("--sizes", "2,2", "--seed", "1", "--format", "tex", "--answers")
    assert out.exit_code == 0
    assert out.output.startswith("\\documentclass") and "Answer key" in out.output


def test_the_chainrule_command_reports_a_missing_folder(tmp_path, capsys):
    from chainrule.cli import main

    assert main(["exercise", "--out", str(tmp_path / "nowhere" / "s.md")]) != 0
    assert "does not exist" in capsys.readouterr().err
