"""The class losses: cross-entropy on logits (softmax fused in) and NLL on log-probabilities.

Logits z have the classes on axis 1, as PyTorch's: (n, classes), or (n, classes, d1, ...)
for a class per position (a pixel, a token), or (classes,) for one example. A target is one
class index per example (shape (n,), (n, d1, ...) or ()) or, for cross-entropy, class
probabilities shaped like z. Each rule works on rows, one per example and position, with the
classes last, and puts the gradient back in z's layout.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from chainrule.errors import DataError, GradError, ShapeError
from chainrule.tensor import ArrayLike, Rule, Tensor, node, numeric_array

FEW_CLASSES = 32  # up to this many, row_max reduces over a class-major copy (measured below)


def row_max(z: np.ndarray) -> np.ndarray:
    """max_j z_ij of each row i, kept as a column, the shift of a stable log-softmax.

    numpy reduces a short last axis one row at a time: 7.0 µs for 128 rows of 10 float32
    classes, against 1.6 µs for the maximum of 10 rows of 128 over a class-major copy (2.2
    against 1.3 µs for 32 rows; the copy loses from about 100 classes on). A maximum is exact
    in any order, so both give the same bits.
    """
    if z.ndim == 2 and 0 < z.shape[1] <= min(FEW_CLASSES, z.shape[0]):
        top = np.maximum.reduce(np.ascontiguousarray(z.T), axis=0)[:, None]
    else:
        top = np.maximum.reduce(z, axis=-1, keepdims=True)
    return top


def target_array(target: ArrayLike) -> ArrayLike:
    """What a loss's kernel takes for a target: its array when it is a Tensor."""
    return target.data if isinstance(target, Tensor) else target


def whole(owner: str, y: np.ndarray) -> np.ndarray:
    """Class labels as integers; floats must be whole numbers."""
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (y != np.round(y))
        if np.any(bad):
            where = np.argwhere(bad)[0]
            raise DataError(
                f"{owner}: class labels must be whole numbers (0..K−1), got {y[tuple(where)]} "
                f"at index {tuple(int(i) for i in where) if y.ndim > 1 else int(where[0])}; "
                f"labels are never rounded"
            )
    elif y.dtype.kind not in "iu":
        raise DataError(f"{owner}: labels must be integers, got dtype {y.dtype}")
    return y.astype(np.intp, copy=False)


def flat_picks(owner: str, shape: tuple[int, ...], labels: np.ndarray) -> np.ndarray:
    """Where each row's labelled entry z_i[y_i] sits in the flattened rows of `shape`.

    np.ravel_multi_index checks every label is in 0..classes−1 as it goes, so the range check
    costs no extra pass; only a failure looks for the bad label.
    """
    rows = (np.arange(shape[0]),) if len(shape) == 2 else ()
    try:
        picks = np.ravel_multi_index((*rows, labels), shape)
    except ValueError:
        raise out_of_range(owner, shape[-1], labels) from None
    return picks


def out_of_range(owner: str, classes: int, labels: np.ndarray) -> DataError:
    """The error for labels some of which are not in 0..classes−1."""
    bad = labels.min() if labels.min() < 0 else labels.max()
    return DataError(
        f"{owner}: label {bad} is out of range for {classes} classes (expected 0..{classes - 1})"
    )


def labels_of(owner: str, z: np.ndarray, target: ArrayLike) -> np.ndarray | None:
    """Integer class labels when `target` is one label per example (and position), else None."""
    y = np.asarray(target.data if isinstance(target, Tensor) else target)
    if y.ndim != z.ndim - 1:
        return None
    return class_labels(owner, z, y)


def class_labels(owner: str, z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """y as integer class labels, checked to be whole numbers and one per example (and
    position) of logits z; their range is checked where they are used (flat_picks)."""
    y = whole(owner, y)
    expected = example_shape(z.shape)
    if y.shape != expected:
        raise ShapeError(
            f"{owner}: logits of shape {z.shape} but target has shape {y.shape}; expected "
            f"one label per row (example and position), shape {expected}"
        )
    return y


def example_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of one value per example (and position): z's without its class axis."""
    return () if len(shape) == 1 else shape[:1] + shape[2:]


def lines_up(target_shape: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    """Whether a target of `target_shape` holds one value per element of a prediction of
    `shape` in the same order: flat, or the same shape with axes of size 1 added or dropped
    ((n,) fits (n, 1)). Another shape of the same size, (3, 2) for (2, 3), would pair values
    with the wrong predictions, so it is refused."""
    if math.prod(target_shape) != math.prod(shape):
        return False
    if len(target_shape) == 1:
        return True
    return [d for d in target_shape if d != 1] == [d for d in shape if d != 1]


def _shape(target: ArrayLike) -> tuple[int, ...]:
    return np.shape(target.data if isinstance(target, Tensor) else target)


def needs_grad(target: ArrayLike) -> bool:
    return isinstance(target, Tensor) and target.requires_grad


class Rows(NamedTuple):
    """z laid out as rows (examples × positions) of classes, and the way back."""

    rows: np.ndarray  # (examples·positions, classes)
    shape: tuple[int, ...]  # z's shape

    @classmethod
    def of(cls, owner: str, z: np.ndarray) -> Rows:
        if z.ndim == 0:
            raise ShapeError(f"{owner}: logits must have a class axis, got a scalar")
        moved = z if z.ndim < 3 else np.moveaxis(z, 1, -1)
        return cls(moved.reshape(-1, z.shape[0 if z.ndim == 1 else 1]), z.shape)

    def back(self, rows: np.ndarray) -> np.ndarray:
        """Rows of classes in z's layout again (the classes back on axis 1)."""
        if len(self.shape) < 3:
            return rows.reshape(self.shape)
        moved = (self.shape[0], *self.shape[2:], self.shape[1])
        return np.moveaxis(rows.reshape(moved), -1, 1)

    def per_example(self, values: np.ndarray) -> np.ndarray:
        """One value per row, in the target's layout (n, d1, ...), or () for one example."""
        return values.reshape(example_shape(self.shape))


def _reduce(
    terms: np.ndarray, count: int, reduction: str, rows: Rows, dtype: np.dtype
) -> tuple[np.ndarray, float]:
    """C from the per-row terms C_i, and the factor k with ∂C/∂C_i = k (for sum and mean).

    The mean divides by `count`, the rows not ignored: none left gives NaN, as PyTorch's, and
    a zero gradient.
    """
    if reduction == "none":
        return rows.per_example(terms).astype(dtype, copy=False), 1.0
    total = np.add.reduce(terms, axis=None)
    if reduction == "sum":
        return np.asarray(total, dtype), 1.0
    if count == 0:
        return np.asarray(np.nan, dtype), 0.0
    return np.asarray(total / count, dtype), 1.0 / count


def _upstream(g: np.ndarray, k: float, reduction: str, rows: Rows) -> np.ndarray | float:
    """∂(what follows)/∂C_i for each row, as a column to scale that row's classes."""
    if reduction == "none":
        return g.reshape(-1, 1)
    return float(g) * k


def _class_targets(
    owner: str, rows: Rows, labels: np.ndarray, smoothing: float, ignore_index: int | None
) -> tuple[np.ndarray, int]:
    """q, the distribution each row is pulled towards: (1 − ε) on the label plus ε/classes
    on every class; a row whose label is `ignore_index` gets q = 0. Also how many rows count."""
    flat = labels.reshape(-1)
    classes = rows.rows.shape[1]
    q = np.zeros_like(rows.rows)
    kept = np.ones(len(flat), bool) if ignore_index is None else flat != ignore_index
    picks = flat_picks(owner, q.shape, np.where(kept, flat, 0))
    q.reshape(-1)[picks[kept]] = 1.0 - smoothing
    if smoothing:
        q[kept] += smoothing / classes
    return q, int(np.count_nonzero(kept))


def general_cross_entropy(
    z: Tensor,
    target: ArrayLike,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    ignore_index: int | None = None,
) -> Tensor:
    """C_i = −Σ_c q_c log softmax(z_i)_c;  ∂C_i/∂z_i = softmax(z_i) Σ_c q_c − q.

    q is the target row, smoothed: (1 − ε) y + ε/classes. For class probabilities y that
    require grad, ∂C_i/∂y_c = −(1 − ε) log softmax(z_i)_c. A class index takes no gradient.
    """
    settings = (reduction, label_smoothing, ignore_index, needs_grad(target))
    loss, vjps = _general_cross_entropy(z.data, target_array(target), *settings)
    parents = (z, target) if len(vjps) == 2 else (z,)
    return node(
        loss, parents, "cross_entropy", vjps, _general_cross_entropy, (z, target, *settings)
    )


def _general_cross_entropy(
    logits: np.ndarray,
    target: ArrayLike,
    reduction: str,
    label_smoothing: float,
    ignore_index: int | None,
    with_target: bool,
) -> Rule:
    owner = "CrossEntropyLoss"
    rows = Rows.of(owner, logits)
    shifted = rows.rows - row_max(rows.rows)
    log_p = shifted - np.log(np.add.reduce(np.exp(shifted), axis=-1, keepdims=True))
    labels = labels_of(owner, logits, target)
    classes = rows.rows.shape[1]
    if labels is not None:
        if with_target:
            raise GradError(
                f"{owner}: a target of class indices takes no gradient, but this one requires "
                f"grad; pass class probabilities shaped like the logits to differentiate it"
            )
        q, count = _class_targets(owner, rows, labels, label_smoothing, ignore_index)
    else:
        y = _probabilities(owner, logits, target)
        q = Rows.of(owner, y).rows * (1.0 - label_smoothing) + label_smoothing / classes
        count = len(q)
    loss, k = _reduce(-np.add.reduce(q * log_p, axis=-1), count, reduction, rows, logits.dtype)

    def d_z(g: np.ndarray) -> np.ndarray:
        p = np.exp(log_p)
        return rows.back((p * q.sum(axis=-1, keepdims=True) - q) * _upstream(g, k, reduction, rows))

    if labels is not None or not with_target:
        return loss, (d_z,)
    target_shape = np.shape(target)

    def d_y(g: np.ndarray) -> np.ndarray:
        local = -(1.0 - label_smoothing) * log_p * _upstream(g, k, reduction, rows)
        return rows.back(local).reshape(target_shape)

    return loss, (d_z, d_y)


def _probabilities(owner: str, z: np.ndarray, target: ArrayLike) -> np.ndarray:
    """Class probabilities in z's dtype and shape (a flat target of z's size is reshaped)."""
    y = numeric_array(target)
    if y.shape != z.shape:
        if not lines_up(y.shape, z.shape):
            raise ShapeError(
                f"{owner}: prediction has shape {z.shape} but target has shape {y.shape}; "
                f"expected one label per example or class probabilities shaped like it"
            )
        y = y.reshape(z.shape)
    return y.astype(z.dtype, copy=False)


def cross_entropy(z: Tensor, target: ArrayLike) -> Tensor:
    """C = −(1/n) Σ_i log softmax(z_i)[y_i] on logits z; ∂C/∂z = (softmax(z) − y)/n.

    Softmax and cross-entropy fused: log-softmax after subtracting each row's max is stable
    for logits of ±1e4, and the joint derivative p − y is one subtraction. `target` is one
    integer label per row, or rows of class probabilities (one-hot). This is the training
    path, kept to the fewest passes; extra positions (n, classes, d1, ...) and targets that
    require grad take `general_cross_entropy`.
    """
    logits = z.data
    if logits.ndim > 2 or needs_grad(target):
        return general_cross_entropy(z, target)
    if logits.ndim == 0:
        raise ShapeError("CrossEntropyLoss: logits must have a class axis, got a scalar")
    y = target_array(target)
    kernel = _cross_entropy if np.ndim(y) == logits.ndim - 1 else _soft_cross_entropy
    loss, vjps = kernel(logits, y)
    return node(loss, (z,), "cross_entropy", vjps, kernel, (z, target))


def _cross_entropy(logits: np.ndarray, target: ArrayLike) -> Rule:
    """`cross_entropy` on (n, classes) or (classes,) logits and a class label per row, the
    fewest passes."""
    # ufunc.reduce rather than .sum(): the same sums without a Python-level wrapper
    top = row_max(logits)  # its own statement: a compiled step copies it in (compile/inline.py)
    shifted = logits - top
    e = np.exp(shifted)
    total = np.add.reduce(e, axis=-1, keepdims=True)
    n = logits.shape[0] if logits.ndim > 1 else 1
    labels = class_labels("CrossEntropyLoss", logits, np.asarray(target))
    pick = flat_picks("CrossEntropyLoss", logits.shape, labels)
    # log softmax(z_i)[y_i] = shifted[y_i] − log Σ_j e^{shifted_j}: only the picked entries
    picked = np.add.reduce(shifted.reshape(-1)[pick], axis=None)
    loss = np.asarray((np.add.reduce(np.log(total), axis=None) - picked) / n, logits.dtype)

    def vjp(g: np.ndarray) -> np.ndarray:
        delta = e / total  # softmax(z), kept from the forward pass
        delta.reshape(-1)[pick] -= 1.0  # a view: subtracts y (one-hot) in place
        delta *= float(g) / n  # g is the scalar ∂(whatever follows)/∂C
        return delta

    return loss, (vjp,)


def _soft_cross_entropy(logits: np.ndarray, target: ArrayLike) -> Rule:
    """`cross_entropy` on (n, classes) or (classes,) logits and class probabilities."""
    top = row_max(logits)
    shifted = logits - top
    total = np.add.reduce(np.exp(shifted), axis=-1, keepdims=True)
    n = logits.shape[0] if logits.ndim > 1 else 1
    log_p = shifted - np.log(total)
    y = _probabilities("CrossEntropyLoss", logits, target)
    loss = np.asarray(-(y * log_p).sum() / n, dtype=logits.dtype)
    mass = y.sum(axis=-1, keepdims=True)
    return loss, (lambda g: g * (np.exp(log_p) * mass - y) / n,)


def nll(
    x: Tensor, target: ArrayLike, reduction: str = "mean", ignore_index: int | None = None
) -> Tensor:
    """C_i = −x_i[y_i] on log-probabilities x (after log_softmax);  ∂C_i/∂x_i = −onehot(y_i).

    The target is class indices, which take no gradient; a row labelled `ignore_index` adds
    nothing, and the mean is over the rows that count.
    """
    owner = "NLLLoss"
    if needs_grad(target):
        raise GradError(
            f"{owner}: a target of class indices takes no gradient, but this one requires grad"
        )
    loss, vjps = _nll(x.data, target_array(target), reduction, ignore_index)
    return node(loss, (x,), "nll", vjps, _nll, (x, target, reduction, ignore_index))


def _nll(a: np.ndarray, target: ArrayLike, reduction: str, ignore_index: int | None) -> Rule:
    owner = "NLLLoss"
    rows = Rows.of(owner, a)
    labels = labels_of(owner, a, target)
    if labels is None:
        raise ShapeError(
            f"{owner}: input of shape {a.shape} needs one class index per example, shape "
            f"{example_shape(a.shape)}; got a target of shape {_shape(target)}"
        )
    onehot, count = _class_targets(owner, rows, labels, 0.0, ignore_index)
    picked = np.add.reduce(np.where(onehot > 0, rows.rows, 0.0), axis=-1)  # 0·(−inf) is no NaN
    loss, k = _reduce(-picked, count, reduction, rows, a.dtype)
    return loss, (lambda g: rows.back(-onehot * _upstream(g, k, reduction, rows)),)
