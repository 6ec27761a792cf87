"""The examples fit trains on: rows X, targets Y, and the loss that fits them (chosen for
"auto", checked, and the accuracy it implies)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from chainrule.errors import ConfigError, DataError
from chainrule.nn.cross_entropy import whole
from chainrule.nn.losses import LOSSES, BCELoss, CrossEntropyLoss, SquaredError
from chainrule.nn.module import Module
from chainrule.tensor import ArrayLike, numeric_array


def is_labels(y: np.ndarray) -> bool:
    """Class labels: one integer per row (0..K−1), as CrossEntropyLoss takes them."""
    return y.ndim == 1 and y.dtype.kind in "iu"


def loss_module(loss: Module | Callable | str, y: np.ndarray) -> Callable:
    """The loss fit trains with: "auto" is the command line's choice, cross-entropy for class
    labels and squared error for real targets; anything else is taken as given."""
    if loss == "auto":
        return CrossEntropyLoss() if is_labels(y) else SquaredError()
    if isinstance(loss, str):
        try:
            return LOSSES[loss]()
        except KeyError:
            expected = ["auto", *sorted(LOSSES)]
            raise ConfigError(f"unknown loss {loss!r}; expected one of {expected}") from None
    if not callable(loss):
        raise ConfigError(f"loss must be a loss module, a callable or a name, got {loss!r}")
    return loss


def loss_hint(loss: Callable, y: np.ndarray) -> str:
    """What to change when the loss refused the network's output for the targets `y` (as
    given to fit)."""
    if is_labels(y) and isinstance(loss, CrossEntropyLoss):
        return f"cross-entropy needs one output per class: {int(y.max()) + 1} in the last layer"
    if is_labels(y):
        return (
            "Y holds class labels: loss='ce' (or 'auto') takes them, with one output per class; "
            "squared error wants one target column per output"
        )
    if isinstance(loss, CrossEntropyLoss | BCELoss):
        return "Y holds real numbers: loss='squared' (or 'auto') takes one column per output"
    return "the network's last layer needs one output per target column"


def rows_of(value: ArrayLike, name: str) -> np.ndarray:
    array = numeric_array(value)
    if array.ndim == 0:
        raise DataError(f"fit: {name} must have one row per example, got a scalar")
    if len(array) == 0:
        raise DataError(f"fit: {name} has no rows: no examples to train on; expected X and Y rows")
    if array.dtype.kind in "fc" and not all_finite(array):
        raise DataError(f"fit: {name} contains NaN or infinity; clean or impute it first")
    return array


BLOCK = 1 << 18  # values all_finite checks at a time


def all_finite(array: np.ndarray) -> bool:
    """No NaN or infinity, checked a block of rows at a time into one small mask. A mask of
    the whole array is new memory (47 MB for MNIST's 60,000 × 784 float32), and the first
    touch of it took 113 ms at the start of a fit, against 15 ms in blocks."""
    rows = max(1, BLOCK // max(1, math.prod(array.shape[1:])))
    mask = np.empty((min(rows, len(array)), *array.shape[1:]), dtype=bool)
    for start in range(0, len(array), rows):
        block = array[start : start + rows]
        if not np.isfinite(block, out=mask[: len(block)]).all():
            return False
    return True


def prepare(X: ArrayLike, Y: ArrayLike, loss: Callable, dtype: np.dtype) -> tuple:
    """Features in the model's dtype; targets as integer labels for cross-entropy, else in the
    model's dtype."""
    x = rows_of(X, "X")
    y = rows_of(Y, "Y")
    if len(x) != len(y):
        raise DataError(f"fit: X has {len(x)} rows but Y has {len(y)}; expected one target per row")
    x = x.astype(dtype, copy=False)
    labels = isinstance(loss, CrossEntropyLoss) and y.ndim == 1
    y = whole(type(loss).__name__, y) if labels else y.astype(dtype, copy=False)
    return x, y


def correct(loss: Callable, output: np.ndarray, y: np.ndarray) -> tuple[int, int] | None:
    """How many outputs are classified right, and of how many, for classification losses
    (None for regression): counts, so that shards of a batch add up to the batch's."""
    # count_nonzero / size is np.mean of the booleans without its Python-level wrapper: fit
    # calls this after every batch
    if isinstance(loss, CrossEntropyLoss):
        truth = y if y.ndim == 1 else y.argmax(axis=1)
        right = output.argmax(axis=1) == truth
    elif isinstance(loss, BCELoss):
        right = (output > 0.5) == (y.reshape(output.shape) > 0.5)
    else:
        return None
    return int(np.count_nonzero(right)), right.size


def accuracy(loss: Callable, output: np.ndarray, y: np.ndarray) -> float | None:
    """Fraction classified right, for classification losses (None for regression)."""
    counts = correct(loss, output, y)
    return None if counts is None else counts[0] / counts[1]
