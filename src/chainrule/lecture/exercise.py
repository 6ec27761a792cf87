"""A worked-example generator for teachers: a question sheet and its answer key.

`exercise(sizes, seed)` draws a small network with one-decimal weights and one training
example, then works backpropagation through it by the lecture's formulas (numpy, no
autodiff), so the key shows every intermediate number a student writes down:

    z_j^{(l)} = Σ_k w_{jk}^{(l)} a_k^{(l−1)} + b_j^{(l)},   a_j^{(l)} = σ(z_j^{(l)})
    C = Σ_j (a_j^{(L)} − y_j)²,   ∂C/∂a_j^{(L)} = 2(a_j^{(L)} − y_j)
    ∂C/∂a_k^{(l−1)} = Σ_j w_{jk}^{(l)} σ'(z_j^{(l)}) ∂C/∂a_j^{(l)}        (many paths)
    ∂C/∂w_{jk}^{(l)} = a_k^{(l−1)} σ'(z_j^{(l)}) ∂C/∂a_j^{(l)},   w ← w − η ∂C/∂w

`ask=[(layer, j, k), ...]` asks about chosen weights (k = "bias" for b_j^{(l)}, whose
∂z_j/∂b_j = 1); without it the seed picks one weight. The same `sizes`, `seed` and `ask`
always give the same sheet. `Exercise.model()` is the network
as a `chainrule.nn.Sequential`, so the key can be checked against autodiff.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from chainrule.checks import int_at_least, one_of, positive, refuse
from chainrule.lecture.notation import (
    factor,
    fill,
    fixed,
    num,
    partial,
    slope_form,
    tex,
    vector,
    weight_name,
)
from chainrule.lecture.plain import plain
from chainrule.nn.layers import ACTIVATIONS, Activation, Linear, Sequential
from chainrule.nn.losses import SquaredError
from chainrule.tensor import Tensor

MAX_LAYERS = 4  # a sheet worked by hand: at most 4 layers of weights
MAX_NEURONS = 6
BIAS = "bias"  # the k of an asked bias: ask=[(2, 0, "bias")] asks about b_0^{(2)}
Asked = tuple[int, int, int | str]
LOSS = SquaredError  # the lecture's C_i = Σ_j (a_j^{(L)} − y_j)², its forms from nn.LOSSES


def activations() -> list[str]:
    """The activations a sheet can use: every one in `nn.ACTIVATIONS` with one slope σ'(z) per
    neuron (all but softmax, whose slope is a matrix)."""
    return [name for name, cls in ACTIVATIONS.items() if cls.elementwise]


def _factor(v: float) -> str:
    """A computed number inside a product: 4 decimals, negatives in parentheses."""
    return factor(v, fixed)


@dataclass
class Exercise:
    """A question sheet (`questions`) and its answer key (`answers`), both Markdown.

    Layer l = 1..L holds `weights[l-1]` (shape (n_l, n_{l−1}), `[j, k]` is w_{jk}^{(l)}) and
    `biases[l-1]`; `a[0]` is the input x and `a[l]`, `z[l]` each layer's values (`z[0]` is
    unused). `dcost_da[l]` is ∂C/∂a^{(l)} for the layers the key works through. `asked` lists
    the (layer, j, k) asked about (k = "bias" for b_j^{(l)}), `gradients` their ∂C/∂w and
    `updated` their values after one step with learning rate `lr`; `layer`, `j`, `k`,
    `gradient` and `updated_weight` are the first of them.
    """

    sizes: tuple[int, ...]
    seed: int
    lr: float
    activation: str
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    x: np.ndarray
    y: np.ndarray
    z: list[np.ndarray]
    a: list[np.ndarray]
    cost: float
    dcost_da: dict[int, np.ndarray]
    layer: int
    j: int
    k: int | str
    gradient: float
    updated_weight: float
    questions: str
    answers: str
    asked: list[Asked] = field(default_factory=list)
    gradients: list[float] = field(default_factory=list)
    updated: list[float] = field(default_factory=list)

    def model(self) -> Sequential:
        """The sheet's network as chainrule layers (float64), weights copied in."""
        layers = []
        for weight, bias in zip(self.weights, self.biases, strict=True):
            linear = Linear(weight.shape[1], weight.shape[0])
            linear.load_state_dict({"weight": weight, "bias": bias})
            layers += [linear, ACTIVATIONS[self.activation]()]
        return Sequential(*layers)

    def __str__(self) -> str:
        """The question sheet with its formulas in Unicode, for a terminal."""
        return plain(self.questions)

    def __repr__(self) -> str:
        asked = ", ".join(partial("C", _name(*entry)) for entry in self.asked[:3])
        more = f" and {len(self.asked) - 3} more" if len(self.asked) > 3 else ""
        return f"<Exercise {'-'.join(map(str, self.sizes))}, seed {self.seed}: {asked}{more}>"

    def _repr_markdown_(self) -> str:
        return self.questions


def _check_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    try:
        sizes = tuple(sizes)
    except TypeError:
        raise refuse("exercise", "sizes", "a list of layer sizes", sizes) from None
    if not 2 <= len(sizes) <= MAX_LAYERS + 1:
        raise refuse(
            "exercise", "sizes", f"2 to {MAX_LAYERS + 1} layer sizes (inputs first)", sizes
        )
    for n in sizes:
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 1 <= n <= MAX_NEURONS:
            raise refuse(
                "exercise",
                f"every layer size in {list(sizes)}",
                f"a whole number from 1 to {MAX_NEURONS} (a network worked by hand)",
                n,
            )
    return tuple(int(n) for n in sizes)


def _name(layer: int, j: int, k: int | str) -> str:
    """`w_{jk}^{(l)}`, or `b_j^{(l)}` for an asked bias."""
    return weight_name(layer, j, None if k == BIAS else k)


def _within(value: int | str, low: int, high: int) -> bool:
    """A whole number (not a bool) from `low` to `high`."""
    whole = isinstance(value, int | np.integer) and not isinstance(value, bool)
    return whole and low <= int(value) <= high


def _check_ask(ask: Sequence[Sequence[int | str]], sizes: tuple[int, ...]) -> list[Asked]:
    """Each entry a (layer, j, k) of this network; the message names the entry and its ranges."""
    L = len(sizes) - 1
    try:
        entries = list(ask)
    except TypeError:
        raise refuse("exercise", "ask", "a list of (layer, j, k)", ask) from None
    if not entries:
        raise refuse("exercise", "ask", "a non-empty list of (layer, j, k), or None", ask)
    checked: list[Asked] = []
    for entry in entries:
        parts = tuple(entry) if isinstance(entry, Sequence) and not isinstance(entry, str) else ()
        if len(parts) != 3 or not _within(parts[0], 1, L):
            raise refuse(
                "exercise", f"ask entry {entry!r}", f"(layer, j, k) with layer from 1 to {L}", entry
            )
        layer, j, k = int(parts[0]), parts[1], parts[2]
        n_out, n_in = sizes[layer], sizes[layer - 1]
        if not _within(j, 0, n_out - 1) or not (k == BIAS or _within(k, 0, n_in - 1)):
            expected = (
                f"(layer, j, k) with j from 0 to {n_out - 1} and k from 0 to {n_in - 1} "
                f"or {BIAS!r} for layer {layer} ({n_out} × {n_in})"
            )
            raise refuse("exercise", f"ask entry {entry!r}", expected, entry)
        checked.append((layer, int(j), k if k == BIAS else int(k)))
    return checked


def _one_decimal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values ±0.1 … ±0.9: never 0, so every weight and input matters."""
    tenths = rng.integers(1, 10, size=shape) * rng.choice([-1, 1], size=shape)
    return tenths / 10.0


def exercise(
    sizes: Sequence[int] = (2, 3, 2),
    seed: int = 0,
    *,
    lr: float = 0.5,
    activation: str = "sigmoid",
    ask: Sequence[Sequence[int | str]] | None = None,
) -> Exercise:
    """A question sheet and answer key for one training example through a small network.

    `sizes` lists the layer sizes, inputs first (2-3-2 by default; up to 5 layers of up to
    6 neurons); `seed` picks the weights, the example and the weight asked about; `lr` is the
    learning rate η; `activation` is "sigmoid" (the lecture's) or any other of `activations()`,
    whose forms (symbol, definition, slope) the sheet reads from `nn.ACTIVATIONS`. `ask` lists
    the weights asked about as (layer, j, k), layer 1..L, w_{jk}^{(l)} = `weights[l-1][j, k]`,
    k = "bias" for b_j^{(l)}; without it the seed picks one weight.

    >>> sheet = exercise((2, 2), seed=1)
    >>> sheet.questions == exercise((2, 2), seed=1).questions
    True
    """
    sizes = _check_sizes(sizes)
    seed = int_at_least("exercise", "seed", seed, 0)
    act = ACTIVATIONS[one_of("exercise", "activation", activation, activations())]
    lr = positive("exercise", "lr", lr)
    asked = None if ask is None else _check_ask(ask, sizes)

    rng = np.random.default_rng(seed)
    weights = [
        _one_decimal(rng, (n_out, n_in)) for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
    ]
    biases = [_one_decimal(rng, (n_out,)) for n_out in sizes[1:]]
    x = _one_decimal(rng, (sizes[0],))
    y = rng.integers(0, 2, size=sizes[-1]).astype(float)
    L = len(weights)
    if asked is None:
        layer = int(rng.integers(1, L + 1))
        j = int(rng.integers(0, sizes[layer]))
        asked = [(layer, j, int(rng.integers(0, sizes[layer - 1])))]
    lowest = min(layer for layer, _, _ in asked)

    # The forward pass, layer by layer: z = W a + b, a = σ(z).
    a = [x]
    z = [np.zeros(0)]
    for weight, bias in zip(weights, biases, strict=True):
        z.append(weight @ a[-1] + bias)
        a.append(act.of(z[-1]))
    cost = float(LOSS()(Tensor(a[L]), y).data)

    # Backwards from the output, only as far down as the lowest weight asked about.
    dcost_da = {L: LOSS.derivative(a[L], y)}
    for m in range(L, lowest, -1):
        dcost_da[m - 1] = weights[m - 1].T @ (act.derivative(z[m], a[m]) * dcost_da[m])
    gradients, updated = [], []
    for layer, j, k in asked:
        local = act.derivative(z[layer], a[layer])
        dz = 1.0 if k == BIAS else a[layer - 1][int(k)]  # ∂z_j/∂b_j = 1, ∂z_j/∂w_{jk} = a_k^{(l−1)}
        gradients.append(float(dz * local[j] * dcost_da[layer][j]))
        updated.append(float(_value(weights, biases, layer, j, k) - lr * gradients[-1]))

    sheet = Exercise(
        sizes=sizes,
        seed=seed,
        lr=lr,
        activation=activation,
        weights=weights,
        biases=biases,
        x=x,
        y=y,
        z=z,
        a=a,
        cost=cost,
        dcost_da=dcost_da,
        layer=asked[0][0],
        j=asked[0][1],
        k=asked[0][2],
        gradient=gradients[0],
        updated_weight=updated[0],
        questions="",
        answers="",
        asked=asked,
        gradients=gradients,
        updated=updated,
    )
    sheet.questions = _questions(sheet, act)
    sheet.answers = _answers(sheet, act)
    return sheet


def _value(
    weights: list[np.ndarray], biases: list[np.ndarray], layer: int, j: int, k: int | str
) -> float:
    """w_{jk}^{(l)}, or b_j^{(l)} when k is "bias"."""
    return float(biases[layer - 1][j] if k == BIAS else weights[layer - 1][j, int(k)])


def _title(sheet: Exercise) -> str:
    shape = "-".join(str(n) for n in sheet.sizes)
    return f"network {shape}, {sheet.activation}, seed {sheet.seed}"


def _w(layer: int, j: int, k: int | str) -> str:
    """The asked weight in LaTeX: `w_{10}^{(1)}`, or `b_{0}^{(2)}` for a bias."""
    return f"b_{{{j}}}^{{({layer})}}" if k == BIAS else f"w_{{{j}{k}}}^{{({layer})}}"


def _dw(sheet: Exercise) -> str:
    """`$∂C/∂w$` for each asked weight, in LaTeX."""
    return ", ".join(f"$\\partial C/\\partial {_w(*entry)}$" for entry in sheet.asked)


def _questions(sheet: Exercise, act: type[Activation]) -> str:
    L = len(sheet.weights)
    s = tex(act.symbol)
    cost = tex(fill(LOSS.cost, a=f"a_j^{{({L})}}", y="y_j"))
    lines = [
        f"# Backpropagation exercise ({_title(sheet)})",
        "",
        f"A fully connected network with layer sizes {', '.join(map(str, sheet.sizes))} "
        f"(inputs first). Layer 0 is the input, $a^{{(0)}} = x$; layer $L = {L}$ is the output. "
        "Every neuron computes "
        f"$z_j^{{(l)}} = \\sum_k w_{{jk}}^{{(l)}} a_k^{{(l-1)}} + b_j^{{(l)}}$ "
        f"and $a_j^{{(l)}} = {s}(z_j^{{(l)}})$, with ${tex(act.definition)}$. "
        f"$w_{{jk}}^{{(l)}}$ joins neuron $k$ of layer $l-1$ to neuron $j$ of layer $l$; "
        f"neurons are numbered from 0. The loss for this one example is "
        f"$C = {cost}$.",
        "",
        "## Weights and biases",
    ]
    for number, (weight, bias) in enumerate(zip(sheet.weights, sheet.biases, strict=True), 1):
        n_out, n_in = weight.shape
        lines += [
            "",
            f"Layer {number}: $W^{{({number})}}$ ({n_out} × {n_in}) and $b^{{({number})}}$",
            "",
            "| | " + " | ".join(f"$k = {k}$" for k in range(n_in)) + " | $b_j$ |",
            "|---" * (n_in + 2) + "|",
        ]
        for j in range(n_out):
            cells = [num(v) for v in weight[j]] + [num(bias[j])]
            lines.append(f"| $j = {j}$ | " + " | ".join(cells) + " |")
    forward = ", ".join(f"$z^{{({m})}}$, $a^{{({m})}}$" for m in range(1, L + 1))
    w, which = "w", "Each of them"
    if len(sheet.asked) == 1:
        w, which = _w(*sheet.asked[0]), "The bias" if sheet.k == BIAS else "The weight"
    step = (
        f"{which} after one step of gradient descent, ${w} - \\eta \\, \\partial C/\\partial {w}$."
    )
    lines += [
        "",
        "## The training example",
        "",
        f"$x = {vector(sheet.x)}$, $y = {vector(sheet.y)}$; learning rate "
        f"$\\eta = {num(sheet.lr)}$.",
        "",
        "## Questions",
        "",
        f"1. The forward pass: compute {forward}.",
        "2. The loss $C$.",
        f"3. {_dw(sheet)}, by the chain rule.",
        f"4. {step}",
        "",
        "Give every number to 4 decimal places.",
    ]
    return "\n".join(lines)


def _answers(sheet: Exercise, act: type[Activation]) -> str:
    L = len(sheet.weights)
    s = tex(act.symbol)
    lines = [
        f"# Answer key ({_title(sheet)})",
        "",
        "Every number is computed at full precision and shown to 4 decimals.",
        "",
        "## 1. Forward pass",
    ]
    for m, (weight, bias) in enumerate(zip(sheet.weights, sheet.biases, strict=True), 1):
        lines += ["", f"Layer {m}:", ""]
        below = sheet.a[m - 1]
        given = factor if m == 1 else _factor  # the input x is written as given
        for j in range(weight.shape[0]):
            terms = " + ".join(
                f"{factor(weight[j, k])} \\times {given(below[k])}" for k in range(weight.shape[1])
            )
            z, a = fixed(sheet.z[m][j]), fixed(sheet.a[m][j])
            lines.append(
                f"- $z_{j}^{{({m})}} = {terms} + {factor(bias[j])} = {z}$, "
                f"$a_{j}^{{({m})}} = {s}({z}) = {a}$"
            )
    term = LOSS.term
    squares = " + ".join(
        tex(fill(term, a=fixed(a), y=num(y))) for a, y in zip(sheet.a[L], sheet.y, strict=True)
    )
    lines += ["", "## 2. Loss", "", f"$C = {squares} = {fixed(sheet.cost)}$", ""]

    lines += [
        f"## 3. {_dw(sheet)}",
        "",
        f"Output layer: $\\partial C/\\partial a_j^{{({L})}} = "
        f"{tex(fill(LOSS.slope, a=f'a_j^{{({L})}}', y='y_j'))}$, and "
        f"${tex(slope_form(act, 'z', 'a'))}$.",
        "",
    ]
    for j, (a, y) in enumerate(zip(sheet.a[L], sheet.y, strict=True)):
        lines.append(
            f"- $\\partial C/\\partial a_{j}^{{({L})}} = "
            f"{tex(fill(LOSS.slope, a=fixed(a), y=num(y)))} = {fixed(sheet.dcost_da[L][j])}$"
        )
    for m in range(L, min(layer for layer, _, _ in sheet.asked), -1):
        lines += _one_layer_back(sheet, act, m)
    single = len(sheet.asked) == 1
    for entry, gradient in zip(sheet.asked, sheet.gradients, strict=True):
        lines += _weight_gradient(sheet, act, entry, gradient, single)
    lines += ["", "## 4. Update", ""]
    for entry, gradient, updated in zip(sheet.asked, sheet.gradients, sheet.updated, strict=True):
        w = _w(*entry)
        lines.append(
            ("" if single else "- ") + f"${w} - \\eta \\, \\partial C/\\partial {w} = "
            f"{num(_value(sheet.weights, sheet.biases, *entry))} - "
            f"{factor(sheet.lr)} \\times {_factor(gradient)} = {fixed(updated)}$"
        )
    return "\n".join(lines)


def _one_layer_back(sheet: Exercise, act: type[Activation], m: int) -> list[str]:
    """∂C/∂a_k^{(m−1)} = Σ_j w_{jk}^{(m)} σ'(z_j^{(m)}) ∂C/∂a_j^{(m)}: every path listed."""
    s = tex(act.symbol)
    weight = sheet.weights[m - 1]
    local = act.derivative(sheet.z[m], sheet.a[m])
    lines = [
        "",
        f"Layer {m - 1} (each $a_k^{{({m - 1})}}$ reaches the loss through every neuron of "
        f"layer {m}): $\\partial C/\\partial a_k^{{({m - 1})}} = \\sum_j w_{{jk}}^{{({m})}} "
        f"{s}'(z_j^{{({m})}}) \\, \\partial C/\\partial a_j^{{({m})}}$, with "
        + ", ".join(f"${s}'(z_{j}^{{({m})}}) = {fixed(d)}$" for j, d in enumerate(local))
        + ".",
        "",
    ]
    for k in range(weight.shape[1]):
        paths = " + ".join(
            f"{factor(weight[j, k])} \\times {_factor(local[j])} \\times "
            f"{_factor(sheet.dcost_da[m][j])}"
            for j in range(weight.shape[0])
        )
        lines.append(
            f"- $\\partial C/\\partial a_{k}^{{({m - 1})}} = {paths} = "
            f"{fixed(sheet.dcost_da[m - 1][k])}$"
        )
    return lines


def _weight_gradient(
    sheet: Exercise, act: type[Activation], entry: Asked, gradient: float, single: bool
) -> list[str]:
    """∂C/∂w_{jk}^{(l)} = ∂z_j/∂w_{jk} · ∂a_j/∂z_j · ∂C/∂a_j, with its three numbers."""
    s, (m, j, k) = tex(act.symbol), entry
    w = _w(*entry)
    local = act.derivative(sheet.z[m], sheet.a[m])[j]
    if k == BIAS:
        dz, dz_value = "1", "1"
        named = "The bias" if single else f"The bias ${w}$"
    else:
        dz, dz_value = f"a_{k}^{{({m - 1})}}", _factor(sheet.a[m - 1][int(k)])
        named = "The weight" if single else f"The weight ${w}$"
    return [
        "",
        named + ", by the chain rule" + (" ($a^{(0)} = x$):" if m == 1 and k != BIAS else ":"),
        "",
        f"$\\partial C/\\partial {w} = \\dfrac{{\\partial z_{j}^{{({m})}}}}{{\\partial {w}}} "
        f"\\dfrac{{\\partial a_{j}^{{({m})}}}}{{\\partial z_{j}^{{({m})}}}} "
        f"\\dfrac{{\\partial C}}{{\\partial a_{j}^{{({m})}}}} "
        f"= {dz} \\, {s}'(z_{j}^{{({m})}}) \\, "
        f"\\partial C/\\partial a_{j}^{{({m})}} "
        f"= {dz_value} \\times {_factor(local)} \\times "
        f"{_factor(sheet.dcost_da[m][j])} = {fixed(gradient)}$",
    ]
