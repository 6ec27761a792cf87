"""A hyperparameter search of chainrule.sklearn.MLPClassifier runs on a Dask cluster through
joblib's "dask" backend and finds what a serial search finds: the same best parameters and the
same cross-validation scores, fold by fold.

Each candidate is trained from its own random_state on its own fold, wherever it runs, so the
cluster changes only where the work is done. The workers are processes started by a
LocalCluster on 127.0.0.1 (Dask's nanny gives each one BLAS thread, as the serial run has here).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

from chainrule.sklearn import MLPClassifier

distributed = pytest.importorskip("dask.distributed")
joblib = pytest.importorskip("joblib")

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.usefixtures("one_blas_thread"),
]

GRID = {"hidden_layer_sizes": [(8,), (16,)], "learning_rate_init": [0.003, 0.03]}
FOLD_SCORES = [f"split{i}_test_score" for i in range(3)]


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            processes=True,
        ) as cluster,
        distributed.Client(cluster, timeout="30s") as client,
    ):
        yield client


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """300 of the digits, pixels scaled to [0, 1]: enough to tell the candidates apart."""
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


def _estimator() -> MLPClassifier:
    return MLPClassifier(max_iter=8, batch_size=32, random_state=0)


def _grid(n_jobs: int | None) -> GridSearchCV:
    return GridSearchCV(_estimator(), GRID, cv=3, n_jobs=n_jobs)


def _randomized(n_jobs: int | None) -> RandomizedSearchCV:
    space = {**GRID, "alpha": [1e-4, 1e-2], "activation": ["relu", "tanh"]}
    return RandomizedSearchCV(_estimator(), space, n_iter=4, cv=3, random_state=0, n_jobs=n_jobs)


def _same_search(serial, on_dask) -> None:
    assert on_dask.best_params_ == serial.best_params_
    assert on_dask.best_score_ == pytest.approx(serial.best_score_, rel=1e-12, abs=0)
    assert on_dask.cv_results_["params"] == serial.cv_results_["params"]
    for column in ["mean_test_score", *FOLD_SCORES]:
        np.testing.assert_allclose(
            on_dask.cv_results_[column], serial.cv_results_[column], rtol=1e-12, err_msg=column
        )


def _tasks_run(client) -> int:
    """Tasks the cluster's workers have executed so far."""
    return sum(client.run(lambda dask_worker: dask_worker.state.executed_count).values())


@pytest.mark.parametrize("search", [_grid, _randomized], ids=["grid", "randomized"])
def test_a_search_under_the_dask_backend_finds_what_a_serial_search_finds(client, digits, search):
    X, y = digits
    serial = search(n_jobs=1).fit(X, y)
    before = _tasks_run(client)
    with joblib.parallel_backend("dask"):
        on_dask = search(n_jobs=-1).fit(X, y)
    assert _tasks_run(client) > before, "the fits should have run on the workers"
    _same_search(serial, on_dask)
    assert len(set(serial.cv_results_["mean_test_score"])) > 1, "the candidates should differ"
    np.testing.assert_array_equal(on_dask.predict(X), serial.predict(X))
