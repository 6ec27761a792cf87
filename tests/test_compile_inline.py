"""Kernels written into the replay (chainrule.compile.inline): the hot kernels of a training
step are copied in, not called; kernels of any other shape, or whose file no longer matches
their code, are called. That the copies compute the eager numbers bit for bit is
tests/test_compile.py's claim, for every activation and loss."""

from __future__ import annotations

import ast
import importlib.util
import os
import sys

import numpy as np
import pytest
from conftest import training_step

import chainrule as cr
from chainrule import nn, optim
from chainrule.compile import inline
from chainrule.nn import cross_entropy
from chainrule.ops import activations, linalg

HOT = (linalg._linear, activations._sigmoid, activations._relu, cross_entropy._cross_entropy)


def test_a_training_steps_kernels_are_written_into_the_replay_not_called() -> None:
    model = nn.Sequential(
        nn.Linear(4, 8, rng=1),
        nn.Sigmoid(),
        nn.Linear(8, 6, rng=2),
        nn.ReLU(),
        nn.Linear(6, 3, rng=3),
    )
    opt = optim.SGD(model.parameters(), lr=0.1)
    step = cr.compile(training_step(model, nn.CrossEntropyLoss(), opt))
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(5, 4)), rng.integers(0, 3, 5)
    for _ in range(3):  # the capture, the checked replay, the lean replay
        step(X, Y)
    (replay,) = next(iter(step._cache.values()))
    bound = list(replay.run.__globals__.values())
    assert all(inline.form(k) is not None for k in HOT)
    assert not [k.__name__ for k in HOT if any(v is k for v in bound)]


def _closure_kernel():
    scale = 2.0

    def kernel(a):
        return a * scale, (lambda g: g * scale,)

    return kernel


def _early_return(a):
    if a.ndim == 0:
        return a, ()
    return a * 2.0, (lambda g: g * 2.0,)


def _frame_reader(a):
    names = locals()
    return a * len(names), (lambda g: g,)


def _many(*arrays):
    return arrays[0], (lambda g: g,)


def _mark_in_source(a):
    return a * 2.0, (lambda g: g * len("ℳ"),)  # the letter a copy's template marks names with


def _rule_not_a_lambda(a):
    return a * 2.0, (np.negative,)


SCALE = 2.0  # read by a copied kernel when its line runs, as the kernel reads it


def _double(x):
    return x * SCALE


def _add_into(out, b):
    if b is not None:
        out += b


def _times_two_in_place(v):
    return np.multiply(v, 2.0, out=v)


def _early(x):
    if x.ndim == 0:
        return x
    return x + 1.0


def _checked(x):
    try:
        y = np.sqrt(x) if np.all(x >= 0) else x[len(x)]
    except IndexError as err:
        raise ValueError(f"negative: {err}") from None
    return y


def _inlinable(a, b=None):
    """A docstring is left out of the copy."""
    out = _double(a)
    _add_into(out, b)
    _times_two_in_place(out)  # its value is dropped, its work is not
    shifted = _early(out)
    _checked(a)

    def rule(g):
        twice = g * 2.0
        return twice

    return out, (rule, lambda g: _double(g), lambda g: shifted)


def _wrapper(a):
    return a * 3.0, (lambda g: g * 3.0,)


_wrapper.__wrapped__ = _double  # as functools.wraps leaves it


def test_a_copy_is_of_the_function_itself_not_what_it_says_it_wraps() -> None:
    f = inline.form(_wrapper)
    assert f is not None and "3.0" in ast.unparse(f.out)


@pytest.mark.parametrize(
    "kernel",
    [
        _closure_kernel(),
        _early_return,
        _frame_reader,
        _many,
        _rule_not_a_lambda,
        _mark_in_source,
        len,
        np.exp,
    ],
    ids=[
        "closure",
        "early return",
        "locals()",
        "*args",
        "rule not a lambda",
        "the mark letter",
        "builtin",
        "ufunc",
    ],
)
def test_a_kernel_of_any_other_shape_is_called(kernel) -> None:
    assert inline.form(kernel) is None


def test_a_kernel_of_the_simple_shape_is_copied_with_its_names_apart() -> None:
    f = inline.form(_inlinable)
    assert f is not None
    assert f.function.params == ["a", "b"] and f.function.defaults == {"b": None}
    names: dict = {}
    inliner = inline.Inliner(names)
    first = inliner.forward(f, ["x"], 1)
    second = inliner.forward(f, ["v1", "y"], 2)
    assert first is not None and second is not None
    rules = [inliner.rule(2, i, "u", i) for i in range(3)]
    assert all(r is not None for r in rules)
    results = [f"g{i} = g" for i in range(3)]
    body = [*first, *second, "u = v2"]
    for rule, result in zip(rules, results, strict=True):
        body += [*rule, result]
    source = "def run(x, y):\n" + "".join(f"    {line}\n" for line in body)
    source += "    return v1, v2, g0, g1, g2\n"
    assert "docstring" not in source
    exec(source, names)  # noqa: S102
    x, y = np.arange(3.0), np.ones(3)
    v1, v2, g0, g1, g2 = names["run"](x, y)
    assert np.array_equal(v1, x * 2.0 * 2.0)
    assert np.array_equal(v2, (x * 2.0 * 2.0 * 2.0 + y) * 2.0)
    assert np.array_equal(g0, v2 * 2.0) and np.array_equal(g1, v2 * 2.0)
    assert np.array_equal(g2, v2 + 1.0)
    # helpers of the simple shape are copied; one that returns early is called
    assert not [h for h in ("_double(", "_add_into(", "_times_two_in_place(") if h in source]
    assert "._early(" in source
    assert "np." not in source and any(v is np.multiply for v in names.values())  # bound once
    assert inliner.rule(3, 0, "u", 9) is None  # slot 3's kernel was called, not copied
    with pytest.raises(ValueError, match="negative: index 3 is out of bounds"):
        names["run"](-x, y)  # `except ... as err` renamed with the name it binds


def test_a_kernel_whose_file_was_edited_since_import_is_called(tmp_path) -> None:
    path = tmp_path / "edited_kernels.py"
    path.write_text("def kernel(a):\n    return a * 2.0, (lambda g: g * 2.0,)\n")
    spec = importlib.util.spec_from_file_location("edited_kernels", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["edited_kernels"] = module
    try:
        spec.loader.exec_module(module)
        assert inline.form(module.kernel) is not None
        inline._functions.clear()
        path.write_text("def kernel(a):\n    return a * 3.0, (lambda g: g * 3.0,)\n")
        os.utime(path, (0, 1))  # another modification time: linecache reads it again
        assert inline.form(module.kernel) is None
    finally:
        del sys.modules["edited_kernels"]
        inline._functions.clear()


def test_a_copy_reads_its_modules_globals_when_it_runs(monkeypatch) -> None:
    f = inline.form(_inlinable)
    names: dict = {}
    lines = inline.Inliner(names).forward(f, ["x"], 1)
    exec("def run(x):\n" + "".join(f"    {line}\n" for line in lines) + "    return v1\n", names)  # noqa: S102
    x = np.arange(3.0)
    assert np.array_equal(names["run"](x), x * 2.0 * 2.0)
    monkeypatch.setattr(sys.modules[__name__], "SCALE", 3.0)
    assert np.array_equal(names["run"](x), x * 3.0 * 2.0)
