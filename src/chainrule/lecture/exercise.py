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

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from chainrule.errors import ConfigError
from chainrule.nn.layers import ACTIVATIONS, Linear, Sequential

MAX_LAYERS = 4  # a sheet worked by hand: at most 4 layers of weights
MAX_NEURONS = 6


@dataclass(frozen=True)
class _Activation:
    """An activation as the sheet states it; `derivative` takes the output a, not z."""

    forward: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray], np.ndarray]
    name: str  # LaTeX symbol
    definition: str
    rule: str  # its derivative, in terms of a


_ACTIVATIONS = {
    "sigmoid": _Activation(
        lambda z: 1.0 / (1.0 + np.exp(-z)),
        lambda a: a * (1.0 - a),
        "\\sigma",
        "\\sigma(z) = 1/(1 + e^{-z})",
        "\\sigma'(z) = a(1 - a)",
    ),
    "tanh": _Activation(
        np.tanh,
        lambda a: 1.0 - a * a,
        "\\tanh",
        "\\tanh(z) = (e^{z} - e^{-z})/(e^{z} + e^{-z})",
        "\\tanh'(z) = 1 - a^2",
    ),
    "relu": _Activation(
        lambda z: np.maximum(z, 0.0),
        lambda a: (a > 0).astype(float),
        "\\mathrm{relu}",
        "\\mathrm{relu}(z) = \\max(z, 0)",
        "\\mathrm{relu}'(z) = 1 \\text{ if } z > 0 \\text{ else } 0",
    ),
}


def _num(v: float) -> str:
    """A number on the sheet: 4 decimals, and never "-0.0000"."""
    v = float(v)
    return f"{0.0 if round(v, 4) == 0 else v:.4f}"


def _factor(v: float) -> str:
    """A number inside a product or sum: negatives in parentheses."""
    text = _num(v)
    return f"({text})" if text.startswith("-") else text


def _short(v: float) -> str:
    """A given number (weight, input, target) as written on the sheet: 0.3, -1, 0.5."""
    return f"{float(v):g}"


def _short_factor(v: float) -> str:
    return f"({_short(v)})" if v < 0 else _short(v)


def _vector(values: np.ndarray, fmt: Callable[[float], str] = _short) -> str:
    return "(" + ", ".join(fmt(v) for v in values) + ")"


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
            linear.weight.data[...] = weight
            linear.bias.data[...] = bias
            layers += [linear, ACTIVATIONS[self.activation]()]
        return Sequential(*layers)

    def __str__(self) -> str:
        return self.questions

    def _repr_markdown_(self) -> str:
        return self.questions


def _check_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    try:
        sizes = tuple(sizes)
    except TypeError:
        raise ConfigError(f"exercise: sizes must be a list of layer sizes, got {sizes!r}") from None
    if not 2 <= len(sizes) <= MAX_LAYERS + 1:
        raise ConfigError(
            f"exercise: sizes needs 2 to {MAX_LAYERS + 1} layer sizes (inputs first), got "
            f"{list(sizes)}"
        )
    for n in sizes:
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 1 <= n <= MAX_NEURONS:
            raise ConfigError(
                f"exercise: every layer size must be a whole number from 1 to {MAX_NEURONS} "
                f"(a network worked by hand), got {n!r} in {list(sizes)}"
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
    learning rate η; `activation` is "sigmoid" (the lecture's), "tanh" or "relu".

    >>> sheet = exercise((2, 2), seed=1)
    >>> sheet.questions == exercise((2, 2), seed=1).questions
    True
    """
    sizes = _check_sizes(sizes)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"exercise: seed must be a whole number >= 0, got {seed!r}")
    if activation not in _ACTIVATIONS:
        raise ConfigError(
            f"exercise: unknown activation {activation!r}; expected one of {sorted(_ACTIVATIONS)}"
        )
    try:
        lr = float(lr)
    except (TypeError, ValueError):
        raise ConfigError(f"exercise: lr must be a number, got {lr!r}") from None
    if not np.isfinite(lr) or lr <= 0:
        raise ConfigError(f"exercise: lr must be a finite number > 0, got {lr}")
    act = _ACTIVATIONS[activation]

    rng = np.random.default_rng(int(seed))
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
        a.append(act.forward(z[-1]))
    cost = float(np.sum((a[L] - y) ** 2))

    # Backwards from the output, only as far down as the weight asked about.
    dcost_da = {L: 2.0 * (a[L] - y)}
    for m in range(L, layer, -1):
        dcost_da[m - 1] = weights[m - 1].T @ (act.derivative(a[m]) * dcost_da[m])
    local = act.derivative(a[layer])
    gradient = float(a[layer - 1][k] * local[j] * dcost_da[layer][j])
    updated = float(weights[layer - 1][j, k] - lr * gradient)

    sheet = Exercise(
        sizes=sizes,
        seed=int(seed),
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


def _questions(sheet: Exercise, act: _Activation) -> str:
    L = len(sheet.weights)
    s = act.name
    lines = [
        f"# Backpropagation exercise ({_title(sheet)})",
        "",
        f"A fully connected network with layer sizes {', '.join(map(str, sheet.sizes))} "
        f"(inputs first). Layer 0 is the input, $a^{{(0)}} = x$; layer $L = {L}$ is the output. "
        "Every neuron computes "
        f"$z_j^{{(l)}} = \\sum_k w_{{jk}}^{{(l)}} a_k^{{(l-1)}} + b_j^{{(l)}}$ "
        f"and $a_j^{{(l)}} = {s}(z_j^{{(l)}})$, with ${act.definition}$. "
        f"$w_{{jk}}^{{(l)}}$ joins neuron $k$ of layer $l-1$ to neuron $j$ of layer $l$; "
        f"neurons are numbered from 0. The loss for this one example is "
        f"$C = \\sum_j (a_j^{{({L})}} - y_j)^2$.",
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
            cells = [_short(v) for v in weight[j]] + [_short(bias[j])]
            lines.append(f"| $j = {j}$ | " + " | ".join(cells) + " |")
    forward = ", ".join(f"$z^{{({m})}}$, $a^{{({m})}}$" for m in range(1, L + 1))
    w = _w(sheet)
    lines += [
        "",
        "## The training example",
        "",
        f"$x = {_vector(sheet.x)}$, $y = {_vector(sheet.y)}$; learning rate "
        f"$\\eta = {_short(sheet.lr)}$.",
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


def _answers(sheet: Exercise, act: _Activation) -> str:
    L = len(sheet.weights)
    s = act.name
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
        given = _short_factor if m == 1 else _factor  # the input x is written as given
        for j in range(weight.shape[0]):
            terms = " + ".join(
                f"{_short_factor(weight[j, k])} \\times {given(below[k])}"
                for k in range(weight.shape[1])
            )
            z, a = _num(sheet.z[m][j]), _num(sheet.a[m][j])
            lines.append(
                f"- $z_{j}^{{({m})}} = {terms} + {_short_factor(bias[j])} = {z}$, "
                f"$a_{j}^{{({m})}} = {s}({z}) = {a}$"
            )
    squares = " + ".join(
        f"({_num(a)} - {_short(y)})^2" for a, y in zip(sheet.a[L], sheet.y, strict=True)
    )
    lines += ["", "## 2. Loss", "", f"$C = {squares} = {_num(sheet.cost)}$", ""]

    lines += [
        f"## 3. $\\partial C/\\partial {_w(sheet)}$",
        "",
        f"Output layer: $\\partial C/\\partial a_j^{{({L})}} = 2(a_j^{{({L})}} - y_j)$, and "
        f"${act.rule}$.",
        "",
    ]
    for j, (a, y) in enumerate(zip(sheet.a[L], sheet.y, strict=True)):
        lines.append(
            f"- $\\partial C/\\partial a_{j}^{{({L})}} = 2({_num(a)} - {_short(y)}) = "
            f"{_num(sheet.dcost_da[L][j])}$"
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
        f"{_short(sheet.weights[sheet.layer - 1][sheet.j, sheet.k])} - "
        f"{_short_factor(sheet.lr)} \\times {_factor(sheet.gradient)} = "
        f"{_num(sheet.updated_weight)}$",
    ]
    return "\n".join(lines)


def _one_layer_back(sheet: Exercise, act: _Activation, m: int) -> list[str]:
    """∂C/∂a_k^{(m−1)} = Σ_j w_{jk}^{(m)} σ'(z_j^{(m)}) ∂C/∂a_j^{(m)}: every path listed."""
    s = act.name
    weight = sheet.weights[m - 1]
    local = act.derivative(sheet.a[m])
    lines = [
        "",
        f"Layer {m - 1} (each $a_k^{{({m - 1})}}$ reaches the loss through every neuron of "
        f"layer {m}): $\\partial C/\\partial a_k^{{({m - 1})}} = \\sum_j w_{{jk}}^{{({m})}} "
        f"{s}'(z_j^{{({m})}}) \\, \\partial C/\\partial a_j^{{({m})}}$, with "
        + ", ".join(f"${s}'(z_{j}^{{({m})}}) = {_num(d)}$" for j, d in enumerate(local))
        + ".",
        "",
    ]
    for k in range(weight.shape[1]):
        paths = " + ".join(
            f"{_short_factor(weight[j, k])} \\times {_factor(local[j])} \\times "
            f"{_factor(sheet.dcost_da[m][j])}"
            for j in range(weight.shape[0])
        )
        lines.append(
            f"- $\\partial C/\\partial a_{k}^{{({m - 1})}} = {paths} = "
            f"{_num(sheet.dcost_da[m - 1][k])}$"
        )
    return lines


def _weight_gradient(sheet: Exercise, act: _Activation) -> list[str]:
    """∂C/∂w_{jk}^{(l)} = ∂z_j/∂w_{jk} · ∂a_j/∂z_j · ∂C/∂a_j, with its three numbers."""
    s, m, j, k = act.name, sheet.layer, sheet.j, sheet.k
    w = _w(sheet)
    local = act.derivative(sheet.a[m])[j]
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
        f"{_factor(sheet.dcost_da[m][j])} = {_num(sheet.gradient)}$",
    ]
