"""Gradient health: does backpropagation still carry a useful signal to every layer?

By the chain rule, the gradient reaching layer l is a product of the factors of every layer
above it, `∂C/∂a^{(l)} = Σ_p w_{pj}^{(l+1)} σ'(z_p^{(l+1)}) ∂C/∂a_p^{(l+1)}`. Each σ'(z) is at
most 0.25 for a sigmoid and nearly 0 where a unit is saturated (its output near 0 or 1), and 0
for a ReLU that never fires, so gradients can shrink layer by layer until the first layers stop
learning (vanish); large weights or learning rates make them grow instead (explode).

`gradient_health(model, X)` reads each Linear layer's gradient after a backward pass and runs X
forward to see its units, and says in plain words what looks wrong. `fit(...,
health_every=N)` records it every N epochs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from chainrule.errors import GradError
from chainrule.nn.layers import Activation, Sequential, blocks
from chainrule.nn.module import Module
from chainrule.tensor import ArrayLike, Tensor, as_array, no_grad

SATURATED = 0.01  # σ'(z) < 0.01 at a ≠ 0: a sigmoid a outside [0.0101, 0.9899], a tanh |a| > 0.995
VANISHING = 1e-2  # a layer whose gradient norm is below this fraction of the largest layer's
EXPLODING = 1e3  # a gradient norm above this
MOSTLY = 0.5  # the fraction of saturated or dead units that earns a hint


class GradientHealthWarning(UserWarning):
    """Training's gradients look unhealthy (vanishing, exploding, saturated or dead units)."""


@dataclass(frozen=True)
class LayerHealth:
    """One Linear layer (counted from 1, as the lecture counts): the norm of its gradient
    `‖∂C/∂W‖` (weight and bias together) and of its weights, and for the activation after it
    the fraction of saturated outputs (σ'(z) < 0.01 at a ≠ 0: almost nothing passes back) and
    of dead units (σ'(z) = 0 on every example, as for a ReLU that never fires), both from the
    activation's registry slope; None when no inputs were given or no elementwise activation
    follows the layer."""

    layer: int
    name: str
    activation: str
    grad_norm: float
    weight_norm: float
    saturated: float | None = None
    dead: float | None = None


@dataclass
class HealthReport:
    """Gradient health per layer, and plain-language `hints` when something looks wrong."""

    layers: list[LayerHealth]
    hints: list[str] = field(default_factory=list)
    examples: int = 0
    epoch: int | None = None

    @property
    def healthy(self) -> bool:
        return not self.hints

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and numbers (JSON-ready), as `History.health` keeps them."""
        return {
            "layers": [asdict(layer) for layer in self.layers],
            "hints": list(self.hints),
            "examples": self.examples,
            "epoch": self.epoch,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HealthReport:
        return cls(
            [LayerHealth(**layer) for layer in d["layers"]],
            list(d.get("hints", [])),
            d.get("examples", 0),
            d.get("epoch"),
        )

    def __str__(self) -> str:
        where = f"epoch {self.epoch}, " if self.epoch is not None else ""
        seen = f"{self.examples} examples" if self.examples else "no inputs given"
        cells = [("layer", "activation", "‖∂C/∂W‖", "‖W‖", "saturated", "dead")]
        for h in self.layers:
            cells.append(
                (
                    f"{h.layer} ({h.name})",
                    h.activation or "–",
                    f"{h.grad_norm:.3g}",
                    f"{h.weight_norm:.3g}",
                    _percent(h.saturated),
                    _percent(h.dead),
                )
            )
        widths = [max(len(row[c]) for row in cells) for c in range(6)]
        lines = [f"gradient health ({where}{seen}):"]
        lines += [
            "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in cells
        ]
        if self.hints:
            lines += ["hints:"] + [f"  - {hint}" for hint in self.hints]
        else:
            lines.append("healthy: every layer gets a gradient of a useful size")
        return "\n".join(lines)


def _percent(fraction: float | None) -> str:
    return "–" if fraction is None else f"{fraction:.0%}"


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
    model: Module, X: ArrayLike | None = None, epoch: int | None = None
) -> HealthReport:
    """Gradient health of `model` after a backward pass: per layer `‖∂C/∂W‖`, `‖W‖`, and (when
    `X` is given and `model` is a Sequential) the units on X whose slope σ'(z) passes almost
    nothing back (saturated) or nothing at all (dead), with hints when gradients vanish or
    explode or most units are stuck."""
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
        layers.append(LayerHealth(layer, name, kind, grad, weight, saturated, dead))
    examples = 0 if x is None else len(np.atleast_2d(x))
    return HealthReport(layers, _hints(layers), examples, epoch)


def _norm(arrays: Any) -> float:
    """‖·‖ of several arrays taken together, as one vector."""
    return float(np.sqrt(sum(float(np.sum(np.square(a, dtype=np.float64))) for a in arrays)))


def _hints(layers: list[LayerHealth]) -> list[str]:
    hints = []
    norms = np.array([h.grad_norm for h in layers])
    if not np.all(np.isfinite(norms)):
        bad = next(h for h in layers if not np.isfinite(h.grad_norm))
        return [
            f"the gradient of layer {bad.layer} is NaN or infinite: training has diverged; "
            f"lower the learning rate and check the inputs for huge values"
        ]
    top = layers[int(np.argmax(norms))]
    if top.grad_norm == 0:
        hints.append(
            "every gradient is zero: nothing will learn (unless the loss is already 0, the "
            "units are saturated or dead for these inputs)"
        )
    elif top.grad_norm > EXPLODING:
        hints.append(
            f"gradients explode: layer {top.layer}'s gradient norm is {top.grad_norm:.3g}; lower "
            f"the learning rate, standardise the inputs, or start from smaller weights"
        )
    else:
        weakest = layers[int(np.argmin(norms))]
        if weakest.grad_norm < VANISHING * top.grad_norm:
            ratio = weakest.grad_norm / top.grad_norm
            size = "zero" if ratio == 0 else f"{ratio:.1e} times layer {top.layer}'s"
            hints.append(
                f"gradients vanish: layer {weakest.layer}'s gradient is {size}, so its weights "
                f"barely move (every layer above multiplies the gradient by its σ'(z): at most "
                f"0.25 for a sigmoid, 0 for a ReLU that does not fire); try ReLU or tanh instead "
                f"of sigmoid, xavier or he initialisation, or fewer layers"
            )
    # The output layer is left out: a confident, correct sigmoid output is saturated on purpose,
    # and its loss (BCE, cross-entropy) cancels the small σ'.
    for h in layers[:-1]:
        if h.saturated is not None and h.saturated > MOSTLY:
            hints.append(
                f"{h.saturated:.0%} of layer {h.layer}'s {h.activation} outputs are saturated: "
                f"there σ'(z) ≈ 0 and almost no gradient passes back; standardise the inputs, "
                f"use xavier initialisation or a smaller learning rate"
            )
        if h.dead is not None and h.dead > MOSTLY:
            hints.append(
                f"{h.dead:.0%} of layer {h.layer}'s {h.activation} units are dead (σ'(z) = 0 "
                f"for every example, so they get no gradient); use he initialisation or a "
                f"smaller learning rate"
            )
    return hints
