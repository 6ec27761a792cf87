"""The computation graph of a tensor, drawn as Graphviz DOT (micrograd's `draw_dot`, for tensors).

Every tensor is a box with its shape, its value when small and its gradient when it has
one; every op is an oval between its inputs and its output, labelled with the op's name,
the same name the rule table in `chainrule.ops` gives it. Backpropagation walks these
arrows backwards, applying each oval's local derivative: the chain rule, once per edge.

`graph(t).source` is plain DOT text and needs nothing installed; `.render("g.svg")` calls
Graphviz's `dot` program to draw it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from chainrule.checks import int_at_least, one_of, refuse
from chainrule.errors import ChainruleError
from chainrule.io import atomic_write
from chainrule.tensor import Tensor

FORMATS = ("svg", "png", "pdf")
INSTALL_HINT = (
    "Graphviz's `dot` program is not installed; install it with `apt-get install graphviz` "
    "(Debian/Ubuntu), `brew install graphviz` (macOS) or `conda install graphviz`, or paste "
    "graph(...).source into any Graphviz viewer"
)


def _escape(text: str) -> str:
    """Text as the inside of a DOT double-quoted string; rows end in \\l (left-justified)."""
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return "\\l".join(text.split("\n")) + "\\l"


def _array(a: np.ndarray) -> str:
    return np.array2string(np.asarray(a), precision=4, separator=", ", suppress_small=True)


def _shape(t: Tensor) -> str:
    return "scalar" if t.data.ndim == 0 else f"shape {t.data.shape}"


def _label(t: Tensor, name: str | None, max_values: int) -> str:
    rows = [name] if name else []
    rows.append(f"{_shape(t)} {t.data.dtype}")
    if t.data.size <= max_values:
        rows.append("data " + _array(t.data))
    if t.grad is not None:
        rows.append(
            "grad " + _array(t.grad)
            if t.grad.size <= max_values
            else f"grad |max| {np.abs(t.grad).max():.4g}"
        )
    return "\n".join(rows)


def _walk(root: Tensor) -> list[Tensor]:
    """Every tensor `root` was computed from, inputs before the ops that use them.

    Unlike backward's order this keeps tensors that need no gradient (inputs, targets,
    constants), because a drawing of the graph should show where every number came from.
    """
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
        elif id(t) not in seen:
            seen.add(id(t))
            stack.append((t, True))
            stack.extend((p, False) for p in reversed(t.parents) if id(p) not in seen)
    return order


class Graph:
    """DOT source of a computation graph (`.source`, `str()`); `.render(path)` draws it."""

    def __init__(self, source: str) -> None:
        self.source = source

    def __str__(self) -> str:
        return self.source.rstrip("\n")  # print() adds the final newline back

    def __repr__(self) -> str:
        return f"Graph({self.source.count(' -> ')} edges)"

    def render(self, path: str | os.PathLike[str], format: str | None = None) -> Path:
        """Draw the graph to `path` (SVG, PNG or PDF, from its suffix unless `format` is
        given) with Graphviz's `dot`; the file is replaced only once `dot` succeeded."""
        path = Path(path)
        fmt = (format or path.suffix.lstrip(".")).lower()
        one_of("graph.render", "the image format (the path's suffix, or format=)", fmt, FORMATS)
        atomic_write(path, self._dot(fmt))
        return path

    def _dot(self, fmt: str) -> bytes:
        exe = shutil.which("dot")
        if exe is None:
            raise ChainruleError(INSTALL_HINT)
        done = subprocess.run(
            [exe, f"-T{fmt}"], input=self.source.encode(), capture_output=True, check=False
        )
        if done.returncode != 0:
            raise ChainruleError(
                f"Graphviz's dot failed (exit {done.returncode}): "
                f"{done.stderr.decode(errors='replace').strip()}"
            )
        return done.stdout

    def _repr_svg_(self) -> str | None:
        # Jupyter draws the graph when dot is installed, and shows the text repr otherwise.
        if shutil.which("dot") is None:
            return None
        return self._dot("svg").decode()


def graph(
    root: Tensor, names: Mapping[str, Tensor] | None = None, *, max_values: int = 12
) -> Graph:
    """The computation graph that produced `root`, as Graphviz DOT.

    `names` labels tensors you know (`dict(model.named_parameters())`, or `{"x": x}`);
    values are shown for tensors of at most `max_values` elements, gradients whenever
    `.grad` is set (after `backward()`: on leaves, and on tensors that `retain_grad()`).

    >>> from chainrule import tensor
    >>> x = tensor(2.0, requires_grad=True)
    >>> print(graph(x * x).source.splitlines()[0])
    digraph chainrule {
    """
    if not isinstance(root, Tensor):
        raise refuse("graph", "root", "a chainrule Tensor", type(root).__name__)
    max_values = int_at_least("graph", "max_values", max_values, 0)
    label_of = {id(t): name for name, t in (names or {}).items()}
    order = _walk(root)
    index = {id(t): i for i, t in enumerate(order)}
    lines = [
        "digraph chainrule {",
        "  rankdir=LR;",
        '  node [fontname="Helvetica", fontsize=10];',
    ]
    for i, t in enumerate(order):
        style = ', style=filled, fillcolor="#dde8f7"' if t.requires_grad and t.is_leaf else ""
        label = _escape(_label(t, label_of.get(id(t)), max_values))
        lines.append(f'  t{i} [shape=box, label="{label}"{style}];')
        if t.parents:
            lines.append(f'  t{i}_op [shape=ellipse, label="{_escape(t.op)[:-2]}"];')
            lines.append(f"  t{i}_op -> t{i};")
            lines += [f"  t{index[id(p)]} -> t{i}_op;" for p in t.parents]
    lines.append("}")
    return Graph("\n".join(lines) + "\n")
