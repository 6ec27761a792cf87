"""The `chainrule` command: every command on real data, and every error as one line on stderr
with exit 2 (bad option) or 1 (bad data or file), never a traceback."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import oracle

import chainrule as cr
from chainrule import data
from chainrule.cli import main
from chainrule.io import load_with_metadata
from chainrule.preprocess import Preprocessing
from chainrule.tensor import Tensor, no_grad


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def fails(capsys, code: int, *args: str) -> str:
    """Run a command that must fail with `code`; its stderr, checked to be one line."""
    got, out, err = run(capsys, *args)
    assert got == code, f"exit {got}, expected {code}; stderr: {err!r}"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chainrule: error: "), err
    assert "Traceback" not in err + out
    return lines[0]


@pytest.fixture(scope="module")
def moons_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("moons")
    path = folder / "m.model"
    code = main(
        [
            "train",
            "--data",
            "moons",
            "--hidden",
            "16",
            "--activation",
            "tanh",
            "--save",
            str(path),
            "--plot",
            str(folder / "loss.png"),
            "--quiet",
        ]
    )
    assert code == 0
    return path


# --- the "done means" path -----------------------------------------------------------------------


def test_train_moons_saves_model_and_loss_plot(moons_model):
    assert moons_model.is_file()
    assert (moons_model.parent / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model, meta = load_with_metadata(moons_model)
    assert [type(m).__name__ for m in model] == ["Linear", "Tanh", "Linear"]
    assert model[0].weight.shape == (16, 2)
    assert meta["loss"] == "ce" and meta["seed"] == 0 and meta["dtype"] == "float64"
    assert meta["optimizer"] == {"name": "adam", "lr": 0.01}
    assert meta["preprocessing"]["feature_names"] == ["x1", "x2"]
    assert len(meta["history"]["loss"]) == 50 == len(meta["history"]["val_loss"])
    assert meta["history"]["stop_reason"] == "epochs"
    assert meta["chainrule_version"] == cr.__version__
    assert meta["test"]["accuracy"] >= 0.95


def test_evaluate_moons_reaches_95_percent(capsys, moons_model):
    code, out, _ = run(capsys, "evaluate", moons_model, "--data", "moons")
    assert code == 0
    accuracy = float(out.split("accuracy: ")[1].split("%")[0])
    assert accuracy >= 95.0
    assert "confusion matrix" in out


def test_predict_csv_matches_the_model_on_standardised_rows(capsys, tmp_path, moons_model):
    rows = np.array([[0.0, 1.0], [1.0, -0.5], [-1.0, 0.3], [2.0, 0.2]])
    csv_path = tmp_path / "points.csv"
    csv_path.write_text("x1,x2\n" + "".join(f"{a},{b}\n" for a, b in rows))
    code, out, _ = run(capsys, "predict", moons_model, csv_path)
    assert code == 0
    model, meta = load_with_metadata(moons_model)
    prep = Preprocessing.from_dict(meta["preprocessing"])
    with no_grad():
        expected = model(Tensor(prep.features(rows))).data.argmax(axis=1)
    assert out.split() == [str(c) for c in expected]
    assert out.split() == ["0", "1", "0", "1"]  # upper moon, lower moon, upper, lower

    output = tmp_path / "predicted.csv"
    code, _, _ = run(capsys, "predict", moons_model, csv_path, "--output", output)
    assert code == 0
    lines = output.read_text().splitlines()
    assert lines[0] == "x1,x2,prediction" and len(lines) == 5
    assert lines[1] == "0.0,1.0,0"


def test_predict_accepts_a_file_that_also_has_the_target(capsys, tmp_path, moons_model):
    csv_path = tmp_path / "labelled.csv"
    csv_path.write_text("label,x2,x1\n1,1.0,0.0\n0,-0.5,1.0\n")
    code, out, _ = run(capsys, "predict", moons_model, csv_path)
    assert (code, out.split()) == (0, ["0", "1"])  # columns found by name


@pytest.mark.parametrize("kind", ["boundary", "network", "loss", "confusion"])
def test_plot_each_kind(capsys, tmp_path, moons_model, kind):
    out = tmp_path / f"{kind}.png"
    code, text, _ = run(
        capsys, "plot", moons_model, "--data", "moons", "--kind", kind, "--out", out
    )
    assert code == 0 and f"drew {kind} to" in text
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_plot_network_gradients(capsys, tmp_path, moons_model):
    out = tmp_path / "grads.png"
    code, _, _ = run(
        capsys,
        "plot",
        moons_model,
        "--data",
        "moons",
        "--kind",
        "network",
        "--gradients",
        "--out",
        out,
    )
    assert code == 0 and out.is_file()


def test_info_shows_architecture_and_record(capsys, moons_model):
    code, out, _ = run(capsys, "info", moons_model)
    assert code == 0
    for text in ("2 -> 16", "16 -> 2", "Tanh", "82", "moons", "adam", "50 (stopped by epochs)"):
        assert text in out


def test_datasets_lists_the_registry(capsys):
    code, out, _ = run(capsys, "datasets")
    assert code == 0
    for name in data.DATASETS:
        assert name in out
    assert "1797" in out and "mnist:DIR" in out


def test_explain_prints_the_chain_rule(capsys, moons_model):
    code, out, _ = run(
        capsys,
        "explain",
        moons_model,
        "--data",
        "moons",
        "--example",
        "3",
        "--layer",
        "1",
        "--j",
        "2",
        "--k",
        "0",
    )
    assert code == 0
    assert "∂C/∂w_{20}^{(1)}" in out and "autodiff" in out and "agree: yes" in out


def test_default_train_is_the_digits_demo(capsys, tmp_path):
    path = tmp_path / "digits.model"
    code, out, _ = run(capsys, "train", "--save", path)
    assert code == 0
    accuracy = float(out.split("test accuracy: ")[1].split("%")[0])
    assert accuracy >= 95.0
    assert f"saved model to {path}" in out
    assert "training summary" in out


def test_csv_training_with_string_labels_and_regression(capsys, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2))
    names = np.where(X[:, 0] + X[:, 1] > 0, "high", "low")
    labelled = tmp_path / "labelled.csv"
    labelled.write_text(
        "kind,u,v\n" + "".join(f"{n},{a},{b}\n" for n, (a, b) in zip(names, X, strict=True))
    )
    model = tmp_path / "c.model"
    code, out, _ = run(
        capsys,
        "train",
        "--data",
        labelled,
        "--target",
        "kind",
        "--hidden",
        "4",
        "--save",
        model,
        "--quiet",
    )
    assert code == 0 and float(out.split("test accuracy: ")[1].split("%")[0]) >= 90
    code, out, _ = run(capsys, "predict", model, labelled)
    assert code == 0 and set(out.split()) <= {"high", "low"}
    assert np.mean(np.array(out.split()) == names) >= 0.9

    numeric = tmp_path / "numeric.csv"
    y = 3 * X[:, 0] - 2 * X[:, 1] + 100
    numeric.write_text(
        "a,b,y\n" + "".join(f"{a},{b},{t}\n" for (a, b), t in zip(X, y, strict=True))
    )
    reg = tmp_path / "r.model"
    code, out, _ = run(
        capsys,
        "train",
        "--data",
        numeric,
        "--hidden",
        "8",
        "--epochs",
        "200",
        "--save",
        reg,
        "--quiet",
    )
    assert code == 0 and "accuracy" not in out
    assert load_with_metadata(reg)[1]["loss"] == "squared"  # --loss auto on numbers
    code, out, _ = run(capsys, "evaluate", reg, "--data", numeric)
    rmse = float(out.split("root mean squared error (y): ")[1])
    assert code == 0 and rmse < 0.5  # in the target's own units (y spans about ±10)
    code, out, _ = run(capsys, "predict", reg, numeric)
    predicted = np.array([float(v) for v in out.split()])
    assert code == 0 and np.sqrt(np.mean((predicted - y) ** 2)) == pytest.approx(rmse, rel=1e-3)


@pytest.mark.parametrize(
    "options",
    [
        ["--optimizer", "sgd", "--lr", "0.5", "--batch-size", "full", "--epochs", "300"],
        ["--optimizer", "momentum", "--lr", "0.05", "--loss", "bce", "--dtype", "float32"],
        ["--loss", "squared", "--activation", "sigmoid", "--optimizer", "adam", "--lr", "0.05"],
    ],
)
def test_optimizers_losses_and_dtypes_train(capsys, tmp_path, options):
    path = tmp_path / "x.model"
    code, out, _ = run(capsys, "train", "--data", "gauss", *options, "--save", path, "--quiet")
    assert code == 0
    assert float(out.split("test accuracy: ")[1].split("%")[0]) >= 95
    model, meta = load_with_metadata(path)
    assert model.dtype == np.dtype(meta["dtype"])


def test_until_stops_early_and_xor_trains_on_all_four_rows(capsys, tmp_path):
    path = tmp_path / "xor.model"
    code, out, _ = run(
        capsys,
        "train",
        "--data",
        "xor",
        "--hidden",
        "4",
        "--epochs",
        "3000",
        "--until",
        "0.01",
        "--batch-size",
        "full",
        "--lr",
        "0.05",
        "--save",
        path,
    )
    assert code == 0
    assert "too few to hold out" in out and "training accuracy: 100.0%" in out
    history = load_with_metadata(path)[1]["history"]
    assert history["stop_reason"] == "until" and history["loss"][-1] <= 0.01
    assert len(history["loss"]) < 3000


def test_checkpoint_and_resume_continue_the_run(capsys, tmp_path):
    path = tmp_path / "run.model"
    code, _, _ = run(
        capsys,
        "train",
        "--data",
        "circles",
        "--epochs",
        "6",
        "--checkpoint-every",
        "2",
        "--save",
        path,
        "--quiet",
    )
    assert code == 0
    first = load_with_metadata(path)[1]
    assert len(first["history"]["loss"]) == 6
    code, out, _ = run(capsys, "train", "--resume", path, "--epochs", "10", "--quiet")
    assert code == 0 and f"saved model to {path}" in out
    resumed = load_with_metadata(path)[1]
    assert len(resumed["history"]["loss"]) == 10
    assert resumed["history"]["loss"][:6] == first["history"]["loss"]
    assert resumed["data"] == "circles" and resumed["preprocessing"] == first["preprocessing"]


def test_checkpoints_are_written_during_training(tmp_path, monkeypatch):
    """callbacks.Checkpoint saves at epochs 2 and 4, the end of training at 5; each file
    holds the whole history so far."""
    import chainrule.io

    saved_epochs = []
    real_save = chainrule.io.save

    def spy(model, path, metadata, **more):
        saved_epochs.append(len(metadata["history"]["loss"]))
        real_save(model, path, metadata=metadata, **more)

    monkeypatch.setattr(chainrule.io, "save", spy)
    assert (
        main(
            [
                "train",
                "--data",
                "gauss",
                "--epochs",
                "5",
                "--checkpoint-every",
                "2",
                "--save",
                str(tmp_path / "g.model"),
                "--quiet",
            ]
        )
        == 0
    )
    assert saved_epochs == [2, 4, 5]


def test_ctrl_c_stops_after_the_batch_saves_and_summarises(tmp_path):
    path = tmp_path / "long.model"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chainrule.cli",
            "train",
            "--data",
            "moons",
            "--epochs",
            "100000",
            "--save",
            str(path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout.readline().startswith("training on moons")
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "interrupted" in out and "test accuracy" in out and "saved model to" in out
    history = load_with_metadata(path)[1]["history"]
    assert history["stop_reason"] == "interrupted" and 0 < len(history["loss"]) < 100000


# --- errors: one line, exit 2 for options, 1 for data and files -------------------------------

# Every option and argument of every command with a bad value: (command, option, the rest of
# the line, exit code, words of the one-line message). {model} is a trained moons model, {csv}
# a 3-column CSV; "none/" is a folder that does not exist. 2: a bad option or range
# (ConfigError, typer's usage errors); 1: bad data or files (DataError, ModelFileError, OSError).
BAD_VALUES = [
    ("train", "--data", ["--data", "mons"], 2, "unknown dataset 'mons'; expected one of and, or"),
    ("train", "--data", ["--data", "absent.csv"], 1, "no such file: absent.csv"),
    ("train", "--target", ["--data", "{csv}", "--target", "label"], 1, "target column 'label'"),
    (
        "train",
        "--target",
        ["--target", "label"],
        2,
        "target must be None for the built-in 'digits' (CSV files only)",
    ),
    ("train", "--hidden", ["--hidden", "16,x"], 2, "--hidden must be positive integers"),
    ("train", "--hidden", ["--hidden", "8,-2"], 2, "--hidden must be positive integers"),
    ("train", "--hidden", ["--hidden", "1.5"], 2, "got '1.5'"),
    (
        "train",
        "--activation",
        ["--activation", "swish"],
        2,
        "--activation must be one of sigmoid, tanh, relu, softplus, identity, leaky_relu, elu, "
        "gelu, silu, mish, hardtanh, softsign, got 'swish'",
    ),
    (
        "train",
        "--loss",
        ["--loss", "hinge"],
        2,
        "--loss must be one of auto, squared, mse, bce, ce",
    ),
    ("train", "--optimizer", ["--optimizer", "rmsprop"], 2, "must be one of sgd, adam, momentum"),
    ("train", "--lr", ["--lr", "0"], 2, "--lr must be a finite number > 0, got 0.0"),
    ("train", "--lr", ["--lr", "-0.1"], 2, "--lr must be a finite number > 0, got -0.1"),
    ("train", "--lr", ["--lr", "nan"], 2, "--lr must be a finite number > 0, got nan"),
    ("train", "--epochs", ["--epochs", "0"], 2, "--epochs must be a positive integer, got 0"),
    ("train", "--epochs", ["--epochs", "many"], 2, "Invalid value for '--epochs'"),
    ("train", "--batch-size", ["--batch-size", "0"], 2, "must be a positive integer or 'full'"),
    ("train", "--until", ["--until", "-1"], 2, "--until must be a finite number >= 0, got -1.0"),
    ("train", "--seed", ["--seed", "-1"], 2, "--seed must be an integer >= 0, got -1"),
    ("train", "--dtype", ["--dtype", "float16"], 2, "--dtype must be one of float32, float64"),
    (
        "train",
        "--test-split",
        ["--test-split", "1.5"],
        2,
        "--test-split must be a fraction in [0, 1), got 1.5",
    ),
    ("train", "--save", ["--save", "none/m.model"], 1, "folder none does not exist"),
    ("train", "--overwrite-worse", ["--overwrite-worse=x"], 2, "does not take a value"),
    (
        "train",
        "--max-parameters",
        ["--max-parameters", "0"],
        2,
        "--max-parameters must be a positive integer, got 0",
    ),
    ("train", "--plot", ["--plot", "loss.jpg"], 2, "--plot must be a file name ending in .png"),
    ("train", "--plot", ["--plot", "none/loss.png"], 1, "folder none does not exist"),
    (
        "train",
        "--checkpoint-every",
        ["--checkpoint-every", "0", "--save", "x.model"],
        2,
        "--checkpoint-every must be a positive integer, got 0",
    ),
    (
        "train",
        "--checkpoint-every",
        ["--checkpoint-every", "5"],
        2,
        "--checkpoint-every must be given with --save FILE",
    ),
    ("train", "--resume", ["--resume", "absent.model"], 1, "no model file at absent.model"),
    (
        "train",
        "--resume",
        ["--resume", "{model}", "--data", "moons"],
        2,
        "--data must be left out with --resume",
    ),
    ("train", "--quiet", ["--quiet=yes"], 2, "Option '--quiet' does not take a value"),
    ("train", "--task", ["--task", "ranking"], 2, "--task must be one of classification, regr"),
    ("train", "--task", ["--data", "iris", "--task", "regression"], 1, "needs a numeric target"),
    ("train", "--n", ["--data", "moons", "--n", "0"], 2, "--n must be a positive integer, got 0"),
    ("train", "--n", ["--data", "iris", "--n", "50"], 2, "--n must be given with a generated set"),
    ("train", "--noise", ["--data", "moons", "--noise", "-1"], 2, "--noise must be a finite"),
    ("train", "--noise", ["--noise", "0.1"], 2, "got 'digits'"),
    ("train", "--init", ["--init", "zeros"], 2, "--init must be one of default, small, xavier"),
    ("train", "--momentum", ["--momentum", "0.5"], 2, "given with --optimizer sgd or momentum"),
    ("train", "--workers", ["--workers", "0"], 2, "--workers must be a positive integer, got 0"),
    ("train", "--scheduler", ["--scheduler", "foo://h:1"], 2, "--scheduler must be a scheduler"),
    (
        "train",
        "--weight-decay",
        ["--weight-decay", "-0.1"],
        2,
        "--weight-decay must be a finite number >= 0, got -0.1",
    ),
    (
        "train",
        "--momentum",
        ["--optimizer", "sgd", "--momentum", "1"],
        2,
        "--momentum must be a number with 0 <= m < 1, got 1.0",
    ),
    ("evaluate", "MODEL", ["absent.model", "--data", "moons"], 1, "no model file at absent.model"),
    ("evaluate", "MODEL", [], 2, "Missing argument 'MODEL'"),
    ("evaluate", "--data", ["{model}"], 2, "Missing option '--data'"),
    ("evaluate", "--data", ["{model}", "--data", "nope"], 2, "unknown dataset 'nope'"),
    ("evaluate", "--data", ["{model}", "--data", "iris"], 1, "expects features x1, x2 but"),
    (
        "evaluate",
        "--target",
        ["{model}", "--data", "moons", "--target", "y"],
        2,
        "(CSV files only), got 'y'",
    ),
    ("predict", "MODEL", ["absent.model", "{csv}"], 1, "no model file at absent.model"),
    ("predict", "FILE", ["{model}", "absent.csv"], 1, "no such file: absent.csv"),
    ("predict", "--output", ["{model}", "{csv}", "--output", "none/p.csv"], 1, "does not exist"),
    ("predict", "--proba", ["{model}", "{csv}", "--proba=1"], 2, "does not take a value"),
    (
        "explain",
        "MODEL",
        ["absent.model", "--data", "moons", "--example", "0", "--layer", "1", "--j", "0"],
        1,
        "no model file at absent.model",
    ),
    (
        "explain",
        "--data",
        ["{model}", "--data", "nope", "--example", "0", "--layer", "1", "--j", "0"],
        2,
        "unknown dataset 'nope'",
    ),
    (
        "explain",
        "--example",
        ["{model}", "--data", "moons", "--example", "400", "--layer", "1", "--j", "0"],
        2,
        "--example must be a row of moons: 0..399, got 400",
    ),
    (
        "explain",
        "--example",
        ["{model}", "--data", "moons", "--example", "-1", "--layer", "1", "--j", "0"],
        2,
        "got -1",
    ),
    (
        "explain",
        "--layer",
        ["{model}", "--data", "moons", "--example", "0", "--layer", "9", "--j", "0"],
        2,
        "--layer must be a Linear layer of the model, counted from 1: 1..2, got 9",
    ),
    (
        "explain",
        "--layer",
        ["{model}", "--data", "moons", "--example", "0", "--layer", "0", "--j", "0"],
        2,
        "1..2, got 0",
    ),
    (
        "explain",
        "--j",
        ["{model}", "--data", "moons", "--example", "0", "--layer", "1", "--j", "99"],
        2,
        "--j must be a neuron of layer 1: 0..15, got 99",
    ),
    (
        "explain",
        "--k",
        ["{model}", "--data", "moons", "--example", "0", "--layer", "1", "--j", "0", "--k", "9"],
        2,
        "--k must be a neuron of layer 0, the input of 1: 0..1, got 9",
    ),
    (
        "explain",
        "--target",
        [
            "{model}",
            "--data",
            "moons",
            "--example",
            "0",
            "--layer",
            "1",
            "--j",
            "0",
            "--target",
            "y",
        ],
        2,
        "(CSV files only), got",
    ),
    ("plot", "MODEL", ["absent.model", "--kind", "loss", "--out", "p.png"], 1, "no model file"),
    (
        "plot",
        "--kind",
        ["{model}", "--kind", "pie", "--out", "p.png"],
        2,
        "--kind must be one of loss, boundary, network, confusion, got 'pie'",
    ),
    (
        "plot",
        "--out",
        ["{model}", "--kind", "loss", "--out", "p.jpg"],
        2,
        "--out must be a file name ending in .png",
    ),
    (
        "plot",
        "--out",
        ["{model}", "--kind", "loss", "--out", "none/p.png"],
        1,
        "folder none does not exist",
    ),
    (
        "plot",
        "--data",
        ["{model}", "--kind", "boundary", "--out", "p.png"],
        2,
        "--kind must be loss or network (without --gradients) when --data is not given, got "
        "'boundary'",
    ),
    (
        "plot",
        "--data",
        ["{model}", "--kind", "confusion", "--data", "nope", "--out", "p.png"],
        2,
        "unknown dataset 'nope'",
    ),
    (
        "plot",
        "--target",
        ["{model}", "--kind", "boundary", "--data", "moons", "--target", "y", "--out", "p.png"],
        2,
        "(CSV files only), got",
    ),
    (
        "plot",
        "--gradients",
        ["{model}", "--kind", "network", "--gradients=x", "--out", "p.png"],
        2,
        "does not take a value",
    ),
    ("info", "MODEL", ["absent.model"], 1, "no model file at absent.model"),
    ("datasets", "ACTION", ["extra"], 2, "ACTION must be one of list, fetch, got 'extra'"),
    ("datasets", "NAME", ["fetch"], 2, "NAME must be given with fetch (mnist or fashion-mnist)"),
    ("datasets", "NAME", ["fetch", "cifar"], 2, "NAME must be one of mnist, fashion-mnist"),
    ("datasets", "--mirror", ["fetch", "mnist", "--mirror"], 2, "requires an argument"),
    ("datasets", "", ["list", "mnist", "extra"], 2, "unexpected extra argument"),
    (
        "walkthrough",
        "--a",
        ["--a", "2"],
        2,
        "a must be a sigmoid output, a number strictly between 0 and 1, got 2.0",
    ),
    ("walkthrough", "--y", ["--y", "nan"], 2, "y must be a finite number, got nan"),
    ("walkthrough", "--a-prev", ["--a-prev", "2"], 2, "a_prev must be a sigmoid output"),
    ("walkthrough", "--a-prev2", ["--a-prev2", "x"], 2, "Invalid value for '--a-prev2'"),
    ("walkthrough", "--lr", ["--lr", "0"], 2, "lr must be a finite number > 0, got 0.0"),
    ("walkthrough", "--w", ["--w", "nan"], 2, "w must be a finite number, got nan"),
    ("walkthrough", "--w-prev", ["--w-prev", "inf"], 2, "w_prev must be a finite number, got inf"),
    ("walkthrough", "--markdown", ["--markdown=x"], 2, "does not take a value"),
    ("exercise", "--sizes", ["--sizes", "2,x"], 2, "--sizes '2,x' is not a list of layer sizes"),
    ("exercise", "--sizes", ["--sizes", "2"], 2, "sizes must be 2 to 5 layer sizes"),
    ("exercise", "--seed", ["--seed", "-1"], 2, "seed must be an integer >= 0, got -1"),
    ("exercise", "--lr", ["--lr", "0"], 2, "lr must be a finite number > 0, got 0.0"),
    (
        "exercise",
        "--activation",
        ["--activation", "swish"],
        2,
        "activation must be one of sigmoid, tanh, relu, softplus",
    ),
    ("exercise", "--answers", ["--answers=x"], 2, "does not take a value"),
    ("exercise", "--raw", ["--raw=1"], 2, "does not take a value"),
    ("exercise", "--ask", ["--ask", "1,0"], 2, "--ask '1,0' is not a weight; expected layer,j,k"),
    ("exercise", "--ask", ["--ask", "3,0,0"], 2, "ask entry (3, 0, 0) must be (layer, j, k) with"),
    ("exercise", "--format", ["--format", "pdf"], 2, "--format must be one of md, tex, html"),
    ("exercise", "--out", ["--out", "nowhere/s.md"], 1, "folder nowhere does not exist"),
    ("playground", "--host", ["--host", "http://x/"], 2, "--host must be an address such"),
    ("playground", "--port", ["--port", "0"], 2, "--port must be a TCP port from 1 to 65535"),
    ("playground", "--no-browser", ["--no-browser=x"], 2, "does not take a value"),
    ("frobnicate", "", [], 2, "No such command 'frobnicate'"),
    ("train", "", ["--no-such-option"], 2, "No such option: --no-such-option"),
]


@pytest.mark.parametrize(
    "command, option, rest, code, words",
    BAD_VALUES,
    ids=[f"{c} {o or ' '.join(r)} -> {x}" for c, o, r, x, _ in BAD_VALUES],
)
def test_every_bad_value_is_one_line_and_its_exit_code(
    capsys, tmp_path, monkeypatch, moons_model, command, option, rest, code, words
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.csv").write_text("a,b,c\n1,2,0\n3,4,1\n")
    args = [a.format(model=moons_model, csv=tmp_path / "d.csv") for a in rest]
    line = fails(capsys, code, command, *args)
    assert words.lower() in line.lower()
    assert not list(tmp_path.glob("*.model")), "a refused command wrote a model"


def test_the_table_tries_every_option_of_every_command():
    """BAD_VALUES names each command's every option and argument: a new option without a
    bad-value row fails here."""
    import typer

    from chainrule.cli import app

    tried = {(command, option) for command, option, *_ in BAD_VALUES}
    commands = typer.main.get_command(app).commands
    for name, command in commands.items():
        for param in command.params:
            option = param.opts[0] if param.opts[0].startswith("--") else param.name.upper()
            assert (name, option) in tried, f"no bad value for chainrule {name} {option}"


def test_exit_codes_follow_the_error_type():
    from chainrule.cli import EXIT_CODES, exit_code

    assert exit_code(cr.ConfigError("x")) == 2
    assert exit_code(cr.DataError("x")) == exit_code(cr.ShapeError("x")) == 1
    assert exit_code(cr.errors.ModelFileError("x")) == exit_code(FileNotFoundError("x")) == 1
    assert exit_code(cr.errors.DivergedError("x")) == 1
    assert exit_code(KeyboardInterrupt()) == 130
    assert exit_code(RuntimeError("a bug")) is None
    assert all(code in (1, 2, 130) for _, code in EXIT_CODES)


def test_a_bug_is_one_line_that_says_how_to_see_more(capsys, monkeypatch, moons_model):
    import chainrule.cli.info as info

    def broken(path):
        raise RuntimeError("something inside broke")

    monkeypatch.setattr(info, "load_network", broken)
    line = fails(capsys, 1, "info", moons_model)
    assert line == (
        "chainrule: error: internal error: RuntimeError: something inside broke (run again "
        "with --debug for the traceback)"
    )


def test_ctrl_c_outside_training_exits_130(capsys, monkeypatch):
    from chainrule.cli import show

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(show, "console", interrupted)
    assert fails(capsys, 130, "datasets") == "chainrule: error: interrupted"


def test_unknown_dataset_message_lists_every_known_name(capsys):
    line = fails(capsys, 2, "train", "--data", "nope")
    for name in data.DATASETS:
        assert name in line


def test_bad_loss_for_the_task_exits_2(capsys, tmp_path):
    numeric = tmp_path / "n.csv"
    numeric.write_text("a,y\n" + "".join(f"{i},{i * 1.5 + 0.25}\n" for i in range(40)))
    assert "loss must be one of squared, mse (ce does not fit a numeric target), got 'ce'" in (
        fails(capsys, 2, "train", "--data", numeric, "--loss", "ce")
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "is empty; expected a header row"),
        ("a,b,c\n1,2,0\n3,4\n", "line 3 has 2 fields but the header has 3"),
        ("a,b,c\n1,2,0\n3,x,1\n", "line 3, column 'b': 'x' is not a number"),
        ("a,b,c\n1,2,0\n3,nan,1\n", "line 3, column 'b': nan is not a finite number"),
        ("a,b,c\n1,-inf,0\n3,4,1\n", "line 2, column 'b': -inf is not a finite number"),
        ("a,b,c\n1,2,0\n3,4,0\n", "only one class ('0'); expected at least 2 classes"),
    ],
)
def test_bad_csv_exits_1(capsys, tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    assert message in fails(capsys, 1, "train", "--data", path)


def test_predict_with_the_wrong_columns_exits_1(capsys, tmp_path, moons_model):
    three = tmp_path / "three.csv"
    three.write_text("a,b,c\n1,2,3\n")
    line = fails(capsys, 1, "predict", moons_model, three)
    assert "has 3 columns (a, b, c) but the model expects 2: x1, x2" in line
    renamed = tmp_path / "renamed.csv"
    renamed.write_text("u,v\n1,2\n")
    assert "expected a header naming x1, x2" in fails(capsys, 1, "predict", moons_model, renamed)
    text = tmp_path / "text.csv"
    text.write_text("x1,x2\n1,2\n3,four\n")
    assert "line 3, column 'x2': 'four' is not a number" in fails(
        capsys, 1, "predict", moons_model, text
    )


class Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def not_models(tmp_path: Path, moons_model: Path) -> dict[str, Path]:
    files = {
        "garbage": os.urandom(300),
        "truncated": moons_model.read_bytes()[: moons_model.stat().st_size // 2],
        "pickle": pickle.dumps(Evil()),
        "empty": b"",
    }
    paths = {}
    for name, blob in files.items():
        paths[name] = tmp_path / f"{name}.model"
        paths[name].write_bytes(blob)
    paths["npz"] = tmp_path / "objects.npz"
    np.savez(paths["npz"], a=np.array([{"x": 1}, None], dtype=object))
    return paths


@pytest.mark.parametrize("command", ["evaluate", "info", "predict"])
def test_files_that_are_not_models_are_refused(capsys, tmp_path, moons_model, command, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = tmp_path / "rows.csv"
    rows.write_text("x1,x2\n0,0\n")
    extra = {"evaluate": ["--data", "moons"], "info": [], "predict": [rows]}[command]
    for name, path in not_models(tmp_path, moons_model).items():
        line = fails(capsys, 1, command, path, *extra)
        assert "not a chainrule model file" in line, (name, line)
    assert not (tmp_path / "pwned").exists()


def test_a_model_saved_from_python_without_a_record(capsys, tmp_path):
    """Issue 12: the commands take it, say so in one line, and go on."""
    path = tmp_path / "bare.model"
    cr.save(cr.nn.mlp([2, 3, 2]), path)
    code, out, err = run(capsys, "evaluate", path, "--data", "moons")
    assert code == 0 and "no training record" in err and "accuracy:" in out
    code, out, _ = run(capsys, "info", path)
    assert code == 0 and "no training record" in out


def test_debug_shows_the_traceback(capsys, tmp_path):
    code = main(["--debug", "evaluate", str(tmp_path / "absent.model"), "--data", "moons"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" in err and "ModelFileError" in err


def test_installed_command_exits_cleanly(tmp_path):
    """The console script itself: no traceback, the exit code and one line on stderr."""
    script = Path(sys.executable).parent / "chainrule"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "chainrule.cli"]
    done = subprocess.run(
        [*command, "train", "--hidden", "x"], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "chainrule: error: --hidden must be positive integers separated by commas, like 16 or "
        "16,8 (or none), got 'x'"
    ]
    shown = subprocess.run([*command, "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert shown.returncode == 0
    for name in ("train", "evaluate", "predict", "explain", "plot", "info", "datasets"):
        assert name in shown.stdout


def test_lecture_commands_are_registered(capsys):
    code, out, _ = run(capsys, "walkthrough")
    assert code == 0 and "C_i = (a^{(L)} − y)²" in out
    code, out, _ = run(capsys, "exercise", "--sizes", "2,2,1", "--answers")
    assert code == 0 and out.strip()
    assert "--sizes '2,x'" in fails(capsys, 2, "exercise", "--sizes", "2,x")


MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


@pytest.mark.skipif(not MNIST.is_dir(), reason=f"MNIST IDX files not found at {MNIST}")
def test_train_and_evaluate_on_real_mnist(capsys, tmp_path):
    path = tmp_path / "mnist.model"
    source = f"mnist:{MNIST}"
    code, out, _ = run(
        capsys,
        "train",
        "--data",
        source,
        "--epochs",
        "2",
        "--hidden",
        "32",
        "--lr",
        "0.005",
        "--test-split",
        "0.5",
        "--save",
        path,
        "--quiet",
    )
    assert code == 0
    # 5,000 images seen twice: about 90% on the 5,000 held out (more epochs reach 93%+)
    assert float(out.split("test accuracy: ")[1].split("%")[0]) >= 88.0
    code, out, _ = run(capsys, "evaluate", path, "--data", source)
    assert code == 0 and "10000 rows" in out


def test_resume_finds_a_csv_from_another_folder(capsys, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    rows = "".join(f"{i % 7},{i % 5},{'ab'[(i % 7) > 3]}\n" for i in range(60))
    (work / "d.csv").write_text("p,q,kind\n" + rows)
    monkeypatch.chdir(work)
    code, _, _ = run(
        capsys, "train", "--data", "d.csv", "--epochs", "2", "--save", "r.model", "--quiet"
    )
    assert code == 0
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "train", "--resume", work / "r.model", "--epochs", "4", "--quiet")
    assert code == 0, err
    assert len(load_with_metadata(work / "r.model")[1]["history"]["loss"]) == 4


def test_network_gradients_match_pytorch_on_the_standardised_data(moons_model):
    """What `plot --kind network --gradients` draws is ∂C/∂w of the model's loss over the
    data as the model sees it (standardised rows, integer labels): PyTorch agrees."""
    torch = oracle()

    from chainrule.cli.plot import gradients
    from chainrule.cli.trained import Trained

    trained = Trained.load(moons_model)
    ds, y = trained.dataset("moons", None)
    ours = gradients(trained, *trained.prepared(ds.X, y))

    X = torch.tensor(trained.prep.features(ds.X), dtype=torch.float64)
    weights = {
        k: torch.tensor(v, requires_grad=True) for k, v in trained.model.state_dict().items()
    }
    z1 = X @ weights["0.weight"].T + weights["0.bias"]
    z2 = torch.tanh(z1) @ weights["2.weight"].T + weights["2.bias"]
    torch.nn.functional.cross_entropy(z2, torch.tensor(y)).backward()
    for name, w in weights.items():
        np.testing.assert_allclose(ours[name], w.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert (code, out.strip()) == (0, f"chainrule {cr.__version__}")
