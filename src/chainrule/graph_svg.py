"""The computation graph drawn as SVG in pure Python: a layered layout, with nothing installed.

The drawing reads from the inputs to the loss as the forward pass runs (top to bottom, or left
to right with direction="right"), and back as `backward()` walks it. The layout is the
classic layered one (Sugiyama's), worked out left to right and turned for "down":

1. layers: each node one column right of its furthest input (the longest path from the
   leaves), then every leaf moved up to just before the op that uses it, so a target or a
   constant sits beside its op instead of at the far left; the loss is alone in the last layer;
2. an edge that spans several layers passes through a slot in each column between its ends,
   so no line runs through a box (the long edges of one source share their slots);
3. order within each column: a few barycenter sweeps (each node moved to the mean position of
   its neighbours in the previous column, then in the next), keeping the order with the fewest
   crossings;
4. heights: each node pulled toward the mean height of its computed inputs (leaves follow
   their ops), then of its users, a few times, with the order kept and boxes apart
   (isotonic regression, the pool-adjacent-violators algorithm).

Tensors are boxes (parameters shaded, the root outlined), ops are ovals, and each edge is a
curve ending in an arrowhead. The SVG uses presentation attributes only (no <style>, no ids),
so many drawings can share one notebook page.
"""

from __future__ import annotations

import html
import unicodedata
from bisect import bisect_right, insort
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from chainrule.checks import one_of, refuse

KINDS = ("parameter", "tensor", "op")
DIRECTIONS = ("down", "right")  # down suits a notebook: it grows in the way pages scroll

FONT = "Menlo, Consolas, 'DejaVu Sans Mono', monospace"
FONT_SIZE = 11
CHAR_W = 0.6 * FONT_SIZE  # a monospace glyph's advance is about 0.6 em
LINE_H = 14
PAD_X, PAD_Y = 8, 5
OP_H = 26
COLUMN_GAP, ROW_GAP, MARGIN = 48, 16, 10
SLOT_H = 8  # the height a long edge takes where it crosses a column
PORT_STEP = 12  # vertical spacing of the ends of edges that meet one side of a node
ARROW = 7
SWEEPS = 8
SETTLE = 4
LEAF_WEIGHT, SLOT_WEIGHT = 0.01, 0.1  # how hard a leaf, a slot, hold their place (ops: 1)

FILL = {"parameter": "#dde8f7", "tensor": "#ffffff", "op": "#f3f3f3"}
GRAD_COLOUR = "#a8322d"  # gradient rows stand out from values


@dataclass(frozen=True)
class Node:
    """One node of the drawing: `key` names it (DOT's node id), `kind` is one of KINDS.

    `name` is its first, bold row (a tensor's given name, or an op's name); `rows` follow it.
    A row may hold several lines (a matrix); a row that starts with "grad" is a gradient.
    """

    key: str
    kind: str
    name: str | None
    rows: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        one_of("graph node", "kind", self.kind, KINDS)

    def lines(self) -> list[tuple[str, str]]:
        """(text, role) per printed line; role is "name", "grad" or "value"."""
        out = [(self.name, "name")] if self.name else []
        for row in self.rows:
            role = "grad" if row.startswith("grad") else "value"
            out += [(line, role) for line in row.split("\n")]
        return out


@dataclass(frozen=True)
class Layout:
    """Where every node sits: its layer (column), its box, and each edge's route.

    `x`, `y`, `width`, `height` give each node's bounding box (top left corner); `routes[e]`
    is edge e's points from the side of its source to the tip of its arrow.
    """

    layer: list[int]
    x: list[float]
    y: list[float]
    width: list[float]
    height: list[float]
    routes: list[list[tuple[float, float]]]
    size: tuple[float, float]
    direction: str = "right"


def text_width(text: str) -> float:
    """Width of `text` in the monospace font; East Asian wide characters take two cells."""
    cells = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return cells * CHAR_W


def node_size(node: Node) -> tuple[float, float]:
    lines = node.lines()
    wide = max((text_width(text) for text, _ in lines), default=0.0)
    if node.kind == "op":
        return wide + 4 * PAD_X, OP_H
    return wide + 2 * PAD_X, len(lines) * LINE_H + 2 * PAD_Y


# ---- 1. layers ----------------------------------------------------------------------------


def topological(n: int, edges: Sequence[tuple[int, int]]) -> list[int]:
    """Nodes with every edge's source before its target (Kahn's algorithm)."""
    indegree = [0] * n
    succs: list[list[int]] = [[] for _ in range(n)]
    for u, v in edges:
        indegree[v] += 1
        succs[u].append(v)
    ready = [v for v in range(n) if indegree[v] == 0]
    order: list[int] = []
    while ready:
        u = ready.pop()
        order.append(u)
        for v in succs[u]:
            indegree[v] -= 1
            if indegree[v] == 0:
                ready.append(v)
    if len(order) != n:
        stuck = sorted(set(range(n)) - set(order))
        raise refuse("graph layout", "edges", "free of cycles (as a computation graph is)", stuck)
    return order


def layers(n: int, edges: Sequence[tuple[int, int]]) -> list[int]:
    """Longest-path layering from the leaves, with each leaf then moved next to its first use."""
    preds: list[list[int]] = [[] for _ in range(n)]
    succs: list[list[int]] = [[] for _ in range(n)]
    for u, v in edges:
        preds[v].append(u)
        succs[u].append(v)
    layer = [0] * n
    for v in topological(n, edges):
        layer[v] = max((layer[u] + 1 for u in preds[v]), default=0)
    for v in range(n):
        if not preds[v] and succs[v]:
            layer[v] = min(layer[s] for s in succs[v]) - 1
    return layer


# ---- 2. slots for long edges, 3. order within each column ---------------------------------


def chains(layer: list[int], edges: Sequence[tuple[int, int]]) -> tuple[list[list[int]], list[int]]:
    """Each edge as the chain of slots it passes: its ends, and one slot per column between.

    The long edges of one source share its slots, as a trunk that each leaves at its target's
    column: one line for x in `y = y * w + x` repeated, rather than one per use (which would
    also make the slots grow as the square of the graph). Slots are numbered after the real
    nodes; returns the chains and the layer of every node and slot.
    """
    layer = layer[:]
    trunk: dict[int, list[int]] = {}  # source -> its slots, one per column after its own
    out = []
    for u, v in edges:
        slots = trunk.setdefault(u, [])
        while layer[u] + 1 + len(slots) < layer[v]:
            slots.append(len(layer))
            layer.append(layer[u] + len(slots))
        out.append([u, *slots[: layer[v] - layer[u] - 1], v])
    return out, layer


def crossings(columns: list[list[int]], links: list[tuple[int, int]], layer: list[int]) -> int:
    """Pairs of links between neighbouring columns that cross (inversions, per column pair)."""
    place = {v: i for column in columns for i, v in enumerate(column)}
    by_column: dict[int, list[tuple[int, int]]] = {}
    for u, v in links:
        by_column.setdefault(layer[u], []).append((place[u], place[v]))
    total = 0
    for pairs in by_column.values():
        seen: list[int] = []
        for _, lower in sorted(pairs):
            total += len(seen) - bisect_right(seen, lower)
            insort(seen, lower)
    return total


def order(columns: list[list[int]], links: list[tuple[int, int]], layer: list[int]) -> None:
    """Barycenter sweeps down and up the columns; `columns` ends in the best order found."""
    before: dict[int, list[int]] = {}
    after: dict[int, list[int]] = {}
    for u, v in links:
        before.setdefault(v, []).append(u)
        after.setdefault(u, []).append(v)
    best, fewest = [c[:] for c in columns], crossings(columns, links, layer)
    for sweep in range(SWEEPS):
        down = sweep % 2 == 0
        near = before if down else after
        for c in range(1, len(columns)) if down else range(len(columns) - 2, -1, -1):
            there = {v: i for i, v in enumerate(columns[c - 1 if down else c + 1])}
            key = {}
            for i, v in enumerate(columns[c]):
                others = near.get(v)
                key[v] = (sum(there[u] for u in others) / len(others) if others else i, i)
            columns[c].sort(key=key.__getitem__)
        count = crossings(columns, links, layer)
        if count < fewest:
            best, fewest = [c[:] for c in columns], count
    columns[:] = best


# ---- 4. coordinates -----------------------------------------------------------------------


def pool_adjacent(targets: list[float], weights: list[float]) -> list[float]:
    """The non-decreasing sequence closest to `targets` in weighted least squares (PAVA)."""
    blocks: list[list[float]] = []  # [weighted sum, weight, length]
    for t, w in zip(targets, weights, strict=True):
        blocks.append([w * t, w, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, weight, length = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += weight
            blocks[-1][2] += length
    return [total / weight for total, weight, length in blocks for _ in range(int(length))]


def settle(
    column: list[int], height: list[float], top: list[float], want: list[float], weight: list[float]
) -> None:
    """Move the column's boxes toward the centres in `want` (one per box, in the column's
    order), keeping their order and ROW_GAP between them; where boxes crowd, those of more
    `weight` get nearer their wish."""
    offsets, below = [], 0.0
    for v in column:
        offsets.append(below)
        below += height[v] + ROW_GAP
    targets = [c - height[v] / 2 - off for v, c, off in zip(column, want, offsets, strict=True)]
    moved = pool_adjacent(targets, [weight[v] for v in column])
    for v, off, z in zip(column, offsets, moved, strict=True):
        top[v] = z + off


def heights(
    columns: list[list[int]], links: list[tuple[int, int]], height: list[float], n: int
) -> list[float]:
    """Top of every box: each column stacked and centred, then pulled toward the centres of
    its inputs (sweeping left to right) and of its users (right to left), back and forth.

    Leaves (weights, constants) and long edges' slots follow the ops instead of leading
    them: of a node's inputs only those computed by ops pull it, when it has any, and where a
    leaf or a slot crowds a computed node, the leaf or slot gives way. So `y * 2` stays under
    `y`, and a long chain of such ops does not drift sideways step by step.
    """
    before: dict[int, list[int]] = {}
    after: dict[int, list[int]] = {}
    for u, v in links:
        before.setdefault(v, []).append(u)
        after.setdefault(u, []).append(v)
    weight = [1.0 if v in before else LEAF_WEIGHT for v in range(n)]
    weight += [SLOT_WEIGHT] * (len(height) - n)
    for v, inputs in before.items():
        computed = [u for u in inputs if weight[u] == 1.0]
        before[v] = computed or inputs
    top = [0.0] * len(height)
    for column in columns:
        settle(column, height, top, [0.0] * len(column), weight)

    def centre(v: int) -> float:
        return top[v] + height[v] / 2

    down = [(c, before) for c in columns]
    up = [(c, after) for c in reversed(columns)]
    # Ending on a sweep toward the inputs leaves each op exactly under its computed input.
    for column, near in (down + up) * SETTLE + down:
        want = [
            sum(map(centre, near[v])) / len(near[v]) if near.get(v) else centre(v) for v in column
        ]
        settle(column, height, top, want, weight)
    lowest = min(top, default=0.0)
    return [t - lowest + MARGIN for t in top]


def layout(
    sizes: Sequence[tuple[float, float]],
    edges: Sequence[tuple[int, int]],
    round_nodes: Sequence[bool] = (),
    direction: str = "right",
) -> Layout:
    """Place nodes of the given (width, height) and route `edges` (source, target) between them,
    the layers running in `direction` ("right" or "down").

    `round_nodes[i]` marks an oval, whose edges end on its curve rather than its box's side.
    "down" is the "right" layout of the boxes turned on their sides, mirrored on the diagonal.
    """
    one_of("graph layout", "direction", direction, DIRECTIONS)
    if direction == "right":
        return _layout_right(sizes, edges, round_nodes)
    at = _layout_right([(h, w) for w, h in sizes], edges, round_nodes)
    routes = [[(y, x) for x, y in points] for points in at.routes]
    return Layout(at.layer, at.y, at.x, at.height, at.width, routes, at.size[::-1], "down")


def _layout_right(
    sizes: Sequence[tuple[float, float]],
    edges: Sequence[tuple[int, int]],
    round_nodes: Sequence[bool],
) -> Layout:
    n = len(sizes)
    paths, layer = chains(layers(n, edges), edges)
    count = len(layer)
    width = [w for w, _ in sizes] + [0.0] * (count - n)
    height = [h for _, h in sizes] + [float(SLOT_H)] * (count - n)
    columns: list[list[int]] = [[] for _ in range(max(layer, default=-1) + 1)]
    for v in range(count):  # node order first (the walk's), then slots in edge order
        columns[layer[v]].append(v)
    links = list(dict.fromkeys(link for chain in paths for link in pairwise(chain)))
    order(columns, links, layer)
    top = heights(columns, links, height, n)
    left, x = [0.0] * count, float(MARGIN)
    for column in columns:
        span = max(width[v] for v in column)
        for v in column:
            left[v] = x + (span - width[v]) / 2
        x += span + COLUMN_GAP
    routes = route(paths, left, top, width, height, list(round_nodes) + [False] * count)
    bottom = max((top[v] + height[v] for v in range(count)), default=0.0)
    size = (x - COLUMN_GAP + MARGIN, bottom + MARGIN)
    return Layout(layer[:n], left[:n], top[:n], width[:n], height[:n], routes, size)


def route(
    paths: list[list[int]],
    left: list[float],
    top: list[float],
    width: list[float],
    height: list[float],
    oval: list[bool],
) -> list[list[tuple[float, float]]]:
    """Each edge's points: out of its source's right side, across each slot, into its target.

    Edges that meet one side of a node are spread along it, in the order of the nodes at their
    other ends, so two edges between the same pair of nodes (x * x) stay two lines.
    """
    centre = [t + h / 2 for t, h in zip(top, height, strict=True)]
    outs: dict[int, list[int]] = {}
    ins: dict[int, list[int]] = {}
    for e, chain in enumerate(paths):
        outs.setdefault(chain[0], []).append(e)
        ins.setdefault(chain[-1], []).append(e)
    port: dict[tuple[int, int], tuple[float, float]] = {}  # (edge, end) -> point
    for side, ends in ((1, outs), (-1, ins)):
        for v, edges in ends.items():
            far = 1 if side == 1 else -2  # the neighbouring slot along the edge
            edges.sort(key=lambda e: (centre[paths[e][far]], e))
            step = min(PORT_STEP, 0.6 * height[v] / max(len(edges) - 1, 1))
            for i, e in enumerate(edges):
                dy = (i - (len(edges) - 1) / 2) * step
                port[e, side] = (
                    edge_x(v, dy, side, left, top, width, height, oval),
                    centre[v] + dy,
                )
    routes = []
    for e, chain in enumerate(paths):
        points = [port[e, 1]]
        for slot in chain[1:-1]:
            points += [(left[slot], centre[slot]), (left[slot] + width[slot], centre[slot])]
        points.append(port[e, -1])
        routes.append(points)
    return routes


def edge_x(
    v: int,
    dy: float,
    side: int,
    left: list[float],
    top: list[float],
    width: list[float],
    height: list[float],
    oval: list[bool],
) -> float:
    """Where the horizontal line at `dy` from v's centre meets v's right (1) or left (-1) side."""
    half = width[v] / 2
    reach = half
    if oval[v]:
        ry = height[v] / 2
        reach = half * max(0.0, 1 - (dy / ry) ** 2) ** 0.5
    return left[v] + half + side * reach


# ---- the SVG ------------------------------------------------------------------------------


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _path(points: list[tuple[float, float]], down: bool) -> str:
    """Cubic curves through `points`, leaving and entering each point along the layers'
    direction (horizontally, or vertically when `down`)."""
    (x0, y0), *rest = points
    tip_x, tip_y = rest[-1]
    # The line stops where the arrowhead starts.
    rest[-1] = (tip_x, tip_y - ARROW) if down else (tip_x - ARROW, tip_y)
    d = [f"M{_num(x0)},{_num(y0)}"]
    for x1, y1 in rest:
        if down:
            mid = (y0 + y1) / 2
            d.append(f"C{_num(x0)},{_num(mid)} {_num(x1)},{_num(mid)} {_num(x1)},{_num(y1)}")
        else:
            mid = (x0 + x1) / 2
            d.append(f"C{_num(mid)},{_num(y0)} {_num(mid)},{_num(y1)} {_num(x1)},{_num(y1)}")
        x0, y0 = x1, y1
    return " ".join(d)


def _edge(points: list[tuple[float, float]], source: Node, target: Node, down: bool) -> str:
    x, y = points[-1]
    if down:
        corners = [(x, y), (x - 3.5, y - ARROW), (x + 3.5, y - ARROW)]
    else:
        corners = [(x, y), (x - ARROW, y - 3.5), (x - ARROW, y + 3.5)]
    head = " ".join(f"{_num(cx)},{_num(cy)}" for cx, cy in corners)
    ends = f'data-from="{html.escape(source.key)}" data-to="{html.escape(target.key)}"'
    return (
        f'<g class="edge" {ends}><path d="{_path(points, down)}" fill="none" stroke="#666" '
        f'stroke-width="1.2"/><polygon points="{head}" fill="#666"/></g>'
    )


def _node(node: Node, i: int, at: Layout, root: bool) -> str:
    x, y, w, h = at.x[i], at.y[i], at.width[i], at.height[i]
    stroke = ' stroke="#222" stroke-width="2.2"' if root else ' stroke="#444" stroke-width="1"'
    lines = node.lines()
    if node.kind == "op":
        shape = (
            f'<ellipse cx="{_num(x + w / 2)}" cy="{_num(y + h / 2)}" rx="{_num(w / 2)}" '
            f'ry="{_num(h / 2)}" fill="{FILL["op"]}"{stroke}/>'
        )
        anchor, text_x, first = "middle", x + w / 2, y + h / 2 + FONT_SIZE * 0.35
    else:
        shape = (
            f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(w)}" height="{_num(h)}" rx="3" '
            f'fill="{FILL[node.kind]}"{stroke}/>'
        )
        anchor, text_x, first = "start", x + PAD_X, y + PAD_Y + LINE_H - 3.5
    spans = []
    for row, (text, role) in enumerate(lines):
        style = {"name": ' font-weight="bold"', "grad": f' fill="{GRAD_COLOUR}"', "value": ""}
        spans.append(
            f'<tspan x="{_num(text_x)}" y="{_num(first + row * LINE_H)}"{style[role]}>'
            f"{html.escape(text, quote=False)}</tspan>"
        )
    title = html.escape("\n".join(text for text, _ in lines), quote=False)
    classes = f"node {node.kind}" + (" root" if root else "")
    return (
        f'<g class="{classes}" data-key="{html.escape(node.key)}" data-layer="{at.layer[i]}">'
        f"<title>{title}</title>{shape}"
        f'<text text-anchor="{anchor}" xml:space="preserve">{"".join(spans)}</text></g>'
    )


def svg(nodes: Sequence[Node], edges: Sequence[tuple[int, int]], direction: str = "down") -> str:
    """The graph as a standalone SVG document, its layers running `direction` ("down" or
    "right"); `edges` are (source, target) node indices."""
    sizes = [node_size(n) for n in nodes]
    at = layout(sizes, edges, [n.kind == "op" for n in nodes], direction)
    down = direction == "down"
    has_out = {u for u, _ in edges}
    w, h = (_num(s) for s in at.size)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" font-family="{FONT}" font-size="{FONT_SIZE}" '
        f'class="chainrule-graph">',
        '<g class="edges">',
        *(_edge(at.routes[e], nodes[u], nodes[v], down) for e, (u, v) in enumerate(edges)),
        '</g><g class="nodes">',
        *(_node(node, i, at, i not in has_out) for i, node in enumerate(nodes)),
        "</g></svg>",
    ]
    return "\n".join(parts) + "\n"
