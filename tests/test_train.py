"""fit(): the lecture's loop, "until total error is small enough, repeat", and real accuracy."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import chainrule as cr

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_Y = np.array([[0], [1], [1], [0]], dtype=float)


def test_xor_reaches_total_error_below_001_with_until():
    """2-3-1 sigmoid network, squared error, full-batch gradient descent, until E < 0.01."""
    model = cr.nn.mlp([2, 3, 1], "sigmoid", "sigmoid", init="small", rng=0)
    history = cr.fit(
        model,
        XOR_X,
        XOR_Y,
        loss=cr.nn.SquaredError(),
        optimizer=cr.optim.SGD(model.parameters(), lr=2.0),
        epochs=20_000,
        until=0.01,
        progress=False,
    )
    assert history.stop_reason == "until"
    assert history.loss[-1] <= 0.01 < history.loss[-2]
    with cr.no_grad():
        assert np.array_equal(model(XOR_X).data > 0.5, XOR_Y > 0.5)


def test_digits_network_reaches_95_percent_test_accuracy():
    digits = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        digits.data / 16.0, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    model = cr.nn.mlp([64, 64, 10], "tanh", rng=0)
    history = cr.fit(
        model,
        X_train,
        y_train,
        loss=cr.nn.CrossEntropyLoss(),
        optimizer=cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        epochs=30,
        batch_size=32,
        seed=0,
        validation=(X_test, y_test),
        progress=False,
    )
    with cr.no_grad():
        accuracy = np.mean(model(X_test).data.argmax(axis=1) == y_test)
    assert accuracy >= 0.95, f"digits test accuracy {accuracy:.3f}"
    assert history.val_accuracy[-1] == pytest.approx(accuracy)
    assert history.accuracy[-1] > 0.95 and len(history.val_loss) == 30


def test_full_batch_is_one_update_with_the_average_gradient():
    """batch_size=None: add up the changes over all examples, then change the weights once."""
    model = cr.nn.mlp([2, 3, 1], "sigmoid", rng=1)
    manual = cr.nn.mlp([2, 3, 1], "sigmoid", rng=1)
    cr.fit(
        model,
        XOR_X,
        XOR_Y,
        loss="squared",
        optimizer=cr.optim.SGD(model.parameters(), 0.5),
        epochs=1,
        progress=False,
    )
    cr.nn.SquaredError()(manual(XOR_X), XOR_Y).backward()
    for p, q in zip(model.parameters(), manual.parameters(), strict=True):
        np.testing.assert_allclose(p.data, q.data - 0.5 * q.grad, rtol=1e-15)


def test_mini_batches_are_shuffled_repeatably_by_seed():
    def run(seed):
        model = cr.nn.mlp([2, 4, 1], "tanh", rng=0)
        return cr.fit(
            model,
            XOR_X,
            XOR_Y,
            loss="mse",
            epochs=5,
            batch_size=2,
            seed=seed,
            optimizer=cr.optim.SGD(model.parameters(), lr=0.3),
            progress=False,
        ).loss

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_history_records_epochs_and_stop_reason():
    model = cr.nn.mlp([2, 2, 1], rng=0)
    history = cr.fit(model, XOR_X, XOR_Y, epochs=7, progress=False)
    assert history.epochs == 7 and history.stop_reason == "epochs" and history.wall_time > 0
    assert history.accuracy == []  # regression: no accuracy
    assert cr.History.from_dict(history.to_dict()) == history


def test_a_diverging_run_stops_with_the_epoch_and_a_hint():
    model = cr.nn.mlp([2, 8, 1], "relu", rng=0)
    X = np.random.default_rng(0).normal(size=(64, 2)) * 100
    with pytest.raises(
        cr.DivergedError, match=r"diverged at epoch \d+.*smaller learning rate"
    ) as e:
        cr.fit(
            model,
            X,
            X[:, :1] ** 2,
            loss="mse",
            epochs=50,
            optimizer=cr.optim.SGD(model.parameters(), lr=10.0),
            progress=False,
        )
    assert e.value.history.stop_reason == "diverged"


def test_ctrl_c_stops_after_the_current_batch_and_keeps_the_model():
    calls = []
    mse = cr.nn.MSELoss()

    def interrupting_loss(out, y):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return mse(out, y)

    model = cr.nn.mlp([2, 2, 1], rng=0)
    history = cr.fit(
        model, XOR_X, XOR_Y, loss=interrupting_loss, epochs=100, batch_size=1, progress=False
    )
    assert history.stop_reason == "interrupted" and len(calls) == 3 and history.epochs == 1


def test_fit_accepts_tensors_and_keeps_the_models_float32():
    model = cr.nn.mlp([2, 3, 1], rng=0).to(np.float32)
    cr.fit(model, cr.tensor(XOR_X), cr.tensor(XOR_Y), epochs=2, progress=False)
    assert all(p.data.dtype == np.float32 for p in model.parameters())


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"epochs": 0}, cr.ConfigError, "epochs must be a positive integer, got 0"),
        ({"batch_size": -2}, cr.ConfigError, "batch_size must be a positive integer"),
        ({"until": -1.0}, cr.ConfigError, "until must be a loss >= 0"),
        ({"loss": "hinge"}, cr.ConfigError, r"unknown loss 'hinge'; expected one of"),
        ({"Y": XOR_Y[:3]}, cr.DataError, "X has 4 rows but Y has 3"),
        ({"X": XOR_X * np.nan}, cr.DataError, "X contains NaN"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, message):
    args = {"X": XOR_X, "Y": XOR_Y, "progress": False, **kwargs}
    with pytest.raises(error, match=message):
        cr.fit(cr.nn.mlp([2, 2, 1], rng=0), **args)


def test_progress_bar_runs(capsys):
    cr.fit(cr.nn.mlp([2, 2, 1], rng=0), XOR_X, XOR_Y, epochs=3, progress=True)
    assert "epoch" in capsys.readouterr().out
