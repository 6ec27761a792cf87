"""Callbacks: fit calls them at every batch and epoch, in order, and they can end training."""

from __future__ import annotations

import os
import re
import signal
import warnings
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.callbacks import (
    Callback,
    Checkpoint,
    EarlyStopping,
    HealthMonitor,
    ProgressBar,
    Run,
)
from chainrule.io import load_with_metadata

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_Y = np.array([[0], [1], [1], [0]], dtype=float)


class Recorder(Callback):
    """Writes down every hook call with what the Run held at that moment."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def on_train_begin(self, run: Run) -> None:
        self.calls.append(("begin", run.epoch))

    def on_batch_end(self, run: Run) -> None:
        recomputed = float(run.loss(run.output, run.y).data)
        self.calls.append(("batch", run.epoch, run.batch, run.batch_loss, recomputed, run.x.copy()))

    def on_epoch_end(self, run: Run) -> None:
        self.calls.append(("epoch", run.epoch, run.history.loss[-1], run.history.epochs))

    def on_train_end(self, run: Run) -> None:
        self.calls.append(("end", run.history.stop_reason))


def xor_fit(callbacks, **kwargs):
    model = cr.nn.mlp([2, 3, 1], "tanh", rng=0)
    settings = dict(loss="mse", epochs=3, batch_size=2, seed=0, progress=False)
    return cr.fit(model, XOR_X, XOR_Y, callbacks=callbacks, **{**settings, **kwargs})


def test_a_callback_sees_every_batch_and_epoch_in_order():
    recorder = Recorder()
    history = xor_fit([recorder])
    kinds = [call[:3] if call[0] == "batch" else call[:2] for call in recorder.calls]
    assert kinds == [
        ("begin", 0),
        *[step for e in (1, 2, 3) for step in (("batch", e, 0), ("batch", e, 1), ("epoch", e))],
        ("end", "epochs"),
    ]
    for e in (1, 2, 3):
        batches = [c for c in recorder.calls if c[0] == "batch" and c[1] == e]
        (epoch,) = [c for c in recorder.calls if c[0] == "epoch" and c[1] == e]
        # the batch loss is C of that batch's output; the epoch's loss is their mean over rows
        assert all(loss == recomputed for _, _, _, loss, recomputed, _ in batches)
        assert epoch[2] == pytest.approx(np.mean([b[3] for b in batches]), rel=1e-15)
        assert epoch[2] == history.loss[e - 1] and epoch[3] == e  # history holds it already
        rows = np.concatenate([b[5] for b in batches])  # every example once per epoch
        assert sorted(map(tuple, rows)) == sorted(map(tuple, XOR_X))


class StopAt(Callback):
    def __init__(self, epoch: int, batch: int) -> None:
        self.at, self.batches = (epoch, batch), 0

    def on_batch_end(self, run: Run) -> None:
        self.batches += 1
        if (run.epoch, run.batch) == self.at:
            run.stop()


def test_stop_ends_training_after_the_current_batch_with_the_reason():
    stopper, recorder = StopAt(epoch=2, batch=0), Recorder()
    history = xor_fit([stopper, recorder], epochs=50)
    assert stopper.batches == 3  # two in epoch 1, the first of epoch 2, then no more
    assert history.stop_reason == "callback" and history.epochs == 2
    assert recorder.calls[-2][:2] == ("epoch", 2)  # the cut epoch is still recorded
    assert recorder.calls[-1] == ("end", "callback")


def bare_run(epochs: int = 1) -> Run:
    model = cr.nn.mlp([1, 1])
    return Run(model, cr.optim.SGD(model.parameters(), 0.1), cr.nn.MSELoss(), cr.History(), epochs)


def test_stop_takes_only_the_reasons_in_stop_reasons_and_keeps_the_first():
    run = bare_run()
    with pytest.raises(cr.ConfigError, match="Run.stop: reason must be one of until, epochs"):
        run.stop("bored")
    run.stop("tol")
    run.stop("until")
    assert run.stop_reason == "tol" and set(cr.train.STOP_REASONS) >= {"tol", "callback"}


def scripted_loss(values):
    """A loss whose value each epoch is the next of `values` (full batch: one call per epoch),
    with a graph so that backward and the optimizer run as usual."""
    it = iter(values)
    return lambda a, y: (a * 0.0).sum() + next(it)


def test_early_stopping_stops_where_scikit_learns_rule_says():
    # tol = 1e-4, patience = 3. An epoch "stalls" when loss > best − tol (scikit-learn's
    # `loss_curve_[-1] > best_loss_ - tol`); best is the lowest loss so far:
    #   epoch 1  1.0      best −∞→ : 1.0 > inf − tol?      no  → wait 0, best 1.0
    #   epoch 2  0.5      0.5 > 1.0 − 1e-4 = 0.9999?       no  → wait 0, best 0.5
    #   epoch 3  0.49995  0.49995 > 0.5 − 1e-4 = 0.4999?   yes → wait 1, best 0.49995 (lower,
    #                                                              but not by tol)
    #   epoch 4  0.6      0.6 > 0.49985?                   yes → wait 2
    #   epoch 5  0.3      0.3 > 0.49985?                   no  → wait 0, best 0.3
    #   epoch 6  0.29995  0.29995 > 0.2999?                yes → wait 1, best 0.29995
    #   epoch 7  0.3      0.3 > 0.29985?                   yes → wait 2
    #   epoch 8  0.3      0.3 > 0.29985?                   yes → wait 3 = patience: stop
    losses = [1.0, 0.5, 0.49995, 0.6, 0.3, 0.29995, 0.3, 0.3, 0.3, 0.3]
    stopper = EarlyStopping("loss", tol=1e-4, patience=3)
    history = xor_fit([stopper], loss=scripted_loss(losses), batch_size=None, epochs=10)
    assert history.loss == losses[:8] and history.stop_reason == "tol"
    assert stopper.wait == 3 and stopper.best == 0.29995
    # scikit-learn's n_iter_no_change = 2 stops at the same epoch: its count must exceed 2


def test_early_stopping_on_accuracy_wants_it_higher_and_needs_a_recorded_list():
    stopper = EarlyStopping("val_accuracy", tol=0.0, patience=1)
    run = bare_run(5)
    run.history.val_accuracy += [0.5, 0.75]
    stopper.on_epoch_end(run)
    run.history.val_accuracy.append(0.7)  # lower than the best 0.75: stalls
    stopper.on_epoch_end(run)
    assert run.stop_reason == "tol"
    with pytest.raises(cr.ConfigError, match="EarlyStopping: monitor must be a History list"):
        xor_fit([EarlyStopping("val_loss")])
    with pytest.raises(cr.ConfigError, match="monitor must be one of loss, val_loss"):
        EarlyStopping("lr")


class Snapshots(Callback):
    def __init__(self) -> None:
        self.weights: dict[int, dict[str, np.ndarray]] = {}

    def on_epoch_end(self, run: Run) -> None:
        self.weights[run.epoch] = {k: v.copy() for k, v in run.model.state_dict().items()}


def test_checkpoint_writes_a_loadable_file_every_n_epochs(tmp_path):
    path = tmp_path / "run.model"
    snapshots, seen = Snapshots(), {}

    class Look(Callback):  # after the Checkpoint: what is in the file at each epoch's end
        def on_epoch_end(self, run: Run) -> None:
            seen[run.epoch] = load_with_metadata(path)[1]["epoch"] if path.exists() else None

    history = xor_fit([Checkpoint(path, every=2), snapshots, Look()], epochs=5)
    assert seen == {1: None, 2: 2, 3: 2, 4: 4, 5: 4}
    model, metadata = load_with_metadata(path)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, snapshots.weights[4][name])
    assert metadata["history"]["loss"] == history.loss[:4]


def test_a_crash_while_writing_a_checkpoint_leaves_the_previous_one(tmp_path, monkeypatch):
    path = tmp_path / "run.model"

    class CrashNextWrite(Callback):  # the disk fails midway through epoch 4's write
        def on_epoch_end(self, run: Run) -> None:
            if run.epoch == 3:
                monkeypatch.setattr(os, "fsync", crash)

    def crash(fd: int) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        xor_fit([Checkpoint(path, every=2), CrashNextWrite()], epochs=5)
    assert load_with_metadata(path)[1]["epoch"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["run.model"]  # no half-written file left


def test_checkpoint_refuses_a_missing_folder_before_training():
    with pytest.raises(cr.ModelFileError, match="folder .*nowhere does not exist"):
        Checkpoint(Path("nowhere") / "run.model", every=1)
    with pytest.raises(cr.ConfigError, match="Checkpoint: every must be a positive integer"):
        Checkpoint("run.model", every=0)


def test_health_monitor_is_what_health_every_does():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(40, 3)), rng.integers(0, 2, size=(40, 1)).astype(float)
    runs = []
    for kwargs in ({"health_every": 2}, {"callbacks": [HealthMonitor(2)]}):
        model = cr.nn.mlp([3, 5, 5, 1], "sigmoid", "sigmoid", rng=1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            history = cr.fit(model, X, Y, loss="bce", epochs=5, batch_size=8, seed=0,
                             progress=False, **kwargs)  # fmt: skip
        runs.append((history.health, [str(w.message) for w in caught], model.state_dict()))
    (health, warned, weights), (health2, warned2, weights2) = runs
    assert [h["epoch"] for h in health] == [2, 4] and health == health2 and warned == warned2
    assert all(np.array_equal(weights[k], weights2[k]) for k in weights)


def test_on_train_end_runs_after_ctrl_c_and_after_divergence():
    class Interrupt(Callback):
        def on_batch_end(self, run: Run) -> None:
            if run.batch == 1:
                os.kill(os.getpid(), signal.SIGINT)

    recorder = Recorder()
    history = xor_fit([Interrupt(), recorder], epochs=100)
    assert history.stop_reason == "interrupted" and history.epochs == 1
    assert recorder.calls[-1] == ("end", "interrupted")

    class Ends(Callback):  # Recorder would call the scripted loss a second time per batch
        def __init__(self) -> None:
            self.epochs, self.reason = [], None

        def on_epoch_end(self, run: Run) -> None:
            self.epochs.append(run.epoch)

        def on_train_end(self, run: Run) -> None:
            self.reason = run.history.stop_reason

    ends = Ends()
    with pytest.raises(cr.DivergedError):
        xor_fit([ends], loss=scripted_loss([1.0, np.inf]), batch_size=None)
    assert ends.reason == "diverged" and ends.epochs == [1]  # a diverged epoch is not one


def test_sampler_sets_the_order_of_the_rows():
    recorder = Recorder()
    xor_fit([recorder], epochs=1, batch_size=1, sampler=lambda n: np.arange(n)[::-1])
    rows = [call[5] for call in recorder.calls if call[0] == "batch"]
    np.testing.assert_array_equal(np.concatenate(rows), XOR_X[::-1])
    with pytest.raises(cr.ConfigError, match=r"fit: sampler\(n\) must be a non-empty 1-D"):
        xor_fit([], sampler=lambda n: np.ones((n, 2), dtype=int))


def test_callbacks_must_be_callback_objects():
    with pytest.raises(cr.ConfigError, match="fit: callbacks must be a list of callbacks.Callback"):
        xor_fit([print])
    with pytest.raises(cr.ConfigError, match="fit: callbacks must be a list"):
        xor_fit(Recorder())


def test_history_extend_appends_a_continued_run():
    first = xor_fit([], epochs=2, validation=(XOR_X, XOR_Y))
    second = xor_fit([], epochs=3, validation=(XOR_X, XOR_Y), until=1e9)  # stops after one
    whole = cr.History.from_dict(first.to_dict())
    whole.extend(second)
    assert whole.loss == first.loss + second.loss and whole.epochs == 3
    assert whole.val_loss == first.val_loss + second.val_loss
    assert whole.stop_reason == "until" and whole.wall_time == first.wall_time + second.wall_time


def test_progress_bar_counts_a_resumed_runs_epochs(capsys):
    xor_fit([ProgressBar(total=10, done=7)], epochs=3)
    assert "epoch 10/10" in capsys.readouterr().out


def test_the_engine_docs_callbacks_example_runs(tmp_path, monkeypatch, capsys):
    doc = (Path(__file__).resolve().parents[1] / "docs" / "engine.md").read_text()
    section = doc[doc.index("## Callbacks") :]
    (block,) = re.findall(r"^```python\n(.*?)^```", section, flags=re.S | re.M)[:1]
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "docs/engine.md", "exec"), {})  # noqa: S102
    reason, epochs, accuracy = capsys.readouterr().out.split()
    assert reason == "until" and float(accuracy) >= 0.97 and int(epochs) < 500
    assert int(epochs) >= 10 and cr.load(tmp_path / "xor.model")[0].weight.shape == (16, 2)


def test_progress_bar_names_the_held_out_rows_as_its_caller_does(capsys):
    xor_fit([ProgressBar(held_out="test")], epochs=2, validation=(XOR_X, XOR_Y))
    out = capsys.readouterr().out
    assert "  test 0." in out and "val" not in out
