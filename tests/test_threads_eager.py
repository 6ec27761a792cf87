"""The thread policy outside fit, for the eager engine: a large layer's forward product and
the backward pass after it run on the free cores, a small one is left alone, and fit's own
choice and the user's are never overridden."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from test_threads import large_net, no_user_setting, small_net  # noqa: F401  (a fixture)

import chainrule as cr
from chainrule import threads

linalg = sys.modules["chainrule.ops.linalg"]

several_threads = pytest.mark.skipif(
    (threads.AT_IMPORT or 1) < 2, reason="a BLAS of one thread cannot show more"
)


@pytest.fixture
def seen(monkeypatch) -> list[tuple[str, int]]:
    """The BLAS's thread count at each product of the linear layer: its forward, and each
    of its local rules when backward() applies them."""
    seen: list[tuple[str, int]] = []
    kernel = linalg._linear

    def recorded(*arrays):
        seen.append(("forward", cr.get_num_threads()))
        z, rules = kernel(*arrays)
        return z, tuple(_noting(seen, rule) for rule in rules)

    monkeypatch.setattr(linalg, "_linear", recorded)
    return seen


def _noting(seen: list, rule):
    def noted(g):
        seen.append(("backward", cr.get_num_threads()))
        return rule(g)

    return noted


def _eager_step(model: cr.nn.Module) -> None:
    x = np.random.default_rng(0).random((16, model.parameters()[0].shape[1]))
    y = np.random.default_rng(1).integers(0, model.parameters()[-1].shape[0], 16)
    cr.nn.CrossEntropyLoss()(model(cr.Tensor(x)), y).backward()


@several_threads
def test_a_large_eager_layer_runs_forward_and_backward_on_the_free_cores(monkeypatch, seen):
    monkeypatch.setattr(threads, "free_cores", lambda: 1)  # a core is taken
    _eager_step(large_net())
    assert [where for where, _ in seen] == ["forward", "backward", "backward"]
    assert {count for _, count in seen} == {1}
    assert cr.get_num_threads() == threads.AT_IMPORT  # restored after each


@several_threads
def test_on_a_quiet_machine_the_eager_engine_keeps_every_thread(monkeypatch, seen):
    monkeypatch.setattr(threads, "free_cores", lambda: threads.AT_IMPORT)
    _eager_step(large_net())
    assert {count for _, count in seen} == {threads.AT_IMPORT}


def test_a_small_eager_layer_never_counts_the_free_cores(monkeypatch, seen):
    def counted() -> int:
        raise AssertionError("the free cores were counted")

    monkeypatch.setattr(threads, "free_cores", counted)
    _eager_step(small_net())
    assert {count for _, count in seen} == {threads.AT_IMPORT}


@several_threads
def test_the_users_count_wins_over_the_eager_policy(monkeypatch, seen):
    monkeypatch.setattr(threads, "free_cores", lambda: 1)
    cr.set_num_threads(threads.AT_IMPORT)  # the fixture hands the choice back after
    _eager_step(large_net())
    assert {count for _, count in seen} == {threads.AT_IMPORT}


@several_threads
def test_inside_fit_the_eager_ops_leave_the_threads_to_fit(monkeypatch, seen):
    """fit chooses once (one question whether the user chose, one threadpoolctl limit); its
    eager steps ask nothing and set nothing of their own."""
    monkeypatch.setattr(threads, "free_cores", lambda: 1)
    asked, limits = [], []
    user_has_chosen, limit = threads.user_has_chosen, threads._CONTROLLER.limit
    monkeypatch.setattr(threads, "user_has_chosen", lambda: asked.append(1) or user_has_chosen())
    monkeypatch.setattr(threads._CONTROLLER, "limit", lambda **kw: limits.append(kw) or limit(**kw))
    model = large_net()
    x = np.random.default_rng(0).random((64, model.parameters()[0].shape[1]))
    y = np.random.default_rng(1).integers(0, 8, 64)
    cr.fit(model, x, y, epochs=1, batch_size=16, progress=False, compile=False)
    assert len(asked) == len(limits) == 1 and {count for _, count in seen} == {1}
    assert cr.get_num_threads() == threads.AT_IMPORT
