"""The scikit-learn estimators' record in a model file's metadata, and its schema.

`MLPClassifier.save` and `MLPRegressor.save` write `estimator`, `params` (get_params()),
`dropped_params` and `fitted` (the fitted attributes); `chainrule.sklearn.load` and the
command line (for a network saved from Python) read them. Each key is declared here with its
type and range, so a damaged record is one ModelFileError naming the field, never a setattr
of whatever the file holds. The command line's own training record is declared with the
command line (cli/trained.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import nn
from chainrule.errors import ModelFileError
from chainrule.modelfile import (
    Spec,
    boolean,
    integer,
    list_of,
    nullable,
    number,
    one_of,
    record,
    refuse,
    text,
)

ESTIMATORS = ("MLPClassifier", "MLPRegressor")
OUT_ACTIVATIONS = ("identity", "logistic", "softmax")
COUNT = integer(0, 2**62)
SETTING = number(0.0)  # the estimators' rates and tolerances: finite, >= 0


def either(first: Spec, second: Spec, expected: str) -> Spec:
    """A value that one of two specs accepts."""

    def check(value: Any, where: str) -> None:
        for spec in (first, second):
            try:
                spec(value, where)
                return
            except ModelFileError:
                pass
        raise refuse(where, expected, value)

    return check


def scalar(value: Any, where: str) -> None:
    """A class label as JSON keeps it: a string, a number or true/false."""
    if not isinstance(value, str | int | float | bool):
        raise refuse(where, "a class label (a string, number or boolean)", value)


# _MLP's parameters: types here; their ranges are the estimator's to check when it trains.
PARAMS = record(
    {
        "hidden_layer_sizes": either(
            integer(1), list_of(integer(1), "positive integers"), "an integer or a list of them"
        ),
        "activation": text,
        "optimizer": nullable(text),  # None: a callable, dropped
        "alpha": SETTING,
        "batch_size": nullable(either(integer(1), one_of("auto"), "a positive integer or auto")),
        "learning_rate_init": SETTING,
        "max_iter": integer(1),
        "shuffle": boolean,
        "random_state": nullable(integer(0, 2**32 - 1)),
        "tol": SETTING,
        "n_iter_no_change": integer(1),
        "momentum": SETTING,
        "nesterovs_momentum": boolean,
        "beta_1": SETTING,
        "beta_2": SETTING,
        "epsilon": SETTING,
        "loss": nullable(text),
        "until": nullable(SETTING),
        "init": text,
        "dtype": one_of("float32", "float64"),
    }
)


def check_estimator(metadata: dict[str, Any], where: str, n_in: int, n_out: int) -> None:
    """Refuse an estimator record that does not fit its network of n_in inputs and n_out
    outputs, or holds anything but the keys and types the estimators write."""
    loss = list_of(number(finite=False), "numbers")
    fitted = record(
        {
            "n_features_in_": integer(n_in, n_in),
            "n_outputs_": integer(n_out, n_out),
            "loss_curve_": loss,
            "best_loss_": number(finite=False),
            "n_iter_": COUNT,
            "t_": COUNT,
            "stop_reason_": text,
            "_no_improvement_count": COUNT,
            "feature_names_in_": list_of(text, "strings", length=n_in),
            "classes_": list_of(scalar, "class labels", distinct=True),
            "classes_dtype": text,
            "out_activation_": one_of(*OUT_ACTIVATIONS),
        },
        required=(  # all that _fitted_state always writes: partial_fit reads each
            "n_features_in_",
            "n_outputs_",
            "loss_curve_",
            "best_loss_",
            "n_iter_",
            "t_",
            "stop_reason_",
            "_no_improvement_count",
            "out_activation_",
        ),
    )
    record(
        {
            "estimator": one_of(*ESTIMATORS),
            "params": PARAMS,
            "dropped_params": list_of(text, "parameter names"),
            "fitted": fitted,
        },
        required=("estimator", "params", "fitted"),
        closed=False,
    )(metadata, where)
    state = metadata["fitted"]
    outputs = ("logistic", "softmax") if metadata["estimator"] == "MLPClassifier" else ("identity",)
    one_of(*outputs)(state["out_activation_"], f"{where}.fitted.out_activation_")
    if metadata["estimator"] == "MLPClassifier":
        for key in ("classes_", "classes_dtype"):
            if key not in state:
                raise refuse(f"{where}.fitted.{key}", "a classifier's fitted attribute", None)
        _check_classes(state, f"{where}.fitted", n_out)


def _check_classes(state: dict[str, Any], where: str, n_out: int) -> None:
    """classes_: one per softmax output, two for one sigmoid output, one per label of a
    multilabel network; in a numpy dtype of labels (text, numbers, booleans, objects)."""
    binary = state["out_activation_"] == "logistic" and n_out == 1
    count = 2 if binary else n_out
    list_of(scalar, "class labels", length=count)(state["classes_"], f"{where}.classes_")
    try:
        dtype = np.dtype(state["classes_dtype"])
        np.asarray(state["classes_"], dtype=dtype)
    except (TypeError, ValueError, OverflowError):
        dtype = None
    if dtype is None or dtype.kind not in "biufUO":
        raise refuse(
            f"{where}.classes_dtype", "a numpy dtype the classes fit", state["classes_dtype"]
        )


def widths(model: nn.Module, where: str) -> tuple[int, int]:
    """(inputs, outputs) of a network of Linear layers: its first's in, its last's out."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ModelFileError(f"{where}: the network has no Linear layer")
    return linears[0].in_features, linears[-1].out_features
