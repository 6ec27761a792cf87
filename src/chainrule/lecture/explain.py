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

The product is computed here, by the chain rule, never by `backward()`; the forms and local
derivatives it multiplies are the registries' (`nn.ACTIVATIONS`, `nn.LOSSES`), so a new
activation or loss is explained without a line here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.checks import refuse
from chainrule.errors import ConfigError, ShapeError
from chainrule.lecture.explanation import Explanation, Factor, PathSum, PathTerm
from chainrule.lecture.notation import (
    NUDGE,
    fill,
    idx,
    neuron,
    num,
    partial,
    slope_form,
    weight_name,
)

# Sensitivity and sensitivity are re-exported: chainrule.explain held the ranking before it
# moved to lecture/sensitivity.py, and `from chainrule.explain import sensitivity` still works.
from chainrule.lecture.sensitivity import Sensitivity, SensitivityRow, gradients, sensitivity
from chainrule.nn.layers import Activation, Block, Identity, Sequential, blocks
from chainrule.nn.losses import Loss, loss_module
from chainrule.nn.module import Parameter
from chainrule.tensor import ArrayLike, Tensor, as_array, no_grad

__all__ = [
    "Explanation",
    "Factor",
    "PathSum",
    "PathTerm",
    "Sensitivity",
    "SensitivityRow",
    "explain",
    "sensitivity",
    "weight_name",
]

# ---- the network as the lecture draws it: layers l = 1..L, each z = W a + b, a = σ(z) -----------


@dataclass(frozen=True)
class _Layer:
    block: Block
    activation: Activation  # Identity() when no activation follows the Linear


def _layers(model: Any) -> list[_Layer]:
    """The Linear layers of `model`, each with the activation after it (identity if none)."""
    expected = (
        "expected an nn.Sequential of Linear layers, each optionally followed by one "
        "activation of nn.ACTIVATIONS (with CrossEntropyLoss on the last layer's z for softmax)"
    )
    if not isinstance(model, Sequential):
        raise ConfigError(f"explain: got a {type(model).__name__}; {expected}")
    found = list(blocks(model))
    placed = {b.position for b in found} | {b.position + 1 for b in found if b.activation}
    for i, m in enumerate(model):
        if isinstance(m, Activation) and not m.elementwise:
            raise ConfigError(
                f"explain: model[{i}] is {type(m).__name__}; explain takes it only fused into the "
                f"loss: drop the layer and use CrossEntropyLoss on the logits z^{{(L)}} (its "
                f"derivative is ∂C/∂z_j = p_j − y_j)"
            )
        if i not in placed:
            raise ConfigError(f"explain: model[{i}] is {m!r} here; {expected}")
    if not found:
        raise ConfigError(f"explain: the model has no Linear layer; {expected}")
    return [_Layer(b, b.activation or Identity()) for b in found]


# ---- losses: ∂C_i/∂a_p^{(L)} per example, with C = 1/n Σ_i C_i --------------------------------


@dataclass(frozen=True)
class _LossRule:
    reduction: str  # how C is made of the C_i, in words
    form: str  # the registry's ∂C_i/∂a form, symbols to fill in
    values: dict[str, np.ndarray]  # the numbers for {a}, {y}, {p}, shape (n, outputs) each
    grad: np.ndarray  # ∂C_i/∂a^{(L)} (∂C_i/∂z^{(L)} when fused), shape (n, outputs)

    def worked(self, i: int, q: int, m: int) -> str:
        """The form with example i's numbers for output q put in."""
        numbers = {key: num(v[i, q]) for key, v in self.values.items()}
        return fill(self.form, m=str(m), **numbers)


def _loss_rule(loss: Loss, a: np.ndarray, y: ArrayLike, fused: bool) -> _LossRule:
    """The loss's factor for every example and output, from the output a (rows of examples)."""
    m = a.shape[1]
    target = loss.targets(a, y)
    out = "z" if fused else "a"
    cost = fill(
        loss.cost,
        a=neuron(out, "j", "L"),
        y="y_j",
        p=f"{loss.compared}_j" if loss.compared != "a" else neuron(out, "j", "L"),
        m=str(m),
        v=neuron(out, None, "L"),
    )
    return _LossRule(
        f"{type(loss).__name__}: C_i = {cost}, C = 1/n Σ_i C_i",
        loss.slope,
        {"a": a, "y": target, "p": loss.output(a)},
        loss.derivative(a, target),
    )


# ---- one forward and backward sweep, every number kept, for rows of examples ---------------------


@dataclass(frozen=True)
class _Trace:
    """Index l runs over layers as the lecture counts them: `a[0]` is the input x, `a[L]` the
    output; `z[l]`, `slope[l] = σ'(z^{(l)})` and `upstream[l] = ∂C_i/∂a^{(l)}` for l = 1..L
    (index 0 holds an empty array). Every array has one row per example."""

    a: list[np.ndarray]
    z: list[np.ndarray]
    slope: list[np.ndarray]
    upstream: list[np.ndarray]
    rule: _LossRule


def _trace(layers: list[_Layer], x: np.ndarray, y: ArrayLike, loss: Loss, fused: bool) -> _Trace:
    unused = np.empty((len(x), 0))
    a, z, slope = [x.astype(np.float64)], [unused], [unused]
    out = x
    with no_grad():
        # The model's own modules compute the forward pass, so these are its numbers exactly.
        for layer in layers:
            z_l = layer.block.linear(Tensor(out)).data
            z.append(z_l.astype(np.float64))  # a copy, taken before the activation sees z_l
            act = layer.block.activation
            out = act(Tensor(z_l)).data if act is not None else z_l
            a.append(out.astype(np.float64))
            slope.append(layer.activation.derivative(z[-1], a[-1]))
    rule = _loss_rule(loss, a[-1], y, fused)
    L = len(layers)
    # ∂C_i/∂a^{(l)} = Σ_p w_{p·}^{(l+1)} σ'(z_p^{(l+1)}) ∂C_i/∂a_p^{(l+1)}, a layer at a time.
    upstream = [unused] * L + [rule.grad]
    for l in range(L - 1, 0, -1):
        weight = layers[l].block.linear.weight.data.astype(np.float64)  # W^{(l+1)}
        upstream[l] = (slope[l + 1] * upstream[l + 1]) @ weight
    return _Trace(a, z, slope, upstream, rule)


# ---- explain ------------------------------------------------------------------------------------


def _index(name: str, value: Any, size: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 0 <= value < size:
        raise refuse("explain", name, f"in 0..{size - 1} ({what} has {size})", value)
    return int(value)


def _as_rows(x: ArrayLike, layers: list[_Layer], dtype: np.dtype) -> np.ndarray:
    x = as_array(x, dtype)
    inputs = layers[0].block.linear.in_features
    if x.ndim not in (1, 2) or x.shape[-1] != inputs:
        raise ShapeError(
            f"explain: x has shape {x.shape}; the first Linear layer takes {inputs} inputs, so "
            f"expected ({inputs},) for one example or (n, {inputs}) for a batch"
        )
    return x


def _nudged(
    model: Sequential, x: np.ndarray, y: ArrayLike, loss: Loss, param: Parameter, index: tuple
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


def _weight(layers: list[_Layer], layer: Any, j: Any, k: Any) -> tuple[Parameter, tuple, str]:
    """The parameter `w_{jk}^{(layer)}` (the bias when k is None), its index and its name."""
    L = len(layers)
    if isinstance(layer, bool) or not isinstance(layer, int | np.integer) or not 1 <= layer <= L:
        raise refuse(
            "explain",
            "layer",
            f"in 1..{L}: the model has {L} Linear layers, counted from 1 as the lecture counts "
            f"them ({L} is the output layer L)",
            layer,
        )
    block = layers[layer - 1].block
    linear = block.linear
    j = _index("j", j, linear.out_features, f"layer {layer}, its neurons,")
    if k is None:
        if linear.bias is None:
            raise ConfigError(f"explain: layer {layer} has no bias (Linear(..., bias=False))")
        return linear.bias, (j,), f"model[{block.position}].bias[{j}]"
    k = _index("k", k, linear.in_features, f"layer {layer}'s input, its weight columns,")
    return linear.weight, (j, k), f"model[{block.position}].weight[{j}, {k}]"


def explain(
    model: Sequential,
    x: ArrayLike,
    y: ArrayLike,
    loss: Loss | str,
    layer: int,
    j: int,
    k: int | None = None,
) -> Explanation:
    """The chain rule for `∂C/∂w_{jk}^{(layer)}`: factors, paths, numbers and checks.

    `model` is a Sequential of Linear layers, each optionally followed by an activation of
    `nn.ACTIVATIONS` (softmax only fused into CrossEntropyLoss, on the last layer's z).
    `layer` counts Linear layers from 1 (the last is L); `j`, `k` index that layer's
    `weight[j, k]`, and `k=None` is its bias `b_j`. `x` is one example (1-D) or rows of
    examples with targets `y`; `loss` a loss module or a name in `nn.LOSSES`. C is the loss as
    the model reduces it, so `.value` equals `.autodiff` to rounding.
    """
    layers = _layers(model)
    loss = loss_module("explain", loss)
    param, index, location = _weight(layers, layer, j, k)
    j = index[0]
    k = index[1] if len(index) > 1 else None
    x = _as_rows(x, layers, model.dtype)
    name = f"{layers[layer - 1].block.position}.{'bias' if k is None else 'weight'}"
    autodiff = float(gradients(model, x, y, loss)[name][index])
    plus, minus = _nudged(model, x, y, loss, param, index)
    fused = loss.fused_with is not None and isinstance(layers[-1].activation, Identity)
    trace = _trace(layers, x.reshape(-1, x.shape[-1]), y, loss, fused)
    c = "C_i" if x.ndim == 2 else "C"
    factors = _factors(layers, trace, layer, j, k, c, fused)
    exact, nudged = (1e-8, 1e-5) if model.dtype == np.float64 else (1e-4, 1e-2)
    return Explanation(
        weight=weight_name(layer, j, k),
        location=location,
        layer=layer,
        layers=len(layers),
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
        batch=x.ndim == 2,
        fused=fused,
        fusion=_fusion(loss) if fused else "",
        tolerance=(exact, nudged),
    )


def _fusion(loss: Loss) -> str:
    """The sentence that says the loss's factor already holds its activation's slope."""
    symbol = loss.fused_with.symbol if loss.fused_with else ""
    form = fill(loss.slope, p="p_j", y="y_j")
    return (
        f"{symbol} and {type(loss).__name__} are fused: {partial('C', 'z_j^{(L)}')} = {form}, "
        f"one factor for ∂a/∂z · ∂C/∂a"
    )


def _factors(
    layers: list[_Layer], trace: _Trace, l: int, j: int, k: int | None, c: str, fused: bool
) -> tuple[Factor, ...]:
    L = len(layers)
    z_j, a_j = neuron("z", j, l), neuron("a", j, l)
    w = weight_name(l, j, k)
    n = len(trace.a[0])
    if k is None:
        first = Factor(partial(z_j, w), "1", np.ones(n))
    else:
        a_k = neuron("a", k, l - 1)
        form = f"{a_k} = x_{idx(k)}" if l == 1 else a_k
        first = Factor(partial(z_j, w), form, trace.a[l - 1][:, k])
    if l == L and fused:
        return (first, _output_factor(trace, j, c, fused))
    act = layers[l - 1].activation
    worked = fill(act.slope, z=num(trace.z[l][0, j]), a=num(trace.a[l][0, j]))
    second = Factor(partial(a_j, z_j), slope_form(act, z_j, a_j), trace.slope[l][:, j], worked)
    if l == L:
        return (first, second, _output_factor(trace, j, c, fused))
    third = Factor(partial(c, a_j), _path_form(layers, l, j, c, fused), trace.upstream[l][:, j])
    return (first, second, third)


def _path_form(layers: list[_Layer], l: int, q: int, c: str, fused: bool) -> str:
    """`Σ_p w_{pq}^{(l+1)} σ'(z_p^{(l+1)}) ∂C/∂a_p^{(l+1)}` (no σ' into a fused output)."""
    above = l + 1
    w = weight_name(above, "p", q)
    if above == len(layers) and fused:
        return f"Σ_p {w} {partial(c, neuron('z', 'p', above))}"
    symbol = layers[above - 1].activation.symbol
    return f"Σ_p {w} {symbol}'({neuron('z', 'p', above)}) {partial(c, neuron('a', 'p', above))}"


def _output_factor(trace: _Trace, p: int, c: str, fused: bool) -> Factor:
    """The loss's own factor for output p, `∂C_i/∂a_p^{(L)}` (`∂C_i/∂z_p^{(L)}` when fused)."""
    L = len(trace.a) - 1
    out = neuron("z" if fused else "a", p, L)
    m = trace.a[L].shape[1]
    rule = trace.rule
    form = fill(rule.form, a=out, y=f"y_{idx(p)}", p=neuron("p", p, L), m=str(m))
    return Factor(partial(c, out), form, rule.grad[:, p], rule.worked(0, p, m))


def _paths(
    layers: list[_Layer], trace: _Trace, l: int, j: int, c: str, fused: bool
) -> tuple[PathSum, ...]:
    """Every ∂C/∂a_q^{(m)} that ∂C/∂a_j^{(l)} is built from, from the output down."""
    L = len(layers)
    sums = []
    for m in range(L - 1, l - 1, -1):
        weight = layers[m].block.linear.weight.data  # W^{(m+1)}: row p, column q is w_{pq}^{(m+1)}
        into_fused = m + 1 == L and fused
        symbol = layers[m].activation.symbol
        for q in [j] if m == l else range(weight.shape[1]):
            terms = []
            for p in range(weight.shape[0]):
                w_pq = float(weight[p, q])
                slope = None if into_fused else trace.slope[m + 1][:, p]
                upstream = trace.upstream[m + 1][:, p]
                values = w_pq * upstream if slope is None else w_pq * slope * upstream
                a_p = neuron("z" if into_fused else "a", p, m + 1)
                form = f"{weight_name(m + 1, p, q)} "
                form += "" if into_fused else f"{symbol}'({neuron('z', p, m + 1)}) "
                form += partial(c, a_p)
                terms.append(PathTerm(p, form, w_pq, slope, upstream, values))
            sums.append(
                PathSum(
                    partial(c, neuron("a", q, m)),
                    _path_form(layers, m, q, c, fused),
                    m,
                    q,
                    tuple(terms),
                    trace.upstream[m][:, q],
                )
            )
    return tuple(sums)
