"""Pictures: each function returns a Figure whose drawn data is what it was given, saves as
PNG without a display, and refuses input it cannot draw."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

import chainrule as cr
from chainrule import plot, plot_network
from chainrule.errors import ConfigError, ShapeError
from chainrule.train import History


def png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def lines(ax) -> dict[str, np.ndarray]:
    return {line.get_label(): np.asarray(line.get_ydata()) for line in ax.get_lines()}


def test_loss_curves_draw_training_and_validation():
    history = History(
        loss=[1.0, 0.5, 0.25],
        accuracy=[0.5, 0.75, 1.0],
        val_loss=[1.1, 0.6, 0.4],
        val_accuracy=[0.4, 0.7, 0.9],
        stop_reason="epochs",
    )
    figure = plot.loss_curves(history, title="demo")
    loss_ax, acc_ax = figure.axes
    np.testing.assert_array_equal(lines(loss_ax)["training"], history.loss)
    np.testing.assert_array_equal(lines(loss_ax)["validation"], history.val_loss)
    np.testing.assert_array_equal(lines(acc_ax)["validation"], history.val_accuracy)
    assert "demo" in figure._suptitle.get_text()
    assert png(figure)[:4] == b"\x89PNG"
    assert plt.get_fignums() == []  # nothing left open in pyplot


def test_loss_curves_from_a_dict_without_accuracy():
    figure = plot.loss_curves({"loss": [0.3, 0.2], "stop_reason": "until"})
    assert len(figure.axes) == 1
    with pytest.raises(ConfigError, match="no epochs"):
        plot.loss_curves(History())


def test_decision_boundary_regions_follow_the_model():
    X = np.array([[-1.0, 0.0], [1.0, 0.0], [-2.0, 1.0], [2.0, -1.0]])
    y = np.array([0, 1, 0, 0])
    figure = plot.decision_boundary(
        lambda rows: (rows[:, 0] > 0).astype(int),
        X,
        y,
        class_names=["left", "right"],
        resolution=50,
    )
    ax = figure.axes[0]
    assert "accuracy 75.0%" in ax.get_title()  # the last point is on the "right" side
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["class left", "class right"]
    assert png(figure)[:4] == b"\x89PNG"


def test_decision_boundary_of_a_trained_module():
    ds = cr.data.load("gauss")
    model = cr.nn.mlp([2, 4, 2], "tanh", rng=0)
    cr.fit(
        model,
        ds.X,
        ds.y,
        loss="ce",
        optimizer=cr.optim.Adam(model.parameters(), 0.05),
        epochs=30,
        batch_size=32,
        seed=0,
        progress=False,
    )
    figure = plot.decision_boundary(model, ds.X, ds.y, resolution=40)
    accuracy = float(figure.axes[0].get_title().split("accuracy ")[1].rstrip("%"))
    assert accuracy >= 95.0


def test_decision_boundary_needs_two_features():
    with pytest.raises(ShapeError, match="needs 2 features"):
        plot.decision_boundary(lambda r: r[:, 0] > 0, np.zeros((5, 3)), np.zeros(5))
    with pytest.raises(ShapeError, match="5 rows but y has 4"):
        plot.decision_boundary(lambda r: r[:, 0] > 0, np.zeros((5, 2)), np.zeros(4))


def connections(figure: Figure) -> list[LineCollection]:
    return [c for c in figure.axes[0].collections if isinstance(c, LineCollection)]


def test_network_colour_is_the_sign_and_width_the_size():
    model = cr.nn.mlp([2, 3, 1], "sigmoid", rng=0)
    model[0].weight.data[...] = [[1.0, -2.0], [0.5, -0.25], [-4.0, 4.0]]
    figure = plot.network(model)
    first, second = connections(figure)
    assert len(first.get_segments()) == 6 and len(second.get_segments()) == 3
    colours = first.get_colors()
    widths = first.get_linewidths()
    # segments run over j (neuron of layer 1) then k (input): w_00, w_01, w_10, ...
    weights = model[0].weight.data.ravel()
    blue = np.array(plt.matplotlib.colors.to_rgba(plot.POSITIVE))
    for w, colour, width in zip(weights, colours, widths, strict=True):
        assert np.allclose(colour[:3], blue[:3]) == (w >= 0)
        assert width == pytest.approx(0.2 + 3.3 * abs(w) / 4.0)
    assert "weights" in figure.axes[0].get_title()


def test_network_draws_gradients():
    model = cr.nn.mlp([2, 2, 1], "tanh", rng=1)
    x = cr.tensor(np.array([[0.5, -1.0]]))
    cr.nn.SquaredError()(model(x), np.array([[1.0]])).backward()
    figure = plot.network(model, gradients=True)
    widths = connections(figure)[0].get_linewidths()
    grad = np.abs(model[0].weight.grad).ravel()
    np.testing.assert_allclose(widths, 0.2 + 3.3 * grad / grad.max())
    assert "gradients" in figure.axes[0].get_title()
    model.zero_grad()
    with pytest.raises(ConfigError, match="run backward"):
        plot.network(model, gradients=True)


def test_network_samples_and_thins_wide_layers():
    model = cr.nn.mlp([784, 32, 10], "relu", rng=0)
    figure = plot.network(model, image_shape=False)
    first, second = connections(figure)
    # each of the 32 neurons keeps its 3 strongest inputs, each drawn input its strongest output
    assert 32 <= len(first.get_segments()) <= 3 * 32 + plot.MAX_NEURONS_DRAWN
    assert 10 <= len(second.get_segments()) <= 3 * 10 + 32
    texts = " ".join(t.get_text() for t in figure.axes[0].texts)
    assert f"784 (showing {plot.MAX_NEURONS_DRAWN})" in texts
    with pytest.raises(ConfigError) as caught:
        plot.network(cr.nn.Linear(2, 2))
    assert str(caught.value) == "network: model must be a Sequential, got 'Linear'"


def test_network_thins_a_wide_band_to_each_neurons_strongest_connections():
    model = cr.nn.mlp([2, 16, 16, 2], "tanh", rng=3)
    png(plot.network(model))
    first, middle, last = connections(plot.network(model))
    assert len(first.get_segments()) == 32  # 2 inputs: all 2·16 kept, each neuron has 2 < 3
    assert len(middle.get_segments()) <= 3 * 16 + 16 < 16 * 16
    size = np.abs(model[2].weight.data)
    drawn = {tuple(np.round(s[:, 1], 9)) for s in middle.get_segments()}
    ys = plot_network._column(16)
    for j in range(16):  # neuron j of layer 2 keeps its largest |w_jk|
        k = int(size[j].argmax())
        assert (round(ys[k], 9), round(ys[j], 9)) in drawn
    # 16 -> 2: each output keeps its 3 strongest, each hidden neuron its strongest output
    assert {round(s[0, 1], 9) for s in last.get_segments()} == set(np.round(ys, 9))
    assert 16 <= len(last.get_segments()) <= 3 * 2 + 16


def test_network_has_a_magnitude_scale():
    model = cr.nn.mlp([2, 16, 16, 2], "tanh", rng=3)
    ax = plot.network(model).axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["|w| = 1·max", "|w| = 0.5·max", "|w| = 0.1·max"]
    texts = [t.get_text() for t in ax.texts]
    for position in (0, 2, 4):
        largest = np.abs(model[position].weight.data).max()
        assert f"max |w| {largest:.3g}" in texts


def test_network_draws_image_inputs_as_first_layer_weight_images():
    model = cr.nn.mlp([64, 32, 10], "relu", rng=0)
    figure = plot.network(model)
    png(figure)
    images = [image for ax in figure.axes for image in ax.get_images()]
    assert len(images) == 32
    for j, image in enumerate(images):
        np.testing.assert_array_equal(image.get_array(), model[0].weight.data[j].reshape(8, 8))
    labels = [ax.get_ylabel() for ax in figure.axes]
    assert "w_jk^(1)" in labels  # the colour bar: one scale for all 32 images
    rest = next(ax for ax in figure.axes if ax.get_legend() is not None)
    assert len(connections_in(rest)) == 1  # layers 1..L: the 32 -> 10 band only
    wide = cr.nn.mlp([12, 5, 2], "relu", rng=0)
    assert (
        len([i for ax in plot.network(wide, image_shape=(3, 4)).axes for i in ax.get_images()]) == 5
    )
    with pytest.raises(ShapeError, match="does not hold 12 inputs"):
        plot.network(wide, image_shape=(5, 5))


def connections_in(ax) -> list[LineCollection]:
    return [c for c in ax.collections if isinstance(c, LineCollection)]


def test_network_takes_gradients_as_the_rows_and_labels_a_user_writes():
    model = cr.nn.mlp([2, 3, 2], "tanh", rng=4)
    X = np.array([[0.5, -1.0], [1.5, 0.25], [-0.3, 0.8]])
    y = np.array([0, 1, 1])
    figure = plot.network(model, gradients=(X, y))
    assert all(p.grad is None for p in model.parameters())  # .grad left as it was
    cr.nn.CrossEntropyLoss()(model(cr.tensor(X)), y).backward()  # what fit's "auto" picks
    grad = np.abs(model[0].weight.grad).ravel()
    widths = connections(figure)[0].get_linewidths()
    np.testing.assert_allclose(widths, 0.2 + 3.3 * grad / grad.max())
    kept = model[0].weight.grad.copy()
    squared = plot.network(model, gradients=(X, np.eye(2)[y]), loss="squared")
    np.testing.assert_array_equal(model[0].weight.grad, kept)
    model.zero_grad()
    cr.nn.SquaredError()(model(cr.tensor(X)), np.eye(2)[y]).backward()
    grad = np.abs(model[0].weight.grad).ravel()
    np.testing.assert_allclose(
        connections(squared)[0].get_linewidths(), 0.2 + 3.3 * grad / grad.max()
    )


def test_network_labels_say_what_each_view_draws():
    model = cr.nn.mlp([2, 3, 1], "sigmoid", rng=0)
    X, y = np.array([[0.5, -1.0], [1.0, 2.0]]), np.array([[1.0], [0.0]])
    weights = plot.network(model).axes[0]
    assert "neuron fill = bias b_j" in weights.get_title()
    assert "width ∝ |w|" in weights.get_title()
    view = plot.network(model, gradients=(X, y)).axes[0]
    title = view.get_title()
    assert "∂C/∂w (gradients)" in title and "neuron fill = ∂C/∂b_j" in title
    assert "bias" not in title and "width ∝ |∂C/∂w|" in title
    texts = [t.get_text() for t in view.texts] + [
        t.get_text() for t in view.get_legend().get_texts()
    ]
    assert "|∂C/∂w| = 1·max" in texts
    assert any(t.startswith("max |∂C/∂w| ") for t in texts)
    assert not any("max |w|" in t for t in texts)


def test_network_names_the_activation_after_each_linear():
    model = cr.nn.Sequential(
        cr.nn.Linear(2, 3), cr.nn.Tanh(), cr.nn.Linear(3, 3), cr.nn.Linear(3, 2), cr.nn.Softmax()
    )
    texts = [t.get_text() for t in plot.network(model).axes[0].texts]
    assert texts[:4] == ["input\n2", "hidden 1\n3\ntanh", "hidden 2\n3", "output L\n2\nsoftmax"]


@pytest.mark.parametrize("resolution", [1, 0, 2.5, True])
def test_decision_boundary_refuses_a_grid_too_coarse_to_draw(resolution):
    X, y = np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([0, 1])
    with pytest.raises(ConfigError) as caught:
        plot.decision_boundary(lambda rows: rows[:, 0] > 0.5, X, y, resolution=resolution)
    assert str(caught.value) == (
        f"decision_boundary: resolution must be an integer >= 2, got {resolution!r}"
    )


def test_confusion_matrix_shows_the_counts():
    counts = np.array([[5, 1], [2, 7]])
    figure = plot.confusion(counts, ["cat", "dog"])
    ax = figure.axes[0]
    assert sorted(int(t.get_text()) for t in ax.texts) == [1, 2, 5, 7]
    assert "accuracy 80.0%" in ax.get_title()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog"]
    with pytest.raises(ShapeError, match="square"):
        plot.confusion(np.ones((2, 3)))


def test_graph_is_reachable_from_plot():
    from chainrule.graph import graph

    assert cr.plot.graph is graph
