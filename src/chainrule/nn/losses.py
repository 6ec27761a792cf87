"""Losses: the number C that backpropagation differentiates, each a fused node whose local
derivative ∂C/∂a is written beside its forward.

Rows are examples: a prediction of shape (n, outputs) is n examples; a 1-D prediction is
one example (the lecture's C_i).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from chainrule.checks import one_of, refuse
from chainrule.errors import DataError, ShapeError
from chainrule.nn.layers import Activation, Softmax
from chainrule.nn.module import Module
from chainrule.tensor import ArrayLike, Tensor, node

# PyTorch's floor for p(1 − p) is the float32 number nearest 1e-12; the same floor gives the
# same gradient where p is exactly 0 or 1.
BCE_EPS = float(np.float32(1e-12))


def _examples(a: np.ndarray) -> int:
    return a.shape[0] if a.ndim > 1 else 1


def _numeric_target(name: str, a: np.ndarray, target: ArrayLike) -> np.ndarray:
    """The target as an array of the prediction's dtype and shape ((n,) fits (n, 1))."""
    y = np.asarray(target.data if isinstance(target, Tensor) else target)
    if y.dtype != a.dtype:
        y = y.astype(a.dtype)
    if y.shape != a.shape:
        if y.size != a.size:
            raise ShapeError(
                f"{name}: prediction has shape {a.shape} but target has shape {y.shape}; "
                f"expected one target value per prediction"
            )
        y = y.reshape(a.shape)
    return y


def squared_error(a: Tensor, target: ArrayLike) -> Tensor:
    """C = (1/n) Σ_i Σ_j (a_ij − y_ij)²  (the lecture's C_i, averaged over examples);
    ∂C/∂a = 2(a − y)/n."""
    y = _numeric_target("SquaredError", a.data, target)
    diff = a.data - y
    n = _examples(a.data)
    loss = np.asarray(np.vdot(diff, diff) / n, dtype=a.data.dtype)
    return node(loss, (a,), "squared_error", (lambda g: diff * (float(g) * 2.0 / n),))


def mse(a: Tensor, target: ArrayLike) -> Tensor:
    """C = mean over all elements of (a − y)² (PyTorch's MSELoss); ∂C/∂a = 2(a − y)/size."""
    y = _numeric_target("MSELoss", a.data, target)
    diff = a.data - y
    loss = np.asarray(np.vdot(diff, diff) / diff.size, dtype=a.data.dtype)
    return node(loss, (a,), "mse", (lambda g: g * (2.0 / diff.size) * diff,))


def bce(p: Tensor, target: ArrayLike) -> Tensor:
    """C = −mean(y ln p + (1 − y) ln(1 − p)) for probabilities p; ∂C/∂p = (p − y)/(p(1 − p))/size.

    As PyTorch: each log is clamped at −100 and p(1 − p) at 1e-12, so p = 0 or 1 never
    gives log(0) or a division by zero.
    """
    y = _numeric_target("BCELoss", p.data, target)
    a = p.data
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(a), -100.0)
        log_q = np.maximum(np.log1p(-a), -100.0)
    loss = np.asarray(-np.mean(y * log_p + (1 - y) * log_q), dtype=a.dtype)
    size = a.size
    return node(
        loss,
        (p,),
        "bce",
        (lambda g: g * (a - y) / np.maximum(a * (1 - a), BCE_EPS) / size,),
    )


def _whole(y: np.ndarray) -> np.ndarray:
    """Class labels as integers; floats must be whole numbers."""
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise DataError("CrossEntropyLoss: class labels must be whole numbers")
    elif y.dtype.kind not in "iu":
        raise DataError(f"CrossEntropyLoss: labels must be integers, got dtype {y.dtype}")
    return y.astype(np.intp, copy=False)


def _labels(z: np.ndarray, target: ArrayLike) -> np.ndarray | None:
    """Integer class labels when `target` is one label per row of logits, else None."""
    y = np.asarray(target.data if isinstance(target, Tensor) else target)
    if y.ndim != z.ndim - 1:
        return None
    y = _whole(y)
    if y.shape != z.shape[:-1]:
        raise ShapeError(
            f"CrossEntropyLoss: {z.shape[0] if z.ndim > 1 else 1} rows of logits but target "
            f"has shape {y.shape}; expected one label per row"
        )
    return y


def _flat_picks(shape: tuple[int, ...], labels: np.ndarray) -> np.ndarray:
    """Where each row's labelled logit z_i[y_i] sits in the flattened logits.

    np.ravel_multi_index checks every label is in 0..classes−1 as it goes, so the range check
    costs no extra pass; only a failure looks for the bad label.
    """
    rows = (np.arange(shape[0]),) if len(shape) == 2 else ()
    try:
        return np.ravel_multi_index((*rows, labels), shape)
    except ValueError:
        classes = shape[-1]
        bad = labels.min() if labels.min() < 0 else labels.max()
        raise DataError(
            f"CrossEntropyLoss: label {bad} is out of range for {classes} classes "
            f"(expected 0..{classes - 1})"
        ) from None


def cross_entropy(z: Tensor, target: ArrayLike) -> Tensor:
    """C = −(1/n) Σ_i log softmax(z_i)[y_i] on logits z; ∂C/∂z = (softmax(z) − y)/n.

    Softmax and cross-entropy fused: log-softmax after subtracting each row's max is stable
    for logits of ±1e4, and the joint derivative p − y is one subtraction. `target` is one
    integer label per row, or rows of class probabilities (one-hot).
    """
    logits = z.data
    if logits.ndim not in (1, 2):
        raise ShapeError(
            f"CrossEntropyLoss: logits must have shape (n, classes) or (classes,), got "
            f"{logits.shape}"
        )
    # ufunc.reduce rather than .max()/.sum(): the same sums without a Python-level wrapper
    shifted = logits - np.maximum.reduce(logits, axis=-1, keepdims=True)
    e = np.exp(shifted)
    total = np.add.reduce(e, axis=-1, keepdims=True)
    n = _examples(logits)
    labels = _labels(logits, target)
    if labels is not None:
        pick = _flat_picks(logits.shape, labels)
        # log softmax(z_i)[y_i] = shifted[y_i] − log Σ_j e^{shifted_j}: only the picked entries
        picked = np.add.reduce(shifted.reshape(-1)[pick], axis=None)
        loss = np.asarray((np.add.reduce(np.log(total), axis=None) - picked) / n, logits.dtype)

        def vjp(g: np.ndarray) -> np.ndarray:
            delta = e / total  # softmax(z), kept from the forward pass
            delta.reshape(-1)[pick] -= 1.0  # a view: subtracts y (one-hot) in place
            delta *= float(g) / n  # g is the scalar ∂(whatever follows)/∂C
            return delta

        return node(loss, (z,), "cross_entropy", (vjp,))
    log_p = shifted - np.log(total)
    y = _numeric_target("CrossEntropyLoss", logits, target)
    loss = np.asarray(-(y * log_p).sum() / n, dtype=logits.dtype)
    mass = y.sum(axis=-1, keepdims=True)
    return node(loss, (z,), "cross_entropy", (lambda g: g * (np.exp(log_p) * mass - y) / n,))


class Loss(Module):
    """A loss C = 1/n Σ_i C_i and the lecture's forms for it, read by every teaching view.

    `cost` is C_i and `slope` the factor ∂C_i/∂a_j^{(L)}, as the lecture writes them: templates
    in `{a}` (the output a_j^{(L)} the loss takes), `{y}` (its target y_j), `{m}` (outputs per
    example), `{p}` (what the loss compares with y: a itself, or CrossEntropyLoss's
    p = softmax(z)) and `{v}` (the whole output, z^{(L)}). `derivative(a, y)` is ∂C_i/∂a in
    numbers, one row per example, for targets already made rows by `targets(a, y)`.
    `fused_with` is an activation the loss applies to its input itself (CrossEntropyLoss's
    softmax), so that the one factor ∂C_i/∂z_j replaces ∂a/∂z · ∂C/∂a.
    """

    rule: Any = staticmethod(squared_error)
    term: ClassVar[str] = "({a} − {y})²"  # C_i's term for one output j, where C_i is a sum
    cost: ClassVar[str] = f"Σ_j {term}"
    slope: ClassVar[str] = "2({a} − {y})"
    compared: ClassVar[str] = "a"  # the symbol `{p}` stands for
    fused_with: ClassVar[type[Activation] | None] = None  # an activation the loss applies itself

    def forward(self, prediction: Tensor, target: ArrayLike) -> Tensor:
        if not isinstance(prediction, Tensor):
            prediction = Tensor(prediction)
        return self.rule(prediction, target)

    def __call__(self, prediction: Tensor, target: ArrayLike) -> Tensor:
        return self.forward(prediction, target)

    def config(self) -> dict[str, Any]:
        return {}

    def targets(self, a: np.ndarray, target: ArrayLike) -> np.ndarray:
        """The targets y as numbers shaped like the rows of outputs `a`."""
        return _numeric_target(type(self).__name__, a, target)

    @staticmethod
    def output(a: np.ndarray) -> np.ndarray:
        """What the loss compares with y, `{p}` in its forms: the output a itself."""
        return a

    @staticmethod
    def derivative(a: np.ndarray, y: np.ndarray) -> np.ndarray:
        """∂C_i/∂a_j = 2(a_j − y_j)."""
        return 2 * (a - y)


class SquaredError(Loss):
    """The lecture's loss: C_i = Σ_j (a_j^{(L)} − y_j)², and C = (1/n) Σ_i C_i."""

    rule = staticmethod(squared_error)


class MSELoss(Loss):
    """PyTorch's MSELoss: the mean of (a − y)² over every element."""

    rule = staticmethod(mse)
    cost = "1/{m} Σ_j ({a} − {y})², the mean over all n·{m} elements"
    slope = "2({a} − {y})/{m}"

    @staticmethod
    def derivative(a: np.ndarray, y: np.ndarray) -> np.ndarray:
        """∂C_i/∂a_j = 2(a_j − y_j)/m over m outputs."""
        return 2 * (a - y) / a.shape[-1]


class BCELoss(Loss):
    """Binary cross-entropy on probabilities (after a Sigmoid), clamped like PyTorch's."""

    rule = staticmethod(bce)
    cost = "−1/{m} Σ_j [{y} ln {a} + (1 − {y}) ln(1 − {a})]"
    slope = "({a} − {y})/({a}(1 − {a})·{m})"

    @staticmethod
    def derivative(a: np.ndarray, y: np.ndarray) -> np.ndarray:
        """∂C_i/∂a_j = (a_j − y_j)/(a_j(1 − a_j)·m), with a(1 − a) floored as `bce` floors it."""
        return (a - y) / np.maximum(a * (1 - a), BCE_EPS) / a.shape[-1]


class CrossEntropyLoss(Loss):
    """Softmax + cross-entropy on logits, with integer labels or one-hot rows (PyTorch's).

    Its factor is for the logits: ∂C_i/∂z_j = p_j − y_j, softmax's slope and the loss's in one.
    """

    rule = staticmethod(cross_entropy)
    fused_with = Softmax
    cost = "−Σ_j {y} ln {p} with p = softmax({v})"
    slope = "{p} − {y}"
    compared = "p"

    def targets(self, a: np.ndarray, target: ArrayLike) -> np.ndarray:
        """One-hot rows for one label per example, else the rows of class probabilities given."""
        y = np.asarray(target.data if isinstance(target, Tensor) else target)
        n = _examples(a)
        if y.size != n or y.shape == a.shape:
            return _numeric_target("CrossEntropyLoss", a, y)
        labels = _whole(y.reshape(a.shape[:-1]))
        rows = np.zeros_like(a)
        rows.reshape(-1)[_flat_picks(a.shape, labels)] = 1.0  # checks every label's range
        return rows

    @staticmethod
    def output(a: np.ndarray) -> np.ndarray:
        """p = softmax(z) along each row, after subtracting the row's max."""
        e = np.exp(a - a.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    @staticmethod
    def derivative(a: np.ndarray, y: np.ndarray) -> np.ndarray:
        """∂C_i/∂z_j = p_j Σ_q y_q − y_j, which is p_j − y_j when the row y sums to 1."""
        return CrossEntropyLoss.output(a) * y.sum(axis=-1, keepdims=True) - y


LOSSES: dict[str, type[Loss]] = {
    "squared": SquaredError,
    "mse": MSELoss,
    "bce": BCELoss,
    "ce": CrossEntropyLoss,
}


def loss_module(owner: str, loss: Loss | str) -> Loss:
    """`loss` itself if it is a loss module, else a new one by its name in LOSSES."""
    if isinstance(loss, str):
        return LOSSES[one_of(owner, "loss", loss, LOSSES)]()
    if not isinstance(loss, Loss):
        raise refuse(owner, "loss", f"a loss module or one of {', '.join(LOSSES)}", loss)
    return loss
