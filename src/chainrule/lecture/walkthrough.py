"""The lecture's simple network, replayed step by step with every number checked.

One neuron per layer and no bias, as on the slide "A simple NN":

    a^{(L−2)} --w^{(L−1)}--> z^{(L−1)} --σ--> a^{(L−1)} --w^{(L)}--> z^{(L)} --σ--> a^{(L)}
    C_i = (a^{(L)} − y)²

`walkthrough()` computes each derivative of the chain rule by its formula in plain floats,
then asks chainrule's autodiff for the same number (one `backward()` through the same
network), and the lecture's "small change (e.g. 0.001)" for each weight. By default the
slide's numbers come out: a^{(L)} = 0.88, y = 1, C_i = 0.0144, ∂C_i/∂a^{(L)} = −0.24.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from chainrule import ops
from chainrule.errors import ConfigError
from chainrule.tensor import tensor

NUDGE = 0.001  # the lecture's "small changes (e.g., 0.001) in the weight"
AGREE = 1e-10  # formula and autodiff differ only by float rounding
NUDGE_AGREE = 1e-5  # a central difference with step 0.001 is off by about 0.001² × C‴/6


@dataclass(frozen=True)
class Step:
    """One line of the walkthrough: `symbol = formula = arithmetic = value`.

    `autodiff` is the same quantity from chainrule's graph (the forward value, or the
    gradient `backward()` leaves); None for lines with nothing to check against it: the
    forward values below a^{(L)}, and the updates, which are one subtraction each.
    """

    symbol: str
    formula: str
    arithmetic: str
    value: float
    autodiff: float | None = None

    @property
    def agrees(self) -> bool:
        return self.autodiff is None or abs(self.value - self.autodiff) <= AGREE * max(
            1.0, abs(self.value)
        )


@dataclass(frozen=True)
class Section:
    """A group of steps under a heading: `title`, then the chain rule it applies (`rule`)."""

    title: str
    rule: str
    steps: tuple[Step, ...]
    note: str = ""


def _num(v: float) -> str:
    """A number as the slide would write it: 6 significant digits, no float noise."""
    return f"{v:.6g}"


def _factor(v: float) -> str:
    """A number inside a product: negatives in parentheses, 0.7 × (-0.24)."""
    return f"({v:.6g})" if v < 0 else f"{v:.6g}"


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def _logit(a: float) -> float:
    return math.log(a / (1.0 - a))


def _finite(name: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"walkthrough: {name} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"walkthrough: {name} must be a finite number, got {value!r}")
    return value


def _activation(name: str, value: float) -> float:
    value = _finite(name, value)
    if not 0.0 < value < 1.0:
        raise ConfigError(
            f"walkthrough: {name} = {value} is not a sigmoid output; expected a number strictly "
            f"between 0 and 1"
        )
    return value


def _layer(
    a_name: str, a: float | None, w_name: str, w: float | None, below: float, default_a: float
) -> tuple[float, float, float]:
    """(w, z, a) of one neuron from either its activation a or its weight w.

    Given a, the weight that produces it is w = logit(a) / a_below, so the slide's 0.88
    appears exactly rather than as σ of a rounded weight.
    """
    if a is not None and w is not None:
        raise ConfigError(
            f"walkthrough: give {a_name} or {w_name}, not both (the one fixes the other)"
        )
    if w is not None:
        w = _finite(w_name, w)
        z = w * below
        return w, z, _sigmoid(z)
    a = _activation(a_name, default_a if a is None else a)
    if below == 0.0:
        raise ConfigError(
            f"walkthrough: cannot reach {a_name} = {a} when the input below it is 0 "
            f"(z = w × 0 = 0 for every w); give a non-zero input"
        )
    z = _logit(a)
    return z / below, z, a


@dataclass
class Walkthrough:
    """The simple network's forward pass, chain rule, update and one layer further back.

    Attributes use the lecture's names: `a`, `z`, `w` are layer L's; `a_prev`, `z_prev`,
    `w_prev` are layer L−1's; `a_prev2` is a^{(L−2)}, the network's input; `cost` is C_i.
    Derivatives are `dcost_da` (∂C_i/∂a^{(L)}), `da_dz` (σ'(z^{(L)})), `dz_dw` (a^{(L−1)}),
    `dcost_dw`, and the same one layer back (`dcost_da_prev`, `da_prev_dz_prev`, `dz_prev_dw_prev`,
    `dcost_dw_prev`). `w_updated`/`w_prev_updated` are the weights after one step
    `w − η ∂C_i/∂w`, and `cost_updated` the loss they give. `numeric` holds the nudge
    estimates (C(w + 0.001) − C(w − 0.001)) / 0.002 for "w" and "w_prev".
    """

    a_prev2: float
    w_prev: float
    z_prev: float
    a_prev: float
    w: float
    z: float
    a: float
    y: float
    lr: float
    cost: float
    dcost_da: float
    da_dz: float
    dz_dw: float
    dcost_dw: float
    w_updated: float
    dz_da_prev: float
    dcost_da_prev: float
    da_prev_dz_prev: float
    dz_prev_dw_prev: float
    dcost_dw_prev: float
    w_prev_updated: float
    cost_updated: float
    numeric: dict[str, float]
    sections: list[Section] = field(repr=False)

    @property
    def steps(self) -> list[Step]:
        return [s for section in self.sections for s in section.steps]

    @property
    def agrees(self) -> bool:
        """Every derivative equals autodiff's to 1e-10 (relative)."""
        return all(s.agrees for s in self.steps)

    @property
    def nudges_agree(self) -> bool:
        """The 0.001 nudges give ∂C_i/∂w^{(L)} and ∂C_i/∂w^{(L−1)} to 1e-5 (relative)."""
        exact = {"w": self.dcost_dw, "w_prev": self.dcost_dw_prev}
        return all(
            abs(self.numeric[k] - v) <= NUDGE_AGREE * max(1.0, abs(v)) for k, v in exact.items()
        )

    def __str__(self) -> str:
        lines = [
            "The lecture's simple network: one neuron per layer, no bias, σ(z) = 1/(1 + e^(-z))",
            "  a^(L-2) --w^(L-1)--> z^(L-1) --σ--> a^(L-1) --w^(L)--> z^(L) --σ--> a^(L)"
            "  -->  C_i = (a^(L) - y)²",
        ]
        for section in self.sections:
            lines += ["", f"{section.title}: {section.rule}" if section.rule else section.title]
            lines += _text_rows(section.steps)
            if section.note:
                lines.append("  " + section.note)
        lines += ["", self._verdict()]
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        parts = [
            "**The lecture's simple network**: one neuron per layer, no bias, "
            "$\\sigma(z) = 1/(1 + e^{-z})$, $C_i = (a^{(L)} - y)^2$",
        ]
        for section in self.sections:
            rule = f": ${_tex(section.rule)}$" if section.rule else ""
            parts += [
                "",
                f"**{section.title}**{rule}",
                "",
                "| | formula | numbers | value | autodiff |",
            ]
            parts.append("|---|---|---|---|---|")
            for s in section.steps:
                check = "" if s.autodiff is None else f"{_num(s.autodiff)} {_mark(s)}"
                parts.append(
                    f"| ${_tex(s.symbol)}$ | ${_tex(s.formula)}$ | ${_tex(s.arithmetic)}$ "
                    f"| {_num(s.value)} | {check} |"
                )
            if section.note:
                parts += ["", f"`{section.note}`"]
        parts += ["", self._verdict()]
        return "\n".join(parts)

    def _verdict(self) -> str:
        if not self.agrees:
            bad = ", ".join(s.symbol for s in self.steps if not s.agrees)
            return f"MISMATCH with autodiff at: {bad}"
        nudges = (
            "the small changes agree with it to 1e-5"
            if self.nudges_agree
            else "the small changes DO NOT agree with it"
        )
        return (
            f"Every derivative above equals chainrule's autodiff (backward()) to 1e-10; {nudges}."
        )


def _mark(step: Step) -> str:
    return "✓" if step.agrees else "✗ MISMATCH"


def _text_rows(steps: tuple[Step, ...]) -> list[str]:
    cols = [
        [s.symbol for s in steps],
        [s.formula for s in steps],
        [s.arithmetic for s in steps],
        [_num(s.value) for s in steps],
    ]
    widths = [max(len(c) for c in col) for col in cols]
    rows = []
    for i, s in enumerate(steps):
        cells = [col[i].ljust(width) for col, width in zip(cols, widths, strict=True)]
        # A factor that is already a number (∂z/∂w = a^(L-1) = 0.7) is not written twice.
        sep = "="
        if s.arithmetic == cols[3][i]:
            cells[2], sep = " " * widths[2], " "
        row = f"  {cells[0]} = {cells[1]} {sep} {cells[2]} = {cells[3]}"
        if s.autodiff is not None:
            row += f"   autodiff {_num(s.autodiff)} {_mark(s)}"
        rows.append(row.rstrip())
    return rows


_TEX = {"∂": "\\partial ", "σ": "\\sigma", "η": "\\eta", "×": "\\times", "²": "^2", "·": "\\cdot"}


def _tex(text: str) -> str:
    """The walkthrough's plain notation in LaTeX: a^(L-1) -> a^{(L-1)}, ∂ -> \\partial."""
    text = re.sub(r"\^\(([^)]*)\)", r"^{(\1)}", text).replace("new ", "\\text{new } ")
    return "".join(_TEX.get(ch, ch) for ch in text)


def _autodiff(a_prev2: float, w_prev: float, w: float, y: float) -> dict[str, float]:
    """Every gradient of the simple network from one backward() through chainrule."""
    x = tensor(a_prev2)
    weight_prev = tensor(w_prev, requires_grad=True)
    weight = tensor(w, requires_grad=True)
    z_prev = (weight_prev * x).retain_grad()
    a_prev = ops.sigmoid(z_prev).retain_grad()
    z = (weight * a_prev).retain_grad()
    a = ops.sigmoid(z).retain_grad()
    cost = (a - y) ** 2
    cost.backward()
    return {
        "a": a.item(),
        "cost": cost.item(),
        "dcost_da": a.grad.item(),
        "dcost_dz": z.grad.item(),
        "dcost_dw": weight.grad.item(),
        "dcost_da_prev": a_prev.grad.item(),
        "dcost_dz_prev": z_prev.grad.item(),
        "dcost_dw_prev": weight_prev.grad.item(),
    }


def _local(f, at: float) -> float:
    """d f(t)/dt at `at`, by autodiff on that one op: how the local factors are checked."""
    t = tensor(at, requires_grad=True)
    f(t).backward()
    return t.grad.item()


def _cost(a_prev2: float, w_prev: float, w: float, y: float) -> float:
    return (_sigmoid(w * _sigmoid(w_prev * a_prev2)) - y) ** 2


def walkthrough(
    a: float | None = None,
    y: float = 1.0,
    a_prev: float | None = None,
    a_prev2: float = 0.5,
    lr: float = 0.1,
    *,
    w: float | None = None,
    w_prev: float | None = None,
) -> Walkthrough:
    """Replay the lecture's simple network, one neuron per layer, every number checked.

    The network is fixed by its input `a_prev2` (a^{(L−2)}) and, for each layer, either its
    activation or its weight: `a` (a^{(L)}, default the slide's 0.88) or `w` (w^{(L)}), and
    `a_prev` (a^{(L−1)}, default 0.7) or `w_prev` (w^{(L−1)}). `y` is the target (the
    slide's 1) and `lr` the learning rate η of the update `w − η ∂C_i/∂w`.

    >>> print(f"{walkthrough().cost:.4f}")
    0.0144
    """
    y = _finite("y", y)
    a_prev2 = _finite("a_prev2", a_prev2)
    lr = _finite("lr", lr)
    if lr <= 0:
        raise ConfigError(f"walkthrough: lr must be > 0, got {lr}")
    w_prev, z_prev, a_prev = _layer("a_prev", a_prev, "w_prev", w_prev, a_prev2, 0.7)
    w, z, a = _layer("a", a, "w", w, a_prev, 0.88)

    auto = _autodiff(a_prev2, w_prev, w, y)
    cost = (a - y) ** 2
    dcost_da = 2.0 * (a - y)
    da_dz = a * (1.0 - a)  # σ'(z) = σ(z)(1 − σ(z)), read off the output
    dz_dw = a_prev
    dcost_dw = dz_dw * da_dz * dcost_da
    w_updated = w - lr * dcost_dw
    dz_da_prev = w
    dcost_da_prev = dz_da_prev * da_dz * dcost_da
    da_prev_dz_prev = a_prev * (1.0 - a_prev)
    dz_prev_dw_prev = a_prev2
    dcost_dw_prev = dz_prev_dw_prev * da_prev_dz_prev * dcost_da_prev
    w_prev_updated = w_prev - lr * dcost_dw_prev
    cost_updated = _cost(a_prev2, w_prev_updated, w_updated, y)
    numeric = {
        "w": (_cost(a_prev2, w_prev, w + NUDGE, y) - _cost(a_prev2, w_prev, w - NUDGE, y))
        / (2 * NUDGE),
        "w_prev": (_cost(a_prev2, w_prev + NUDGE, w, y) - _cost(a_prev2, w_prev - NUDGE, w, y))
        / (2 * NUDGE),
    }

    n, f = _num, _factor
    forward = Section(
        "Forward pass",
        "",
        (
            Step("z^(L-1)", "w^(L-1) a^(L-2)", f"{n(w_prev)} × {f(a_prev2)}", z_prev),
            Step("a^(L-1)", "σ(z^(L-1))", f"σ({n(z_prev)})", a_prev),
            Step("z^(L)", "w^(L) a^(L-1)", f"{f(w)} × {n(a_prev)}", z),
            Step("a^(L)", "σ(z^(L))", f"σ({n(z)})", a, auto["a"]),
            Step("C_i", "(a^(L) - y)²", f"({n(a)} - {n(y)})²", cost, auto["cost"]),
        ),
    )
    output = Section(
        "Output layer first",
        "∂C_i/∂w^(L) = ∂z^(L)/∂w^(L) · ∂a^(L)/∂z^(L) · ∂C_i/∂a^(L)",
        (
            Step(
                "∂C_i/∂a^(L)", "2(a^(L) - y)", f"2 × ({n(a)} - {n(y)})", dcost_da, auto["dcost_da"]
            ),
            Step(
                "∂a^(L)/∂z^(L)",
                "σ'(z^(L)) = a^(L)(1 - a^(L))",
                f"{n(a)} × (1 - {n(a)})",
                da_dz,
                _local(ops.sigmoid, z),
            ),
            Step("∂z^(L)/∂w^(L)", "a^(L-1)", n(a_prev), dz_dw, _local(lambda t: t * a_prev, w)),
            Step(
                "∂C_i/∂w^(L)",
                "a^(L-1) σ'(z^(L)) 2(a^(L) - y)",
                f"{f(dz_dw)} × {f(da_dz)} × {f(dcost_da)}",
                dcost_dw,
                auto["dcost_dw"],
            ),
            Step(
                "new w^(L)", "w^(L) - η ∂C_i/∂w^(L)", f"{n(w)} - {f(lr)} × {f(dcost_dw)}", w_updated
            ),
        ),
        f"small change: (C_i(w^(L) + {NUDGE}) - C_i(w^(L) - {NUDGE})) / {2 * NUDGE} = "
        f"{n(numeric['w'])}",
    )
    back = Section(
        "One layer further back",
        "∂C_i/∂w^(L-1) = ∂z^(L-1)/∂w^(L-1) · ∂a^(L-1)/∂z^(L-1) · ∂C_i/∂a^(L-1)",
        (
            Step("∂z^(L)/∂a^(L-1)", "w^(L)", n(w), dz_da_prev, _local(lambda t: t * w, a_prev)),
            Step(
                "∂C_i/∂a^(L-1)",
                "w^(L) σ'(z^(L)) 2(a^(L) - y)",
                f"{f(w)} × {f(da_dz)} × {f(dcost_da)}",
                dcost_da_prev,
                auto["dcost_da_prev"],
            ),
            Step(
                "∂a^(L-1)/∂z^(L-1)",
                "σ'(z^(L-1)) = a^(L-1)(1 - a^(L-1))",
                f"{n(a_prev)} × (1 - {n(a_prev)})",
                da_prev_dz_prev,
                _local(ops.sigmoid, z_prev),
            ),
            Step(
                "∂z^(L-1)/∂w^(L-1)",
                "a^(L-2)",
                n(a_prev2),
                dz_prev_dw_prev,
                _local(lambda t: t * a_prev2, w_prev),
            ),
            Step(
                "∂C_i/∂w^(L-1)",
                "a^(L-2) σ'(z^(L-1)) ∂C_i/∂a^(L-1)",
                f"{f(dz_prev_dw_prev)} × {f(da_prev_dz_prev)} × {f(dcost_da_prev)}",
                dcost_dw_prev,
                auto["dcost_dw_prev"],
            ),
            Step(
                "new w^(L-1)",
                "w^(L-1) - η ∂C_i/∂w^(L-1)",
                f"{n(w_prev)} - {f(lr)} × {f(dcost_dw_prev)}",
                w_prev_updated,
            ),
        ),
        f"small change: (C_i(w^(L-1) + {NUDGE}) - C_i(w^(L-1) - {NUDGE})) / {2 * NUDGE} = "
        f"{n(numeric['w_prev'])}",
    )
    after = Section(
        "After one step of gradient descent on both weights",
        "",
        (
            Step(
                "new C_i",
                "(σ(w^(L) σ(w^(L-1) a^(L-2))) - y)²",
                f"(σ({n(w_updated)} σ({n(w_prev_updated)} × {n(a_prev2)})) - {n(y)})²",
                cost_updated,
            ),
        ),
        f"the loss went from {n(cost)} to {n(cost_updated)}",
    )
    return Walkthrough(
        a_prev2=a_prev2,
        w_prev=w_prev,
        z_prev=z_prev,
        a_prev=a_prev,
        w=w,
        z=z,
        a=a,
        y=y,
        lr=lr,
        cost=cost,
        dcost_da=dcost_da,
        da_dz=da_dz,
        dz_dw=dz_dw,
        dcost_dw=dcost_dw,
        w_updated=w_updated,
        dz_da_prev=dz_da_prev,
        dcost_da_prev=dcost_da_prev,
        da_prev_dz_prev=da_prev_dz_prev,
        dz_prev_dw_prev=dz_prev_dw_prev,
        dcost_dw_prev=dcost_dw_prev,
        w_prev_updated=w_prev_updated,
        cost_updated=cost_updated,
        numeric=numeric,
        sections=[forward, output, back, after],
    )
