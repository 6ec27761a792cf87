"""The thread policy: fit runs a small network's BLAS on one thread and a large one's on the
free cores, a user's own setting always wins, and the BLAS's count is restored after fit.

No timing here: what is checked is the count chosen and the count the BLAS reports.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import training_step
from threadpoolctl import threadpool_limits

import chainrule as cr
from chainrule import threads

pytestmark = pytest.mark.skipif(threads.AT_IMPORT is None, reason="threadpoolctl found no BLAS")


@pytest.fixture(autouse=True)
def no_user_setting(monkeypatch):
    """No thread variable in the environment, and no set_num_threads left behind."""
    for name in threads.ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads, "_counted", [1, -float("inf")])  # no count from another test
    yield
    cr.set_num_threads(None)


def small_net() -> cr.nn.Module:
    return cr.nn.mlp([4, 8, 3], "sigmoid")  # 16 × 8 × 4 multiply-adds: far below the threshold


def large_net() -> cr.nn.Module:
    """One layer whose product at batch 16 is at least the threshold."""
    fan_in = -(-threads.MIN_PRODUCT_FOR_THREADS // (16 * 8))
    return cr.nn.Sequential(cr.nn.Linear(fan_in, 8))


class Record(cr.callbacks.Callback):
    """The BLAS's thread count while fit trains."""

    def on_train_begin(self, run) -> None:
        self.during = cr.get_num_threads()


def fit_and_record(model: cr.nn.Module) -> int:
    x = np.random.default_rng(0).random((32, model.parameters()[0].shape[1]))
    y = np.random.default_rng(1).integers(0, model.parameters()[-1].shape[0], 32)
    record = Record()
    cr.fit(model, x, y, epochs=1, batch_size=16, progress=False, callbacks=[record])
    return record.during


@pytest.fixture
def machine(monkeypatch):
    """A BLAS with 8 threads at import on a machine where 4 cores are free."""
    monkeypatch.setattr(threads, "AT_IMPORT", 8)
    monkeypatch.setattr(threads, "_blas_threads", lambda: 8)
    monkeypatch.setattr(threads, "free_cores", lambda: 4)


def test_largest_product_is_batch_times_fan_in_times_fan_out():
    model = cr.nn.mlp([784, 128, 10], "relu")
    assert threads.largest_product(model, 64) == 64 * 784 * 128
    assert threads.largest_product(cr.nn.Sequential(cr.nn.ReLU()), 64) == 0


def test_policy_picks_one_thread_for_a_small_net_and_the_free_cores_for_a_large_one(machine):
    assert threads.choose(small_net(), 16) == 1
    assert threads.choose(large_net(), 16) == 4
    assert threads.choose(large_net(), 1) == 1  # the same layer, one row at a time: small


def test_policy_stays_under_the_blas_count_at_import(machine, monkeypatch):
    monkeypatch.setattr(threads, "free_cores", lambda: 16)
    assert threads.choose(large_net(), 16) == 8
    monkeypatch.setattr(threads, "AT_IMPORT", 1)
    monkeypatch.setattr(threads, "_blas_threads", lambda: 1)
    assert threads.choose(large_net(), 16) == 1


def test_free_cores_leaves_out_the_cores_other_processes_keep_busy(monkeypatch):
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(threads, "SAMPLE_GAP_S", 0.0)
    monkeypatch.setattr(threads, "_running_elsewhere", lambda: 1)
    assert threads.free_cores() == 3
    monkeypatch.setattr(threads, "_running_elsewhere", lambda: 9)
    assert threads.free_cores() == 1


def test_running_elsewhere_reads_a_count_of_threads():
    assert threads._running_elsewhere() >= 0


def test_fit_runs_a_small_net_on_one_thread_and_restores_the_count():
    before = cr.get_num_threads()
    assert fit_and_record(small_net()) == 1
    assert cr.get_num_threads() == before == threads.AT_IMPORT


@pytest.mark.skipif((threads.AT_IMPORT or 1) < 2, reason="a BLAS of one thread cannot show more")
def test_fit_runs_a_large_net_on_the_free_cores_and_restores_the_count(monkeypatch):
    monkeypatch.setattr(threads, "free_cores", lambda: 2)
    assert fit_and_record(large_net()) == 2
    assert cr.get_num_threads() == threads.AT_IMPORT


class RecordEachBatch(cr.callbacks.Callback):
    def __init__(self) -> None:
        self.counts: list[int] = []

    def on_batch_end(self, run) -> None:
        self.counts.append(cr.get_num_threads())


@pytest.mark.skipif((threads.AT_IMPORT or 1) < 2, reason="a BLAS of one thread cannot show more")
def test_a_large_fit_counts_the_free_cores_again_as_the_load_changes(monkeypatch):
    """A process that starts beside a running fit takes a core: the next review sees it."""
    free = iter([2, 2, 2, 1, 1, 2, 2])  # at the start, then a review before each batch
    monkeypatch.setattr(threads, "free_cores", lambda: next(free))
    monkeypatch.setattr(threads, "REVIEW_S", 0.0)  # a review at every batch
    model = large_net()
    x = np.random.default_rng(0).random((96, model.parameters()[0].shape[1]))
    y = np.random.default_rng(1).integers(0, 8, 96)
    record = RecordEachBatch()
    cr.fit(model, x, y, epochs=1, batch_size=16, progress=False, callbacks=[record])
    assert record.counts == [2, 2, 1, 1, 2, 2]
    assert cr.get_num_threads() == threads.AT_IMPORT


@pytest.mark.skipif((threads.AT_IMPORT or 1) < 2, reason="a BLAS of one thread cannot show more")
def test_fits_in_a_row_share_one_count_of_the_free_cores(monkeypatch):
    """partial_fit calls fit once per batch: the 8 ms count is taken once per REVIEW_S."""
    counts = []
    monkeypatch.setattr(threads, "free_cores", lambda: counts.append(1) or 2)
    monkeypatch.setattr(threads, "REVIEW_S", 3600.0)  # however slow the machine running this
    for _ in range(3):
        assert fit_and_record(large_net()) == 2
    assert len(counts) == 1


def test_a_small_fit_is_never_reviewed(monkeypatch):
    def counted() -> int:
        raise AssertionError("a small fit counted the free cores")

    monkeypatch.setattr(threads, "free_cores", counted)
    monkeypatch.setattr(threads, "REVIEW_S", 0.0)
    assert fit_and_record(small_net()) == 1


def test_the_count_is_restored_when_fit_fails():
    model = small_net()
    with pytest.raises(cr.ConfigError):
        cr.fit(model, np.zeros((4, 4)), np.zeros(4, int), epochs=1, sampler=lambda n: [[0]])
    assert cr.get_num_threads() == threads.AT_IMPORT


@pytest.mark.parametrize("name", threads.ENVIRONMENT)
def test_a_thread_variable_in_the_environment_wins(name, monkeypatch):
    monkeypatch.setenv(name, "2")
    assert threads.choose(small_net(), 16) is None
    assert fit_and_record(small_net()) == threads.AT_IMPORT  # the BLAS left as it is


def test_the_users_own_threadpoolctl_limit_wins():
    mine = threads.AT_IMPORT + 1  # differs from the count at import, and is never the policy's 1
    with threadpool_limits(limits=mine, user_api="blas"):
        assert threads.user_has_chosen() and threads.choose(small_net(), 16) is None
        assert fit_and_record(small_net()) == mine
        assert cr.get_num_threads() == mine
    assert cr.get_num_threads() == threads.AT_IMPORT


def test_set_num_threads_wins_until_it_is_handed_back():
    mine = threads.AT_IMPORT + 1
    cr.set_num_threads(mine)
    assert cr.get_num_threads() == mine
    assert fit_and_record(small_net()) == mine
    assert cr.get_num_threads() == mine
    cr.set_num_threads(2)  # a second call replaces the first
    assert cr.get_num_threads() == 2
    cr.set_num_threads(None)
    assert cr.get_num_threads() == threads.AT_IMPORT
    assert fit_and_record(small_net()) == 1  # the policy chooses again


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_num_threads_refuses_what_is_not_a_positive_count(bad):
    with pytest.raises(cr.ConfigError, match=r"set_num_threads: n must be a positive integer"):
        cr.set_num_threads(bad)
    assert cr.get_num_threads() == threads.AT_IMPORT


class RecordingSGD(cr.optim.SGD):
    """SGD that notes the BLAS's thread count at each step: a compiled step replays it."""

    def __init__(self, params) -> None:
        super().__init__(params, lr=0.01)
        self.counts: list[int] = []

    def step(self) -> None:
        self.counts.append(cr.get_num_threads())
        super().step()


def compiled_steps(model: cr.nn.Module, steps: int = 4) -> list[int]:
    """The BLAS's thread counts a compiled step of the user's own loop ran its steps on."""
    optimizer = RecordingSGD(model.parameters())
    step = cr.compile(training_step(model, cr.nn.CrossEntropyLoss(), optimizer))
    x = np.random.default_rng(0).random((16, model.parameters()[0].shape[1]))
    y = np.random.default_rng(1).integers(0, model.parameters()[-1].shape[0], 16)
    for _ in range(steps):
        step(x, y)
    assert step.stats.replays == steps - 1
    return optimizer.counts


@pytest.mark.skipif((threads.AT_IMPORT or 1) < 2, reason="a BLAS of one thread cannot show more")
def test_a_compiled_step_of_a_large_net_replays_on_the_free_cores(monkeypatch):
    monkeypatch.setattr(threads, "free_cores", lambda: 1)  # a core is taken
    counts = compiled_steps(large_net())
    assert counts == [threads.AT_IMPORT, 1, 1, 1]  # the capture runs as the loop does
    assert cr.get_num_threads() == threads.AT_IMPORT


def test_a_compiled_step_of_a_small_net_is_left_alone(monkeypatch):
    def counted() -> int:
        raise AssertionError("the free cores were counted")

    monkeypatch.setattr(threads, "free_cores", counted)
    assert set(compiled_steps(small_net())) == {threads.AT_IMPORT}


@pytest.mark.skipif((threads.AT_IMPORT or 1) < 2, reason="a BLAS of one thread cannot show more")
def test_a_compiled_step_keeps_the_users_count_even_with_a_core_taken(monkeypatch):
    monkeypatch.setattr(threads, "free_cores", lambda: 1)
    cr.set_num_threads(threads.AT_IMPORT)  # the fixture hands the choice back after
    assert set(compiled_steps(large_net())) == {threads.AT_IMPORT}
