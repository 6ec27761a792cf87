"""Parity of chainrule.sklearn with scikit-learn's own MLP: the parity table.

Both estimators get the same settings (scikit-learn's defaults unless a dataset says
otherwise: hidden_layer_sizes=(100,), relu, Adam with lr 1e-3, batch min(200, n), alpha 1e-4,
max_iter=200, stop after 10 epochs without a tol=1e-4 improvement), behind the same
StandardScaler, on a fixed stratified 75/25 split, for seeds 0..4 (the seed is the
estimator's random_state: the initial weights and the shuffles). The table shows the mean and
spread (standard deviation) over seeds of the test score (accuracy, or R² for regression),
the epochs run and the fit time, with BLAS on one thread for both.

    python benchmarks/sklearn_parity.py [--seeds 5] [--datasets iris,digits,...] [--threads 1]
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn import datasets, neural_network
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from chainrule import sklearn as ours


@dataclass
class Dataset:
    load: Callable[[], tuple[np.ndarray, np.ndarray]]
    task: str  # "classification" (accuracy) or "regression" (R²)
    params: dict = field(default_factory=dict)


def _friedman1() -> tuple[np.ndarray, np.ndarray]:
    return datasets.make_friedman1(n_samples=1000, noise=1.0, random_state=0)


DATASETS = {
    "iris": Dataset(lambda: datasets.load_iris(return_X_y=True), "classification"),
    "breast_cancer": Dataset(
        lambda: datasets.load_breast_cancer(return_X_y=True), "classification"
    ),
    "digits": Dataset(lambda: datasets.load_digits(return_X_y=True), "classification"),
    # The targets are standardised too (TransformedTargetRegressor), as an MLP needs.
    "diabetes": Dataset(
        lambda: datasets.load_diabetes(return_X_y=True),
        "regression",
        {"hidden_layer_sizes": (10,), "alpha": 1.0, "max_iter": 500},
    ),
    "friedman1": Dataset(_friedman1, "regression", {"max_iter": 500}),
}


def pipeline(kind: str, task: str, seed: int, params: dict):
    if task == "classification":
        cls = ours.MLPClassifier if kind == "chainrule" else neural_network.MLPClassifier
        return make_pipeline(StandardScaler(), cls(random_state=seed, **params))
    cls = ours.MLPRegressor if kind == "chainrule" else neural_network.MLPRegressor
    regressor = TransformedTargetRegressor(
        cls(random_state=seed, **params), transformer=StandardScaler()
    )
    return make_pipeline(StandardScaler(), regressor)


def n_iter(model) -> int:
    last = model[-1]
    return (last.regressor_ if hasattr(last, "regressor_") else last).n_iter_


def run(name: str, seeds: int) -> dict[str, dict[str, list[float]]]:
    data = DATASETS[name]
    X, y = data.load()
    stratify = y if data.task == "classification" else None
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=stratify
    )
    results: dict[str, dict[str, list[float]]] = {}
    for kind in ("chainrule", "scikit-learn"):
        scores, times, epochs = [], [], []
        for seed in range(seeds):
            model = pipeline(kind, data.task, seed, data.params)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X_train, y_train)
            times.append(time.perf_counter() - start)
            scores.append(model.score(X_test, y_test))
            epochs.append(n_iter(model))
        results[kind] = {"score": scores, "time": times, "epochs": epochs}
    return results


def row(name: str, task: str, kind: str, r: dict[str, list[float]]) -> str:
    metric = "accuracy" if task == "classification" else "R²"
    scale = 100.0 if task == "classification" else 1.0
    unit = "%" if task == "classification" else ""
    digits = 2 if task == "classification" else 4
    s = np.asarray(r["score"]) * scale
    t = np.asarray(r["time"])
    return (
        f"| {name} | {metric} | {kind} | {s.mean():.{digits}f}{unit} ± {s.std():.{digits}f} | "
        f"{np.mean(r['epochs']):.0f} | {t.mean():.2f} s ± {t.std():.2f} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"of {list(DATASETS)}")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads for both")
    args = parser.parse_args(argv)
    names = [n for n in args.datasets.split(",") if n]
    unknown = sorted(set(names) - set(DATASETS))
    if unknown:
        parser.error(f"unknown datasets {unknown}; expected some of {list(DATASETS)}")
    print(f"{args.seeds} seeds, fixed 75/25 split, BLAS threads: {args.threads}")
    for name in names:
        if DATASETS[name].params:
            print(f"{name}: {DATASETS[name].params} (both estimators)")
    print()
    print("| dataset | test score | estimator | mean ± spread over seeds | epochs | fit time |")
    print("| --- | --- | --- | --- | --- | --- |")
    with threadpool_limits(args.threads):
        for name in names:
            results = run(name, args.seeds)
            for kind, r in results.items():
                print(row(name, DATASETS[name].task, kind, r), flush=True)
            gap = np.mean(results["chainrule"]["score"]) - np.mean(results["scikit-learn"]["score"])
            print(f"| {name} | difference of means | | {gap:+.4g} | | |", flush=True)


if __name__ == "__main__":
    main()
