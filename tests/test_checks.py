"""chainrule.checks: every check takes its good values (returned in the caller's type) and
refuses the bad ones, bool, NaN, infinity and numpy scalars included, with one message shape:
"owner: name must be ..., got value"."""

from __future__ import annotations

import re

import numpy as np
import pytest

import chainrule as cr
from chainrule import checks
from chainrule.errors import ConfigError

NAN, INF = float("nan"), float("inf")
# Never a number, whatever the check: text, None, bool (an int to Python, a mistake here).
NOT_NUMBERS = ["3", None, True, False, np.True_, [1], 1 + 0j]


def _refused(check, *args):
    """Call `check("Owner", "x", *args)`, expect a ConfigError, and return its message."""
    with pytest.raises(ConfigError) as caught:
        check("Owner", "x", *args)
    message = str(caught.value)
    assert re.fullmatch(r"Owner: x must be .+, got .+", message), message
    return message


@pytest.mark.parametrize("value", [1, 7, np.int64(3), np.int32(1), 10**12])
def test_positive_int_takes_whole_numbers_above_zero_as_int(value):
    got = checks.positive_int("Owner", "x", value)
    assert got == value and type(got) is int


@pytest.mark.parametrize(
    "value", [0, -1, np.int64(0), 2.0, np.float64(2.0), NAN, INF, *NOT_NUMBERS]
)
def test_positive_int_refuses_the_rest(value):
    message = _refused(checks.positive_int, value)
    assert message == f"Owner: x must be a positive integer, got {value!r}"


@pytest.mark.parametrize(("value", "low"), [(0, 0), (5, 2), (np.int64(2), 2), (-3, -3)])
def test_int_at_least_takes_whole_numbers_from_low_up(value, low):
    got = checks.int_at_least("Owner", "x", value, low)
    assert got == value and type(got) is int


@pytest.mark.parametrize("value", [1, -1, np.int8(1), 2.0, 5.5, NAN, INF, *NOT_NUMBERS])
def test_int_at_least_refuses_the_rest(value):
    assert _refused(checks.int_at_least, value, 2).startswith("Owner: x must be an integer >= 2,")


@pytest.mark.parametrize("value", [1e-12, 0.5, 3, np.float32(0.25), np.float64(2.0), np.int64(4)])
def test_positive_takes_finite_numbers_above_zero_as_float(value):
    got = checks.positive("Owner", "x", value)
    assert got == float(value) and type(got) is float


@pytest.mark.parametrize(
    "value", [0, 0.0, -0.0, -1e-9, NAN, INF, -INF, np.float64(NAN), *NOT_NUMBERS]
)
def test_positive_refuses_the_rest(value):
    message = _refused(checks.positive, value)
    assert message == f"Owner: x must be a finite number > 0, got {value!r}"


@pytest.mark.parametrize(("value", "low"), [(0, 0), (0.0, 0.0), (2.5, 1), (np.float32(1.5), 1.5)])
def test_at_least_takes_finite_numbers_from_low_up(value, low):
    got = checks.at_least("Owner", "x", value, low)
    assert got == float(value) and type(got) is float


@pytest.mark.parametrize("value", [-1e-12, -1, NAN, INF, np.float64(-INF), *NOT_NUMBERS])
def test_at_least_refuses_the_rest(value):
    message = _refused(checks.at_least, value, 0)
    assert message == f"Owner: x must be a finite number >= 0, got {value!r}"


@pytest.mark.parametrize("value", [0, 0.0, 0.5, 0.999, np.float32(0.9), np.int64(0)])
def test_fraction_takes_numbers_from_zero_up_to_one_excluded(value):
    got = checks.fraction("Owner", "x", value)
    assert got == float(value) and type(got) is float


@pytest.mark.parametrize(
    "value", [1, 1.0, -0.1, 1.5, NAN, INF, -INF, np.float64(1.0), *NOT_NUMBERS]
)
def test_fraction_refuses_the_rest(value):
    message = _refused(checks.fraction, value)
    assert message == f"Owner: x must be a fraction in [0, 1), got {value!r}"


@pytest.mark.parametrize("value", [0, -3, 2.5, -1e300, np.float16(1), np.int64(-2)])
def test_finite_takes_any_finite_number(value):
    got = checks.finite("Owner", "x", value)
    assert got == float(value) and type(got) is float


@pytest.mark.parametrize("value", [NAN, INF, -INF, np.float32(INF), *NOT_NUMBERS])
def test_finite_refuses_the_rest(value):
    assert _refused(checks.finite, value) == f"Owner: x must be a finite number, got {value!r}"


def test_one_of_takes_a_listed_name_and_lists_them_when_it_refuses():
    assert checks.one_of("Owner", "x", "relu", ("sigmoid", "relu")) == "relu"
    assert checks.one_of("Owner", "x", "b", iter(["a", "b"])) == "b"  # any iterable, read once
    for value in ("ReLU", "", None, 1):
        message = _refused(checks.one_of, value, ["sigmoid", "relu"])
        assert message == f"Owner: x must be one of sigmoid, relu, got {value!r}"


def test_refuse_builds_the_one_message_shape_and_drops_an_empty_owner():
    err = checks.refuse("SGD", "lr", "a finite number > 0", -1)
    assert isinstance(err, ConfigError) and isinstance(err, ValueError)
    assert str(err) == "SGD: lr must be a finite number > 0, got -1"
    assert str(checks.refuse("", "--epochs", "a positive integer", 0)) == (
        "--epochs must be a positive integer, got 0"
    )


def test_a_refusal_shows_the_value_as_given_not_as_converted():
    message = _refused(checks.positive, np.float64(-2.5))
    assert message.endswith(f"got {np.float64(-2.5)!r}")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: cr.gradcheck(lambda t: t * t, [np.ones(2)], eps=0),
            "gradcheck: eps must be a finite number > 0, got 0",
        ),
        (
            lambda: cr.gradcheck(lambda t: t * t, [np.ones(2)], rtol=-1e-3),
            "gradcheck: rtol must be a finite number >= 0, got -0.001",
        ),
        (
            lambda: cr.nn.Linear(2, 2).to(np.int64),
            "Module.to: dtype must be a floating dtype (float32 or float64), got dtype('int64')",
        ),
    ],
)
def test_the_engine_refuses_its_arguments_in_the_same_shape(call, message):
    with pytest.raises(ConfigError) as caught:
        call()
    assert str(caught.value) == message
