"""Losses: the number C that backpropagation differentiates, each a fused node whose local
derivative ∂C/∂a is written beside its forward.

Rows are examples: a prediction of shape (n, outputs) is n examples; a 1-D prediction is
one example (the lecture's C_i). Every loss takes `reduction`: "mean" (the default, the one
the lecture's forms describe), "sum", or "none" for one value per term. A target that requires
grad gets its gradient too, as PyTorch gives it; a class index cannot, and is refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from chainrule.checks import finite, one_of, refuse
from chainrule.errors import ShapeError
from chainrule.nn.cross_entropy import (
    cross_entropy,
    flat_picks,
    general_cross_entropy,
    lines_up,
    needs_grad,
    nll,
    target_array,
    whole,
)
from chainrule.nn.layers import Activation, Sigmoid, Softmax
from chainrule.nn.module import Module
from chainrule.tensor import VJP, ArrayLike, Tensor, node, numeric_array, tracing

REDUCTIONS = ("mean", "sum", "none")

# PyTorch's floor for p(1 − p) is the float32 number nearest 1e-12; the same floor gives the
# same gradient where p is exactly 0 or 1.
BCE_EPS = float(np.float32(1e-12))


def _examples(a: np.ndarray) -> int:
    return a.shape[0] if a.ndim > 1 else 1


def _numeric_target(name: str, a: np.ndarray, target: ArrayLike) -> np.ndarray:
    """The target as an array of the prediction's dtype and shape ((n,) fits (n, 1))."""
    y = numeric_array(target)
    if y.dtype != a.dtype:
        y = y.astype(a.dtype)
    if y.shape != a.shape:
        if not lines_up(y.shape, a.shape):
            raise ShapeError(
                f"{name}: prediction has shape {a.shape} but target has shape {y.shape}; "
                f"expected one target value per prediction"
            )
        y = y.reshape(a.shape)
    return y


# ---- each loss per element: its value and local derivatives, for every setting -------------

# terms(a, y) -> (the loss of each element, ∂/∂a of each, ∂/∂y of each); the derivatives are
# computed only when backward asks for them.
Terms = Callable[
    [np.ndarray, np.ndarray],
    tuple[np.ndarray, Callable[[], np.ndarray], Callable[[], np.ndarray]],
]


def squared_terms(a: np.ndarray, y: np.ndarray) -> tuple:
    """(a − y)²;  ∂/∂a = 2(a − y),  ∂/∂y = −2(a − y)."""
    diff = a - y
    return diff * diff, lambda: 2 * diff, lambda: -2 * diff


def _clamped_logs(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ln p and ln(1 − p), each clamped at −100 as PyTorch's BCELoss clamps them."""
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(p), -100.0), np.maximum(np.log1p(-p), -100.0)


def bce_terms(p: np.ndarray, y: np.ndarray) -> tuple:
    """−[y ln p + (1 − y) ln(1 − p)];  ∂/∂p = (p − y)/max(p(1 − p), 1e-12),
    ∂/∂y = ln(1 − p) − ln p (the clamped logs, so finite at p = 0 or 1)."""
    log_p, log_q = _clamped_logs(p)
    value = -(y * log_p + (1 - y) * log_q)
    return value, lambda: (p - y) / np.maximum(p * (1 - p), BCE_EPS), lambda: log_q - log_p


def logit_bce_terms(z: np.ndarray, y: np.ndarray) -> tuple:
    """BCE of p = σ(z) written in z: max(z, 0) − z y + ln(1 + e^{−|z|}), which never
    exponentiates a large positive number;  ∂/∂z = σ(z) − y,  ∂/∂y = −z."""
    e = np.exp(-np.abs(z))
    value = np.maximum(z, 0) - z * y + np.log1p(e)

    def d_z() -> np.ndarray:
        sigma = np.where(z >= 0, 1 / (1 + e), e / (1 + e))  # σ(z) from e^{−|z|} on both sides
        return sigma - y

    return value, d_z, lambda: -z


# The op name each loss's node carries, for the graph drawing and explain.
OPS = {
    "SquaredError": "squared_error",
    "MSELoss": "mse",
    "BCELoss": "bce",
    "BCEWithLogitsLoss": "bce_with_logits",
}


def pointwise(
    owner: str, a: Tensor, target: ArrayLike, terms: Terms, reduction: str, per_example: bool
) -> Tensor:
    """C from `terms` of every element: their mean, sum, or (reduction "none") the terms.

    `per_example` first sums each example's terms over its outputs (the lecture's C_i), so the
    mean is over examples (rows; a 1-D prediction is one), not elements. A target that requires
    grad is a second parent.
    """
    with_target = needs_grad(target)
    settings = (owner, terms, reduction, per_example, with_target)
    loss, vjps = _pointwise(a.data, target_array(target), *settings)
    parents = (a, target) if with_target else (a,)
    return node(loss, parents, OPS[owner], vjps, _pointwise, (a, target, *settings))


def _pointwise(
    a: np.ndarray,
    target: ArrayLike,
    owner: str,
    terms: Terms,
    reduction: str,
    per_example: bool,
    with_target: bool,
) -> tuple[np.ndarray, tuple[VJP, ...]]:
    y = _numeric_target(owner, a, target)
    value, d_a, d_y = terms(a, y)
    if per_example and value.ndim:
        value = np.add.reduce(value, axis=tuple(range(value.ndim > 1, value.ndim)))
    if reduction == "none":
        loss = value.astype(a.dtype, copy=False)
        spread = value.shape + (1,) * (a.ndim - value.ndim)  # C_i's g to each output

        def scale(g: np.ndarray) -> np.ndarray | float:
            return g.reshape(spread)

    else:
        k = 1.0 if reduction == "sum" else (1.0 / value.size if value.size else math.nan)
        loss = np.asarray(np.add.reduce(value, axis=None) * k, a.dtype)

        def scale(g: np.ndarray) -> np.ndarray | float:
            return float(g) * k

    if not with_target:
        return loss, (lambda g: d_a() * scale(g),)
    shape = np.shape(target)
    return loss, (lambda g: d_a() * scale(g), lambda g: (d_y() * scale(g)).reshape(shape))


# ---- the default settings (reduction "mean"): the training path, in the fewest passes -------


def squared_error(a: Tensor, target: ArrayLike) -> Tensor:
    """C = (1/n) Σ_i Σ_j (a_ij − y_ij)²  (the lecture's C_i, averaged over examples);
    ∂C/∂a = 2(a − y)/n."""
    if needs_grad(target):
        return pointwise("SquaredError", a, target, squared_terms, "mean", True)
    loss, vjps = _squared_error(a.data, target_array(target))
    return node(loss, (a,), "squared_error", vjps, _squared_error, (a, target))


def _squared_error(a: np.ndarray, target: ArrayLike) -> tuple[np.ndarray, tuple[VJP, ...]]:
    y = _numeric_target("SquaredError", a, target)
    diff = a - y
    n = _examples(a)
    loss = np.asarray(np.vdot(diff, diff) / n, dtype=a.dtype)
    return loss, (lambda g: diff * (float(g) * 2.0 / n),)


def mse(a: Tensor, target: ArrayLike) -> Tensor:
    """C = mean over all elements of (a − y)² (PyTorch's MSELoss); ∂C/∂a = 2(a − y)/size."""
    if needs_grad(target):
        return pointwise("MSELoss", a, target, squared_terms, "mean", False)
    loss, vjps = _mse(a.data, target_array(target))
    return node(loss, (a,), "mse", vjps, _mse, (a, target))


def _mse(a: np.ndarray, target: ArrayLike) -> tuple[np.ndarray, tuple[VJP, ...]]:
    y = _numeric_target("MSELoss", a, target)
    diff = a - y
    loss = np.asarray(np.vdot(diff, diff) / diff.size, dtype=a.dtype)
    return loss, (lambda g: g * (2.0 / diff.size) * diff,)


def bce(p: Tensor, target: ArrayLike) -> Tensor:
    """C = −mean(y ln p + (1 − y) ln(1 − p)) for probabilities p; ∂C/∂p = (p − y)/(p(1 − p))/size.

    As PyTorch: each log is clamped at −100 and p(1 − p) at 1e-12, so p = 0 or 1 never
    gives log(0) or a division by zero.
    """
    if needs_grad(target):
        return pointwise("BCELoss", p, target, bce_terms, "mean", False)
    loss, vjps = _bce(p.data, target_array(target))
    return node(loss, (p,), "bce", vjps, _bce, (p, target))


def _bce(a: np.ndarray, target: ArrayLike) -> tuple[np.ndarray, tuple[VJP, ...]]:
    y = _numeric_target("BCELoss", a, target)
    log_p, log_q = _clamped_logs(a)
    loss = np.asarray(-np.mean(y * log_p + (1 - y) * log_q), dtype=a.dtype)
    size = a.size
    return loss, (lambda g: g * (a - y) / np.maximum(a * (1 - a), BCE_EPS) / size,)


def bce_with_logits(z: Tensor, target: ArrayLike) -> Tensor:
    """C = mean(max(z, 0) − z y + ln(1 + e^{−|z|})) on logits z; ∂C/∂z = (σ(z) − y)/size."""
    return pointwise("BCEWithLogitsLoss", z, target, logit_bce_terms, "mean", False)


# ---- the loss modules: the rule, the settings and the lecture's forms -----------------------


class Loss(Module):
    """A loss C = 1/n Σ_i C_i and the lecture's forms for it, read by every teaching view.

    `cost` is C_i and `slope` the factor ∂C_i/∂a_j^{(L)}, as the lecture writes them: templates
    in `{a}` (the output a_j^{(L)} the loss takes), `{y}` (its target y_j), `{m}` (outputs per
    example), `{p}` (what the loss compares with y: a itself, or CrossEntropyLoss's
    p = softmax(z)) and `{v}` (the whole output, z^{(L)}). `derivative(a, y)` is ∂C_i/∂a in
    numbers, one row per example, for targets already made rows by `targets(a, y)`.
    `fused_with` is an activation the loss applies to its input itself (CrossEntropyLoss's
    softmax), so that the one factor ∂C_i/∂z_j replaces ∂a/∂z · ∂C/∂a.

    The forms describe the default settings (`plain`); `reduction="sum"` makes C = Σ_i C_i and
    "none" returns the C_i themselves. `rule` is chosen once, here: the default settings keep
    the fused training path, any other setting takes `general`.
    """

    rule: Any = staticmethod(squared_error)  # the default settings' rule
    terms: Any = staticmethod(squared_terms)  # per element, for `general`
    per_example: ClassVar[bool] = True  # C_i sums its outputs' terms (the lecture's)
    defaults: ClassVar[dict[str, Any]] = {"reduction": "mean"}
    term: ClassVar[str] = "({a} − {y})²"  # C_i's term for one output j, where C_i is a sum
    cost: ClassVar[str] = f"Σ_j {term}"
    slope: ClassVar[str] = "2({a} − {y})"
    compared: ClassVar[str] = "a"  # the symbol `{p}` stands for
    fused_with: ClassVar[type[Activation] | None] = None  # an activation the loss applies itself

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = one_of(type(self).__name__, "reduction", reduction, REDUCTIONS)
        self._choose_rule()

    def _choose_rule(self) -> None:
        if not self.plain:
            self.rule = self.general

    def general(self, prediction: Tensor, target: ArrayLike) -> Tensor:
        """The loss under any settings, from its per-element `terms`."""
        return pointwise(
            type(self).__name__, prediction, target, self.terms, self.reduction, self.per_example
        )

    @property
    def plain(self) -> bool:
        """True at the default settings, the ones the lecture's forms describe."""
        return self.config() == self.defaults

    def forward(self, prediction: Tensor, target: ArrayLike) -> Tensor:
        if not isinstance(prediction, Tensor):
            prediction = Tensor(prediction)
        return self.rule(prediction, target)

    def __call__(self, prediction: Tensor, target: ArrayLike) -> Tensor:
        if tracing.capture is not None:
            tracing.capture.module(self)
        return self.forward(prediction, target)

    def config(self) -> dict[str, Any]:
        """The settings, by the names the constructor takes."""
        return {"reduction": self.reduction}

    def extra_repr(self) -> str:
        changed = {k: v for k, v in self.config().items() if self.defaults.get(k) != v}
        return ", ".join(f"{k}={v!r}" for k, v in changed.items())

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
    per_example = False
    cost = "1/{m} Σ_j ({a} − {y})², the mean over all n·{m} elements"
    slope = "2({a} − {y})/{m}"

    @staticmethod
    def derivative(a: np.ndarray, y: np.ndarray) -> np.ndarray:
        """∂C_i/∂a_j = 2(a_j − y_j)/m over m outputs."""
        return 2 * (a - y) / a.shape[-1]


class BCELoss(Loss):
    """Binary cross-entropy on probabilities (after a Sigmoid), clamped like PyTorch's."""

    rule = staticmethod(bce)
    terms = staticmethod(bce_terms)
    per_example = False
    term = "−[{y} ln {a} + (1 − {y}) ln(1 − {a})]/{m}"
    cost = "−1/{m} Σ_j [{y} ln {a} + (1 − {y}) ln(1 − {a})]"
    slope = "({a} − {y})/({a}(1 − {a})·{m})"

    @staticmethod
    def derivative(a: np.ndarray, y: np.ndarray) -> np.ndarray:
        """∂C_i/∂a_j = (a_j − y_j)/(a_j(1 − a_j)·m), with a(1 − a) floored as `bce` floors it."""
        return (a - y) / np.maximum(a * (1 - a), BCE_EPS) / a.shape[-1]


class BCEWithLogitsLoss(Loss):
    """Sigmoid + binary cross-entropy on logits z, fused: stable for any z, and its factor is
    ∂C_i/∂z_j = (σ(z_j) − y_j)/m, the sigmoid's slope and the loss's in one (PyTorch's)."""

    rule = staticmethod(bce_with_logits)
    terms = staticmethod(logit_bce_terms)
    per_example = False
    fused_with = Sigmoid
    term = "−[{y} ln {p} + (1 − {y}) ln(1 − {p})]/{m}"
    cost = "−1/{m} Σ_j [{y} ln {p} + (1 − {y}) ln(1 − {p})] with p = σ({a})"
    slope = "({p} − {y})/{m}"
    compared = "p"

    @staticmethod
    def output(a: np.ndarray) -> np.ndarray:
        """p = σ(z), computed from e^{−|z|} so that no large z overflows."""
        e = np.exp(-np.abs(a))
        return np.where(a >= 0, 1 / (1 + e), e / (1 + e))

    @staticmethod
    def derivative(a: np.ndarray, y: np.ndarray) -> np.ndarray:
        """∂C_i/∂z_j = (σ(z_j) − y_j)/m over m outputs."""
        return (BCEWithLogitsLoss.output(a) - y) / a.shape[-1]


def _ignore_index(owner: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise refuse(owner, "ignore_index", "an integer class label or None", value)
    return int(value)


class _ClassLoss(Loss):
    """A loss on class labels: one-hot rows stand for the labels in the lecture's forms."""

    def targets(self, a: np.ndarray, target: ArrayLike) -> np.ndarray:
        """One-hot rows for one label per example, else the rows of class probabilities given."""
        owner = type(self).__name__
        y = np.asarray(target.data if isinstance(target, Tensor) else target)
        n = _examples(a)
        if y.size != n or y.shape == a.shape:
            return _numeric_target(owner, a, y)
        labels = whole(owner, y.reshape(a.shape[:-1]))
        rows = np.zeros_like(a)
        rows.reshape(-1)[flat_picks(owner, a.shape, labels)] = 1.0  # checks every label's range
        return rows


class CrossEntropyLoss(_ClassLoss):
    """Softmax + cross-entropy on logits, with integer labels or class probabilities
    (PyTorch's), classes on axis 1: (n, classes) or (n, classes, d1, ...).

    Its factor is for the logits: ∂C_i/∂z_j = p_j − y_j, softmax's slope and the loss's in one.
    `label_smoothing` ε pulls towards (1 − ε) y + ε/classes instead of y; a label equal to
    `ignore_index` adds nothing, and the mean is over the labels that count (NaN if none do).
    """

    rule = staticmethod(cross_entropy)
    fused_with = Softmax
    defaults = {"reduction": "mean", "label_smoothing": 0.0, "ignore_index": None}
    term = "−{y} ln {p}"
    cost = "−Σ_j {y} ln {p} with p = softmax({v})"
    slope = "{p} − {y}"
    compared = "p"

    def __init__(
        self, reduction: str = "mean", label_smoothing: float = 0.0, ignore_index: int | None = None
    ) -> None:
        smoothing = finite("CrossEntropyLoss", "label_smoothing", label_smoothing)
        if not 0 <= smoothing <= 1:
            raise refuse("CrossEntropyLoss", "label_smoothing", "a number in [0, 1]", smoothing)
        Module.__init__(self)
        self.label_smoothing = smoothing
        self.ignore_index = _ignore_index("CrossEntropyLoss", ignore_index)
        self.reduction = one_of("CrossEntropyLoss", "reduction", reduction, REDUCTIONS)
        self._choose_rule()

    def general(self, prediction: Tensor, target: ArrayLike) -> Tensor:
        return general_cross_entropy(
            prediction, target, self.reduction, self.label_smoothing, self.ignore_index
        )

    def config(self) -> dict[str, Any]:
        return {
            "reduction": self.reduction,
            "label_smoothing": self.label_smoothing,
            "ignore_index": self.ignore_index,
        }

    @staticmethod
    def output(a: np.ndarray) -> np.ndarray:
        """p = softmax(z) along each row, after subtracting the row's max."""
        e = np.exp(a - a.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    @staticmethod
    def derivative(a: np.ndarray, y: np.ndarray) -> np.ndarray:
        """∂C_i/∂z_j = p_j Σ_q y_q − y_j, which is p_j − y_j when the row y sums to 1."""
        return CrossEntropyLoss.output(a) * y.sum(axis=-1, keepdims=True) - y


class NLLLoss(_ClassLoss):
    """Negative log-likelihood on log-probabilities a = log_softmax(z) (PyTorch's): C_i is
    −a_{y_i}, the picked log-probability, and ∂C_i/∂a_j = −y_j (one-hot). Labels only;
    `ignore_index` as CrossEntropyLoss's."""

    rule = staticmethod(nll)
    defaults = {"reduction": "mean", "ignore_index": None}
    term = "−{y} {a}"
    cost = "−Σ_j {y} {a}, with a = log p"
    slope = "−{y}"

    def __init__(self, reduction: str = "mean", ignore_index: int | None = None) -> None:
        Module.__init__(self)
        self.ignore_index = _ignore_index("NLLLoss", ignore_index)
        self.reduction = one_of("NLLLoss", "reduction", reduction, REDUCTIONS)
        self._choose_rule()

    def general(self, prediction: Tensor, target: ArrayLike) -> Tensor:
        return nll(prediction, target, self.reduction, self.ignore_index)

    def config(self) -> dict[str, Any]:
        return {"reduction": self.reduction, "ignore_index": self.ignore_index}

    @staticmethod
    def derivative(a: np.ndarray, y: np.ndarray) -> np.ndarray:
        """∂C_i/∂a_j = −y_j."""
        return -y


# Losses every consumer takes by name: fit, the CLI's --loss, explain, the estimators.
LOSSES: dict[str, type[Loss]] = {
    "squared": SquaredError,
    "mse": MSELoss,
    "bce": BCELoss,
    "ce": CrossEntropyLoss,
}


def loss_module(owner: str, loss: Loss | str) -> Loss:
    """`loss` itself if it is a loss module at the settings its lecture's forms describe, else
    a new one by its name in LOSSES."""
    if isinstance(loss, str):
        return LOSSES[one_of(owner, "loss", loss, LOSSES)]()
    if not isinstance(loss, Loss):
        raise refuse(owner, "loss", f"a loss module or one of {', '.join(LOSSES)}", loss)
    if not loss.plain:
        raise refuse(owner, "loss", "a loss at its default settings (reduction='mean')", loss)
    return loss
