"""Issue 12, a newcomer's first hour: defaults that work or say what to change, the options a
practitioner reaches for, models made in Python accepted by the command line, data sets that
unpack as X, y, and a test suite that runs without its PyTorch oracle."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import REQUIRE_TORCH, _MissingTorch

import chainrule as cr
from chainrule.cli import main
from chainrule.cli.options import parse_hidden
from chainrule.io import load_with_metadata


def run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def accuracy(out: str) -> float:
    return float(re.search(r"(?:test|training) accuracy: ([\d.]+)%", out).group(1)) / 100


# --- defaults and hints ---------------------------------------------------------------------


def test_spirals_train_well_with_the_default_options(capsys):
    """Its registry entry brings two hidden layers of 32 and 300 epochs (one layer of 32 and
    50 epochs ended at 47.5%, chance)."""
    code, out, _ = run(capsys, "train", "--data", "spirals")
    assert code == 0
    assert "network 2-32-32-2" in out
    assert accuracy(out) >= 0.95
    assert "hint:" not in out


def test_no_hidden_layer_shows_xor_is_not_linearly_separable(capsys, tmp_path):
    assert parse_hidden("none") == parse_hidden("0") == parse_hidden("None") == []
    args = ["--data", "xor", "--batch-size", "full", "--lr", "0.05", "--epochs", "300"]
    code, out, _ = run(capsys, "train", *args, "--hidden", "none", "--save", tmp_path / "x.model")
    assert code == 0 and "network 2-2 " in out
    assert accuracy(out) <= 0.75
    hint = [line for line in out.splitlines() if line.startswith("hint:")]
    assert len(hint) == 1 and "no hidden layer" in hint[0] and "--hidden 8" in hint[0]
    model, _ = load_with_metadata(tmp_path / "x.model")
    assert [type(m).__name__ for m in model] == ["Linear"]
    code, out, _ = run(capsys, "train", *args, "--hidden", "8", "--until", "0.01")
    assert accuracy(out) == 1.0 and "hint:" not in out


def test_chance_accuracy_suggests_a_bigger_network(capsys):
    code, out, _ = run(capsys, "train", "--data", "spirals", "--hidden", "2", "--epochs", "2")
    assert code == 0
    assert "hint:" in out and "try more neurons or layers" in out


def test_an_empty_hidden_is_refused_not_read_as_the_default(capsys):
    code, _, err = run(capsys, "train", "--hidden", "")
    assert code == 2 and "--hidden must be positive integers" in err


# --- cr.fit chooses its loss as the command line's auto does --------------------------------


def test_fit_takes_class_labels_with_cross_entropy_by_default():
    X, y = cr.data.moons(n=100)
    model = cr.nn.mlp([2, 8, 2], "tanh", rng=0)
    history = cr.fit(model, X, y, epochs=30, progress=False)
    assert history.accuracy, "cross-entropy records accuracy"
    reference = cr.nn.mlp([2, 8, 2], "tanh", rng=0)
    explicit = cr.fit(reference, X, y, loss=cr.nn.CrossEntropyLoss(), epochs=30, progress=False)
    assert history.loss == explicit.loss


def test_fit_takes_real_targets_with_squared_error_by_default():
    X = np.linspace(-1, 1, 20).reshape(-1, 1)
    model = cr.nn.mlp([1, 4, 1], "tanh", rng=0)
    history = cr.fit(model, X, X**2, epochs=5, progress=False)
    reference = cr.nn.mlp([1, 4, 1], "tanh", rng=0)
    explicit = cr.fit(reference, X, X**2, loss="squared", epochs=5, progress=False)
    assert history.loss == explicit.loss and not history.accuracy


def test_an_explicit_loss_wins_and_a_shape_mismatch_says_which_loss_fits():
    X, y = cr.data.moons(n=40)
    with pytest.raises(cr.ShapeError, match="Y holds class labels: loss='ce'"):
        cr.fit(cr.nn.mlp([2, 4, 2]), X, y, loss="squared", epochs=1, progress=False)
    with pytest.raises(cr.DataError, match="one output per class: 2 in the last layer"):
        cr.fit(cr.nn.mlp([2, 4, 1]), X, y, epochs=1, progress=False)


# --- practitioner options -------------------------------------------------------------------


def test_task_regression_reads_whole_numbers_as_numbers(capsys, tmp_path):
    rows = "\n".join(f"{x},{x % 16}" for x in range(64))
    (tmp_path / "r.csv").write_text("x,level\n" + rows + "\n")
    path = tmp_path / "r.model"
    args = ["train", "--data", tmp_path / "r.csv", "--epochs", "2", "--quiet", "--save", path]
    code, out, _ = run(capsys, *args)
    assert code == 0 and "accuracy" in out  # 16 whole numbers: classes by default
    code, out, _ = run(capsys, *args, "--task", "regression")
    assert code == 0 and "accuracy" not in out
    _, metadata = load_with_metadata(path)
    assert metadata["loss"] == "squared" and metadata["preprocessing"]["class_names"] is None
    assert metadata["task"] == "regression"


def test_task_classification_reads_numbers_as_classes(capsys, tmp_path):
    rows = "\n".join(f"{x},{0.5 * (x % 3)}" for x in range(30))
    (tmp_path / "c.csv").write_text("x,grade\n" + rows + "\n")
    data = ["--data", tmp_path / "c.csv", "--epochs", "2", "--quiet"]
    code, out, _ = run(capsys, "train", *data, "--task", "classification")
    assert code == 0 and "accuracy" in out


def test_momentum_init_and_a_generated_sets_size_noise_and_seed(capsys, tmp_path):
    path = tmp_path / "m.model"
    args = ["train", "--data", "moons", "--n", "1000", "--noise", "0.3", "--seed", "3"]
    options = ["--optimizer", "sgd", "--momentum", "0.5", "--init", "xavier", "--epochs", "3"]
    code, out, _ = run(capsys, *args, *options, "--save", path)
    assert code == 0 and "training on moons: 800 rows, 200 held out" in out
    _, metadata = load_with_metadata(path)
    assert metadata["optimizer"] == {"name": "sgd", "lr": 0.01, "momentum": 0.5}
    assert metadata["init"] == "xavier"
    assert metadata["data_options"] == {"seed": 3, "n": 1000, "noise": 0.3}
    # a resumed run reads the same 1,000 rows
    code, out, _ = run(capsys, "train", "--resume", path, "--epochs", "4")
    assert code == 0 and "800 rows, 200 held out" in out
    plain = tmp_path / "p.model"
    run(capsys, *args, "--optimizer", "sgd", "--epochs", "3", "--save", plain)
    assert load_with_metadata(plain)[1]["history"]["loss"] != metadata["history"]["loss"]


def test_predict_proba_gives_each_class_probability(capsys, tmp_path):
    path = tmp_path / "m.model"
    run(capsys, "train", "--data", "blobs", "--epochs", "5", "--quiet", "--save", path)
    (tmp_path / "p.csv").write_text("x1,x2\n-4,-2\n4,-2\n0,4\n")
    code, out, _ = run(capsys, "predict", path, tmp_path / "p.csv", "--proba")
    lines = out.strip().splitlines()
    assert code == 0 and lines[0] == "prediction,P(0),P(1),P(2)"
    for line, want in zip(lines[1:], ["0", "1", "2"], strict=True):
        label, *p = line.split(",")
        p = np.array(p, dtype=float)
        assert label == want and abs(p.sum() - 1) < 1e-3 and int(p.argmax()) == int(label)


def test_the_loss_plot_calls_the_held_out_rows_test(monkeypatch, capsys, tmp_path):
    from chainrule import plot

    seen = {}
    original = plot.loss_curves

    def spy(history, title=None, held_out="validation"):
        seen["held_out"] = held_out
        return original(history, title=title, held_out=held_out)

    monkeypatch.setattr(plot, "loss_curves", spy)
    args = ["--data", "moons", "--epochs", "2", "--quiet", "--plot", tmp_path / "l.png"]
    assert run(capsys, "train", *args)[0] == 0
    assert seen["held_out"] == "test"
    figure = original(cr.train.History(loss=[1.0, 0.5], val_loss=[1.1, 0.6]), held_out="test")
    labels = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert labels == ["training", "test"]


# --- models made in Python, in the command line ---------------------------------------------


def test_a_cr_save_model_is_evaluated_predicted_drawn_and_described(capsys, tmp_path):
    X, y = cr.data.moons()
    model = cr.nn.mlp([2, 16, 2], "tanh", rng=0)
    cr.fit(
        model, X, y, optimizer=cr.optim.Adam(model.parameters(), 0.01), epochs=150, progress=False
    )
    path = tmp_path / "py.model"
    cr.save(model, path)
    code, out, err = run(capsys, "evaluate", path, "--data", "moons")
    assert code == 0 and err.count("\n") == 1 and "no training record" in err
    assert "loss (ce)" in out and float(re.search(r"accuracy: ([\d.]+)%", out).group(1)) > 95
    (tmp_path / "p.csv").write_text("a,b\n0.0,1.0\n1.0,-0.5\n")
    code, out, _ = run(capsys, "predict", path, tmp_path / "p.csv", "--proba")
    assert code == 0 and out.splitlines()[1].startswith("0,") and out.splitlines()[2][0] == "1"
    png = tmp_path / "b.png"
    assert run(capsys, "plot", path, "--kind", "boundary", "--data", "moons", "--out", png)[0] == 0
    assert png.stat().st_size > 0
    code, out, _ = run(capsys, "info", path)
    assert code == 0 and "no training record" in out


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_an_estimators_file_brings_its_classes_and_loss_curve(capsys, tmp_path):
    from chainrule.sklearn import MLPClassifier

    X, y = cr.data.blobs()
    names = np.array(["a", "b", "c"])[y]
    estimator = MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0).fit(X, names)
    path = tmp_path / "est.model"
    estimator.save(path)
    (tmp_path / "p.csv").write_text("x1,x2\n-4,-2\n0,4\n")
    code, out, err = run(capsys, "predict", path, tmp_path / "p.csv")
    assert code == 0 and out.split() == list(estimator.predict(np.array([[-4, -2], [0, 4]])))
    png = tmp_path / "loss.png"
    assert run(capsys, "plot", path, "--kind", "loss", "--out", png)[0] == 0


# --- data sets ------------------------------------------------------------------------------


def test_datasets_unpack_as_x_y_and_have_a_short_repr():
    X, y = cr.data.moons(n=50, noise=0.2, seed=1)
    assert X.shape == (50, 2) and y.shape == (50,)
    assert repr(cr.data.moons()) == "<Dataset moons: 400 rows, 2 features, 2 classes>"
    ds = cr.data.load("spirals", n=100, noise=0.0, seed=2)
    assert len(ds) == 100
    with pytest.raises(cr.ConfigError, match="n must be given for a generated set"):
        cr.data.load("iris", n=3)


def test_a_label_column_first_suggests_target(capsys, tmp_path):
    (tmp_path / "l.csv").write_text("Label,a,b\nmid,1,2\nhigh,3,4\nlow,5,6\n")
    code, _, err = run(capsys, "train", "--data", tmp_path / "l.csv")
    assert code == 1 and "column 'Label' is text ('mid' on line 2)" in err
    assert "--target Label" in err
    code, out, _ = run(capsys, "train", "--data", tmp_path / "l.csv", "--target", "Label")
    assert code == 0


def test_the_mnist_test_set_alone_is_noted_and_split_8000_2000(mnist_dir):
    ds = cr.data.load(f"mnist:{mnist_dir}")
    assert "only the test set's files" in ds.note and "datasets fetch mnist" in ds.note
    train, test = cr.data.split(ds, 0.2)
    assert (len(train), len(test)) == (8000, 2000)


# --- the oracle helper ----------------------------------------------------------------------


def test_the_missing_torch_stand_in_imports_then_skips_or_fails(monkeypatch):
    torch = _MissingTorch()
    table = {"exp": torch.exp, "tanh": torch.nn.Tanh}  # module tables still build
    monkeypatch.delenv(REQUIRE_TORCH, raising=False)
    with pytest.raises(pytest.skip.Exception, match="PyTorch .* is not installed"):
        table["exp"](1.0)
    monkeypatch.setenv(REQUIRE_TORCH, "1")
    with pytest.raises(pytest.fail.Exception, match="CHAINRULE_REQUIRE_TORCH=1"):
        torch.tensor([1.0])


def test_weight_decay_shrinks_the_weights_and_is_recorded(capsys, tmp_path):
    args = ["train", "--data", "moons", "--epochs", "20", "--optimizer", "momentum"]
    models = {}
    for decay in ("0", "0.05"):
        path = tmp_path / f"{decay}.model"
        code, _, _ = run(capsys, *args, "--weight-decay", decay, "--save", path)
        assert code == 0
        models[decay] = load_with_metadata(path)
    (plain, _), (decayed, metadata) = models["0"], models["0.05"]
    assert metadata["optimizer"] == {
        "name": "momentum",
        "lr": 0.01,
        "momentum": 0.9,
        "weight_decay": 0.05,
    }
    norm = {m: sum(float((p.data**2).sum()) for p in m.parameters()) for m in (plain, decayed)}
    assert norm[decayed] < 0.9 * norm[plain]  # L2: every step pulls each W toward 0
    code, _, err = run(capsys, *args, "--weight-decay", "-1")
    assert code == 2 and "--weight-decay must be a finite number >= 0, got -1.0" in err
