"""The lecture's notation: one way to write numbers, symbols and LaTeX for every teaching view."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import nn
from chainrule.lecture import notation as no


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.7, "0.7"), (-0.24, "-0.24"), (1 / 3, "0.333333"), (-0.0, "0"), (2e-20, "2e-20")],
)
def test_num_writes_six_significant_digits_and_never_minus_zero(value, text):
    assert no.num(value) == text
    assert no.num(np.float32(value)) == no.num(float(np.float32(value)))


def test_fixed_writes_the_sheets_decimals_and_never_minus_zero():
    assert no.fixed(0.5) == "0.5000"
    assert no.fixed(-0.00004) == "0.0000"
    assert no.fixed(-0.00006) == "-0.0001"
    assert no.fixed(1 / 3, decimals=2) == "0.33"


def test_factor_puts_negatives_in_parentheses_inside_a_product():
    assert no.factor(0.7) == "0.7"
    assert no.factor(-0.24) == "(-0.24)"
    assert no.factor(-0.5, no.fixed) == "(-0.5000)"
    assert no.factor("−y") == "(−y)"
    assert no.factor("a_1^{(2)}") == "a_1^{(2)}"
    assert no.vector([0.3, -1.0, 0.5]) == "(0.3, -1, 0.5)"


def test_symbols_are_the_lectures():
    assert no.idx(1) == "1"
    assert no.idx(0, 1) == "{01}"
    assert no.idx(1, 12) == "{1,12}"
    assert no.neuron("a", 2, 1) == "a_2^{(1)}"
    assert no.neuron("a", None, "L-1") == "a^{(L−1)}"  # one notation: the walkthrough's too
    assert no.weight_name(2, 0, 1) == "w_{01}^{(2)}"
    assert no.weight_name(1, 3, None) == "b_3^{(1)}"
    assert no.weight_name("L", None, None) == "w^{(L)}"
    assert no.partial("C", no.weight_name(2, 0, 1)) == "∂C/∂w_{01}^{(2)}"


def test_fill_replaces_only_the_names_given():
    assert no.fill("{a}(1 − {a})", a="0.5") == "0.5(1 − 0.5)"
    assert no.fill("1 − e^{−{a}}", a="a_0^{(1)}") == "1 − e^{−a_0^{(1)}}"
    assert no.slope_form(nn.Sigmoid, "z", "a") == "σ'(z) = a(1 − a)"
    assert no.slope_form(nn.ReLU, "z_0^{(1)}", "a") == "relu'(z_0^{(1)}) = [z_0^{(1)} > 0]"


def test_tex_is_one_table_for_every_view():
    assert no.tex("∂C/∂w_{21}^{(1)} = a_1^{(0)} · σ'(z_2^{(1)})") == (
        r"\frac{\partial C}{\partial w_{21}^{(1)}} = a_1^{(0)} \cdot \sigma'(z_2^{(1)})"
    )
    assert no.tex("∂C_i/∂w^{(L−1)}") == r"\frac{\partial C_i}{\partial w^{(L-1)}}"
    assert no.tex("Σ_p w_{p2}^{(2)} tanh'(z)") == r"\sum_p w_{p2}^{(2)} \tanh'(z)"
    assert no.tex("−Σ_j y_j ln p_j") == r"-\sum_j y_j \ln p_j"
    assert no.tex("η × 2²") == r"\eta \times 2^2"
    assert no.tex_factor("a_1^{(1)}") == "a_1^{(1)}"
    assert no.tex_factor("2(a − y)") == r"\left(2(a - y)\right)"


def test_tex_names_every_registered_activation_as_an_operator():
    for cls in nn.ACTIVATIONS.values():
        for form in (cls.definition, no.fill(cls.slope, z="z", a="a")):
            latex = no.tex(form)
            assert latex.isascii(), (cls.name, latex)  # no σ, −, ≤, √ left for KaTeX to choke on
    assert (
        no.tex(nn.GELU.definition)
        == r"\operatorname{gelu}(z) = z(1 + \operatorname{erf}(z/\sqrt{2}))/2"
    )
    assert no.tex(nn.Hardtanh.definition) == r"\operatorname{hardtanh}(z) = \max(-1, \min(z, 1))"
    assert no.tex(nn.Softplus.definition) == r"\operatorname{softplus}(z) = \ln(1 + e^{z})"
    assert no.tex(nn.ReLU.definition) == r"\operatorname{relu}(z) = \max(z, 0)"


def test_the_nudge_is_the_lectures_small_change():
    assert no.NUDGE == 0.001
