"""The records chainrule writes beside a network, checked when they are read: the command
line's training record (cli/trained.py) and the estimators' (records.py). A damaged record is
one ModelFileError naming the field; the commands print it as one line and exit 1."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_modelfile import _mutated, forge

import chainrule as cr
from chainrule.cli import main
from chainrule.cli.info import _record
from chainrule.cli.trained import Trained, load_network

# ---- the command line's training record --------------------------------------------------------


@pytest.fixture(scope="module")
def trained_file(tmp_path_factory) -> tuple[Path, dict[str, Any], dict[str, np.ndarray]]:
    path = tmp_path_factory.mktemp("cli") / "m.model"
    assert main(["train", "--data", "moons", "--hidden", "3", "--epochs", "2", "--quiet",
                 "--save", str(path)]) == 0  # fmt: skip
    model, metadata = cr.io.load_with_metadata(path)
    return path, metadata, model.state_dict()


def with_record(tmp_path: Path, trained_file, change) -> Path:
    _, metadata, tensors = trained_file
    metadata = copy.deepcopy(metadata)
    change(metadata)
    architecture = cr.io.architecture(cr.nn.mlp([2, 3, 2], "tanh"))
    return forge(tmp_path / "model.safetensors", architecture, metadata, tensors)


def _set(key: str, value: Any):
    def change(metadata: dict[str, Any]) -> None:
        *parents, last = key.split(".")
        target = metadata
        for part in parents:
            target = target[part]
        target[last] = value

    return change


RECORD_CASES = {
    "class-names-text": (
        _set("preprocessing.class_names", "ab"),
        "metadata.preprocessing.class_names: expected a list of strings (no repeats), got 'ab'",
    ),
    "class-names-length": (
        _set("preprocessing.class_names", ["a", "b", "c"]),
        "metadata.preprocessing.class_names: expected a list of 2 strings (the network's 2 "
        "outputs with loss ce), got ['a', 'b', 'c']",
    ),
    "class-names-repeated": (_set("preprocessing.class_names", ["a", "a"]), "(no repeats)"),
    "class-names-numbers": (_set("preprocessing.class_names", [0, 1]), "class_names[0]"),
    "unknown-loss": (_set("loss", "hinge"), "metadata.loss: expected one of ce, bce"),
    "mean-2d": (_set("preprocessing.mean", [[0.0, 1.0], [2.0, 3.0]]), "preprocessing.mean[0]"),
    "mean-length": (
        _set("preprocessing.mean", [0.0, 1.0, 2.0]),
        "metadata.preprocessing.mean: expected a list of 2 numbers",
    ),
    "std-zero": (_set("preprocessing.std", [0.0, 1.0]), "metadata.preprocessing.std[0]"),
    "features-missing": (
        lambda m: m["preprocessing"].pop("feature_names"),
        "metadata.preprocessing.feature_names: missing",
    ),
    "preprocessing-null": (_set("preprocessing", None), "metadata.preprocessing: expected a"),
    "loss-missing": (lambda m: m.pop("loss"), "metadata.loss: missing"),
    "history-text": (_set("history.loss", ["low", "lower"]), "metadata.history.loss[0]"),
    "history-null": (_set("history", None), "metadata.history: expected a JSON object"),
    "test-loss-text": (_set("test.loss", "0.3"), "metadata.test.loss: expected a number"),
    "test-without-rows": (_set("test", {"accuracy": 0.5}), "metadata.test.rows: missing"),
    "accuracy-over-1": (_set("test.accuracy", 7), "metadata.test.accuracy"),
    "seed-text": (_set("seed", "0"), "metadata.seed: expected an integer"),
    "lr-text": (_set("optimizer.lr", "fast"), "metadata.optimizer.lr"),
    "optimizer-name": (_set("optimizer.name", "lbfgs"), "metadata.optimizer.name"),
    "hidden-negative": (_set("hidden", [-3]), "metadata.hidden[0]"),
    "regression-with-ce": (
        _set("preprocessing.class_names", None),
        "metadata.loss: expected squared or mse (a regression)",
    ),
}


@pytest.mark.parametrize("case", RECORD_CASES)
def test_each_malformed_training_record_is_one_error_naming_the_field(tmp_path, trained_file, case):
    change, field = RECORD_CASES[case]
    path = with_record(tmp_path, trained_file, change)
    with pytest.raises(cr.ModelFileError) as caught:
        Trained.load(path)
    assert str(caught.value).startswith(f"{path}: "), caught.value
    assert field in str(caught.value)


@pytest.mark.parametrize(
    ("command", "change", "field"),
    [
        ("info", _set("preprocessing.class_names", 3), "class_names"),
        ("info", _set("preprocessing", []), "metadata.preprocessing: expected a JSON object"),
        ("evaluate", _set("preprocessing.mean", [[1.0, 2.0]]), "metadata.preprocessing.mean"),
        ("predict", _set("history.loss", "x"), "metadata.history.loss"),
    ],
)
def test_the_commands_print_one_line_and_exit_1(tmp_path, trained_file, capsys, command, change,
                                                field):  # fmt: skip
    path = with_record(tmp_path, trained_file, change)
    rows = tmp_path / "rows.csv"
    rows.write_text("x1,x2\n0.5,0.5\n")
    extra = {"info": [], "evaluate": ["--data", "moons"], "predict": [str(rows)]}
    code = main([command, str(path), *extra[command]])
    out, err = capsys.readouterr()
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chainrule: error: "), err
    assert field in lines[0] and "internal error" not in lines[0]


def test_a_cli_command_refuses_nan_weights_instead_of_scoring_them(tmp_path, trained_file,
                                                                   capsys):  # fmt: skip
    _, metadata, tensors = trained_file
    broken = {**tensors, "0.weight": np.full_like(tensors["0.weight"], np.nan)}
    architecture = cr.io.architecture(cr.nn.mlp([2, 3, 2], "tanh"))
    path = forge(tmp_path / "nan.model", architecture, metadata, broken)
    assert main(["evaluate", str(path), "--data", "moons"]) == 1
    err = capsys.readouterr().err
    assert "not finite" in err and "accuracy" not in err


# ---- the estimators' record ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda m: m["fitted"].update(predict=1), "metadata.fitted: unknown field 'predict'"),
        (lambda m: m["fitted"].update(classes_=[0, 1, 2]), "metadata.fitted.classes_"),
        (lambda m: m["fitted"].update(n_features_in_=5), "metadata.fitted.n_features_in_"),
        (lambda m: m["fitted"].update(classes_dtype="<M8"), "metadata.fitted.classes_dtype"),
        (lambda m: m["params"].update(gamma=1), "metadata.params: unknown field 'gamma'"),
        (lambda m: m["params"].update(max_iter="x"), "metadata.params.max_iter"),
        (lambda m: m.update(fitted=None), "metadata.fitted: expected a JSON object"),
        (lambda m: m["fitted"].pop("n_iter_"), "metadata.fitted.n_iter_: missing"),
        (lambda m: m.update(estimator=["MLPClassifier"]), "no scikit-learn estimator"),
        (
            lambda m: m["fitted"].update(out_activation_="identity"),
            "metadata.fitted.out_activation_: expected one of logistic, softmax",
        ),
    ],
    ids=[
        "setattr",
        "classes",
        "features",
        "dtype",
        "param",
        "param-type",
        "fitted-null",
        "n-iter-missing",
        "estimator-a-list",
        "out-activation",
    ],
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_malformed_estimator_record_is_refused(tmp_path, change, field):
    from safetensors import safe_open
    from safetensors.numpy import save

    from chainrule.sklearn import MLPClassifier, load

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), np.arange(20) % 2
    MLPClassifier((4,), max_iter=2).fit(X, y).save(tmp_path / "est.model")
    with safe_open(str(tmp_path / "est.model"), framework="numpy") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        strings = f.metadata()
    metadata = json.loads(strings["metadata"])
    change(metadata)
    strings["metadata"] = json.dumps(metadata)
    (tmp_path / "est.model").write_bytes(save(tensors, metadata=strings))
    with pytest.raises(cr.ModelFileError, match=r"est\.model[: ]") as caught:
        load(tmp_path / "est.model")
    assert field in str(caught.value)


@settings(max_examples=60, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(data=st.data())
def test_mutated_metadata_loads_or_is_one_model_file_error(tmp_path, trained_file, data):
    _, metadata, tensors = trained_file
    architecture = cr.io.architecture(cr.nn.mlp([2, 3, 2], "tanh"))
    path = forge(tmp_path / "fuzz.model", architecture, _mutated(metadata, data), tensors)
    try:
        trained = Trained.load(path)
        trained.predict(np.zeros((2, 2)))
        _, record = load_network(path)
        if "preprocessing" in record:
            _record(record)
    except cr.ModelFileError:
        pass
