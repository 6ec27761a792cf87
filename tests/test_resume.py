"""Exact resume: a run stopped after k epochs, saved, loaded and trained k more ends with the
same weights, bit for bit, as one that trained 2k epochs without stopping. For SGD with
momentum and for Adam, in float32 and float64; through the API, the command line's --resume
and scikit-learn's partial_fit after load."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main
from chainrule.io import load_optimizer, load_with_metadata

OPTIMIZERS = {
    "sgd-momentum": lambda params: cr.optim.SGD(params, lr=0.1, momentum=0.9),
    "sgd-nesterov": lambda params: cr.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda params: cr.optim.Adam(params, lr=0.01),
    "adamw": lambda params: cr.optim.AdamW(params, lr=0.01, weight_decay=0.1),
}
DTYPES = [np.float32, np.float64]
K = 6  # epochs before and after the save


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 3))
    return X, (X[:, 0] * X[:, 1] > 0).astype(np.intp)


def _epochs(model, optimizer, rng, epochs: int) -> None:
    """Mini-batches of 8 in an order drawn from `rng`, which the caller carries across."""
    X, y = _data()
    cr.fit(
        model,
        X,
        y,
        loss="auto",
        optimizer=optimizer,
        epochs=epochs,
        batch_size=8,
        sampler=rng.permutation,
        progress=False,
    )


def _weights(model) -> dict[str, np.ndarray]:
    return model.state_dict()


def _assert_same(a, b) -> None:
    for (name, x), (other, z) in zip(_weights(a).items(), _weights(b).items(), strict=True):
        assert name == other
        assert x.dtype == z.dtype
        assert np.array_equal(x, z), f"{name} differs by {np.abs(x - z).max()}"


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_save_load_and_train_on_is_bit_for_bit_the_uninterrupted_run(tmp_path, name, dtype):
    make = OPTIMIZERS[name]
    whole = cr.nn.mlp([3, 8, 2], "tanh", dtype=dtype, rng=0)
    _epochs(whole, make(whole.parameters()), np.random.default_rng(7), 2 * K)

    first = cr.nn.mlp([3, 8, 2], "tanh", dtype=dtype, rng=0)
    rng = np.random.default_rng(7)
    _epochs(first, optimizer := make(first.parameters()), rng, K)
    cr.save(first, tmp_path / "half.model", optimizer=optimizer)
    del first, optimizer

    model = cr.load(tmp_path / "half.model")
    resumed = load_optimizer(tmp_path / "half.model", model)
    assert type(resumed) is type(make(model.parameters()))
    _epochs(model, resumed, rng, K)
    _assert_same(model, whole)


def test_without_the_optimizer_state_the_resumed_run_differs(tmp_path):
    """The control: restarting Adam's moments is visibly not the same run."""
    whole = cr.nn.mlp([3, 8, 2], "tanh", rng=0)
    _epochs(whole, cr.optim.Adam(whole.parameters(), lr=0.01), np.random.default_rng(7), 2 * K)
    model = cr.nn.mlp([3, 8, 2], "tanh", rng=0)
    rng = np.random.default_rng(7)
    _epochs(model, cr.optim.Adam(model.parameters(), lr=0.01), rng, K)
    _epochs(model, cr.optim.Adam(model.parameters(), lr=0.01), rng, K)
    assert not np.array_equal(model[0].weight.data, whole[0].weight.data)


def test_the_state_is_stored_as_named_tensors_and_json_not_pickle(tmp_path):
    model = cr.nn.mlp([3, 4, 2], rng=0)
    optimizer = cr.optim.Adam(model.parameters(), lr=0.01)
    _epochs(model, optimizer, np.random.default_rng(0), 2)
    path = tmp_path / "m.model"
    cr.save(model, path, optimizer=optimizer)
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    strings = header.pop("__metadata__")
    assert strings["format_version"] == "2"
    record = json.loads(strings["optimizer"])
    assert record["type"] == "Adam" and record["step"] == optimizer.t
    assert record["hyperparameters"] == {
        "lr": 0.01,
        "betas": [0.9, 0.999],
        "eps": 1e-8,
        "weight_decay": 0.0,
    }
    assert record["params"] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert record["state"]["0.weight"] == {
        "exp_avg": "optimizer.0.weight.exp_avg",
        "exp_avg_sq": "optimizer.0.weight.exp_avg_sq",
    }
    assert set(header) == {
        *model.state_dict(),
        *(f"optimizer.{p}.{b}" for p in record["params"] for b in ("exp_avg", "exp_avg_sq")),
    }


def test_a_file_saved_without_an_optimizer_stays_format_1_and_has_none(tmp_path):
    model = cr.nn.mlp([2, 2], rng=0)
    cr.save(model, tmp_path / "m.model")
    assert load_optimizer(tmp_path / "m.model", cr.load(tmp_path / "m.model")) is None
    raw = (tmp_path / "m.model").read_bytes()
    assert b'"format_version":"1"' in raw


def test_an_optimizer_over_parameters_the_model_lacks_is_refused(tmp_path):
    model = cr.nn.mlp([2, 2], rng=0)
    other = cr.nn.Parameter(np.zeros(2))
    with pytest.raises(cr.ModelFileError, match="not the model's"):
        cr.save(model, tmp_path / "m.model", optimizer=cr.optim.SGD([other], lr=0.1))
    assert not (tmp_path / "m.model").exists()


# ---- state_dict / load_state_dict -----------------------------------------------------------


def _stepped(optimizer):
    for p in optimizer.params:
        p.grad = np.ones_like(p.data)
    optimizer.step()
    return optimizer


def test_state_dict_copies_and_load_state_dict_restores_hyperparameters_and_buffers():
    w = cr.nn.Parameter(np.array([1.0, 2.0]))
    adam = _stepped(cr.optim.Adam([w], lr=0.05, betas=(0.8, 0.99), weight_decay=0.1))
    state = adam.state_dict()
    state["state"][0]["exp_avg"][0] = 123.0  # a copy: the optimizer's own moment is untouched
    assert adam.m[id(w)][0] != 123.0
    again = cr.optim.Adam([w])
    again.load_state_dict(adam.state_dict())
    assert (again.lr, again.beta1, again.beta2, again.weight_decay, again.t) == (
        0.05,
        0.8,
        0.99,
        0.1,
        1,
    )
    np.testing.assert_array_equal(again.m[id(w)], adam.m[id(w)])
    assert again.m[id(w)] is not adam.m[id(w)]


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda s: s.update(type="SGD"), cr.ConfigError, "type must be 'Adam'"),
        (lambda s: s["hyperparameters"].update(lr=-1), cr.ConfigError, "lr must be"),
        (lambda s: s["hyperparameters"].update(gamma=1), cr.ConfigError, "do not fit"),
        (lambda s: s.update(step=-1), cr.ConfigError, "step must be"),
        (lambda s: s["state"].update({5: s["state"][0]}), cr.ConfigError, "state index"),
        (lambda s: s["state"][0].pop("exp_avg_sq"), cr.ConfigError, "state\\[0\\]"),
        (lambda s: s["state"][0].update(exp_avg=np.zeros(3)), cr.ShapeError, "shape \\(3,\\)"),
        (
            lambda s: s["state"][0].update(exp_avg=np.zeros(2, np.float32)),
            cr.ConfigError,
            "dtype must be float64",
        ),
    ],
    ids=["type", "lr", "unknown", "step", "index", "buffer", "shape", "dtype"],
)
def test_load_state_dict_refuses_a_state_that_does_not_fit(change, error, match):
    w = cr.nn.Parameter(np.array([1.0, 2.0]))
    state = _stepped(cr.optim.Adam([w])).state_dict()
    change(state)
    fresh = cr.optim.Adam([w], lr=0.5)
    with pytest.raises(error, match=match):
        fresh.load_state_dict(state)
    assert fresh.lr == 0.5 and fresh.t == 0 and not fresh.m  # nothing half-loaded


def test_sgd_state_is_the_velocity():
    w = cr.nn.Parameter(np.array([1.0]))
    sgd = _stepped(cr.optim.SGD([w], lr=0.1, momentum=0.5))
    state = sgd.state_dict()
    assert state["type"] == "SGD" and "step" not in state
    assert state["hyperparameters"] == {
        "lr": 0.1,
        "momentum": 0.5,
        "weight_decay": 0.0,
        "nesterov": False,
    }
    np.testing.assert_array_equal(state["state"][0]["momentum_buffer"], [1.0])


# ---- scikit-learn: partial_fit after save and load ------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_partial_fit_after_load_is_bit_for_bit_the_uninterrupted_run(tmp_path, optimizer, dtype):
    from chainrule.sklearn import MLPClassifier, load

    X, y = _data()
    settings = dict(
        hidden_layer_sizes=(8,),
        optimizer=optimizer,
        batch_size=8,
        random_state=0,
        learning_rate_init=0.05,
        momentum=0.9,
        dtype=dtype,
    )
    whole = MLPClassifier(**settings)
    for _ in range(2 * K):
        whole.partial_fit(X, y, classes=[0, 1])
    first = MLPClassifier(**settings)
    for _ in range(K):
        first.partial_fit(X, y, classes=[0, 1])
    first.save(tmp_path / "est.model")
    resumed = load(tmp_path / "est.model")
    for _ in range(K):
        resumed.partial_fit(X, y)
    for a, b in zip(
        resumed.coefs_ + resumed.intercepts_, whole.coefs_ + whole.intercepts_, strict=True
    ):
        assert a.dtype == np.dtype(dtype) and np.array_equal(a, b)
    assert resumed.loss_curve_ == whole.loss_curve_ and resumed.t_ == whole.t_


# ---- the command line: --resume -------------------------------------------------------------


def _train(capsys, *args) -> str:
    fresh = [] if "--resume" in args else ["--data", "moons", "--hidden", "8"]
    code = main(["train", *fresh, "--quiet", *map(str, args)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out + err


@pytest.mark.parametrize(
    ("options", "dtype", "repeated"),
    [
        (["--optimizer", "momentum", "--lr", "0.05", "--batch-size", "16"], "float32", False),
        (["--optimizer", "adam", "--batch-size", "16"], "float64", True),
    ],
    ids=["momentum-float32-saved-options", "adam-float64-options-repeated"],
)
def test_cli_resume_is_bit_for_bit_the_uninterrupted_run(
    capsys, tmp_path, options, dtype, repeated
):
    """The resumed run takes the optimizer and batch size from the file, or the same again."""
    common = [*options, "--dtype", dtype]
    _train(capsys, *common, "--epochs", 2 * K, "--save", tmp_path / "whole.model")
    _train(capsys, *common, "--epochs", K, "--save", tmp_path / "half.model")
    again = options if repeated else []
    half = tmp_path / "half.model"
    out = _train(
        capsys, "--resume", half, *again, "--epochs", 2 * K, "--save", tmp_path / "r.model"
    )
    assert "optimizer" not in out  # no note: the state was there
    whole, whole_meta = load_with_metadata(tmp_path / "whole.model")
    resumed, resumed_meta = load_with_metadata(tmp_path / "r.model")
    _assert_same(resumed, whole)
    assert resumed_meta["history"]["loss"] == whole_meta["history"]["loss"]
    assert resumed_meta["optimizer"] == whole_meta["optimizer"]
    assert resumed_meta["batch_size"] == 16


def test_cli_resume_of_a_file_without_optimizer_state_says_so_in_one_line(capsys, tmp_path):
    _train(capsys, "--epochs", 2, "--save", tmp_path / "m.model")
    model, metadata = load_with_metadata(tmp_path / "m.model")
    cr.save(model, tmp_path / "old.model", metadata=metadata)  # as format 1 wrote it
    out = _train(capsys, "--resume", tmp_path / "old.model", "--epochs", 3)
    notes = [line for line in out.splitlines() if "optimizer" in line]
    assert notes == [
        f"note: {tmp_path / 'old.model'} holds no optimizer state (saved by an older chainrule "
        f"or from Python): the optimizer starts afresh"
    ]
