"""The compiled step's checks on its backward edges: the first replay checks every gradient's
shape and dtype, later replays only the ones that found something to fix, and only while
nothing can change a shape behind the record's back."""

from __future__ import annotations

import builtins
import sys

import numpy as np
import pytest
from conftest import training_step

import chainrule as cr
from chainrule import nn, optim
from chainrule.errors import ConfigError

replay = sys.modules["chainrule.compile.replay"]


def _broadcast_step(b: cr.Tensor) -> tuple:
    """C = Σ (x + b)²: b is broadcast over the rows of x, so its gradient is summed back."""
    opt = optim.SGD([b], lr=0.01)

    def step_fn(x: np.ndarray) -> cr.Tensor:
        opt.zero_grad()
        c = ((cr.Tensor(x) + b) ** 2).sum()
        c.backward()
        opt.step()
        return c

    return step_fn


def _run(compiled: bool, b0: np.ndarray, xs: list[np.ndarray], swap: np.ndarray | None) -> tuple:
    b = cr.tensor(b0.copy(), requires_grad=True)
    step = cr.compile(_broadcast_step(b)) if compiled else _broadcast_step(b)
    losses, grads = [], []
    for i, x in enumerate(xs):
        if i == 3 and swap is not None:
            b.data = swap.copy()  # a new array of another shape, between two steps
        losses.append(np.array(step(x).data))
        grads.append(b.grad.copy())
    return losses, grads, b.data.copy(), step


def _same(eager: tuple, compiled: tuple) -> None:
    for a, c in zip(
        [*eager[0], *eager[1], eager[2]], [*compiled[0], *compiled[1], compiled[2]], strict=True
    ):
        assert a.shape == c.shape and a.dtype == c.dtype and np.array_equal(a, c)


def test_a_replay_sums_a_broadcast_gradient_back_like_eager() -> None:
    xs = [np.random.default_rng(i).normal(size=(4, 3)) for i in range(6)]
    eager, compiled = (_run(c, np.zeros(3), xs, None) for c in (False, True))
    _same(eager, compiled)
    assert compiled[3].stats.replays == 5


def test_a_leaf_given_another_shape_is_captured_again_not_replayed_unchecked() -> None:
    """The lean replay's notes were taken with b of shape (4, 3), which needs no sum; b of
    shape (3,) does, and replaying the notes would leave b.grad (4, 3)."""
    xs = [np.random.default_rng(i).normal(size=(4, 3)) for i in range(6)]
    eager, compiled = (_run(c, np.zeros((4, 3)), xs, np.ones(3)) for c in (False, True))
    _same(eager, compiled)
    assert compiled[1][-1].shape == (3,) and compiled[3].stats.captures == 2


def _masked_step(w: cr.Tensor) -> tuple:
    """C = Σ (x[mask] · w)²: how many rows x[mask] has depends on the mask's values."""
    opt = optim.SGD([w], lr=0.01)

    def step_fn(x: np.ndarray, mask: np.ndarray) -> cr.Tensor:
        opt.zero_grad()
        c = ((cr.Tensor(x)[mask] * w) ** 2).sum()
        c.backward()
        opt.step()
        return c

    return step_fn


def test_a_mask_keeps_every_check_since_its_values_set_the_shapes() -> None:
    """First one row is picked, so w (1, 3) needs no sum; then several rows, which do."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3))
    masks = [np.eye(5, dtype=bool)[0]] * 2 + [rng.random(5) < 0.7 for _ in range(6)]
    results = []
    for compiled in (False, True):
        w = cr.tensor(np.ones((1, 3)), requires_grad=True)
        step = cr.compile(_masked_step(w)) if compiled else _masked_step(w)
        results.append([(step(x, m).item(), w.grad.copy()) for m in masks] + [w.data.copy()])
    (*eager, w_eager), (*compiled, w_compiled) = results
    for (c_e, g_e), (c_c, g_c) in zip(eager, compiled, strict=True):
        assert c_e == c_c and g_e.shape == g_c.shape == (1, 3) and np.array_equal(g_e, g_c)
    assert np.array_equal(w_eager, w_compiled)


class _Reshaping(optim.SGD):
    """An optimizer whose zero_grad gives a parameter a new shape: outside the contract."""

    def zero_grad(self) -> None:
        super().zero_grad()
        if getattr(self, "armed", False):
            self.params[0].data = self.params[0].data.reshape(1, -1)


def test_an_observed_call_that_reshapes_a_parameter_mid_step_is_refused() -> None:
    model = nn.Linear(3, 2, rng=0)
    opt = _Reshaping([model.bias], lr=0.1)
    step = cr.compile(training_step(model, nn.MSELoss(), opt))
    x, y = np.ones((4, 3)), np.zeros((4, 2))
    for _ in range(3):
        step(x, y)
    opt.armed = True
    with pytest.raises(ConfigError, match=r"changed the shape or dtype .* in the middle of a step"):
        step(x, y)


def test_the_lean_replay_writes_only_the_checks_that_found_something(monkeypatch) -> None:
    sources = []
    monkeypatch.setattr(
        replay,
        "compile",
        lambda source, *a: sources.append(source) or builtins.compile(source, *a),
        raising=False,
    )
    replay._code.cache_clear()  # each source compiled here, not found from an earlier test
    xs = [np.random.default_rng(i).normal(size=(4, 3)) for i in range(3)]
    _run(True, np.zeros(3), xs, None)
    checked, lean = (s for s in sources if s.startswith("def replay"))
    assert checked.count("unbroadcast(") == checked.count("astype(") >= 2
    assert lean.count("unbroadcast(") == 1 and "astype(" not in lean


def test_a_second_fit_of_the_same_network_compiles_no_source() -> None:
    """Each fit records its steps again, into the same sources: they are compiled once."""
    X = np.random.default_rng(0).normal(size=(40, 3))
    Y = np.random.default_rng(1).integers(0, 2, 40)
    model = cr.nn.mlp([3, 5, 2], "sigmoid", rng=2)
    cr.fit(model, X, Y, loss="ce", epochs=2, batch_size=16, progress=False)
    misses = replay._code.cache_info().misses
    cr.fit(model, X, Y, loss="ce", epochs=2, batch_size=16, progress=False)
    assert replay._code.cache_info().misses == misses
