"""The lecture's notation: how every teaching view writes numbers, symbols and their LaTeX.

One table for explain, sensitivity, walkthrough, exercise, classic, the CLI and the playground,
so they cannot drift apart. The symbols are the lecture's: layer L is the output, `a_j^{(l)}`
and `z_j^{(l)}` are neuron j of layer l, `w_{jk}^{(l)}` joins neuron k of layer l−1 to neuron
j of layer l. Plain text uses Unicode (`∂`, `σ`, `−`, `²`); `tex` turns it into LaTeX.

The forms of the activations and losses (σ' = a(1 − a), 2(a − y), ...) are not here: they live
on the registries `nn.ACTIVATIONS` and `nn.LOSSES`, and `fill` writes symbols or numbers in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from chainrule.nn.layers import ACTIVATIONS, Activation

NUDGE = 1e-3  # the lecture's "small changes (e.g. 0.001) in the weight"

Layer = int | str  # a layer number (1, 2) or the lecture's names for the last ones ("L", "L−1")

# ---- numbers -----------------------------------------------------------------------------------


def num(v: float, digits: int = 6) -> str:
    """A computed number as the slides write it: `digits` significant digits, never "-0"."""
    text = f"{float(v):.{digits}g}"
    return "0" if text == "-0" else text


def fixed(v: float, decimals: int = 4) -> str:
    """A number on an exercise sheet: `decimals` decimals, never "-0.0000"."""
    v = float(v)
    return f"{0.0 if round(v, decimals) == 0 else v:.{decimals}f}"


def factor(v: float | str, fmt: Callable[[float], str] = num) -> str:
    """A number (or its text) inside a product or sum: negatives in parentheses, 0.7 × (-0.24)."""
    text = v if isinstance(v, str) else fmt(v)
    return f"({text})" if text.startswith(("-", "−")) else text


def vector(values: Iterable[float], fmt: Callable[[float], str] = num) -> str:
    """`(0.3, -1, 0.5)`."""
    return "(" + ", ".join(fmt(v) for v in values) + ")"


# ---- symbols -----------------------------------------------------------------------------------


def idx(*indices: int | str) -> str:
    """A subscript as the lecture writes it: `1`, `{01}`; `{1,12}` once an index has two digits."""
    text = ("," if any(len(str(i)) > 1 for i in indices) else "").join(map(str, indices))
    return text if len(text) == 1 else "{" + text + "}"


def layer_sup(layer: Layer) -> str:
    """`^{(2)}`, `^{(L−1)}`: the layer as a superscript (a hyphen is written as a minus)."""
    return "^{(" + str(layer).replace("-", "−") + ")}"


def neuron(base: str, q: int | str | None, layer: Layer) -> str:
    """`a_q^{(l)}`, `z_q^{(l)}`; `a^{(L−1)}` for the lecture's one-neuron layers (q=None)."""
    sub = "" if q is None else f"_{idx(q)}"
    return f"{base}{sub}{layer_sup(layer)}"


def weight_name(layer: Layer, j: int | str | None, k: int | str | None) -> str:
    """`w_{jk}^{(l)}` for `weight[j, k]` of Linear layer l, `b_j^{(l)}` for its bias (k=None);
    `w^{(L)}` for the lecture's one weight per layer (j and k None)."""
    if j is None:
        return neuron("w", None, layer)
    if k is None:
        return neuron("b", j, layer)
    return f"w_{idx(j, k)}{layer_sup(layer)}"


def partial(num: str, den: str) -> str:
    """`∂num/∂den`."""
    return f"∂{num}/∂{den}"


def fill(template: str, **symbols: str) -> str:
    """A registry form with each `{name}` replaced: `fill("{a}(1 − {a})", a="a_1^{(2)}")`.

    Only the names given are replaced, so the notation's own braces (`e^{−{a}}`) stay as they are.
    """
    for name, text in symbols.items():
        template = template.replace("{" + name + "}", text)
    return template


def slope_form(activation: type[Activation] | Activation, z: str, a: str) -> str:
    """`σ'(z) = a(1 − a)` for an activation class of `nn.ACTIVATIONS`, in the symbols z and a."""
    return f"{activation.symbol}'({z}) = {fill(activation.slope, z=z, a=a)}"


# ---- LaTeX -------------------------------------------------------------------------------------

_TEX = [
    ("σ", r"\sigma"),
    ("η", r"\eta"),
    ("δ", r"\delta"),
    (" · ", r" \cdot "),
    ("·", r" \cdot "),
    (" × ", r" \times "),
    ("×", r" \times "),
    ("−", "-"),
    ("²", "^2"),
    ("∞", r"\infty"),
    ("≤", r"\le "),
    ("π", r"\pi"),
]
_KNOWN = {"tanh", "ln", "exp", "max", "min", "log"}  # LaTeX has these as \tanh, \ln, ...
_NAMED = {"erf"}  # and these it sets upright as \operatorname{erf}


def _operators() -> re.Pattern[str]:
    """Named functions: LaTeX's own, and every activation's word symbol (relu, softplus, ...)."""
    names = _KNOWN | _NAMED | {cls.symbol for cls in ACTIVATIONS.values() if cls.symbol.isalpha()}
    names.discard("σ")
    alternatives = "|".join(sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<![\\A-Za-z])({alternatives})(?![A-Za-z])")


def _operator(match: re.Match[str]) -> str:
    name = match.group(1)
    return "\\" + name if name in _KNOWN else rf"\operatorname{{{name}}}"


def tex(text: str) -> str:
    """The plain-text notation as LaTeX: `∂C/∂w_{01}^{(2)} = a_1^{(1)} · σ'(z_0^{(2)})` becomes
    `\\frac{\\partial C}{\\partial w_{01}^{(2)}} = a_1^{(1)} \\cdot \\sigma'(z_0^{(2)})`."""
    text = re.sub(r"∂([^\s/]+)/∂([^\s,;]+)", r"\\frac{\\partial \1}{\\partial \2}", text)
    text = text.replace("∂", r"\partial ")
    text = _operators().sub(_operator, text)
    text = re.sub("Σ(?=_)", r"\\sum", text).replace("Σ", r"\sum ")
    text = re.sub(r"√\(([^()]*)\)|√(\w+)", lambda m: rf"\sqrt{{{m[1] or m[2]}}}", text)
    for plain, latex in _TEX:
        text = text.replace(plain, latex)
    return text


def tex_factor(text: str) -> str:
    """A factor as LaTeX, in parentheses when it is more than one symbol."""
    return tex(text) if " " not in text else rf"\left({tex(text)}\right)"
