"""The lecture's simple network, replayed step by step with every number checked.

One neuron per layer and no bias, as on the slide "A simple NN":

    a^{(L−2)} --w^{(L−1)}--> z^{(L−1)} --σ--> a^{(L−1)} --w^{(L)}--> z^{(L)} --σ--> a^{(L)}
    C_i = (a^{(L)} − y)²

`walkthrough()` computes each derivative of the chain rule by its formula in plain floats,
then asks chainrule's autodiff for the same number (one `backward()` through the same
network), and the lecture's "small change (e.g. 0.001)" for each weight. By default the
slide's numbers come out: a^{(L)} = 0.88, y = 1, C_i = 0.0144, ∂C_i/∂a^{(L)} = −0.24.

The forms (σ, σ'(z) = a(1 − a), (a − y)², 2(a − y)) are the registry's `nn.Sigmoid` and
`nn.SquaredError`; the notation is `lecture.notation`'s, as in `explain`. The network stays
the lecture's sigmoid one: the learner gives activations (the slide's 0.88 and 0.7), and
turning one back into z needs an inverse and a range of outputs that the registry does not
carry (ReLU has no inverse). `explain` and `exercise` take any registered activation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from chainrule.checks import finite, positive, refuse
from chainrule.lecture.notation import NUDGE, factor, fill, neuron, num, partial, slope_form, tex
from chainrule.nn.layers import Sigmoid
from chainrule.nn.losses import SquaredError
from chainrule.tensor import Tensor, tensor

ACTIVATION = Sigmoid  # the slide's σ, its forms from nn.ACTIVATIONS
LOSS = SquaredError  # C_i = (a^{(L)} − y)² for the one output, its forms from nn.LOSSES
AGREE = 1e-10  # formula and autodiff differ only by float rounding
NUDGE_AGREE = 1e-5  # a central difference with step 0.001 is off by about 0.001² × C‴/6

# The lecture's symbols for the one-neuron layers L−2, L−1 and L.
A2, A1, A = (neuron("a", None, layer) for layer in ("L-2", "L-1", "L"))
Z1, Z = neuron("z", None, "L-1"), neuron("z", None, "L")
W1, W = neuron("w", None, "L-1"), neuron("w", None, "L")
SIGMA = ACTIVATION.symbol
# C_i of one output: the registry's cost is a sum over the outputs j of this one term.
COST = LOSS.term


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
            f"The lecture's simple network: one neuron per layer, no bias, {ACTIVATION.definition}",
            f"  {A2} --{W1}--> {Z1} --{SIGMA}--> {A1} --{W}--> {Z} --{SIGMA}--> {A}"
            f"  -->  C_i = {fill(COST, a=A, y='y')}",
        ]
        for section in self.sections:
            lines += ["", f"{section.title}: {section.rule}" if section.rule else section.title]
            lines += _text_rows(section.steps)
            if section.note:
                lines.append("  " + section.note)
        lines += ["", self._verdict()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Walkthrough {partial('C_i', W)} = {num(self.dcost_dw)}, agrees: {self.agrees}>"

    def _repr_markdown_(self) -> str:
        parts = [
            f"**The lecture's simple network**: one neuron per layer, no bias, "
            f"${tex(ACTIVATION.definition)}$, ${tex('C_i = ' + fill(COST, a=A, y='y'))}$",
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
                check = "" if s.autodiff is None else f"{num(s.autodiff)} {_mark(s)}"
                parts.append(
                    f"| ${_tex(s.symbol)}$ | ${_tex(s.formula)}$ | ${_tex(s.arithmetic)}$ "
                    f"| {num(s.value)} | {check} |"
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


def _tex(text: str) -> str:
    """notation.tex, with the walkthrough's one plain word ("new w^{(L)}") set upright."""
    return tex(text).replace("new ", "\\text{new } ")


def _mark(step: Step) -> str:
    return "✓" if step.agrees else "✗ MISMATCH"


def _text_rows(steps: tuple[Step, ...]) -> list[str]:
    cols = [
        [s.symbol for s in steps],
        [s.formula for s in steps],
        [s.arithmetic for s in steps],
        [num(s.value) for s in steps],
    ]
    widths = [max(len(c) for c in col) for col in cols]
    rows = []
    for i, s in enumerate(steps):
        cells = [col[i].ljust(width) for col, width in zip(cols, widths, strict=True)]
        # A factor that is already a number (∂z/∂w = a^{(L−1)} = 0.7) is not written twice.
        sep = "="
        if s.arithmetic == cols[3][i]:
            cells[2], sep = " " * widths[2], " "
        row = f"  {cells[0]} = {cells[1]} {sep} {cells[2]} = {cells[3]}"
        if s.autodiff is not None:
            row += f"   autodiff {num(s.autodiff)} {_mark(s)}"
        rows.append(row.rstrip())
    return rows


# ---- the numbers, by the registry's forms --------------------------------------------------------


def _sigma(z: float) -> float:
    """a = σ(z) by the registry's Sigmoid, on one number (no graph recorded)."""
    return float(ACTIVATION.of(z))


def _slope(z: float, a: float) -> float:
    """σ'(z) by the registry's derivative (from a: a(1 − a))."""
    return float(ACTIVATION.derivative(np.asarray(z), np.asarray(a)))


def _logit(a: float) -> float:
    """z = ln(a/(1 − a)), the z at which σ(z) = a."""
    return math.log(a / (1.0 - a))


def _cost(a: float, y: float) -> float:
    """C_i by the registry's loss, for the one output."""
    return float(LOSS()(Tensor([a]), [y]).data)


def _cost_of(a_prev2: float, w_prev: float, w: float, y: float) -> float:
    return _cost(_sigma(w * _sigma(w_prev * a_prev2)), y)


def _sigmoid_output(name: str, value: float) -> float:
    value = finite("walkthrough", name, value)
    if not 0.0 < value < 1.0:
        raise refuse(
            "walkthrough", name, "a sigmoid output, a number strictly between 0 and 1", value
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
        raise refuse(
            "walkthrough", f"{a_name} or {w_name}", "given alone (the one fixes the other)", w
        )
    if w is not None:
        w = finite("walkthrough", w_name, w)
        z = w * below
        return w, z, _sigma(z)
    a = _sigmoid_output(a_name, default_a if a is None else a)
    if below == 0.0:
        reach = f"non-zero to reach {a_name} = {a} (z = w × 0 = 0 for every w)"
        raise refuse("walkthrough", f"the input below {a_name}", reach, below)
    z = _logit(a)
    return z / below, z, a


def _autodiff(a_prev2: float, w_prev: float, w: float, y: float) -> dict[str, float]:
    """Every gradient of the simple network from one backward() through chainrule."""
    x = tensor(a_prev2)
    weight_prev = tensor(w_prev, requires_grad=True)
    weight = tensor(w, requires_grad=True)
    a_prev = ACTIVATION()(weight_prev * x).retain_grad()
    a = ACTIVATION()(weight * a_prev).retain_grad()
    cost = LOSS()(a.reshape(1), [y])
    cost.backward()
    return {
        "a": a.item(),
        "cost": cost.item(),
        "dcost_da": _grad(a),
        "dcost_dw": _grad(weight),
        "dcost_da_prev": _grad(a_prev),
        "dcost_dw_prev": _grad(weight_prev),
    }


def _grad(t: Tensor) -> float:
    assert t.grad is not None  # backward() from C_i reaches every tensor of the network
    return float(t.grad)


def _local(f: Callable[[Tensor], Tensor], at: float) -> float:
    """d f(t)/dt at `at`, by autodiff on that one op: how the local factors are checked."""
    t = tensor(at, requires_grad=True)
    f(t).backward()
    return _grad(t)


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
    y = finite("walkthrough", "y", y)
    a_prev2 = finite("walkthrough", "a_prev2", a_prev2)
    lr = positive("walkthrough", "lr", lr)
    w_prev, z_prev, a_prev = _layer("a_prev", a_prev, "w_prev", w_prev, a_prev2, 0.7)
    w, z, a = _layer("a", a, "w", w, a_prev, 0.88)

    dcost_da = float(LOSS.derivative(np.asarray(a), np.asarray(y)))  # 2(a − y)
    da_dz = _slope(z, a)
    dcost_dw = a_prev * da_dz * dcost_da  # ∂z/∂w · ∂a/∂z · ∂C_i/∂a
    dcost_da_prev = w * da_dz * dcost_da
    da_prev_dz_prev = _slope(z_prev, a_prev)
    dcost_dw_prev = a_prev2 * da_prev_dz_prev * dcost_da_prev
    w_updated, w_prev_updated = w - lr * dcost_dw, w_prev - lr * dcost_dw_prev
    walk = Walkthrough(
        a_prev2=a_prev2,
        w_prev=w_prev,
        z_prev=z_prev,
        a_prev=a_prev,
        w=w,
        z=z,
        a=a,
        y=y,
        lr=lr,
        cost=_cost(a, y),
        dcost_da=dcost_da,
        da_dz=da_dz,
        dz_dw=a_prev,
        dcost_dw=dcost_dw,
        w_updated=w_updated,
        dz_da_prev=w,
        dcost_da_prev=dcost_da_prev,
        da_prev_dz_prev=da_prev_dz_prev,
        dz_prev_dw_prev=a_prev2,
        dcost_dw_prev=dcost_dw_prev,
        w_prev_updated=w_prev_updated,
        cost_updated=_cost_of(a_prev2, w_prev_updated, w_updated, y),
        numeric={
            "w": _nudged(lambda h: _cost_of(a_prev2, w_prev, w + h, y)),
            "w_prev": _nudged(lambda h: _cost_of(a_prev2, w_prev + h, w, y)),
        },
        sections=[],
    )
    auto = _autodiff(a_prev2, w_prev, w, y)
    walk.sections = [_forward(walk, auto), _output(walk, auto), _back(walk, auto), _after(walk)]
    return walk


def _nudged(cost: Callable[[float], float]) -> float:
    """The lecture's small change: (C(w + 0.001) − C(w − 0.001)) / 0.002."""
    return (cost(NUDGE) - cost(-NUDGE)) / (2 * NUDGE)


def _forward(t: Walkthrough, auto: dict[str, float]) -> Section:
    cost, cost_numbers = fill(COST, a=A, y="y"), fill(COST, a=num(t.a), y=num(t.y))
    return Section(
        "Forward pass",
        "",
        (
            Step(Z1, f"{W1} {A2}", f"{num(t.w_prev)} × {factor(t.a_prev2)}", t.z_prev),
            Step(A1, f"{SIGMA}({Z1})", f"{SIGMA}({num(t.z_prev)})", t.a_prev),
            Step(Z, f"{W} {A1}", f"{factor(t.w)} × {num(t.a_prev)}", t.z),
            Step(A, f"{SIGMA}({Z})", f"{SIGMA}({num(t.z)})", t.a, auto["a"]),
            Step("C_i", cost, cost_numbers, t.cost, auto["cost"]),
        ),
    )


def _output(t: Walkthrough, auto: dict[str, float]) -> Section:
    dcost_da = fill(LOSS.slope, a=A, y="y")
    return Section(
        "Output layer first",
        f"{partial('C_i', W)} = {partial(Z, W)} · {partial(A, Z)} · {partial('C_i', A)}",
        (
            Step(
                partial("C_i", A),
                dcost_da,
                fill(LOSS.slope, a=num(t.a), y=num(t.y)),
                t.dcost_da,
                auto["dcost_da"],
            ),
            Step(
                partial(A, Z),
                slope_form(ACTIVATION, Z, A),
                fill(ACTIVATION.slope, z=num(t.z), a=num(t.a)),
                t.da_dz,
                _local(ACTIVATION(), t.z),
            ),
            Step(partial(Z, W), A1, num(t.a_prev), t.dz_dw, _local(lambda v: v * t.a_prev, t.w)),
            Step(
                partial("C_i", W),
                f"{A1} {SIGMA}'({Z}) {dcost_da}",
                f"{factor(t.dz_dw)} × {factor(t.da_dz)} × {factor(t.dcost_da)}",
                t.dcost_dw,
                auto["dcost_dw"],
            ),
            _update(W, t.w, t.lr, t.dcost_dw, t.w_updated),
        ),
        _nudge_note(W, t.numeric["w"]),
    )


def _back(t: Walkthrough, auto: dict[str, float]) -> Section:
    return Section(
        "One layer further back",
        f"{partial('C_i', W1)} = {partial(Z1, W1)} · {partial(A1, Z1)} · {partial('C_i', A1)}",
        (
            Step(partial(Z, A1), W, num(t.w), t.dz_da_prev, _local(lambda v: v * t.w, t.a_prev)),
            Step(
                partial("C_i", A1),
                f"{W} {SIGMA}'({Z}) {fill(LOSS.slope, a=A, y='y')}",
                f"{factor(t.w)} × {factor(t.da_dz)} × {factor(t.dcost_da)}",
                t.dcost_da_prev,
                auto["dcost_da_prev"],
            ),
            Step(
                partial(A1, Z1),
                slope_form(ACTIVATION, Z1, A1),
                fill(ACTIVATION.slope, z=num(t.z_prev), a=num(t.a_prev)),
                t.da_prev_dz_prev,
                _local(ACTIVATION(), t.z_prev),
            ),
            Step(
                partial(Z1, W1),
                A2,
                num(t.a_prev2),
                t.dz_prev_dw_prev,
                _local(lambda v: v * t.a_prev2, t.w_prev),
            ),
            Step(
                partial("C_i", W1),
                f"{A2} {SIGMA}'({Z1}) {partial('C_i', A1)}",
                f"{factor(t.dz_prev_dw_prev)} × {factor(t.da_prev_dz_prev)} × "
                f"{factor(t.dcost_da_prev)}",
                t.dcost_dw_prev,
                auto["dcost_dw_prev"],
            ),
            _update(W1, t.w_prev, t.lr, t.dcost_dw_prev, t.w_prev_updated),
        ),
        _nudge_note(W1, t.numeric["w_prev"]),
    )


def _update(weight: str, value: float, lr: float, gradient: float, updated: float) -> Step:
    return Step(
        f"new {weight}",
        f"{weight} − η {partial('C_i', weight)}",
        f"{num(value)} − {factor(lr)} × {factor(gradient)}",
        updated,
    )


def _nudge_note(weight: str, estimate: float) -> str:
    return (
        f"small change: (C_i({weight} + {NUDGE}) − C_i({weight} − {NUDGE})) / {2 * NUDGE} = "
        f"{num(estimate)}"
    )


def _after(t: Walkthrough) -> Section:
    network = f"{SIGMA}({W} {SIGMA}({W1} {A2}))"
    numbers = f"{SIGMA}({num(t.w_updated)} {SIGMA}({num(t.w_prev_updated)} × {num(t.a_prev2)}))"
    new_cost = fill(COST, a=numbers, y=num(t.y))
    return Section(
        "After one step of gradient descent on both weights",
        "",
        (Step("new C_i", fill(COST, a=network, y="y"), new_cost, t.cost_updated),),
        f"the loss went from {num(t.cost)} to {num(t.cost_updated)}",
    )
