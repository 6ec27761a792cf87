"""The walkthrough reproduces the lecture's simple network and every number in it is right."""

import math

import pytest
from conftest import oracle
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
from chainrule.lecture.walkthrough import Step, walkthrough

torch = oracle()


def torch_gradients(a_prev2: float, w_prev: float, w: float, y: float) -> dict[str, float]:
    """The same network in PyTorch (float64): an oracle independent of chainrule."""
    x = torch.tensor(a_prev2, dtype=torch.float64)
    weight_prev = torch.tensor(w_prev, dtype=torch.float64, requires_grad=True)
    weight = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    a_prev = torch.sigmoid(weight_prev * x)
    a_prev.retain_grad()
    a = torch.sigmoid(weight * a_prev)
    a.retain_grad()
    cost = (a - y) ** 2
    cost.backward()
    return {
        "cost": cost.item(),
        "dcost_da": a.grad.item(),
        "dcost_dw": weight.grad.item(),
        "dcost_da_prev": a_prev.grad.item(),
        "dcost_dw_prev": weight_prev.grad.item(),
    }


def cost_of(a_prev2: float, w_prev: float, w: float, y: float) -> float:
    sigmoid = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    return (sigmoid(w * sigmoid(w_prev * a_prev2)) - y) ** 2


def test_default_is_the_slide():
    # Slide "A simple NN": C_i = (a^(L) - y)^2 = (0.88 - 1)^2 = 0.0144, and
    # ∂C_i/∂a^(L) = 2(a^(L) - y) = 2 × (-0.12) = -0.24; σ'(z^(L)) = 0.88 × 0.12 = 0.1056.
    w = walkthrough()
    assert w.a == 0.88
    assert w.y == 1.0
    assert w.cost == pytest.approx(0.0144, abs=1e-15)
    assert w.dcost_da == pytest.approx(-0.24, abs=1e-15)
    assert w.da_dz == pytest.approx(0.1056, abs=1e-15)
    # ∂C_i/∂w^(L) = a^(L-1) σ'(z^(L)) 2(a^(L) - y) = 0.7 × 0.1056 × (-0.24)
    assert w.dcost_dw == pytest.approx(0.7 * 0.1056 * -0.24, rel=1e-14)
    text = str(w)
    for shown in ("= 0.88 ", "(0.88 − 1)²", "= 0.0144 ", "2(0.88 − 1)", "= -0.24 "):
        assert shown in text
    assert "MISMATCH" not in text
    assert w.agrees and w.nudges_agree


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"a": 0.3, "y": 0.0, "a_prev": 0.9, "a_prev2": -1.5, "lr": 2.0},
        {"w": -1.2, "w_prev": 0.8, "a_prev2": 2.0, "y": 0.5},
        {"a": 0.6, "w_prev": -3.0, "a_prev2": 0.25},
    ],
)
def test_every_derivative_against_torch_and_finite_differences(kwargs):
    w = walkthrough(**kwargs)
    oracle = torch_gradients(w.a_prev2, w.w_prev, w.w, w.y)
    for name, value in oracle.items():
        assert getattr(w, name) == pytest.approx(value, rel=1e-10, abs=1e-14), name
    eps = 1e-6
    numeric_w = (
        cost_of(w.a_prev2, w.w_prev, w.w + eps, w.y) - cost_of(w.a_prev2, w.w_prev, w.w - eps, w.y)
    ) / (2 * eps)
    numeric_w_prev = (
        cost_of(w.a_prev2, w.w_prev + eps, w.w, w.y) - cost_of(w.a_prev2, w.w_prev - eps, w.w, w.y)
    ) / (2 * eps)
    assert w.dcost_dw == pytest.approx(numeric_w, rel=1e-6, abs=1e-10)
    assert w.dcost_dw_prev == pytest.approx(numeric_w_prev, rel=1e-6, abs=1e-10)
    # The lecture's 0.001 nudge, as the walkthrough prints it, is close too.
    assert w.numeric["w"] == pytest.approx(numeric_w, rel=1e-4, abs=1e-8)
    assert w.numeric["w_prev"] == pytest.approx(numeric_w_prev, rel=1e-4, abs=1e-8)
    # The chain rule's pieces multiply to the whole, as on "Putting it all together".
    assert w.dcost_dw == pytest.approx(w.dz_dw * w.da_dz * w.dcost_da, rel=1e-14)
    assert w.dcost_da_prev == pytest.approx(w.w * w.da_dz * w.dcost_da, rel=1e-14)
    assert w.dcost_dw_prev == pytest.approx(
        w.a_prev2 * w.a_prev * (1 - w.a_prev) * w.dcost_da_prev, rel=1e-14
    )
    assert w.w_updated == pytest.approx(w.w - w.lr * oracle["dcost_dw"], rel=1e-12)
    assert w.w_prev_updated == pytest.approx(w.w_prev - w.lr * oracle["dcost_dw_prev"], rel=1e-12)
    assert w.agrees and w.nudges_agree
    assert all(s.autodiff is not None for s in w.steps if s.symbol.startswith("∂"))


def test_an_activation_given_is_reached_by_the_derived_weight():
    w = walkthrough(a=0.25, a_prev=0.6, a_prev2=-2.0)
    assert w.w_prev * w.a_prev2 == pytest.approx(math.log(0.6 / 0.4))
    assert 1 / (1 + math.exp(-w.w * w.a_prev)) == pytest.approx(0.25, rel=1e-14)


def test_one_step_of_gradient_descent_lowers_the_loss():
    w = walkthrough(lr=0.5)
    assert w.cost_updated < w.cost
    assert "the loss went from 0.0144 to" in str(w)


def test_a_wrong_derivative_is_flagged():
    wrong = Step("∂C_i/∂a^{(L)}", "2(a^{(L)} − y)", "2(0.88 − 1)", -0.24, autodiff=-0.25)
    assert not wrong.agrees
    w = walkthrough()
    w.sections[1] = type(w.sections[1])("broken", "", (wrong,))
    assert not w.agrees
    assert "MISMATCH with autodiff at: ∂C_i/∂a^{(L)}" in str(w)


def test_markdown_has_the_lecture_notation():
    md = walkthrough()._repr_markdown_()
    assert "$\\frac{\\partial C_i}{\\partial a^{(L)}}$" in md
    assert "$\\sigma'(z^{(L)}) = a^{(L)}(1 - a^{(L)})$" in md
    assert "$\\text{new } w^{(L-1)}$" in md
    assert "| 0.0144 | 0.0144 ✓ |" in md
    assert "$C_i = (a^{(L)} - y)^2$" in md


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"a": 1.2}, "walkthrough: a must be a sigmoid output, .* between 0 and 1, got 1.2"),
        ({"a_prev": 0.0}, "a_prev must be a sigmoid output, .*, got 0.0"),
        ({"a": 0.5, "w": 1.0}, "a or w must be given alone"),
        ({"a_prev": 0.6, "w_prev": 1.0}, "a_prev or w_prev must be given alone"),
        ({"lr": 0}, "walkthrough: lr must be a finite number > 0, got 0"),
        ({"y": float("nan")}, "y must be a finite number"),
        ({"a_prev2": "big"}, "a_prev2 must be a finite number, got 'big'"),
        ({"a_prev2": 0.0}, r"the input below a_prev must be non-zero to reach a_prev = 0.7"),
    ],
)
def test_bad_values_are_named(kwargs, message):
    with pytest.raises(cr.ConfigError, match=message):
        walkthrough(**kwargs)


def test_forms_and_notation_are_the_registrys_and_explains():
    # One table: σ, σ' and the loss's factor are nn.Sigmoid's and nn.SquaredError's forms, and
    # the symbols are lecture.notation's, the same a^{(L−1)} that explain prints.
    from chainrule.lecture.notation import fill, neuron, slope_form

    text = str(walkthrough())
    a, a_prev, z = neuron("a", None, "L"), neuron("a", None, "L-1"), neuron("z", None, "L")
    assert a_prev == "a^{(L−1)}" and "a^(L-1)" not in text
    assert cr.nn.Sigmoid.definition in text
    assert slope_form(cr.nn.Sigmoid, z, a) in text  # σ'(z^{(L)}) = a^{(L)}(1 − a^{(L)})
    assert fill(cr.nn.SquaredError.slope, a=a, y="y") in text  # 2(a^{(L)} − y)
    assert fill(cr.nn.Sigmoid.slope, a="0.88") + " " in text  # the same form, in numbers


def test_public_name():
    assert cr.walkthrough is walkthrough


def run_cli(*args: str):
    """`chainrule walkthrough ...` through the CLI's own app, errors kept as exceptions (main
    would turn them into a line on stderr)."""
    from typer.testing import CliRunner

    from chainrule.cli import app

    return CliRunner().invoke(app, ["walkthrough", *args])


def test_cli_prints_the_slide_and_takes_the_learners_values():
    out = run_cli()
    assert out.exit_code == 0
    assert "(0.88 − 1)²   = 0.0144" in out.output
    out = run_cli("--a", "0.3", "--y", "-1", "--a-prev", "0.4", "--a-prev2", "2", "--lr", "1")
    assert out.exit_code == 0, out.output
    expected = walkthrough(a=0.3, y=-1.0, a_prev=0.4, a_prev2=2.0, lr=1.0)
    assert out.output.strip() == str(expected)
    out = run_cli("--w", "2", "--w-prev", "-1", "--markdown")
    assert out.exit_code == 0
    assert out.output.strip() == walkthrough(w=2.0, w_prev=-1.0)._repr_markdown_()


def test_cli_bad_value_raises_the_named_error():
    out = run_cli("--a", "2")
    assert out.exit_code != 0
    assert isinstance(out.exception, cr.ConfigError)
    assert "a must be a sigmoid output, a number strictly between 0 and 1, got 2.0" in str(
        out.exception
    )


def test_the_chainrule_command_runs_it(capsys):
    from chainrule.cli import main

    assert main(["walkthrough", "--a", "0.6", "--y", "0"]) == 0
    assert capsys.readouterr().out.strip() == str(walkthrough(a=0.6, y=0.0))
    assert main(["walkthrough", "--a", "1.5"]) == 2
    assert "a must be a sigmoid output" in capsys.readouterr().err


@given(
    a=st.floats(0.02, 0.98),
    y=st.floats(-1.0, 2.0),
    a_prev=st.floats(0.02, 0.98),
    a_prev2=st.floats(0.1, 3.0) | st.floats(-3.0, -0.1),
    lr=st.floats(0.01, 5.0),
)
def test_any_learners_values_agree_with_torch(a, y, a_prev, a_prev2, lr):
    w = walkthrough(a=a, y=y, a_prev=a_prev, a_prev2=a_prev2, lr=lr)
    oracle = torch_gradients(w.a_prev2, w.w_prev, w.w, w.y)
    for name, value in oracle.items():
        assert getattr(w, name) == pytest.approx(value, rel=1e-9, abs=1e-12), name
    assert w.agrees and w.nudges_agree
