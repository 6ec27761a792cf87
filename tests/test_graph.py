"""graph(): the computation graph as DOT, and its drawing by Graphviz when installed."""

import shutil
import subprocess

import numpy as np
import pytest

import chainrule as cr
from chainrule.graph import INSTALL_HINT, graph

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
    assert graph(loss)._repr_svg_() is None


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
