"""chainrule.sklearn: the estimators train as scikit-learn's MLP trains, and live in its tools."""

from __future__ import annotations

import os
import pickle
import re
import signal
from pathlib import Path

import numpy as np
import pytest
from conftest import oracle
from sklearn import neural_network
from sklearn.base import clone
from sklearn.datasets import (
    load_iris,
    make_classification,
    make_multilabel_classification,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import chainrule as cr
from chainrule.errors import ConfigError, DataError, ModelFileError
from chainrule.sklearn import MLPClassifier, MLPRegressor, load

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.usefixtures("one_blas_thread"),
]


def dataset(kind: str) -> tuple[np.ndarray, np.ndarray]:
    if kind == "multiclass":
        X, y = make_classification(120, 6, n_informative=4, n_classes=3, random_state=0)
    elif kind == "binary":
        X, y = make_classification(120, 6, random_state=1)
    elif kind == "multilabel":
        X, y = make_multilabel_classification(120, 6, n_classes=4, random_state=2)
    elif kind == "regression":
        X, y = make_regression(120, 6, noise=5.0, random_state=3)
        y = y / y.std()
    else:
        X, y = make_regression(120, 6, n_targets=3, noise=5.0, random_state=4)
        y = y / y.std()
    return StandardScaler().fit_transform(X), y


def pair(kind: str, solver: str, **params):
    """scikit-learn's estimator and ours, with the same settings, fitted on `kind` data."""
    X, y = dataset(kind)
    theirs = (
        neural_network.MLPRegressor
        if kind in ("regression", "multioutput")
        else (neural_network.MLPClassifier)
    )
    ours = MLPRegressor if theirs is neural_network.MLPRegressor else MLPClassifier
    settings = dict(
        hidden_layer_sizes=(7, 5),
        alpha=0.5,
        batch_size=32,
        learning_rate_init=0.01,
        max_iter=8,
        random_state=5,
        tol=0.0,
        **params,
    )
    return ours(optimizer=solver, **settings).fit(X, y), theirs(solver=solver, **settings).fit(X, y)


def relative(ours: list[np.ndarray], theirs: list[np.ndarray]) -> float:
    return max(
        float(np.max(np.abs(a - b)) / np.max(np.abs(b))) for a, b in zip(ours, theirs, strict=True)
    )


# ---- the same training as scikit-learn's, step for step -----------------------------------


@pytest.mark.parametrize(
    "kind", ["multiclass", "binary", "multilabel", "regression", "multioutput"]
)
@pytest.mark.parametrize("activation", ["relu", "logistic", "tanh"])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_weights_equal_scikit_learns_after_every_update(kind, activation, momentum):
    # Same Glorot draws, same shuffles, same gradient (alpha/(2n)·||W||² on weights only,
    # ½ squared error, softmax or summed binary log-loss), same update: equal to rounding.
    ours, theirs = pair(kind, "sgd", activation=activation, momentum=momentum)
    assert ours.n_iter_ == theirs.n_iter_ == 8
    assert relative(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_) < 1e-12
    if kind != "multioutput":  # scikit-learn reports ½·mean over outputs, but descends ½·sum
        assert np.allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-12, atol=0)


@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel"])
def test_adam_follows_scikit_learns_within_where_epsilon_sits(kind):
    # chainrule's Adam adds ε to √v̂ (PyTorch's form), scikit-learn's to √v: 1e-8 apart.
    ours, theirs = pair(kind, "adam", activation="tanh")
    assert relative(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_) < 1e-3
    assert np.allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-5)


def test_iris_test_accuracy_matches_scikit_learn_over_five_seeds():
    X, y = load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    scores = {"ours": [], "theirs": []}
    for seed in range(5):
        for name, cls in (("ours", MLPClassifier), ("theirs", neural_network.MLPClassifier)):
            model = make_pipeline(
                StandardScaler(), cls(hidden_layer_sizes=(20,), random_state=seed)
            )
            scores[name].append(model.fit(X_train, y_train).score(X_test, y_test))
    assert abs(np.mean(scores["ours"]) - np.mean(scores["theirs"])) <= 0.01, scores


# ---- the objective's gradient: PyTorch and central differences ---------------------------


def test_objective_gradient_matches_pytorch_and_central_differences():
    torch = oracle()
    X, y = dataset("multilabel")
    est = MLPClassifier((4,), "tanh", alpha=0.3, max_iter=2, random_state=0).fit(X, y)
    x, target = X[:10], y[:10].astype(np.float64)

    c = est._objective(est.model_, est._loss_fn(), x, target)
    est.model_.zero_grad()
    c.backward()

    w1, b1, w2, b2 = (torch.tensor(p.data, requires_grad=True) for p in est.model_.parameters())
    p = torch.sigmoid(torch.tanh(torch.tensor(x) @ w1.T + b1) @ w2.T + b2)
    t = torch.tensor(target)
    bce = -(t * torch.log(p) + (1 - t) * torch.log(1 - p)).sum() / len(x)
    penalty = 0.3 / (2 * len(x)) * ((w1**2).sum() + (w2**2).sum())  # no bias terms
    (bce + penalty).backward()
    assert abs(float(c.data) - (bce + penalty).item()) < 1e-12
    for ours, theirs in zip(est.model_.parameters(), (w1, b1, w2, b2), strict=True):
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-13)

    eps = 1e-6
    for param in est.model_.parameters():
        for index in [(0,) * param.data.ndim, tuple(s - 1 for s in param.data.shape)]:
            kept = param.data[index]
            param.data[index] = kept + eps
            with cr.no_grad():
                up = float(est._objective(est.model_, est._loss_fn(), x, target).data)
            param.data[index] = kept - eps
            with cr.no_grad():
                down = float(est._objective(est.model_, est._loss_fn(), x, target).data)
            param.data[index] = kept
            assert abs((up - down) / (2 * eps) - param.grad[index]) < 1e-7


def test_after_fit_each_grad_is_the_last_updates_gradient():
    X, y = dataset("regression")
    lr = 0.05
    est = MLPRegressor((4,), optimizer="sgd", momentum=0.0, learning_rate_init=lr, alpha=0.1)
    est.set_params(batch_size=None, max_iter=3).fit(X, y)
    grads = [p.grad.copy() for p in est.model_.parameters()]
    for p, g in zip(est.model_.parameters(), grads, strict=True):
        p.data += lr * g  # undo the last step W ← W − η ∂C/∂W
    est.model_.zero_grad()
    est._objective(est.model_, est._loss_fn(), X, y.reshape(-1, 1)).backward()
    for p, g in zip(est.model_.parameters(), grads, strict=True):
        np.testing.assert_allclose(p.grad, g, rtol=1e-10, atol=1e-14)


# ---- targets: binary, multiclass, multilabel; single and multi-output ---------------------


def test_binary_string_labels_one_sigmoid_unit():
    X, y = dataset("binary")
    labels = np.array(["no", "yes"])[y]
    est = MLPClassifier((8,), random_state=0, max_iter=300, learning_rate_init=0.01)
    est.fit(X, labels)
    assert list(est.classes_) == ["no", "yes"]
    assert est.out_activation_ == "logistic" and est.model_[-1].__class__ is cr.nn.Sigmoid
    proba = est.predict_proba(X)
    assert proba.shape == (120, 2) and np.allclose(proba.sum(axis=1), 1)
    assert np.array_equal(est.predict(X), est.classes_[proba.argmax(axis=1)])
    assert est.score(X, labels) > 0.9


def test_multiclass_model_ends_at_the_logits_and_predict_proba_is_their_softmax():
    X, y = dataset("multiclass")
    est = MLPClassifier((10,), random_state=0, max_iter=300, learning_rate_init=0.01)
    est.fit(X, y + 10)
    assert isinstance(est.model_, cr.nn.Sequential)
    assert isinstance(est.model_[-1], cr.nn.Linear)  # CrossEntropyLoss fuses the softmax
    z = est.model_(cr.tensor(X)).data
    expected = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(est.predict_proba(X), expected / expected.sum(1, keepdims=True))
    assert set(est.predict(X)) <= {10, 11, 12}
    assert est.score(X, y + 10) > 0.85


def test_multilabel_indicator_matrix():
    X, y = dataset("multilabel")
    est = MLPClassifier((16,), random_state=0, max_iter=300, learning_rate_init=0.01).fit(X, y)
    assert est.n_outputs_ == 4 and list(est.classes_) == [0, 1, 2, 3]
    assert est.predict(X).shape == (120, 4) and set(np.unique(est.predict(X))) <= {0, 1}
    proba = est.predict_proba(X)
    assert proba.shape == (120, 4) and np.all((proba >= 0) & (proba <= 1))
    assert np.mean(est.predict(X) == y) > 0.85


@pytest.mark.parametrize("kind, shape", [("regression", (120,)), ("multioutput", (120, 3))])
def test_regression_single_and_multi_output(kind, shape):
    X, y = dataset(kind)
    est = MLPRegressor((32,), random_state=0, max_iter=500, learning_rate_init=0.01).fit(X, y)
    assert est.predict(X).shape == shape and est.predict(X).dtype == np.float64
    assert est.score(X, y) > 0.9
    assert est.out_activation_ == "identity"


def test_float32_throughout():
    X, y = dataset("multiclass")
    est = MLPClassifier((8,), dtype="float32", random_state=0, max_iter=50).fit(X, y)
    assert est.model_.dtype == np.float32
    assert est.predict_proba(X).dtype == np.float32


# ---- scikit-learn's tools --------------------------------------------------------------------


def test_pipeline_cross_val_score_and_grid_search():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), MLPClassifier((10,), random_state=0))
    assert cross_val_score(pipe, X, y, cv=3).mean() > 0.85
    grid = GridSearchCV(
        pipe, {"mlpclassifier__hidden_layer_sizes": [(3,), (10,)], "mlpclassifier__alpha": [1e-4]},
        cv=3,
    )  # fmt: skip
    grid.fit(X, y)
    assert grid.best_params_["mlpclassifier__hidden_layer_sizes"] in [(3,), (10,)]
    assert grid.best_score_ > 0.85 and grid.score(X, y) > 0.85


def test_clone_is_unfitted_with_the_same_parameters():
    X, y = dataset("binary")
    est = MLPClassifier((5,), alpha=0.1, loss="bce", until=0.2, max_iter=5).fit(X, y)
    copy = clone(est)
    assert copy.get_params() == est.get_params()
    assert not hasattr(copy, "model_") and not hasattr(copy, "classes_")


def test_feature_names_from_a_dataframe():
    X, y = load_iris(return_X_y=True, as_frame=True)
    est = MLPClassifier((5,), max_iter=5).fit(X, y)
    assert list(est.feature_names_in_) == list(X.columns)
    with pytest.raises(ValueError, match="feature names should match"):
        est.predict(X.rename(columns={X.columns[0]: "something else"}))


# ---- chainrule's own parameters ---------------------------------------------------------------


def test_until_stops_at_the_target_training_loss():
    X, y = dataset("regression")
    est = MLPRegressor((16,), until=0.05, max_iter=2000, learning_rate_init=0.01, random_state=0)
    est.fit(X, y)
    assert est.stop_reason_ == "until"
    assert est.loss_curve_[-1] <= 0.05 < est.loss_curve_[-2]
    assert est.n_iter_ == len(est.loss_curve_) < 2000


def test_stop_reasons_tol_and_max_iter():
    X, y = dataset("regression")
    est = MLPRegressor((4,), tol=10.0, n_iter_no_change=2, random_state=0).fit(X, y)
    # Nothing beats the first epoch by 10, so it stops after n_iter_no_change + 1 more.
    assert est.stop_reason_ == "tol" and est.n_iter_ == 4
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        est = MLPRegressor((4,), max_iter=3, random_state=0).fit(X, y)
    assert est.stop_reason_ == "max_iter" and est.n_iter_ == 3


def test_ctrl_c_stops_after_the_current_batch_and_keeps_the_fitted_model():
    calls = []

    def interrupting(a, y):  # Ctrl-C during the third batch of the first epoch
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return squared_by_hand(a, y)

    X, y = dataset("regression")
    est = MLPRegressor((4,), loss=interrupting, batch_size=10, max_iter=50, random_state=0)
    est.fit(X, y)
    assert est.stop_reason_ == "interrupted" and len(calls) == 3 and est.n_iter_ == 1
    assert est.predict(X).shape == (120,)


def squared_by_hand(a: cr.Tensor, y: np.ndarray) -> cr.Tensor:
    diff = a - y
    return (diff * diff).sum() / len(y)


def test_a_callable_loss_trains_exactly_like_the_named_one():
    X, y = dataset("multiclass")
    settings = dict(hidden_layer_sizes=(6,), optimizer="sgd", max_iter=10, random_state=0)
    named = MLPClassifier(loss="squared", **settings).fit(X, y)
    by_hand = MLPClassifier(loss=squared_by_hand, **settings).fit(X, y)
    assert isinstance(named.model_[-1], cr.nn.Softmax)  # squared error on the probabilities
    assert relative(by_hand.coefs_, named.coefs_) < 1e-12
    assert np.allclose(by_hand.loss_curve_, named.loss_curve_, rtol=1e-12)


def test_optimizer_as_a_callable():
    from functools import partial

    X, y = dataset("regression")
    est = MLPRegressor((8,), optimizer=partial(cr.optim.SGD, lr=0.1), max_iter=300, random_state=0)
    assert est.fit(X, y).score(X, y) > 0.8
    with pytest.raises(ConfigError, match="expected a chainrule Optimizer"):
        MLPRegressor(optimizer=lambda params: "sgd").fit(X, y)


def test_init_names_from_chainrule():
    X, y = dataset("multiclass")
    est = MLPClassifier((5,), activation="sigmoid", init="small", max_iter=1, random_state=0)
    est.fit(X, y)
    assert est.n_iter_ == 1


# ---- partial_fit -----------------------------------------------------------------------------


def test_partial_fit_one_epoch_per_call_and_classes_on_the_first():
    X, y = dataset("multiclass")
    est = MLPClassifier((16,), random_state=0, learning_rate_init=0.01)
    with pytest.raises(DataError, match="pass classes="):
        est.partial_fit(X, y)
    est.partial_fit(X[:60], y[:60], classes=[0, 1, 2])
    for _ in range(60):
        est.partial_fit(X, y)
    assert est.n_iter_ == len(est.loss_curve_) == 61 and est.stop_reason_ == "partial_fit"
    assert est.loss_curve_[-1] < est.loss_curve_[1]
    assert est.score(X, y) > 0.8
    with pytest.raises(DataError, match="not in classes_"):
        est.partial_fit(X[:3], [0, 1, 7])
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:, :3], y)


def test_partial_fit_regressor_continues_after_fit():
    X, y = dataset("regression")
    est = MLPRegressor((8,), max_iter=5, random_state=0).fit(X, y)
    first = est.model_[0].weight.data.copy()
    est.partial_fit(X, y)
    assert est.n_iter_ == 6 and not np.array_equal(first, est.model_[0].weight.data)


# ---- persistence -----------------------------------------------------------------------------


def test_save_and_load_without_pickle(tmp_path):
    X, y = load_iris(return_X_y=True, as_frame=True)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    est = MLPClassifier((6,), random_state=0, max_iter=40).fit(X, labels)
    path = tmp_path / "iris.model"
    est.save(path)
    back = load(path)
    assert type(back) is MLPClassifier and back.get_params() == est.get_params()
    assert back.classes_.dtype == est.classes_.dtype and list(back.feature_names_in_) == list(
        X.columns
    )
    assert np.array_equal(back.predict(X), est.predict(X))
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
    assert back.loss_curve_ == est.loss_curve_ and back.n_iter_ == est.n_iter_
    back.partial_fit(X, labels)  # trains on, with a fresh optimizer
    assert back.n_iter_ == est.n_iter_ + 1
    assert cr.load(path)[0].weight.shape == (6, 4)  # an ordinary chainrule model file too


def test_save_multioutput_regressor_and_callable_loss_is_named_on_load(tmp_path):
    X, y = dataset("multioutput")
    est = MLPRegressor((5,), loss=squared_by_hand, max_iter=5, random_state=0).fit(X, y)
    est.save(tmp_path / "r.model")
    with pytest.warns(UserWarning, match=r"\['loss'\] were callables"):
        back = load(tmp_path / "r.model")
    assert back.loss is None
    np.testing.assert_array_equal(back.predict(X), est.predict(X))


def test_numpy_parameters_from_a_grid_search_are_saved(tmp_path):
    X, y = dataset("regression")
    est = MLPRegressor(hidden_layer_sizes=(np.int64(3),), alpha=np.float64(0.5), max_iter=2)
    est.fit(X, y).save(tmp_path / "r.model")
    back = load(tmp_path / "r.model")
    assert back.hidden_layer_sizes == (3,) and back.alpha == 0.5


def test_load_refuses_a_plain_model_file(tmp_path):
    cr.save(cr.nn.mlp([2, 3, 1]), tmp_path / "plain.model")
    with pytest.raises(ModelFileError, match="no scikit-learn estimator"):
        load(tmp_path / "plain.model")


def test_pickle_round_trip_and_training_after_it():
    X, y = dataset("binary")
    est = MLPClassifier((5,), max_iter=20, random_state=0).fit(X, y)
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
    back.partial_fit(X, y)
    assert back.n_iter_ == 21


# ---- errors that name what was wrong -------------------------------------------------------


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(activation="swish"), "activation must be one of elu, gelu, hardtanh, identity"),
        (dict(hidden_layer_sizes=(5, 0)), "hidden_layer_sizes must be positive integers"),
        (dict(optimizer="rmsprop"), "optimizer must be one of"),
        (dict(alpha=-1.0), "alpha must be a finite number >= 0"),
        (dict(batch_size=0), "batch_size must be a positive integer"),
        (dict(max_iter=0), "max_iter must be a positive integer"),
        (dict(until=-0.1), "until must be a finite number >= 0"),
        (dict(init="zeros"), "init must be one of glorot, .*, got 'zeros'"),
        (dict(dtype="int32"), "dtype must be 'float32' or 'float64'"),
        (dict(loss="hinge"), "loss must be one of .*, got 'hinge'"),
        (dict(learning_rate_init=0.0), "lr must be a finite number > 0"),
        (dict(hidden_layer_sizes=5.0), "hidden_layer_sizes must be positive integers"),
        (dict(momentum="high", optimizer="sgd"), "momentum must be a finite number"),
    ],
)
def test_bad_parameters_raise_config_errors_naming_them(params, message):
    X, y = dataset("multiclass")
    est = MLPClassifier(**params)
    with pytest.raises(ConfigError, match=message):
        est.fit(X, y)
    assert not hasattr(est, "model_")


@pytest.mark.parametrize("name", [n for n in cr.nn.ACTIVATIONS if n != "softmax"])
def test_every_registered_hidden_activation_is_accepted(name):
    X, y = dataset("binary")
    est = MLPClassifier((3,), activation=name, max_iter=2, random_state=0).fit(X, y)
    assert type(est.model_[1]) is cr.nn.ACTIVATIONS[name]


def test_an_activation_registered_later_needs_no_edit_in_the_estimators(monkeypatch):
    class HalfTanh(cr.nn.Module):  # a(z) = tanh(z) / 2, built from ops that exist
        def forward(self, z):
            return z.tanh() * 0.5

    monkeypatch.setitem(cr.nn.ACTIVATIONS, "halftanh", HalfTanh)
    X, y = dataset("regression")
    est = MLPRegressor((4,), activation="halftanh", max_iter=3, random_state=0).fit(X, y)
    assert isinstance(est.model_[1], HalfTanh) and est.n_iter_ == 3


def test_target_errors():
    X, y = dataset("binary")
    with pytest.raises(DataError, match="at least two classes.*one class"):
        MLPClassifier().fit(X, np.zeros(len(X)))
    with pytest.raises(ConfigError, match="loss 'ce' needs a softmax output"):
        MLPClassifier(loss="ce").fit(X, y)
    with pytest.raises(ConfigError, match="classification loss"):
        MLPRegressor(loss="bce").fit(X, y)
    with pytest.raises(ValueError, match="Unknown label type"):
        MLPClassifier().fit(X, np.linspace(0, 1, len(X)))


def test_the_docs_examples_run(tmp_path, monkeypatch, capsys):
    doc = (Path(__file__).resolve().parents[1] / "docs" / "sklearn.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", doc, flags=re.S | re.M)
    assert len(blocks) == 4, "docs/sklearn.md lost or gained an example; update this test"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "docs/sklearn.md", "exec"), namespace)  # noqa: S102
    printed = capsys.readouterr().out
    assert float(printed.splitlines()[0]) > 0.9  # the digits cross-validation score
    assert "agree: yes" in printed  # explain on the fitted model_
    assert namespace["squared_by_hand"] is not None and (tmp_path / "iris.model").is_file()
    assert isinstance(namespace["clf"], MLPClassifier) and hasattr(namespace["clf"], "model_")
