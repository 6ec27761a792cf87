"""Why a gradient is what it is: the lecture's chain rule for one weight, with numbers, proved.

`explain(model, x, y, loss, layer, j, k)` takes the weight `w_{jk}^{(l)}` (`model`'s l-th Linear
layer, `weight[j, k]`; `k=None` for the bias `b_j`, the slide's `w_{j0}` with `a_0 = 1`) and
writes its gradient as the lecture does:

    ∂C/∂w_{jk}^{(l)} = ∂z_j^{(l)}/∂w_{jk}^{(l)} · ∂a_j^{(l)}/∂z_j^{(l)} · ∂C/∂a_j^{(l)}
                     = a_k^{(l−1)} · σ'(z_j^{(l)}) · ∂C/∂a_j^{(l)}

where, at the output (l = L), `∂C/∂a_j^{(L)}` is the loss's own factor (`2(a_j − y_j)` for the
lecture's squared error), and below it `a_j^{(l)}` reaches the loss along many paths, one
through each neuron p of the layer above:

    ∂C/∂a_j^{(l)} = Σ_p w_{pj}^{(l+1)} σ'(z_p^{(l+1)}) ∂C/∂a_p^{(l+1)}

For a batch the lecture's average `∂C/∂w = 1/n Σ_i ∂C_i/∂w` is taken over the per-example terms.
Beside the product stand what `backward()` gives and what nudging the weight by ±0.001 does
to the loss, so the chain rule is checked, not just asserted.

`sensitivity(model, X, Y, loss)` ranks every weight and bias by |∂C/∂w|, as the gradient-descent
slide does ("w_1 moves the loss 21 times more than w_2").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.errors import ConfigError, GradError, ShapeError
from chainrule.nn.layers import Identity, Linear, ReLU, Sequential, Sigmoid, Softmax, Tanh
from chainrule.nn.losses import LOSSES, BCELoss, CrossEntropyLoss, MSELoss, SquaredError
from chainrule.nn.module import Module, Parameter
from chainrule.tensor import ArrayLike, Tensor, as_array, is_grad_enabled, no_grad

NUDGE = 1e-3  # the lecture's "small change (e.g. 0.001) in the weight"

# ---- the lecture's symbols ----------------------------------------------------------------------


def _idx(*indices: int) -> str:
    """Subscript as the lecture writes it: `1`, `01`; `{1,12}` once an index has two digits."""
    text = ("," if any(i > 9 for i in indices) else "").join(str(i) for i in indices)
    return text if len(text) == 1 else "{" + text + "}"


def _neuron(base: str, q: int, layer: int) -> str:
    """`a_q^{(l)}`, `z_q^{(l)}`."""
    return f"{base}_{_idx(q)}^{{({layer})}}"


def weight_name(layer: int, j: int, k: int | None) -> str:
    """`w_{jk}^{(l)}` for `weight[j, k]` of Linear layer l, `b_j^{(l)}` for its bias (k=None)."""
    if k is None:
        return f"b_{_idx(j)}^{{({layer})}}"
    return f"w_{_idx(j, k)}^{{({layer})}}"


def _d(num: str, den: str) -> str:
    return f"∂{num}/∂{den}"


def _num(v: float) -> str:
    return f"{v:.6g}"


# ---- activations: σ'(z) from z and a, as each one is cheapest to take -------------------------


@dataclass(frozen=True)
class _Slope:
    form: Callable[[str, str], str]  # (z symbol, a symbol) -> σ'(z) written out
    of: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (z, a) -> σ'(z)
    worked: Callable[[float, float], str]  # (z, a) of example 0 -> the form with numbers put in


_SLOPES: dict[type[Module], _Slope] = {
    Sigmoid: _Slope(
        lambda z, a: f"σ'({z}) = {a}(1 − {a})",
        lambda z, a: a * (1 - a),
        lambda z, a: f"{_num(a)}(1 − {_num(a)})",
    ),
    Tanh: _Slope(
        lambda z, a: f"tanh'({z}) = 1 − ({a})²",
        lambda z, a: 1 - a * a,
        lambda z, a: f"1 − ({_num(a)})²",
    ),
    ReLU: _Slope(
        lambda z, a: f"relu'({z}) = [{z} > 0]",
        lambda z, a: (z > 0).astype(np.float64),
        lambda z, a: f"[{_num(z)} > 0]",
    ),
    Identity: _Slope(lambda z, a: f"1 ({a} = {z})", lambda z, a: np.ones_like(z), lambda z, a: ""),
}
_IDENTITY = _SLOPES[Identity]


@dataclass(frozen=True)
class _Layer:
    position: int  # index of the Linear in the Sequential
    linear: Linear
    activation: Module | None
    slope: _Slope


def _layers(model: Module) -> list[_Layer]:
    """The Linear layers of `model`, each with the activation after it (identity if none)."""
    expected = (
        "expected an nn.Sequential of Linear layers, each optionally followed by one of "
        "Sigmoid, Tanh, ReLU, Identity (with CrossEntropyLoss on the last layer's z for softmax)"
    )
    if not isinstance(model, Sequential):
        raise ConfigError(f"explain: got a {type(model).__name__}; {expected}")
    layers: list[_Layer] = []
    modules = list(model)
    for i, m in enumerate(modules):
        if isinstance(m, Linear):
            layers.append(_Layer(i, m, None, _IDENTITY))
        elif type(m) in _SLOPES and i > 0 and isinstance(modules[i - 1], Linear):
            layers[-1] = _Layer(layers[-1].position, layers[-1].linear, m, _SLOPES[type(m)])
        elif isinstance(m, Softmax):
            raise ConfigError(
                f"explain: model[{i}] is Softmax; explain takes softmax only fused into the loss: "
                f"drop the Softmax layer and use CrossEntropyLoss on the logits z^{{(L)}} (its "
                f"derivative is ∂C/∂z_j = p_j − y_j)"
            )
        else:
            raise ConfigError(f"explain: model[{i}] is {m!r} here; {expected}")
    if not layers:
        raise ConfigError(f"explain: the model has no Linear layer; {expected}")
    return layers


# ---- losses: ∂C_i/∂a_p^{(L)} per example, with C = 1/n Σ_i C_i --------------------------------


@dataclass(frozen=True)
class _LossRule:
    reduction: str  # how C is made of the C_i, in words
    form: Callable[[str, str, int], str]  # (a symbol, y symbol, outputs) -> ∂C_i/∂a written out
    worked: Callable[[int, int], str]  # (example i, output p) -> the form with numbers put in
    grad: np.ndarray  # ∂C_i/∂a^{(L)} (∂C_i/∂z^{(L)} when fused), shape (n, outputs)


def _loss_module(loss: Module | str) -> Module:
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ConfigError(f"explain: unknown loss {loss!r}; expected one of {sorted(LOSSES)}")
        return LOSSES[loss]()
    if not isinstance(loss, tuple(LOSSES.values())):
        raise ConfigError(
            f"explain: loss must be a loss module (SquaredError(), MSELoss(), BCELoss(), "
            f"CrossEntropyLoss()) or one of the names {sorted(LOSSES)}, got {loss!r}"
        )
    return loss


def _loss_rule(loss: Module, a: np.ndarray, y: ArrayLike, fused: bool) -> _LossRule:
    """The loss's factor for every example and output, from the output a (rows of examples)."""
    n, m = a.shape
    target = as_array(y)
    if isinstance(loss, CrossEntropyLoss):
        if target.size == n and target.shape != a.shape:  # one class label per example
            target = np.eye(m)[target.reshape(n).astype(np.intp)]
        target = target.reshape(n, m).astype(np.float64)
        shifted = a - a.max(axis=1, keepdims=True)
        p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        what = "z" if fused else "a"
        return _LossRule(
            f"CrossEntropyLoss: C_i = −Σ_j y_j ln p_j with p = softmax({what}^{{(L)}}), "
            f"C = 1/n Σ_i C_i",
            lambda a_s, y_s, m: f"p{a_s[1:]} − {y_s}",
            lambda i, q: f"{_num(p[i, q])} − {_num(target[i, q])}",
            # Rows of probabilities need not sum to 1; then ∂C_i/∂z_j = p_j Σ_q y_q − y_j.
            p * target.sum(axis=1, keepdims=True) - target,
        )
    y_ = target.astype(np.float64).reshape(n, m)
    if isinstance(loss, SquaredError):
        return _LossRule(
            "SquaredError: C_i = Σ_j (a_j^{(L)} − y_j)², C = 1/n Σ_i C_i",
            lambda a_s, y_s, m: f"2({a_s} − {y_s})",
            lambda i, q: f"2({_num(a[i, q])} − {_num(y_[i, q])})",
            2 * (a - y_),
        )
    if isinstance(loss, MSELoss):
        return _LossRule(
            f"MSELoss: the mean over all n·{m} elements, so C_i = 1/{m} Σ_j (a_j^{{(L)}} − y_j)², "
            f"C = 1/n Σ_i C_i",
            lambda a_s, y_s, m: f"2({a_s} − {y_s})/{m}",
            lambda i, q: f"2({_num(a[i, q])} − {_num(y_[i, q])})/{m}",
            2 * (a - y_) / m,
        )
    if isinstance(loss, BCELoss):
        return _LossRule(
            f"BCELoss: C_i = −1/{m} Σ_j [y_j ln a_j^{{(L)}} + (1 − y_j) ln(1 − a_j^{{(L)}})], "
            f"C = 1/n Σ_i C_i",
            lambda a_s, y_s, m: f"({a_s} − {y_s})/({a_s}(1 − {a_s})·{m})",
            lambda i, q: (
                f"({_num(a[i, q])} − {_num(y_[i, q])})/({_num(a[i, q])}(1 − {_num(a[i, q])})·{m})"
            ),
            # Clamped where a(1 − a) underflows, exactly as BCELoss's own derivative is.
            (a - y_) / np.maximum(a * (1 - a), 1e-12) / m,
        )
    raise ConfigError(f"explain: no chain-rule factor is written for the loss {loss!r}")


# ---- one forward and backward sweep, every number kept, for rows of examples ---------------------


@dataclass(frozen=True)
class _Trace:
    """Index l runs over layers as the lecture counts them: `a[0]` is the input x, `a[L]` the
    output; `z[l]`, `slope[l] = σ'(z^{(l)})` and `upstream[l] = ∂C_i/∂a^{(l)}` for l = 1..L
    (index 0 unused). Every array has one row per example."""

    a: list[np.ndarray]
    z: list[np.ndarray | None]
    slope: list[np.ndarray | None]
    upstream: list[np.ndarray | None]
    rule: _LossRule


def _trace(layers: list[_Layer], x: np.ndarray, y: ArrayLike, loss: Module, fused: bool) -> _Trace:
    a = [x.astype(np.float64)]
    z: list[np.ndarray | None] = [None]
    slope: list[np.ndarray | None] = [None]
    out = x
    with no_grad():
        # The model's own modules compute the forward pass, so these are its numbers exactly.
        for layer in layers:
            z_l = layer.linear(Tensor(out)).data
            z.append(z_l.astype(np.float64))  # a copy, taken before the activation sees z_l
            out = layer.activation(Tensor(z_l)).data if layer.activation is not None else z_l
            a.append(out.astype(np.float64))
            slope.append(layer.slope.of(z[-1], a[-1]))
    rule = _loss_rule(loss, a[-1], y, fused)
    L = len(layers)
    upstream: list[np.ndarray | None] = [None] * L + [rule.grad]
    for l in range(L - 1, 0, -1):
        weight = layers[l].linear.weight.data.astype(np.float64)  # W^{(l+1)}
        upstream[l] = (slope[l + 1] * upstream[l + 1]) @ weight
    return _Trace(a, z, slope, upstream, rule)


# ---- what explain returns ------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Factor:
    """One factor of the chain: the derivative it is (`name`), what it equals in this network
    (`form`), its number for every example (`values`, one per row of x), and the form with
    example 0's numbers put in (`worked`)."""

    name: str
    form: str
    values: np.ndarray
    worked: str = ""

    @property
    def value(self) -> float:
        """The number, for a single example (a batch has `values`, one per example)."""
        if len(self.values) != 1:
            raise ConfigError(
                f"{self.name} has one value per example ({len(self.values)} of them); "
                f"read .values, or explain a single example"
            )
        return float(self.values[0])


@dataclass(frozen=True, eq=False)
class PathTerm:
    """One path from `a_q^{(m)}` to the loss through neuron p of layer m+1:
    `w_{pq}^{(m+1)} · σ'(z_p^{(m+1)}) · ∂C/∂a_p^{(m+1)}` (with softmax fused into
    cross-entropy at the output, `w_{pq}^{(L)} · ∂C/∂z_p^{(L)}`)."""

    p: int
    form: str
    weight: float
    slope: np.ndarray | None
    upstream: np.ndarray
    values: np.ndarray


@dataclass(frozen=True, eq=False)
class PathSum:
    """`∂C/∂a_q^{(m)} = Σ_p w_{pq}^{(m+1)} σ'(z_p^{(m+1)}) ∂C/∂a_p^{(m+1)}`: the many paths."""

    name: str
    form: str
    layer: int
    q: int
    terms: tuple[PathTerm, ...]
    values: np.ndarray


@dataclass(frozen=True, eq=False)
class Explanation:
    """The chain rule for one weight's gradient, with its numbers and two independent checks.

    `factors` multiply to `∂C_i/∂w` for each example (`per_example`); `value` is their mean
    `1/n Σ_i ∂C_i/∂w` (for one example, the product itself). `outputs` are the loss's factors
    `∂C/∂a_p^{(L)}` for every output p, and `paths` the sums `∂C/∂a_q^{(m)}` from the layer
    below the output down to the weight's own neuron (empty for an output-layer weight).
    `autodiff` is what `backward()` gives; `numeric` is the loss change when the weight is
    nudged by ±`nudge`, divided by the nudge (a central difference).
    """

    weight: str
    location: str
    layer: int
    layers: int
    j: int
    k: int | None
    loss: str
    factors: tuple[Factor, ...]
    outputs: tuple[Factor, ...]
    paths: tuple[PathSum, ...]
    per_example: np.ndarray
    autodiff: float
    loss_plus: float
    loss_minus: float
    nudge: float
    batch: bool
    fused: bool
    tolerance: tuple[float, float]

    @property
    def n(self) -> int:
        """How many examples the gradient averages over."""
        return len(self.per_example)

    @property
    def value(self) -> float:
        """The chain rule's answer: `1/n Σ_i Π factors`."""
        return float(np.mean(self.per_example))

    @property
    def numeric(self) -> float:
        """`(C(w + h) − C(w − h)) / 2h` with h = `nudge`, on the model as it is."""
        return (self.loss_plus - self.loss_minus) / (2 * self.nudge)

    @property
    def agree(self) -> bool:
        """The product equals autodiff to rounding, and the nudge to its own error (h²)."""
        exact, nudged = self.tolerance
        scale = max(1.0, abs(self.autodiff))
        return bool(
            abs(self.value - self.autodiff) <= exact * scale
            and abs(self.value - self.numeric) <= nudged * scale
        )

    # ---- printing -----------------------------------------------------------------------------

    def _c(self) -> str:
        return "C_i" if self.batch else "C"

    def _chain(self) -> str:
        return f"{_d(self._c(), self.weight)} = " + " · ".join(f.name for f in self.factors)

    def _factor_lines(self) -> list[str]:
        width = max(len(f.name) for f in self.factors)
        lines = []
        for f in self.factors:
            value = _num(f.values[0])
            steps = [f.form] + ([f.worked] if f.worked else []) + [value]
            if f.form == value:  # a constant (the bias's ∂z/∂b = 1) is its own number
                steps = [value]
            lines.append(f"  {f.name:<{width}} = {' = '.join(steps)}")
        return lines

    def _path_lines(self, limit: int = 12) -> list[str]:
        """Example 0's paths: the loss's factors, then each layer's sums down to a_j^{(l)}."""
        if not self.paths:
            return []
        neuron = _neuron("a", self.j, self.layer)
        lines = [f"how {neuron} reaches the loss, from the output down (paths through p):"]
        for f in self.outputs[:limit]:
            lines.append(f"  {f.name} = {f.form} = {f.worked} = {_num(f.values[0])}")
        if len(self.outputs) > limit:
            lines.append(f"  … ({len(self.outputs) - limit} more outputs)")
        for m in range(self.layers - 1, self.layer - 1, -1):
            level = [s for s in self.paths if s.layer == m]
            for s in level[:limit]:
                lines.append(f"  {s.name} = {s.form}")
                for t in s.terms[:limit]:
                    numbers = [_num(t.weight)]
                    if t.slope is not None:
                        numbers.append(_num(t.slope[0]))
                    numbers.append(_num(t.upstream[0]))
                    lines.append(
                        f"    p = {t.p}: {t.form} = {' × '.join(numbers)} = {_num(t.values[0])}"
                    )
                if len(s.terms) > limit:
                    rest = s.values[0] - sum(t.values[0] for t in s.terms[:limit])
                    lines.append(f"    … {len(s.terms) - limit} more paths, together {_num(rest)}")
                lines.append(f"    sum over {len(s.terms)} paths = {_num(s.values[0])}")
            if len(level) > limit:
                lines.append(f"  … ({len(level) - limit} more neurons of layer {m}, summed alike)")
        return lines

    def _check_lines(self) -> list[str]:
        h = _num(self.nudge)
        if self.batch:
            how = f"1/n Σ_i ∂C_i/∂w, n = {self.n}"
        else:
            how = " × ".join(_num(f.values[0]) for f in self.factors)
        rows = [
            ("chain rule", how, _num(self.value), ""),
            ("autodiff", "backward()", _num(self.autodiff), ""),
            (
                "numeric",
                f"(C(w + {h}) − C(w − {h})) / {_num(2 * self.nudge)}",
                _num(self.numeric),
                f"  (C = {_num(self.loss_plus)} and {_num(self.loss_minus)})",
            ),
        ]
        width = max(len(r[1]) for r in rows)
        lines = [f"  {label:<10}  {how:<{width}} = {v}{note}" for label, how, v, note in rows]
        lines.append(
            f"  agree: {'yes' if self.agree else 'NO'} (|chain rule − autodiff| = "
            f"{abs(self.value - self.autodiff):.1e}, |chain rule − numeric| = "
            f"{abs(self.value - self.numeric):.1e})"
        )
        return lines

    def _batch_lines(self, limit: int = 10) -> list[str]:
        heads = [f.name for f in self.factors] + [_d("C_i", self.weight)]
        widths = [max(len(h), 12) for h in heads]
        lines = [
            f"∂C/∂w = 1/n Σ_i ∂C_i/∂w over n = {self.n} examples, each the product of its factors:",
            "  "
            + "  ".join([f"{'i':>4}"] + [h.rjust(w) for h, w in zip(heads, widths, strict=True)]),
        ]
        for i in range(min(self.n, limit)):
            cells = [_num(f.values[i]) for f in self.factors] + [_num(self.per_example[i])]
            lines.append(
                "  "
                + "  ".join([f"{i:>4}"] + [c.rjust(w) for c, w in zip(cells, widths, strict=True)])
            )
        if self.n > limit:
            lines.append(f"  … ({self.n - limit} more examples)")
        lines.append(f"  mean over the {self.n} examples: {_num(self.value)}")
        return lines

    def __str__(self) -> str:
        layer_word = "the output layer L" if self.layer == self.layers else f"L = {self.layers}"
        examples = f"{self.n} examples" if self.batch else "one example"
        lines = [
            f"{_d('C', self.weight)}: {self.location}, layer {self.layer} ({layer_word}), "
            f"{examples}",
            f"loss: {self.loss}",
        ]
        if self.fused:
            lines.append(
                "softmax and cross-entropy are fused: ∂C/∂z_j^{(L)} = p_j − y_j, one factor "
                "for ∂a/∂z · ∂C/∂a"
            )
        lines.append("")
        if self.batch:
            lines += self._batch_lines()
            lines += ["", "example 0 in full:"]
        lines.append(self._chain())
        lines += self._factor_lines()
        path_lines = self._path_lines()
        if path_lines:
            lines += [""] + path_lines
        lines += [""] + self._check_lines()
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        rows = [
            f"**${_tex(_d('C', self.weight))}$**: `{self.location}`, layer {self.layer} of "
            f"{self.layers}, {self.n} example{'s' if self.n > 1 else ''}; {self.loss}",
            "",
            f"${_tex(self._chain())}$" + (" (per example i, then averaged)" if self.batch else ""),
            "",
            "| factor | equals | " + ("example 0" if self.batch else "value") + " |",
            "| --- | --- | ---: |",
        ]
        rows += [
            f"| ${_tex(f.name)}$ | ${_tex(f.form)}$ | {_num(f.values[0])} |" for f in self.factors
        ]
        if self.paths:
            rows += ["", "| sum over paths | terms (example 0) | value |", "| --- | --- | ---: |"]
            for s in self.paths:
                terms = " + ".join(_num(t.values[0]) for t in s.terms[:12])
                rows.append(f"| ${_tex(s.name)}$ | {terms} | {_num(s.values[0])} |")
        rows += [
            "",
            "| check | ∂C/∂w |",
            "| --- | ---: |",
            f"| chain rule ({f'mean over {self.n} examples' if self.batch else 'product'}) | "
            f"{_num(self.value)} |",
            f"| autodiff (`backward()`) | {_num(self.autodiff)} |",
            f"| numeric (nudge ±{_num(self.nudge)}) | {_num(self.numeric)} |",
            "",
            f"agree: **{'yes' if self.agree else 'NO'}**",
        ]
        return "\n".join(rows)

    def _repr_latex_(self) -> str:
        numbers = r" \times ".join(_num(f.values[0]) for f in self.factors)
        lines = [
            _tex(self._chain()).replace(" = ", " &= ", 1),
            "&= " + r" \cdot ".join(_tex_factor(f.form.split(" = ")[-1]) for f in self.factors),
        ]
        if self.batch:
            lines.append(
                rf"{_tex(_d('C', self.weight))} &= \frac{{1}}{{{self.n}}} \sum_i "
                rf"{_tex(_d('C_i', self.weight))}"
                rf" = {_num(self.value)} \quad (\text{{example 0: }} {numbers})"
            )
        else:
            lines.append(f"&= {numbers} = {_num(self.value)}")
        for s in self.paths:
            terms = " + ".join(f"({_num(t.values[0])})" for t in s.terms[:8])
            more = r" + \dots" if len(s.terms) > 8 else ""
            lines.append(f"{_tex(s.name)} &= {_tex(s.form)} = {terms}{more} = {_num(s.values[0])}")
        lines.append(
            rf"\text{{autodiff}} &= {_num(self.autodiff)}, \quad \text{{numeric}} = "
            rf"{_num(self.numeric)}"
        )
        return "$$\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}$$"


_TEX = [
    ("σ'", r"\sigma'"),
    ("tanh'", r"\tanh'"),
    ("relu'", r"\operatorname{relu}'"),
    ("softmax", r"\operatorname{softmax}"),
    ("Σ", r"\sum"),
    ("·", r" \cdot "),
    ("×", r" \times "),
    ("−", "-"),
    ("²", "^2"),
    (" ln ", r" \ln "),
]


def _tex_factor(text: str) -> str:
    """A factor as LaTeX, in parentheses when it is more than one symbol."""
    return _tex(text) if " " not in text else rf"\left({_tex(text)}\right)"


def _tex(text: str) -> str:
    """The plain-text notation (`∂C/∂w_{01}^{(2)} = a_1^{(1)} · σ'(z_0^{(2)})`) as LaTeX."""
    text = re.sub(r"∂([^\s/]+)/∂(\S+)", r"\\frac{\\partial \1}{\\partial \2}", text)
    for plain, tex in _TEX:
        text = text.replace(plain, tex)
    return text


# ---- explain ------------------------------------------------------------------------------------


def _index(name: str, value: Any, size: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 0 <= value < size:
        raise ShapeError(
            f"explain: {name} = {value!r} is out of range: {what} has {size}, so expected "
            f"0..{size - 1}"
        )
    return int(value)


def _as_rows(x: ArrayLike, layers: list[_Layer], dtype: np.dtype) -> np.ndarray:
    x = as_array(x, dtype)
    inputs = layers[0].linear.in_features
    if x.ndim not in (1, 2) or x.shape[-1] != inputs:
        raise ShapeError(
            f"explain: x has shape {x.shape}; the first Linear layer takes {inputs} inputs, so "
            f"expected ({inputs},) for one example or (n, {inputs}) for a batch"
        )
    return x


def _gradients(model: Module, x: np.ndarray, y: ArrayLike, loss: Module) -> dict[str, np.ndarray]:
    """∂C/∂(every parameter) from one backward pass, leaving each parameter's `.grad` as it was."""
    if not is_grad_enabled():
        raise GradError("explain/sensitivity need a backward pass: call them outside no_grad()")
    params = list(model.named_parameters())
    saved = [p.grad for _, p in params]
    try:
        for _, p in params:
            p.grad = None
        loss(model(Tensor(x)), y).backward()
        return {
            name: p.grad.copy() if p.grad is not None else np.zeros_like(p.data)
            for name, p in params
        }
    finally:
        for (_, p), grad in zip(params, saved, strict=True):
            p.grad = grad


def _nudged(
    model: Module, x: np.ndarray, y: ArrayLike, loss: Module, param: Parameter, index: tuple
) -> tuple[float, float]:
    """C with the weight moved by +NUDGE and by −NUDGE; the weight is put back exactly."""
    original = param.data[index].copy()
    try:
        with no_grad():
            param.data[index] = original + NUDGE
            plus = float(loss(model(Tensor(x)), y).data)
            param.data[index] = original - NUDGE
            minus = float(loss(model(Tensor(x)), y).data)
    finally:
        param.data[index] = original
    return plus, minus


def explain(
    model: Sequential,
    x: ArrayLike,
    y: ArrayLike,
    loss: Module | str,
    layer: int,
    j: int,
    k: int | None = None,
) -> Explanation:
    """The chain rule for `∂C/∂w_{jk}^{(layer)}`: factors, paths, numbers and checks.

    `model` is a Sequential of Linear layers, each optionally followed by Sigmoid, Tanh, ReLU
    or Identity (softmax only fused into CrossEntropyLoss, on the last layer's z). `layer`
    counts Linear layers from 1 (the last is L); `j`, `k` index that layer's `weight[j, k]`,
    and `k=None` is its bias `b_j`. `x` is one example (1-D) or rows of examples with targets
    `y`; `loss` a loss module or a name in `nn.LOSSES`. C is the loss as the model reduces
    it, so `.value` equals `.autodiff` to rounding.
    """
    layers = _layers(model)
    loss = _loss_module(loss)
    L = len(layers)
    if isinstance(layer, bool) or not isinstance(layer, int | np.integer) or not 1 <= layer <= L:
        raise ConfigError(
            f"explain: layer = {layer!r} is out of range: the model has {L} Linear layers, "
            f"counted from 1 as the lecture counts them, so expected 1..{L} ({L} is the output "
            f"layer L)"
        )
    linear = layers[layer - 1].linear
    j = _index("j", j, linear.out_features, f"layer {layer} (its neurons)")
    if k is None:
        if linear.bias is None:
            raise ConfigError(f"explain: layer {layer} has no bias (Linear(..., bias=False))")
        param, index = linear.bias, (j,)
        location = f"model[{layers[layer - 1].position}].bias[{j}]"
    else:
        k = _index("k", k, linear.in_features, f"layer {layer}'s input (its weight columns)")
        param, index = linear.weight, (j, k)
        location = f"model[{layers[layer - 1].position}].weight[{j}, {k}]"
    x = _as_rows(x, layers, model.dtype)
    batch = x.ndim == 2
    name = f"{layers[layer - 1].position}.{'bias' if k is None else 'weight'}"
    autodiff = float(_gradients(model, x, y, loss)[name][index])
    plus, minus = _nudged(model, x, y, loss, param, index)
    fused = isinstance(loss, CrossEntropyLoss) and layers[-1].slope is _IDENTITY
    trace = _trace(layers, x.reshape(-1, x.shape[-1]), y, loss, fused)
    c = "C_i" if batch else "C"
    factors = _factors(layers, trace, layer, j, k, c, fused)
    exact, nudged = (1e-8, 1e-5) if model.dtype == np.float64 else (1e-4, 1e-2)
    return Explanation(
        weight=weight_name(layer, j, k),
        location=location,
        layer=layer,
        layers=L,
        j=j,
        k=k,
        loss=trace.rule.reduction,
        factors=factors,
        outputs=tuple(_output_factor(trace, p, c, fused) for p in range(trace.a[-1].shape[1])),
        paths=_paths(layers, trace, layer, j, c, fused),
        per_example=np.prod([f.values for f in factors], axis=0),
        autodiff=autodiff,
        loss_plus=plus,
        loss_minus=minus,
        nudge=NUDGE,
        batch=batch,
        fused=fused,
        tolerance=(exact, nudged),
    )


def _factors(
    layers: list[_Layer], trace: _Trace, l: int, j: int, k: int | None, c: str, fused: bool
) -> tuple[Factor, ...]:
    L = len(layers)
    z_j, a_j = _neuron("z", j, l), _neuron("a", j, l)
    w = weight_name(l, j, k)
    n = len(trace.a[0])
    if k is None:
        first = Factor(_d(z_j, w), "1", np.ones(n))
    else:
        a_k = _neuron("a", k, l - 1)
        form = f"{a_k} = x_{_idx(k)}" if l == 1 else a_k
        first = Factor(_d(z_j, w), form, trace.a[l - 1][:, k])
    if l == L and fused:
        return (first, _output_factor(trace, j, c, fused))
    slope = layers[l - 1].slope
    a0, z0 = trace.a[l][0, j], trace.z[l][0, j]
    second = Factor(_d(a_j, z_j), slope.form(z_j, a_j), trace.slope[l][:, j], slope.worked(z0, a0))
    if l == L:
        return (first, second, _output_factor(trace, j, c, fused))
    third = Factor(_d(c, a_j), _path_form(layers, l, j, c, fused), trace.upstream[l][:, j])
    return (first, second, third)


def _path_form(layers: list[_Layer], l: int, q: int, c: str, fused: bool) -> str:
    """`Σ_p w_{pq}^{(l+1)} σ'(z_p^{(l+1)}) ∂C/∂a_p^{(l+1)}` (no σ' into a fused output)."""
    above = l + 1
    w = f"w_{{p{',' if q > 9 else ''}{q}}}^{{({above})}}"
    if above == len(layers) and fused:
        return f"Σ_p {w} {_d(c, f'z_p^{{({above})}}')}"
    return f"Σ_p {w} σ'(z_p^{{({above})}}) {_d(c, f'a_p^{{({above})}}')}"


def _output_factor(trace: _Trace, p: int, c: str, fused: bool) -> Factor:
    """The loss's own factor for output p, `∂C_i/∂a_p^{(L)}` (`∂C_i/∂z_p^{(L)}` when fused)."""
    L = len(trace.a) - 1
    a_p = _neuron("z" if fused else "a", p, L)
    y_p = f"y_{_idx(p)}"
    m = trace.a[L].shape[1]
    return Factor(
        _d(c, a_p), trace.rule.form(a_p, y_p, m), trace.rule.grad[:, p], trace.rule.worked(0, p)
    )


def _paths(
    layers: list[_Layer], trace: _Trace, l: int, j: int, c: str, fused: bool
) -> tuple[PathSum, ...]:
    """Every ∂C/∂a_q^{(m)} that ∂C/∂a_j^{(l)} is built from, from the output down."""
    L = len(layers)
    sums = []
    for m in range(L - 1, l - 1, -1):
        weight = layers[m].linear.weight.data  # W^{(m+1)}: row p, column q is w_{pq}^{(m+1)}
        into_fused = m + 1 == L and fused
        for q in [j] if m == l else range(weight.shape[1]):
            terms = []
            for p in range(weight.shape[0]):
                w_pq = float(weight[p, q])
                slope = None if into_fused else trace.slope[m + 1][:, p]
                upstream = trace.upstream[m + 1][:, p]
                values = w_pq * upstream if slope is None else w_pq * slope * upstream
                a_p = _neuron("z" if into_fused else "a", p, m + 1)
                form = f"{weight_name(m + 1, p, q)} "
                form += "" if into_fused else f"σ'({_neuron('z', p, m + 1)}) "
                form += _d(c, a_p)
                terms.append(PathTerm(p, form, w_pq, slope, upstream, values))
            sums.append(
                PathSum(
                    _d(c, _neuron("a", q, m)),
                    _path_form(layers, m, q, c, fused),
                    m,
                    q,
                    tuple(terms),
                    trace.upstream[m][:, q],
                )
            )
    return tuple(sums)


# ---- sensitivity --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SensitivityRow:
    """One weight or bias: its lecture name, where it lives, `∂C/∂w`, and `ratio`, how many
    times more a small change in it moves the loss than the same change in the next row's
    (None for the last row)."""

    name: str
    parameter: str
    layer: int
    j: int
    k: int | None
    gradient: float
    ratio: float | None


class Sensitivity:
    """Every weight and bias ranked by |∂C/∂w|, the most influential first."""

    def __init__(self, rows: list[SensitivityRow], loss: str) -> None:
        self.rows = rows
        self.loss = loss

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[SensitivityRow]:
        return iter(self.rows)

    def __getitem__(self, index: int) -> SensitivityRow:
        return self.rows[index]

    def headline(self) -> str:
        """The gradient-descent slide's sentence for the two most influential weights."""
        if len(self.rows) < 2:
            return ""
        first, second = self.rows[0], self.rows[1]
        return (
            f"{first.name} moves the loss {_ratio(first.ratio)} more than {second.name} "
            f"(|∂C/∂w| {_num(abs(first.gradient))} against {_num(abs(second.gradient))})"
        )

    def table(self, limit: int | None = 20) -> str:
        """The ranking as text, the first `limit` rows (all when None)."""
        shown = self.rows if limit is None else self.rows[:limit]
        cells = [("rank", "weight", "parameter", "∂C/∂w", "× next")]
        cells += [
            (str(i + 1), r.name, r.parameter, _num(r.gradient), _ratio(r.ratio))
            for i, r in enumerate(shown)
        ]
        widths = [max(len(row[c]) for row in cells) for c in range(5)]
        lines = [f"sensitivity of {self.loss} to each of {len(self.rows)} weights and biases:"]
        for row in cells:
            lines.append(
                "  "
                + "  ".join(
                    cell.ljust(w) if c in (1, 2) else cell.rjust(w)
                    for c, (cell, w) in enumerate(zip(row, widths, strict=True))
                )
            )
        if len(shown) < len(self.rows):
            lines.append(f"  … ({len(self.rows) - len(shown)} more)")
        if self.headline():
            lines.append(self.headline())
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def _repr_markdown_(self) -> str:
        rows = [
            "| rank | weight | parameter | ∂C/∂w | × next |",
            "| ---: | --- | --- | ---: | ---: |",
        ]
        rows += [
            f"| {i + 1} | ${_tex(r.name)}$ | `{r.parameter}` | {_num(r.gradient)} | "
            f"{_ratio(r.ratio)} |"
            for i, r in enumerate(self.rows[:20])
        ]
        if len(self.rows) > 20:
            rows.append(f"\n… ({len(self.rows) - 20} more)")
        return "\n".join(rows) + ("\n\n" + self.headline() if self.headline() else "")


def _ratio(ratio: float | None) -> str:
    if ratio is None or np.isnan(ratio):
        return "–"
    return "∞" if np.isinf(ratio) else f"{ratio:.3g}×"


def sensitivity(model: Sequential, X: ArrayLike, Y: ArrayLike, loss: Module | str) -> Sensitivity:
    """Rank every weight and bias of `model` by |∂C/∂w| on (X, Y), with the ratio to the next.

    `model` is a Sequential; its Linear layers are counted from 1 as in `explain`, and every
    gradient is autodiff's, of the loss as the model reduces it.
    """
    if not isinstance(model, Sequential):
        raise ConfigError(
            f"sensitivity: got a {type(model).__name__}; expected an nn.Sequential with Linear "
            f"layers"
        )
    loss = _loss_module(loss)
    linears = [(i, m) for i, m in enumerate(model) if isinstance(m, Linear)]
    owners = {f"{i}.{name}" for i, _ in linears for name in ("weight", "bias")}
    for name, _ in model.named_parameters():
        if name not in owners:
            raise ConfigError(
                f"sensitivity: parameter {name!r} is not a Linear layer's weight or bias; "
                f"expected a Sequential whose parameters all belong to Linear layers"
            )
    x = as_array(X, model.dtype)
    grads = _gradients(model, x, Y, loss)
    entries: list[tuple[int, int, int | None, str, float]] = []
    for layer, (i, linear) in enumerate(linears, start=1):
        g = grads[f"{i}.weight"]
        for j, k in np.ndindex(g.shape):
            entries.append((layer, j, k, f"{i}.weight[{j}, {k}]", float(g[j, k])))
        if linear.bias is not None:
            for j, value in enumerate(grads[f"{i}.bias"]):
                entries.append((layer, j, None, f"{i}.bias[{j}]", float(value)))
    # Stable sort: equal gradients keep the model's order.
    order = np.argsort([-abs(e[4]) for e in entries], kind="stable")
    ranked = [entries[i] for i in order]
    rows = []
    for r, (layer, j, k, where, g) in enumerate(ranked):
        ratio = None
        if r + 1 < len(ranked):
            after = abs(ranked[r + 1][4])
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = float(np.divide(abs(g), after))
        rows.append(SensitivityRow(weight_name(layer, j, k), where, layer, j, k, g, ratio))
    return Sensitivity(rows, type(loss).__name__)
