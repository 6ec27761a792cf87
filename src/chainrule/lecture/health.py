"""Gradient health: does backpropagation still carry a useful signal to every layer?

By the chain rule, the gradient reaching layer l is a product of the factors of every layer
above it, `∂C/∂a^{(l)} = Σ_p w_{pj}^{(l+1)} σ'(z_p^{(l+1)}) ∂C/∂a_p^{(l+1)}`. Each σ'(z) is at
most 0.25 for a sigmoid and nearly 0 where a unit is saturated (its output near 0 or 1), and 0
for a ReLU that never fires, so gradients can shrink layer by layer until the first layers stop
learning (vanish); large weights or learning rates make them grow instead (explode).

Whether a gradient is small or large is judged against the weights it moves: one step of
gradient descent changes W by lr·‖∂C/∂W‖, a fraction `lr·‖∂C/∂W‖ / ‖W‖` of its size (the
update ratio). About 1e-3 is the usual rule of thumb; below 1e-5 the layer barely moves
(vanishing), above 0.1 each step rewrites a tenth of it or more (exploding). Layers are also
compared with one another, and a loss that sits at the chance value ln K (a classifier that
guesses among K classes) is spotted.

`gradient_health(model, X)` reads each Linear layer's gradient after a backward pass and runs X
forward to see its units, and says in one sentence what it finds. `fit(..., health_every=N)`
records it every N epochs.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np

from chainrule.checks import int_at_least, positive
from chainrule.errors import GradError
from chainrule.nn.layers import Activation, Sequential, blocks
from chainrule.nn.module import Module
from chainrule.tensor import ArrayLike, Tensor, as_array, no_grad

SATURATED = 0.01  # σ'(z) < 0.01 at a ≠ 0: a sigmoid a outside [0.0101, 0.9899], a tanh |a| > 0.995
VANISHING = 1e-2  # a layer whose gradient norm is below this fraction of the largest layer's
EXPLODING = 1e3  # a gradient norm above this
MOSTLY = 0.5  # the fraction of saturated or dead units that earns a hint
RULE_OF_THUMB = 1e-3  # the usual healthy update ratio lr·‖∂C/∂W‖/‖W‖
TOO_SMALL = 1e-5  # an update ratio below this: the layer's weights barely move (vanishing)
TOO_LARGE = 1e-1  # above this: one step changes a tenth of the weights' size (exploding)
DEFAULT_LR = 0.01  # the lr assumed when none is given: plain SGD's usual step
AT_CHANCE = 0.01  # a loss within 1% of the chance value ln K is at chance
STUCK_EPOCHS = 5  # that many epochs in a row at chance: stuck
CONVERGED = 0.1  # a loss below a tenth of chance: small gradients mean little is left to learn


class GradientHealthWarning(UserWarning):
    """Training's gradients look unhealthy (vanishing, exploding, saturated or dead units)."""


@dataclass(frozen=True)
class LayerHealth:
    """One Linear layer (counted from 1, as the lecture counts): the norm of its gradient
    `‖∂C/∂W‖` (weight and bias together) and of its weights, and for the activation after it
    the fraction of saturated outputs (σ'(z) < 0.01 at a ≠ 0: almost nothing passes back) and
    of dead units (σ'(z) = 0 on every example, as for a ReLU that never fires), both from the
    activation's registry slope; None when no inputs were given or no elementwise activation
    follows the layer. `update_ratio` is lr·‖∂C/∂W‖/‖W‖, None when ‖W‖ = 0."""

    layer: int
    name: str
    activation: str
    grad_norm: float
    weight_norm: float
    saturated: float | None = None
    dead: float | None = None
    update_ratio: float | None = None


@dataclass
class HealthReport:
    """Gradient health per layer: `status` (healthy, vanishing, exploding, dead, saturated or
    stuck), `verdict` (that status explained in one sentence with its numbers), and
    plain-language `hints` (what to try) when something looks wrong. `lr` is the learning rate
    the update ratios assume (None: not judged on that scale); `loss` the cost C given (None if
    none), `n_classes` the K of its chance value ln K."""

    layers: list[LayerHealth]
    hints: list[str] = field(default_factory=list)
    examples: int = 0
    epoch: int | None = None
    lr: float | None = DEFAULT_LR
    loss: float | None = None
    n_classes: int | None = None
    status: str = "healthy"
    verdict: str = ""

    @property
    def healthy(self) -> bool:
        return not self.hints

    @property
    def chance(self) -> float | None:
        """ln K: the cross-entropy of a classifier that gives each of K classes 1/K."""
        return None if self.n_classes is None else math.log(self.n_classes)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and numbers (JSON-ready), as `History.health` keeps them."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HealthReport:
        """The report `to_dict` gave. One kept before reports had a verdict is judged again
        from its layers, on the relative scale (it has no update ratios)."""
        report = cls(**{**d, "layers": [LayerHealth(**layer) for layer in d["layers"]]})
        if "verdict" not in d:
            report.lr = None
            report.status, report.verdict, _ = _judge(_Facts(report.layers, None, [], None, None))
        return report

    def _heading(self) -> str:
        where = f"epoch {self.epoch}, " if self.epoch is not None else ""
        seen = f"{self.examples} examples" if self.examples else "no inputs given"
        rate = "" if self.lr is None else f", lr {_num(self.lr)}"
        return f"gradient health ({where}{seen}{rate})"

    def _cells(self) -> list[tuple[str, ...]]:
        cells: list[tuple[str, ...]] = [
            ("layer", "activation", "‖W‖", "‖∂C/∂W‖", "update ratio", "saturated", "dead")
        ]
        for h in self.layers:
            cells.append(
                (
                    f"{h.layer} ({h.name})",
                    h.activation or "–",
                    f"{h.weight_norm:.3g}",
                    f"{h.grad_norm:.3g}",
                    "–" if h.update_ratio is None else f"{h.update_ratio:.2g}",
                    _percent(h.saturated),
                    _percent(h.dead),
                )
            )
        return cells

    def __repr__(self) -> str:
        """A few lines: what was measured, the verdict and how many hints."""
        hints = f"\n  {len(self.hints)} hint(s): print(report) shows them" if self.hints else ""
        return (
            f"<HealthReport: {self._heading()}, {len(self.layers)} layers\n  {self.verdict}{hints}>"
        )

    def __str__(self) -> str:
        cells = self._cells()
        widths = [max(len(row[c]) for row in cells) for c in range(len(cells[0]))]
        lines = [f"{self._heading()}:"]
        lines += [
            "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in cells
        ]
        lines.append(self.verdict)
        if self.hints:
            lines += ["hints:"] + [f"  - {hint}" for hint in self.hints]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The notebook view: the verdict, then one table row per layer."""
        head, *rows = self._cells()
        th = "".join(f"<th>{html.escape(c)}</th>" for c in head)
        trs = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
        )
        hints = "".join(f"<li>{html.escape(hint)}</li>" for hint in self.hints)
        return (
            f'<div class="chainrule-health" data-status="{html.escape(self.status)}">'
            f"<p><b>{html.escape(self._heading())}</b></p>"
            f"<p>{html.escape(self.verdict)}</p>"
            f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"
            + (f"<ul>{hints}</ul>" if hints else "")
            + "</div>"
        )


def _percent(fraction: float | None) -> str:
    return "–" if fraction is None else f"{fraction:.0%}"


def _num(x: float, digits: int = 2) -> str:
    """x to `digits` significant figures, below 0.01 as a power of ten: 1.2e-8, 1e-3, 0.015."""
    text = format(x, f".{digits}g" if not 0 < abs(x) < 0.01 else f".{digits - 1}e")
    mantissa, e, exponent = text.partition("e")
    mantissa = mantissa.rstrip("0").rstrip(".") if e and "." in mantissa else mantissa
    return f"{mantissa}e{int(exponent)}" if e else text


def _groups(model: Module) -> list[tuple[str, Sequence[Tensor], Activation | None]]:
    """(name, parameters, activation after it) per layer: a Sequential's blocks, or for any
    other module its parameters grouped by the module that owns them."""
    if isinstance(model, Sequential):
        return [
            (f"model[{b.position}]", b.linear.parameters(), b.activation) for b in blocks(model)
        ]
    owners: dict[str, list[Tensor]] = {}
    for name, p in model.named_parameters():
        owners.setdefault(name.rpartition(".")[0] or name, []).append(p)
    return [(name, params, None) for name, params in owners.items()]


def _units(model: Sequential, x: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """(a, σ'(z)) of every unit on every example (rows), by the id of the activation module:
    the registry's `derivative(z, a)` at the z that module was given and the a it gave."""
    units = {}
    a = Tensor(x)
    with no_grad():
        for m in model:
            z, a = a, m(a)
            if isinstance(m, Activation) and m.elementwise:
                units[id(m)] = (np.atleast_2d(a.data), np.atleast_2d(m.derivative(z.data, a.data)))
    return units


def gradient_health(
    model: Module,
    X: ArrayLike | None = None,
    epoch: int | None = None,
    *,
    lr: float | None = DEFAULT_LR,
    loss: float | Sequence[float] | None = None,
    n_classes: int | None = None,
) -> HealthReport:
    """Gradient health of `model` after a backward pass: per layer `‖∂C/∂W‖`, `‖W‖`, the update
    ratio `lr·‖∂C/∂W‖/‖W‖` (pass the optimizer's `lr`: 0.01 when not given; None for an
    optimizer whose step is not lr times the gradient, such as Adam), and (when `X` is
    given and `model` is a Sequential) the units on X whose slope σ'(z) passes almost nothing
    back (saturated) or nothing at all (dead); a verdict in one sentence, and hints when
    gradients vanish or explode or most units are stuck.

    `loss` is the cost C now, or the per-epoch losses so far (History.loss, the last being
    now), of a classifier trained with cross-entropy (BCE, CE): it is compared with the chance
    value ln K, K = `n_classes` (by default the width of the last layer, 2 for one output). A
    loss at chance for the last 5 epochs is stuck; a loss far below it explains small
    gradients (little is left to learn).
    """
    if lr is not None:
        lr = positive("gradient_health", "lr", lr)
    if n_classes is not None:
        n_classes = int_at_least("gradient_health", "n_classes", n_classes, 2)
    groups = _groups(model)
    if not any(p.grad is not None for _, params, _ in groups for p in params):
        raise GradError(
            "gradient_health: no parameter has a gradient yet; run a backward pass first "
            "(loss.backward()), or use fit(..., health_every=N)"
        )
    x = None if X is None else as_array(X, model.dtype)
    units = _units(model, x) if x is not None and isinstance(model, Sequential) else {}
    layers = []
    for layer, (name, params, activation) in enumerate(groups, start=1):
        grad = _norm(p.grad for p in params if p.grad is not None)
        weight = _norm(p.data for p in params)
        saturated = dead = None
        if id(activation) in units:
            a, slope = units[id(activation)]
            # A slope of exactly 0 at a = 0 is a unit switched off (a ReLU's flat side), not a
            # saturated one; a sigmoid pinned at a = 1.0 has slope 0 too, and is saturated.
            saturated = float(np.mean((slope < SATURATED) & (a != 0)))
            dead = float(np.mean(np.all(slope == 0, axis=0)))
        kind = activation.name if activation is not None else ""
        ratio = lr * grad / weight if lr is not None and weight > 0 else None
        layers.append(LayerHealth(layer, name, kind, grad, weight, saturated, dead, ratio))
    losses = [] if loss is None else [float(c) for c in np.atleast_1d(np.asarray(loss, float))]
    k = (n_classes or _classes(groups)) if losses else None
    examples = 0 if x is None else len(np.atleast_2d(x))
    facts = _Facts(layers, lr, losses, None if k is None else math.log(k), k)
    status, verdict, hints = _judge(facts)
    now = losses[-1] if losses else None
    return HealthReport(layers, hints, examples, epoch, lr, now, k, status, verdict)


def _classes(groups: list[tuple[str, Sequence[Tensor], Activation | None]]) -> int:
    """K from the last layer's width (its weight is (out_features, in_features)); 2 for one."""
    weight = groups[-1][1][0]
    return max(2, weight.shape[0] if weight.ndim == 2 else 1)


def _norm(arrays: Any) -> float:
    """‖·‖ of several arrays taken together, as one vector."""
    return float(np.sqrt(sum(float(np.sum(np.square(a, dtype=np.float64))) for a in arrays)))


# ---- the judgement: findings in order of importance, the first one is the verdict -----------


class _Facts(NamedTuple):
    layers: list[LayerHealth]
    lr: float | None
    losses: list[float]
    chance: float | None
    n_classes: int | None

    def at_chance(self, c: float) -> bool:
        return self.chance is not None and abs(c - self.chance) <= AT_CHANCE * self.chance

    def converged(self) -> bool:
        return self.chance is not None and self.losses[-1] < CONVERGED * self.chance

    def loss_clause(self) -> str:
        """', and the loss … ' beside the chance value, or '' without a loss."""
        if not self.losses or self.chance is None:
            return ""
        c, chance = self.losses[-1], f"ln {self.n_classes} = {self.chance:.4f}"
        if self.at_chance(c):
            return f", and the loss {c:.4f} sits at the chance value {chance}"
        side = "below" if c < self.chance else "above"
        return f", and the loss {c:.4f} is {side} the chance value {chance}"


class _Finding(NamedTuple):
    status: str
    sentence: str  # the verdict, without the status word
    hint: str


def _judge(facts: _Facts) -> tuple[str, str, list[str]]:
    """(status, the verdict in one sentence, hints): the first finding names the status."""
    findings = _size(facts) + _hidden_units(facts.layers) + _stuck(facts)
    if not findings:
        return "healthy", f"healthy: {_healthy(facts)}.", []
    first = findings[0]
    return first.status, f"{first.status}: {first.sentence}.", [f.hint for f in findings]


def _ratio(h: LayerHealth) -> float:
    return 0.0 if h.update_ratio is None else h.update_ratio


def _ratio_sum(facts: _Facts, h: LayerHealth) -> str:
    """lr·‖∂C/∂W‖/‖W‖ with its numbers: `0.1 × 1.9e-7 / 1.58 = 1.2e-8`."""
    return (
        f"lr·‖∂C/∂W‖/‖W‖ = {_num(facts.lr or 0.0)} × {_num(h.grad_norm)} / "
        f"{_num(h.weight_norm, 3)} = {_num(_ratio(h))}"
    )


def _size(facts: _Facts) -> list[_Finding]:
    """At most one finding on the gradients' size: diverged, exploding or vanishing."""
    layers = facts.layers
    norms = np.array([h.grad_norm for h in layers])
    if not np.all(np.isfinite(norms)):
        bad = next(h for h in layers if not np.isfinite(h.grad_norm))
        return [
            _Finding(
                "exploding",
                f"layer {bad.layer}'s gradient is NaN or infinite, so training has diverged",
                f"the gradient of layer {bad.layer} is NaN or infinite: training has diverged; "
                f"lower the learning rate and check the inputs for huge values",
            )
        ]
    rated = [h for h in layers if h.update_ratio is not None]
    top = layers[int(np.argmax(norms))]
    if top.grad_norm == 0:
        return [
            _Finding(
                "vanishing",
                f"every layer's ‖∂C/∂W‖ is 0, so no weight moves{facts.loss_clause()}",
                "every gradient is zero: nothing will learn (unless the loss is already 0, the "
                "units are saturated or dead for these inputs)",
            )
        ]
    largest = max(rated, key=_ratio, default=None)
    if largest is not None and _ratio(largest) > TOO_LARGE:
        return [_explodes(facts, largest)]
    if top.grad_norm > EXPLODING:
        return [
            _Finding(
                "exploding",
                f"layer {top.layer}'s ‖∂C/∂W‖ is {_num(top.grad_norm)}, above "
                f"{_num(EXPLODING)}{facts.loss_clause()}",
                f"gradients explode: layer {top.layer}'s gradient norm is {top.grad_norm:.3g}; "
                f"lower the learning rate, standardise the inputs, or start from smaller weights",
            )
        ]
    return _vanishes(facts, rated, top)


def _explodes(facts: _Facts, h: LayerHealth) -> _Finding:
    return _Finding(
        "exploding",
        f"layer {h.layer}'s update ratio {_ratio_sum(facts, h)} is above {_num(TOO_LARGE)} "
        f"(about {_num(RULE_OF_THUMB)} is healthy), so each step rewrites its weights "
        f"instead of nudging them{facts.loss_clause()}",
        f"gradients explode: layer {h.layer}'s update ratio is {_num(_ratio(h))} "
        f"at lr {_num(facts.lr or 0.0)}, above {_num(TOO_LARGE)}; lower the learning rate, "
        f"standardise the inputs, or start from smaller weights",
    )


def _vanishes(facts: _Facts, rated: list[LayerHealth], top: LayerHealth) -> list[_Finding]:
    """Vanishing, on the absolute scale (update ratio below 1e-5, unless the loss is far below
    chance) or beside the other layers (below 1/100 of the largest gradient)."""
    weakest = min(facts.layers, key=lambda h: h.grad_norm)
    relative = weakest.grad_norm / top.grad_norm
    small = [h for h in rated if _ratio(h) < TOO_SMALL]
    if facts.losses and facts.converged():
        small = []
    chain = (
        "every layer above multiplies the gradient by its σ'(z): at most 0.25 for a sigmoid, "
        "0 for a ReLU that does not fire); try ReLU or tanh instead of sigmoid, xavier or he "
        "initialisation, or fewer layers"
    )
    if small:
        low = min(small, key=_ratio)
        if len(small) == len(rated) and relative >= VANISHING:
            advice = "the steps are too small to learn: raise the learning rate"
        else:
            advice = f"its weights barely move ({chain}"
        return [
            _Finding(
                "vanishing",
                f"layer {low.layer}'s update ratio {_ratio_sum(facts, low)} is below "
                f"{_num(TOO_SMALL)} (about {_num(RULE_OF_THUMB)} is healthy; {len(small)} of "
                f"{len(facts.layers)} layers are below {_num(TOO_SMALL)}){facts.loss_clause()}",
                f"gradients vanish: layer {low.layer}'s update ratio is "
                f"{_num(_ratio(low))} at lr {_num(facts.lr or 0.0)}, below "
                f"{_num(TOO_SMALL)}; {advice}",
            )
        ]
    if relative < VANISHING:
        size = "zero" if relative == 0 else f"{_num(relative)} times layer {top.layer}'s"
        return [
            _Finding(
                "vanishing",
                f"layer {weakest.layer}'s ‖∂C/∂W‖ = {_num(weakest.grad_norm)} is {size} "
                f"(below 1/{round(1 / VANISHING)}), so at the same lr it learns that much "
                f"slower{facts.loss_clause()}",
                f"gradients vanish: layer {weakest.layer}'s gradient is {size}, so its weights "
                f"barely move ({chain}",
            )
        ]
    return []


def _hidden_units(layers: list[LayerHealth]) -> list[_Finding]:
    """Mostly saturated or dead hidden units. The output layer is left out: a confident,
    correct sigmoid output is saturated on purpose, and its loss (BCE, cross-entropy) cancels
    the small σ'."""
    findings = []
    for h in layers[:-1]:
        if h.dead is not None and h.dead > MOSTLY:
            findings.append(
                _Finding(
                    "dead",
                    f"{h.dead:.0%} of layer {h.layer}'s {h.activation} units have σ'(z) = 0 on "
                    f"every example, so they get no gradient",
                    f"{h.dead:.0%} of layer {h.layer}'s {h.activation} units are dead (σ'(z) = 0 "
                    f"for every example, so they get no gradient); use he initialisation or a "
                    f"smaller learning rate",
                )
            )
        if h.saturated is not None and h.saturated > MOSTLY:
            findings.append(
                _Finding(
                    "saturated",
                    f"{h.saturated:.0%} of layer {h.layer}'s {h.activation} outputs have "
                    f"σ'(z) < {SATURATED}, so almost no gradient passes back through them",
                    f"{h.saturated:.0%} of layer {h.layer}'s {h.activation} outputs are "
                    f"saturated: there σ'(z) ≈ 0 and almost no gradient passes back; standardise "
                    f"the inputs, use xavier initialisation or a smaller learning rate",
                )
            )
    return findings


def _stuck(facts: _Facts) -> list[_Finding]:
    """The loss at the chance value ln K for the last STUCK_EPOCHS epochs: a guessing network."""
    recent = facts.losses[-STUCK_EPOCHS:]
    if len(recent) < STUCK_EPOCHS or not all(facts.at_chance(c) for c in recent):
        return []
    chance = f"ln {facts.n_classes} = {facts.chance:.4f}"
    return [
        _Finding(
            "stuck",
            f"the loss has stayed at the chance value {chance} for the last {STUCK_EPOCHS} "
            f"epochs (now {recent[-1]:.4f}): the network guesses",
            f"the loss has stayed at the chance value {chance} for {STUCK_EPOCHS} epochs: the "
            f"network guesses; check the labels and inputs, then the learning rate",
        )
    ]


def _healthy(facts: _Facts) -> str:
    ratios = [h.update_ratio for h in facts.layers if h.update_ratio is not None]
    if not ratios:
        size = ", ".join(_num(h.grad_norm) for h in facts.layers)
        return f"the layers' ‖∂C/∂W‖ ({size}) are within 100 times one another{facts.loss_clause()}"
    low, high, lr = _num(min(ratios)), _num(max(ratios)), _num(facts.lr or 0.0)
    if facts.losses and facts.converged() and min(ratios) < TOO_SMALL:
        return (
            f"the update ratios lr·‖∂C/∂W‖/‖W‖ are down to {low} (lr {lr}) because "
            f"little is left to learn{facts.loss_clause()}"
        )
    return (
        f"every layer's update ratio lr·‖∂C/∂W‖/‖W‖ lies between {low} and {high} "
        f"(lr {lr}), within {_num(TOO_SMALL)} to {_num(TOO_LARGE)} around the rule "
        f"of thumb {_num(RULE_OF_THUMB)}{facts.loss_clause()}"
    )
