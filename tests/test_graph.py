"""graph(): the computation graph as DOT, its SVG drawing made in Python (nothing installed),
and its drawing by Graphviz when installed."""

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import chainrule as cr
from chainrule import graph as graph_module
from chainrule import graph_svg
from chainrule.graph import INSTALL_HINT, graph
from chainrule.graph_svg import layout

SVG = "{http://www.w3.org/2000/svg}"

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="Graphviz's `dot` is not installed (apt-get install graphviz); rendering not tested",
)


def small_network():
    model = cr.nn.Sequential(cr.nn.Linear(2, 2, rng=0), cr.nn.Sigmoid(), cr.nn.Linear(2, 1, rng=1))
    x = cr.tensor([[0.5, -1.0]])
    loss = cr.nn.SquaredError()(model(x), [[1.0]])
    return model, x, loss


def test_every_tensor_and_op_appears_with_its_edges():
    model, x, loss = small_network()
    source = graph(loss, {"x": x, **dict(model.named_parameters())}).source
    assert source.startswith("digraph chainrule {")
    # 5 leaves (x, 2 weights, 2 biases) and 4 op results (linear, sigmoid, linear, loss).
    assert source.count("[shape=box") == 9
    ops = [
        line.split('label="')[1].split('"')[0] for line in source.splitlines() if "ellipse" in line
    ]
    assert ops == ["linear", "sigmoid", "linear", "squared_error"]
    # Each op has one edge per input and one to its result: 3 + 1 + 3 + 1 inputs, 4 results.
    assert source.count(" -> ") == 12
    assert 'label="x\\lshape (1, 2) float64\\ldata [[ 0.5, -1. ]]\\l"' in source
    assert "0.weight\\lshape (2, 2) float64" in source


def test_values_and_gradients_are_shown():
    model, x, loss = small_network()
    before = graph(loss, dict(model.named_parameters())).source
    assert "grad" not in before
    loss.backward()
    after = graph(loss, dict(model.named_parameters())).source
    bias_grad = np.array2string(model[2].bias.grad, precision=4, separator=", ")
    assert "2.bias\\lshape (1,) float64\\ldata" in after
    assert f"grad {bias_grad}\\l" in after
    assert f"data {loss.item():.4f}" in after


def test_large_tensors_show_their_shape_not_their_values():
    x = cr.tensor(np.arange(100.0).reshape(10, 10), requires_grad=True)
    y = (x * 2).sum()
    y.backward()
    source = graph(y, {"x": x}, max_values=12).source
    assert "x\\lshape (10, 10) float64\\lgrad |max| 2\\l" in source
    assert "data [[" not in source
    assert "scalar float64\\ldata 9900." in source


def test_inputs_that_need_no_gradient_and_repeated_use():
    x = cr.tensor(3.0, requires_grad=True)
    y = x * x + 2.0  # x feeds mul twice; the constant 2 is a leaf of its own
    source = graph(y).source
    assert source.count("[shape=box") == 4  # x, x*x, 2.0, y
    mul_lines = [line for line in source.splitlines() if line.endswith("_op;")]
    assert mul_lines.count("  t0 -> t1_op;") == 2


def test_quotes_and_backslashes_in_names_are_escaped():
    x = cr.tensor(1.0, requires_grad=True)
    source = graph(x.exp(), {'a "quoted\\ name': x}).source
    assert 'label="a \\"quoted\\\\ name\\l' in source


def test_bad_root_is_named():
    with pytest.raises(cr.ConfigError) as caught:
        graph(np.zeros(3))
    assert str(caught.value) == "graph: root must be a chainrule Tensor, got 'ndarray'"
    with pytest.raises(cr.ConfigError, match="graph: max_values must be an integer >= 0, got -1"):
        graph(cr.tensor(1.0), max_values=-1)


def test_render_without_dot_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    _, _, loss = small_network()
    with pytest.raises(cr.ChainruleError, match="apt-get install graphviz"):
        graph(loss).render(tmp_path / "g.svg")
    assert not (tmp_path / "g.svg").exists()
    assert "apt-get install graphviz" in INSTALL_HINT


def test_render_refuses_an_unknown_format(tmp_path):
    _, _, loss = small_network()
    with pytest.raises(cr.ConfigError) as caught:
        graph(loss).render(tmp_path / "g.jpg")
    assert str(caught.value) == (
        "graph.render: the image format (the path's suffix, or format=) must be one of "
        "svg, png, pdf, got 'jpg'"
    )


@needs_dot
def test_source_is_valid_dot():
    model, x, loss = small_network()
    loss.backward()
    source = graph(loss, dict(model.named_parameters())).source
    done = subprocess.run(["dot", "-Tcanon"], input=source.encode(), capture_output=True)
    assert done.returncode == 0, done.stderr.decode()


@needs_dot
def test_render_svg_and_png(tmp_path):
    model, x, loss = small_network()
    loss.backward()
    drawn = graph(loss, dict(model.named_parameters()))
    svg = drawn.render(tmp_path / "g.svg")
    assert "<svg" in svg.read_text() and "squared_error" in svg.read_text()
    png = drawn.render(tmp_path / "g.png")
    assert png.read_bytes().startswith(b"\x89PNG")
    assert "<svg" in drawn._repr_svg_()


def test_reachable_as_cr_plot_graph():
    assert cr.plot.graph is graph


# ---- the SVG drawing, made in Python ------------------------------------------------------


def drawn(svg_text):
    """The parsed SVG's nodes and edges: {key: (element, layer, box)} and [(from, to)]."""
    root = ET.fromstring(svg_text)
    nodes = {}
    for g in root.iter(SVG + "g"):
        if g.get("class", "").split()[0] == "node":
            nodes[g.get("data-key")] = (g, int(g.get("data-layer")), box(g))
    edges = [
        (g.get("data-from"), g.get("data-to"))
        for g in root.iter(SVG + "g")
        if g.get("class") == "edge"
    ]
    return root, nodes, edges


def box(g):
    """(left, top, right, bottom) of a node's rectangle or oval."""
    rect, oval = g.find(SVG + "rect"), g.find(SVG + "ellipse")
    if rect is not None:
        x, y, w, h = (float(rect.get(a)) for a in ("x", "y", "width", "height"))
        return x, y, x + w, y + h
    cx, cy, rx, ry = (float(oval.get(a)) for a in ("cx", "cy", "rx", "ry"))
    return cx - rx, cy - ry, cx + rx, cy + ry


def lines_of(g):
    return [span.text for span in g.iter(SVG + "tspan")]


def overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def trained_network(direction="down"):
    model, x, loss = small_network()
    loss.backward()
    return graph(loss, {"x": x, **dict(model.named_parameters())}, direction=direction)


# Indices into a box (left, top, right, bottom): where it starts and ends along the layers'
# direction, and where it starts and ends across it.
ALONG = {"right": (0, 2), "down": (1, 3)}
ACROSS = {"right": (1, 3), "down": (0, 2)}
directions = pytest.mark.parametrize("direction", ["down", "right"])


def test_svg_is_standalone_with_one_element_per_node_and_per_edge():
    g = trained_network()
    root, nodes, edges = drawn(g.svg)
    assert root.tag == SVG + "svg"
    width, height = float(root.get("width")), float(root.get("height"))
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    assert len(nodes) == 9 + 4  # 9 tensors, 4 ops, as in the DOT
    assert len(edges) == 12
    # The same edges as the DOT text, between the same node ids.
    dot_edges = re.findall(r"^  (t\d+(?:_op)?) -> (t\d+(?:_op)?);$", g.source, flags=re.M)
    assert sorted(edges) == sorted(dot_edges)
    assert all(
        b[0] >= 0 and b[2] <= width and b[1] >= 0 and b[3] <= height for *_, b in nodes.values()
    )


def test_every_label_is_written_in_its_node():
    g = trained_network()
    _, nodes, _ = drawn(g.svg)
    for node in g.nodes:
        element = nodes[node.key][0]
        assert lines_of(element) == [line for line, _ in node.lines()]
        assert element.get("class").split()[1] == node.kind
    ops = [lines_of(nodes[n.key][0]) for n in g.nodes if n.kind == "op"]
    assert ops == [["linear"], ["sigmoid"], ["linear"], ["squared_error"]]
    texts = [line for element, *_ in nodes.values() for line in lines_of(element)]
    assert "x" in texts and "0.weight" in texts and "shape (2, 2) float64" in texts
    model_bias = [n for n in g.nodes if n.name == "2.bias"][0]
    assert any(row.startswith("grad [") for row in model_bias.rows)  # gradients are drawn too
    parameters = [n.key for n in g.nodes if n.kind == "parameter"]
    assert len(parameters) == 4
    assert all(nodes[k][0].find(SVG + "rect").get("fill") == "#dde8f7" for k in parameters)


@directions
def test_no_two_nodes_overlap(direction):
    _, nodes, _ = drawn(trained_network(direction).svg)
    boxes = [b for *_, b in nodes.values()]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not overlap(a, b), (a, b)


@directions
def test_layers_run_from_the_inputs_to_the_loss(direction):
    g = trained_network(direction)
    _, nodes, edges = drawn(g.svg)
    layer = {key: lay for key, (_, lay, _) in nodes.items()}
    start, end = ALONG[direction]
    for source, target in edges:
        assert layer[source] < layer[target]
        assert nodes[source][2][end] < nodes[target][2][start]  # above it, or left of it
    loss_key = g.nodes[-2].key  # the walk ends with the loss and the op that made it
    assert nodes[loss_key][0].get("class") == "node tensor root"
    assert [k for k, lay in layer.items() if lay == max(layer.values())] == [loss_key]
    # A leaf sits one layer before the op that uses it: layer 2's weight beside its linear.
    assert layer["t0"] == layer["t1"] == 0  # x and 0.weight
    assert layer["t5"] == layer["t7_op"] - 1 > 0  # 2.weight


@directions
def test_the_two_layer_network_draws_without_crossings(direction):
    _, nodes, edges = drawn(trained_network(direction).svg)
    start, end = ACROSS[direction]
    centre = {k: (b[start] + b[end]) / 2 for k, (_, _, b) in nodes.items()}
    layer = {k: lay for k, (_, lay, _) in nodes.items()}
    for i, (a, b) in enumerate(edges):
        for c, d in edges[i + 1 :]:
            if layer[a] == layer[c] and layer[b] == layer[d] and a != c and b != d:
                assert (centre[a] < centre[c]) == (centre[b] < centre[d]), (a, b, c, d)


def test_barycenter_sweeps_undo_a_crossing():
    # a -> d and b -> c: in the given order (a, b over c, d) the two edges cross.
    at = layout([(40, 20)] * 4, [(0, 3), (1, 2)])
    assert at.layer == [0, 0, 1, 1]
    assert (at.y[0] < at.y[1]) == (at.y[3] < at.y[2])


@directions
def test_long_edges_go_around_boxes_and_stay_on_the_page(direction):
    x = cr.tensor(3.0, requires_grad=True)
    h = x * x + x.exp() * x
    y = (h.sigmoid() * x + h).tanh()  # x and h both feed ops several layers on
    g = graph(y, {"x": x}, direction=direction)
    root, nodes, edges = drawn(g.svg)
    boxes = [b for *_, b in nodes.values()]
    assert not any(overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    paths = [
        g.find(SVG + "path").get("d") for g in root.iter(SVG + "g") if g.get("class") == "edge"
    ]
    width, height = float(root.get("width")), float(root.get("height"))
    long_edges = 0
    for d in paths:
        points = [tuple(map(float, p.split(","))) for p in re.findall(r"-?[\d.]+,-?[\d.]+", d)]
        assert all(0 <= px <= width and 0 <= py <= height for px, py in points)
        through = points[3:-1:3]  # where one curve ends and the next begins
        long_edges += bool(through)
        for px, py in through:
            assert not any(b[0] < px < b[2] and b[1] < py < b[3] for b in boxes), (px, py)
    assert long_edges >= 2


def test_a_lone_tensor_is_one_box():
    root, nodes, edges = drawn(graph(cr.tensor([1.0, 2.0]), {"v": cr.tensor(0.0)}).svg)
    assert len(nodes) == 1 and edges == []
    assert lines_of(next(iter(nodes.values()))[0]) == ["shape (2,) float64", "data [1., 2.]"]
    assert layout([(30, 20)], []).layer == [0]


def test_text_is_escaped():
    x = cr.tensor(1.0, requires_grad=True)
    name = "<script>alert(\"&\")</script> 'w'"
    svg_text = graph(x.exp(), {name: x}).svg
    assert "<script>" not in svg_text
    _, nodes, _ = drawn(svg_text)
    assert lines_of(nodes["t0"][0])[0] == name
    assert nodes["t0"][0].find(SVG + "title").text.startswith(name)


def test_notebooks_get_the_svg_without_graphviz(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("PATH", "")

    def no_programs(*args, **kwargs):
        raise AssertionError("the SVG drawing ran a program")

    monkeypatch.setattr(subprocess, "run", no_programs)
    g = trained_network()
    shown = g._repr_svg_()
    assert shown == g.svg
    _, nodes, edges = drawn(shown)
    assert len(nodes) == 13 and len(edges) == 12
    assert repr(g) == "Graph(12 edges)"


@directions
def test_the_chain_of_ops_to_the_loss_is_drawn_straight(direction):
    _, nodes, _ = drawn(trained_network(direction).svg)
    start, end = ACROSS[direction]
    centre = {k: (b[start] + b[end]) / 2 for k, (_, _, b) in nodes.items()}
    # linear, z, sigmoid, a, linear, z, (no output activation), squared_error, C: one line,
    # though layer 2's weight and bias stand beside a^{(1)}.
    chain = ["t3_op", "t3", "t4_op", "t4", "t7_op", "t7", "t8_op", "t8"]
    assert [centre[k] for k in chain] == pytest.approx([centre["t3_op"]] * len(chain), abs=0.1)


def test_a_long_chain_with_a_shared_input_does_not_drift_sideways():
    def width(n):
        x = cr.tensor(1.0, requires_grad=True)
        y = x
        for _ in range(n):
            y = y * 1.0001 + x  # a constant beside every mul, x feeding every add
        return float(ET.fromstring(graph(y).svg).get("width"))

    assert width(40) < 1.5 * width(4)


def test_down_is_right_turned_on_the_diagonal():
    sizes, edges = [(60, 20), (30, 50), (80, 30), (40, 40)], [(0, 2), (1, 2), (2, 3), (0, 3)]
    right = layout(sizes, edges, direction="right")
    down = layout([(h, w) for w, h in sizes], edges, direction="down")
    assert down.layer == right.layer
    assert (down.x, down.y) == (right.y, right.x)
    assert (down.width, down.height) == (right.height, right.width)
    assert down.size == right.size[::-1]
    assert down.routes == [[(y, x) for x, y in route] for route in right.routes]


def test_an_unknown_direction_is_refused():
    with pytest.raises(cr.ConfigError) as caught:
        graph(cr.tensor(1.0), direction="up")
    assert str(caught.value) == "graph: direction must be one of down, right, got 'up'"


def test_a_node_of_unknown_kind_is_refused():
    with pytest.raises(cr.ConfigError) as caught:
        graph_svg.Node("t0", "layer", None)
    assert str(caught.value) == "graph node: kind must be one of parameter, tensor, op, got 'layer'"


def on_outline(g, point, side):
    """Whether `point` lies on the node's outline; for a box, on its `side` (an index into
    (left, top, right, bottom))."""
    oval = g.find(SVG + "ellipse")
    if oval is not None:
        cx, cy, rx, ry = (float(oval.get(a)) for a in ("cx", "cy", "rx", "ry"))
        return abs(((point[0] - cx) / rx) ** 2 + ((point[1] - cy) / ry) ** 2 - 1) < 0.05
    b = box(g)
    along = point[side % 2]
    across = point[1 - side % 2]
    return abs(along - b[side]) < 0.11 and b[1 - side % 2] <= across <= b[3 - side % 2]


@directions
def test_each_edge_leaves_its_source_and_its_arrow_points_into_its_target(direction):
    root, nodes, _ = drawn(trained_network(direction).svg)
    start, end = ALONG[direction]
    axis = start % 2  # 0: x grows along the layers, 1: y does
    for g in root.iter(SVG + "g"):
        if g.get("class") != "edge":
            continue
        source, target = nodes[g.get("data-from")][0], nodes[g.get("data-to")][0]
        first = tuple(map(float, g.find(SVG + "path").get("d")[1:].split()[0].split(",")))
        tip, *back = (
            tuple(map(float, p.split(","))) for p in g.find(SVG + "polygon").get("points").split()
        )
        assert on_outline(source, first, end)
        assert on_outline(target, tip, start)
        assert all(corner[axis] < tip[axis] for corner in back)  # the head points along the layers


def test_edges_that_make_a_cycle_are_refused():
    with pytest.raises(cr.ConfigError) as caught:
        layout([(10, 10)] * 3, [(0, 1), (1, 2), (2, 1)])
    assert str(caught.value) == (
        "graph layout: edges must be free of cycles (as a computation graph is), got [1, 2]"
    )


def test_a_graph_too_big_for_a_notebook_shows_as_text(monkeypatch):
    g = trained_network()
    assert g._repr_svg_() == g.svg
    monkeypatch.setattr(graph_module, "INLINE_CHARS", len(g.svg) - 1)
    assert g._repr_svg_() is None  # Jupyter then shows repr(g)
    assert g.svg.startswith("<svg")  # asked for, it is drawn all the same
    monkeypatch.setattr(graph_module, "INLINE_CHARS", len(g.svg))
    assert g._repr_svg_() == g.svg
    monkeypatch.setattr(graph_module, "INLINE_NODES", len(g.nodes) - 1)
    assert g._repr_svg_() is None
