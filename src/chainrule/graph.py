"""The computation graph of a tensor, as SVG and as Graphviz DOT (micrograd's `draw_dot`).

Every tensor is a box with its shape, its value when small and its gradient when it has
one; every op is an oval between its inputs and its output, labelled with the op's name,
the same name the rule table in `chainrule.ops` gives it. Backpropagation walks these
arrows backwards, applying each oval's local derivative: the chain rule, once per edge.

`graph(t).svg` is the drawing, made in Python (`chainrule.graph_svg`) with nothing installed;
a notebook shows it. `graph(t).source` is the same graph as DOT text, and `.render("g.svg")`
calls Graphviz's `dot` program to draw that, for those who have it.
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
from chainrule.graph_svg import DIRECTIONS, Node, svg
from chainrule.io import atomic_write
from chainrule.tensor import Tensor

FORMATS = ("svg", "png", "pdf")
INLINE_NODES, INLINE_CHARS = 2000, 1_000_000  # the most a notebook is shown inline
INSTALL_HINT = (
    "Graphviz's `dot` program is not installed; install it with `apt-get install graphviz` "
    "(Debian/Ubuntu), `brew install graphviz` (macOS) or `conda install graphviz`, or paste "
    "graph(...).source into any Graphviz viewer; graph(...).svg is a drawing that needs "
    "nothing installed"
)


def _escape(text: str) -> str:
    """Text as the inside of a DOT double-quoted string; rows end in \\l (left-justified)."""
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return "\\l".join(text.split("\n")) + "\\l"


def _array(a: np.ndarray) -> str:
    return np.array2string(np.asarray(a), precision=4, separator=", ", suppress_small=True)


def _shape(t: Tensor) -> str:
    return "scalar" if t.data.ndim == 0 else f"shape {t.data.shape}"


def _rows(t: Tensor, max_values: int) -> tuple[str, ...]:
    rows = [f"{_shape(t)} {t.data.dtype}"]
    if t.data.size <= max_values:
        rows.append("data " + _array(t.data))
    if t.grad is not None:
        rows.append(
            "grad " + _array(t.grad)
            if t.grad.size <= max_values
            else f"grad |max| {np.abs(t.grad).max():.4g}"
        )
    return tuple(rows)


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
    """A computation graph: `.svg` draws it (and a notebook shows it), `.source` is its DOT
    text (`str()` too), `.render(path)` draws the DOT with Graphviz.

    `nodes` are the tensors and ops in the order of the walk, inputs first; `edges` are
    (source, target) indices into `nodes`, one per input of each op and one to its result.
    """

    def __init__(
        self, nodes: list[Node], edges: list[tuple[int, int]], direction: str = "down"
    ) -> None:
        self.nodes = nodes
        self.edges = edges
        self.direction = one_of("graph", "direction", direction, DIRECTIONS)

    @property
    def source(self) -> str:
        """The graph as Graphviz DOT: tensors as boxes (parameters filled), ops as ovals."""
        touching: dict[int, list[tuple[int, int]]] = {}
        for u, v in self.edges:  # every edge has an op at one end
            touching.setdefault(v if self.nodes[v].kind == "op" else u, []).append((u, v))
        lines = [
            "digraph chainrule {",
            "  rankdir=LR;",
            '  node [fontname="Helvetica", fontsize=10];',
        ]
        for i, node in enumerate(self.nodes):
            if node.kind == "op":
                lines.append(
                    f'  {node.key} [shape=ellipse, label="{_escape(node.name or "")[:-2]}"];'
                )
            else:
                style = ', style=filled, fillcolor="#dde8f7"' if node.kind == "parameter" else ""
                label = _escape("\n".join(line for line, _ in node.lines()))
                lines.append(f'  {node.key} [shape=box, label="{label}"{style}];')
            lines += [
                f"  {self.nodes[u].key} -> {self.nodes[v].key};" for u, v in touching.get(i, [])
            ]
        lines.append("}")
        return "\n".join(lines) + "\n"

    @property
    def svg(self) -> str:
        """The graph as a standalone SVG document, laid out in Python (no Graphviz needed)."""
        return svg(self.nodes, self.edges, self.direction)

    def __str__(self) -> str:
        return self.source.rstrip("\n")  # print() adds the final newline back

    def __repr__(self) -> str:
        return f"Graph({len(self.edges)} edges)"

    def render(self, path: str | os.PathLike[str], format: str | None = None) -> Path:
        """Draw the DOT to `path` (SVG, PNG or PDF, from its suffix unless `format` is
        given) with Graphviz's `dot`; the file is replaced only once `dot` succeeded.
        `Path(path).write_text(graph.svg)` needs no Graphviz."""
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
        # Jupyter shows the Python drawing, the same with or without Graphviz installed. A
        # graph too big to read inline (thousands of ops) shows as its text repr instead of
        # megabytes of SVG, more than Jupyter's default output rate limit lets through.
        if len(self.nodes) > INLINE_NODES:
            return None
        drawing = self.svg
        return drawing if len(drawing) <= INLINE_CHARS else None


def graph(
    root: Tensor,
    names: Mapping[str, Tensor] | None = None,
    *,
    max_values: int = 12,
    direction: str = "down",
) -> Graph:
    """The computation graph that produced `root`: `.svg` draws it, `.source` is its DOT.

    `names` labels tensors you know (`dict(model.named_parameters())`, or `{"x": x}`);
    values are shown for tensors of at most `max_values` elements, gradients whenever
    `.grad` is set (after `backward()`: on leaves, and on tensors that `retain_grad()`).
    `direction` is where the SVG's layers run from the inputs to `root`: "down" (it suits a
    notebook, which scrolls down) or "right" (as the DOT is drawn).

    >>> from chainrule import tensor
    >>> x = tensor(2.0, requires_grad=True)
    >>> print(graph(x * x).source.splitlines()[0])
    digraph chainrule {
    """
    if not isinstance(root, Tensor):
        raise refuse("graph", "root", "a chainrule Tensor", type(root).__name__)
    max_values = int_at_least("graph", "max_values", max_values, 0)
    label_of = {id(t): name for name, t in (names or {}).items()}
    nodes: list[Node] = []
    edges: list[tuple[int, int]] = []
    index: dict[int, int] = {}  # id(tensor) -> its node
    for i, t in enumerate(_walk(root)):
        kind = "parameter" if t.requires_grad and t.is_leaf else "tensor"
        nodes.append(Node(f"t{i}", kind, label_of.get(id(t)), _rows(t, max_values)))
        index[id(t)] = len(nodes) - 1
        if t.parents:
            nodes.append(Node(f"t{i}_op", "op", t.op))
            op = len(nodes) - 1
            edges.append((op, index[id(t)]))
            edges += [(index[id(p)], op) for p in t.parents]
    return Graph(nodes, edges, direction)
