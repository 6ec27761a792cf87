"""Markdown with LaTeX math, as Unicode a terminal can show: `$a_j^{(l)} = \\sigma(z_j^{(l)})$`
becomes `aⱼ⁽ˡ⁾ = σ(zⱼ⁽ˡ⁾)`.

The inverse of `notation.tex` for the LaTeX the teaching views write (fractions, ∂, Σ, σ,
scripts); a script with a character Unicode has no small form for stays readable as `^(…)`.
"""

from __future__ import annotations

import re

_SUP = dict(zip("0123456789+-−=()ailjknxyzL", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁻⁼⁽⁾ᵃⁱˡʲᵏⁿˣʸᶻᴸ", strict=True))
_SUB = dict(zip("0123456789+-−=()aeijklmnoxt", "₀₁₂₃₄₅₆₇₈₉₊₋₋₌₍₎ₐₑᵢⱼₖₗₘₙₒₓₜ", strict=True))
_SYMBOLS = {
    "partial": "∂",
    "sigma": "σ",
    "eta": "η",
    "delta": "δ",
    "times": "×",
    "cdot": "·",
    "sum": "Σ",
    "infty": "∞",
    "le": "≤",
    "pi": "π",
    "left": "",
    "right": "",
}


def _group(text: str, start: int) -> tuple[str, int]:
    """The `{…}` group opening at `start` (braces nested), and the index after it."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1 : i], i + 1
    return text[start + 1 :], len(text)


def _script(body: str, table: dict[str, str], mark: str) -> str:
    small = [table.get(c) for c in body]
    if all(small):
        return "".join(small)  # type: ignore[arg-type]
    return f"{mark}({body})" if len(body) > 1 else f"{mark}{body}"


def _math(text: str) -> str:
    """One LaTeX formula as Unicode."""
    out, i = [], 0
    while i < len(text):
        command = re.match(r"\\(d?frac|sqrt|operatorname)(?=\{)", text[i:])
        word = re.match(r"\\([A-Za-z]+|,) ?", text[i:])
        if command:
            first, i = _group(text, i + command.end())
            if command[1] == "operatorname":
                out.append(_math(first))
            elif command[1] == "sqrt":
                out.append(f"√({_math(first)})" if len(first) > 1 else f"√{first}")
            else:
                second, i = _group(text, i)
                out.append(f"{_math(first)}/{_math(second)}")
        elif word:
            name = word[1]
            spaced = word[0].endswith(" ") and name not in {"partial", "left", "right"}
            out.append(_SYMBOLS.get(name, "" if name == "," else name) + (" " if spaced else ""))
            i += word.end()
        elif text[i] in "_^":
            if text[i + 1 : i + 2] == "{":
                body, end = _group(text, i + 1)
            else:
                body, end = text[i + 1 : i + 2], i + 2
            sup = text[i] == "^"
            out.append(_script(_math(body), _SUP if sup else _SUB, text[i]))
            i = end
        else:
            out.append({"-": "−", "{": "", "}": ""}.get(text[i], text[i]))
            i += 1
    return re.sub(r" {2,}", " ", "".join(out))


def plain(markdown: str) -> str:
    """`markdown` with each `$…$` formula written in Unicode and its dollar signs dropped."""
    return re.sub(r"\$([^$]+)\$", lambda m: _math(m[1]), markdown)
