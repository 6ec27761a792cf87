"""A worked-example generator for teachers: a question sheet and its answer key.

`exercise(sizes, seed)` draws a small network with one-decimal weights and one training
example, then works backpropagation through it by the lecture's formulas (numpy, no
autodiff), so the key shows every intermediate number a student writes down:

    z_j^{(l)} = Σ_k w_{jk}^{(l)} a_k^{(l−1)} + b_j^{(l)},   a_j^{(l)} = σ(z_j^{(l)})
    C = Σ_j (a_j^{(L)} − y_j)²,   ∂C/∂a_j^{(L)} = 2(a_j^{(L)} − y_j)
    ∂C/∂a_k^{(l−1)} = Σ_j w_{jk}^{(l)} σ'(z_j^{(l)}) ∂C/∂a_j^{(l)}        (many paths)
    ∂C/∂w_{jk}^{(l)} = a_k^{(l−1)} σ'(z_j^{(l)}) ∂C/∂a_j^{(l)},   w ← w − η ∂C/∂w

The same `sizes` and `seed` always give the same sheet. `Exercise.model()` is the network
as a `chainrule.nn.Sequential`, so the key can be checked against autodiff.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from chainrule.checks import int_at_least, one_of, positive, refuse
from chainrule.lecture.notation import factor, fill, fixed, num, slope_form, tex, vector
from chainrule.nn.layers import ACTIVATIONS, Activation, Linear, Sequential
from chainrule.nn.losses import SquaredError
from chainrule.tensor import Tensor

MAX_LAYERS = 4  # a sheet worked by hand: at most 4 layers of weights
MAX_NEURONS = 6
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
    unused). `dcost_da[l]` is ∂C/∂a^{(l)} for the layers the key works through. The named
    weight is `weights[layer-1][j, k]`; `gradient` is ∂C/∂w for it and `updated_weight` the
    weight after one step with learning rate `lr`.
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
    k: int
    gradient: float
    updated_weight: float
    questions: str
    answers: str

    def model(self) -> Sequential:
        """The sheet's network as chainrule layers (float64), weights copied in."""
        layers = []
        for weight, bias in zip(self.weights, self.biases, strict=True):
            linear = Linear(weight.shape[1], weight.shape[0])
            linear.load_state_dict({"weight": weight, "bias": bias})
            layers += [linear, ACTIVATIONS[self.activation]()]
        return Sequential(*layers)

    def __str__(self) -> str:
        return self.questions

    def __repr__(self) -> str:
        from chainrule.lecture.notation import partial, weight_name

        asked = partial("C", weight_name(self.layer, self.j, self.k))
        return f"<Exercise {'-'.join(map(str, self.sizes))}, seed {self.seed}: {asked}>"

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
) -> Exercise:
    """A question sheet and answer key for one training example through a small network.

    `sizes` lists the layer sizes, inputs first (2-3-2 by default; up to 5 layers of up to
    6 neurons); `seed` picks the weights, the example and the weight asked about; `lr` is the
    learning rate η; `activation` is "sigmoid" (the lecture's) or any other of `activations()`,
    whose forms (symbol, definition, slope) the sheet reads from `nn.ACTIVATIONS`.

    >>> sheet = exercise((2, 2), seed=1)
    >>> sheet.questions == exercise((2, 2), seed=1).questions
    True
    """
    sizes = _check_sizes(sizes)
    seed = int_at_least("exercise", "seed", seed, 0)
    act = ACTIVATIONS[one_of("exercise", "activation", activation, activations())]
    lr = positive("exercise", "lr", lr)

    rng = np.random.default_rng(seed)
    weights = [
        _one_decimal(rng, (n_out, n_in)) for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
    ]
    biases = [_one_decimal(rng, (n_out,)) for n_out in sizes[1:]]
    x = _one_decimal(rng, (sizes[0],))
    y = rng.integers(0, 2, size=sizes[-1]).astype(float)
    L = len(weights)
    layer = int(rng.integers(1, L + 1))
    j = int(rng.integers(0, sizes[layer]))
    k = int(rng.integers(0, sizes[layer - 1]))

    # The forward pass, layer by layer: z = W a + b, a = σ(z).
    a = [x]
    z = [np.zeros(0)]
    for weight, bias in zip(weights, biases, strict=True):
        z.append(weight @ a[-1] + bias)
        a.append(act.of(z[-1]))
    cost = float(LOSS()(Tensor(a[L]), y).data)

    # Backwards from the output, only as far down as the weight asked about.
    dcost_da = {L: LOSS.derivative(a[L], y)}
    for m in range(L, layer, -1):
        dcost_da[m - 1] = weights[m - 1].T @ (act.derivative(z[m], a[m]) * dcost_da[m])
    local = act.derivative(z[layer], a[layer])
    gradient = float(a[layer - 1][k] * local[j] * dcost_da[layer][j])
    updated = float(weights[layer - 1][j, k] - lr * gradient)

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
        layer=layer,
        j=j,
        k=k,
        gradient=gradient,
        updated_weight=updated,
        questions="",
        answers="",
    )
    sheet.questions = _questions(sheet, act)
    sheet.answers = _answers(sheet, act)
    return sheet


def _title(sheet: Exercise) -> str:
    shape = "-".join(str(n) for n in sheet.sizes)
    return f"network {shape}, {sheet.activation}, seed {sheet.seed}"


def _w(sheet: Exercise) -> str:
    return f"w_{{{sheet.j}{sheet.k}}}^{{({sheet.layer})}}"


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
    w = _w(sheet)
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
        f"3. $\\partial C/\\partial {w}$, by the chain rule.",
        f"4. The weight after one step of gradient descent, "
        f"${w} - \\eta \\, \\partial C/\\partial {w}$.",
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
        f"## 3. $\\partial C/\\partial {_w(sheet)}$",
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
    for m in range(L, sheet.layer, -1):
        lines += _one_layer_back(sheet, act, m)
    lines += _weight_gradient(sheet, act)
    w = _w(sheet)
    lines += [
        "",
        "## 4. Update",
        "",
        f"${w} - \\eta \\, \\partial C/\\partial {w} = "
        f"{num(sheet.weights[sheet.layer - 1][sheet.j, sheet.k])} - "
        f"{factor(sheet.lr)} \\times {_factor(sheet.gradient)} = "
        f"{fixed(sheet.updated_weight)}$",
    ]
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


def _weight_gradient(sheet: Exercise, act: type[Activation]) -> list[str]:
    """∂C/∂w_{jk}^{(l)} = ∂z_j/∂w_{jk} · ∂a_j/∂z_j · ∂C/∂a_j, with its three numbers."""
    s, m, j, k = tex(act.symbol), sheet.layer, sheet.j, sheet.k
    w = _w(sheet)
    local = act.derivative(sheet.z[m], sheet.a[m])[j]
    return [
        "",
        "The weight, by the chain rule" + (" ($a^{(0)} = x$):" if m == 1 else ":"),
        "",
        f"$\\partial C/\\partial {w} = \\dfrac{{\\partial z_{j}^{{({m})}}}}{{\\partial {w}}} "
        f"\\dfrac{{\\partial a_{j}^{{({m})}}}}{{\\partial z_{j}^{{({m})}}}} "
        f"\\dfrac{{\\partial C}}{{\\partial a_{j}^{{({m})}}}} "
        f"= a_{k}^{{({m - 1})}} \\, {s}'(z_{j}^{{({m})}}) \\, "
        f"\\partial C/\\partial a_{j}^{{({m})}} "
        f"= {_factor(sheet.a[m - 1][k])} \\times {_factor(local)} \\times "
        f"{_factor(sheet.dcost_da[m][j])} = {fixed(sheet.gradient)}$",
    ]
