"""`plot.network`: a Sequential drawn as neurons and connections, readable at any width.

Narrow layers show every w_{jk}^{(l)} as a line (colour = sign, width = |w_{jk}| relative to its
layer's largest). Where a layer is wider than WIDE neurons, each neuron keeps only its strongest
connections, so the picture stays a picture. When the inputs are images (8×8 digits, 28×28
MNIST, or any `image_shape=`), row j of W^{(1)} is shown as a small image: what neuron j of
layer 1 looks for in the input. Every view has a magnitude scale.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import LinearSegmentedColormap, to_rgba
from matplotlib.figure import Figure, FigureBase
from matplotlib.lines import Line2D
from matplotlib.typing import ColorType

from chainrule.checks import refuse
from chainrule.errors import ConfigError, ShapeError
from chainrule.nn.layers import Block, Sequential, blocks
from chainrule.nn.module import Module
from chainrule.tensor import Tensor
from chainrule.train import loss_module, prepare

# Blue for positive, orange for negative (the teaching playground's colours).
POSITIVE = "#1f77b4"
NEGATIVE = "#e8710a"
MAX_NEURONS_DRAWN = 40  # wider layers are drawn by an evenly spaced sample of their neurons
WIDE = 12  # a connection band with a side wider than this is thinned (16 already tangles)
STRONGEST = 3  # in a thinned band, each neuron keeps its STRONGEST largest |w_{jk}|
MAX_IMAGES = 100  # first-layer neurons shown as images
IMAGE_SHAPES = {64: (8, 8), 784: (28, 28)}  # inputs read as images without being told
SCALE = (1.0, 0.5, 0.1)  # the widths the legend shows, as fractions of a band's largest |value|
SIGNED = LinearSegmentedColormap.from_list("signed", [NEGATIVE, "white", POSITIVE])

Gradients = Mapping[str, np.ndarray] | tuple[Any, Any] | bool | None
EdgeValues = list[tuple[np.ndarray, np.ndarray | None]]


def new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def network(
    model: Sequential,
    gradients: Gradients = None,
    feature_names: list[str] | None = None,
    output_names: list[str] | None = None,
    title: str | None = None,
    loss: Module | Callable | str = "auto",
    image_shape: tuple[int, int] | bool | None = None,
) -> Figure:
    """The network as neurons (columns, layer 0 = inputs, layer L = outputs) and connections:
    the line from neuron k of layer l−1 to neuron j of layer l is w_{jk}^{(l)}, blue when
    positive, orange when negative, as wide as |w_{jk}| relative to its layer's largest (the
    largest is written above each band; the legend gives the widths). A neuron's fill is its
    bias b_j in the same colours.

    `gradients` draws ∂C/∂w_{jk} and ∂C/∂b_j instead: `(X, y)` computes them on those rows with
    `loss` ("auto" chooses as fit does: cross-entropy for class labels, else squared error;
    the parameters' own .grad are left as they were), a mapping from parameter names
    ("0.weight", ...) gives them, True reads each parameter's `.grad` (after a backward).

    Layers wider than 40 neurons show a sample; bands wider than 12 keep each neuron's 3
    strongest connections. `image_shape` (rows, columns) draws W^{(1)}'s rows as images; None
    does so for 64 (8×8) or 784 (28×28) inputs, False never.
    """
    if not isinstance(model, Sequential):
        raise refuse("network", "model", "a Sequential", type(model).__name__)
    layers = list(blocks(model))
    if not layers:
        raise ConfigError("network: the model has no Linear layers to draw")
    drawing_gradients = gradients is not None and gradients is not False
    values = _edge_values(model, layers, gradients, loss)
    sizes = [layers[0].linear.in_features] + [block.linear.out_features for block in layers]
    shape = _image_shape(sizes[0], image_shape)
    what = "∂C/∂w (gradients)" if drawing_gradients else "weights"
    heading = f"{title + ': ' if title else ''}{'-'.join(map(str, sizes))} network, {what}"
    symbol = "∂C/∂w" if drawing_gradients else "w"
    fill = "∂C/∂b_j" if drawing_gradients else "bias b_j"
    key = f"blue > 0, orange < 0, width ∝ |{symbol}|, neuron fill = {fill}"
    figure = new_figure(2.2 + 1.9 * len(sizes) + (4.0 if shape else 0.0), 5.5)
    if shape is None:
        ax = figure.subplots()
        _draw(ax, layers, values, sizes, 0, feature_names, output_names, symbol)
        ax.set_title(f"{heading}\n{key}")
        return figure
    halves = figure.add_gridspec(1, 2, width_ratios=[1.2, 1.0])
    left, right = figure.add_subfigure(halves[0]), figure.add_subfigure(halves[1])
    _images(left, values[0][0], shape, symbol)
    ax = right.subplots()
    _draw(ax, layers, values, sizes, 1, None, output_names, symbol)
    ax.set_title(f"layers 1..L\n{key}", fontsize=9)
    figure.suptitle(heading)
    return figure


def _image_shape(inputs: int, image_shape: tuple[int, int] | bool | None) -> tuple[int, int] | None:
    if image_shape is None or image_shape is True:
        shape = IMAGE_SHAPES.get(inputs)
        if image_shape is True and shape is None:
            raise ConfigError(f"network: no image shape known for {inputs} inputs; pass one")
        return shape
    if image_shape is False:
        return None
    rows, columns = image_shape
    if rows * columns != inputs:
        raise ShapeError(f"network: image_shape {image_shape} does not hold {inputs} inputs")
    return (rows, columns)


def _images(figure: FigureBase, weight: np.ndarray, shape: tuple[int, int], symbol: str) -> None:
    """Row j of W^{(1)} as a rows×columns image, on one colour scale centred on 0."""
    n = min(len(weight), MAX_IMAGES)
    columns = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    limit = float(np.abs(weight[:n]).max()) or 1.0
    axes = figure.subplots(rows, columns, squeeze=False)
    images = []
    for j, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if j < n:
            images.append(ax.imshow(weight[j].reshape(shape), cmap=SIGNED, vmin=-limit, vmax=limit))
            ax.set_title(str(j), fontsize=6, pad=1)
    shown = f" (showing {n})" if n < len(weight) else ""
    figure.suptitle(f"layer 1: {len(weight)} neurons{shown}, {symbol}_jk as images", fontsize=9)
    figure.colorbar(images[0], ax=axes.ravel().tolist(), label=f"{symbol}_jk^(1)", shrink=0.8)


def _draw(
    ax: Axes,
    layers: list[Block],
    values: EdgeValues,
    sizes: list[int],
    first: int,
    feature_names: list[str] | None,
    output_names: list[str] | None,
    symbol: str,
) -> None:
    """Layers first..L as columns at x = first..L, their connections and a width legend."""
    shown = [_drawn(n) for n in sizes]
    positions = [_column(len(s)) for s in shown]
    largest = []
    for l in range(first, len(values)):
        weight, bias = values[l]
        band = weight[np.ix_(shown[l + 1], shown[l])]
        largest.append(_connections(ax, l, band, positions[l], positions[l + 1]))
        if bias is not None:
            _neurons(ax, l + 1, positions[l + 1], bias[shown[l + 1]])
    entering = values[first - 1][1] if first > 0 else None
    _neurons(ax, first, positions[first], None if entering is None else entering[shown[first]])
    activations = [_activation_name(block) for block in layers]
    _label_layers(ax, activations, sizes, shown, positions, feature_names, output_names, first)
    for l, scale in enumerate(largest, start=first):
        ax.text(l + 0.5, 1.04, f"max |{symbol}| {scale:.3g}", ha="center", fontsize=7)
    handles = [
        Line2D([], [], color="grey", linewidth=_width(f), label=f"|{symbol}| = {f:g}·max")
        for f in SCALE
    ]
    ax.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, -0.3),
        ncols=3,
        fontsize=7,
        frameon=False,
    )
    ax.set_xlim(first - 0.6, len(sizes) - 0.4)
    ax.set_ylim(-0.12, 1.1)
    ax.axis("off")


def _edge_values(
    model: Sequential, layers: list[Block], gradients: Gradients, loss: Module | Callable | str
) -> EdgeValues:
    """Per layer, the numbers to draw on its connections and neurons: (W, b) or their grads."""
    if gradients is None or gradients is False:
        return [
            (
                block.linear.weight.data,
                None if block.linear.bias is None else block.linear.bias.data,
            )
            for block in layers
        ]
    found: Mapping[str, Any]
    if gradients is True:
        found = {name: p.grad for name, p in model.named_parameters()}
    elif isinstance(gradients, tuple):
        found = _gradients_on(model, *gradients, loss=loss)
    else:
        found = gradients
    values: EdgeValues = []
    for block in layers:
        name, layer = block.position, block.linear
        weight = found.get(f"{name}.weight")
        if weight is None or np.shape(weight) != layer.weight.shape:
            raise ConfigError(
                f"network: no gradient of shape {layer.weight.shape} for '{name}.weight'; "
                f"run backward() first, pass gradients=(X, y), or a mapping as named_parameters"
            )
        bias = found.get(f"{name}.bias") if layer.bias is not None else None
        values.append((np.asarray(weight), None if bias is None else np.asarray(bias)))
    return values


def _gradients_on(
    model: Sequential, X: Any, y: Any, loss: Module | Callable | str
) -> dict[str, np.ndarray]:
    """∂C/∂θ for every parameter θ, C being `loss` over the rows X with targets y; each
    parameter's own .grad is put back as it was."""
    if len(X) != len(y):
        raise ShapeError(f"network: X has {len(X)} rows but y has {len(y)}")
    criterion = loss_module(loss, np.asarray(y))
    x, target = prepare(X, y, criterion, model.dtype)
    parameters = dict(model.named_parameters())
    kept = {name: p.grad for name, p in parameters.items()}
    model.zero_grad()
    try:
        criterion(model(Tensor(x, dtype=model.dtype)), target).backward()
        grads = {name: p.grad for name, p in parameters.items()}
        return {name: grad for name, grad in grads.items() if grad is not None}
    finally:
        for name, p in parameters.items():
            p.grad = kept[name]


def _drawn(n: int) -> np.ndarray:
    if n <= MAX_NEURONS_DRAWN:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, MAX_NEURONS_DRAWN).round().astype(int))


def _column(n: int) -> np.ndarray:
    # small layers sit in the middle instead of stretching to the full height
    half = min(0.5, 0.1 * (n - 1))
    return np.linspace(0.5 + half, 0.5 - half, n)


def _width(fraction: float) -> float:
    return 0.2 + 3.3 * fraction


def _strongest(size: np.ndarray) -> np.ndarray:
    """Which connections a band keeps: all when both sides are narrow, else each neuron's
    STRONGEST largest |w_{jk}|, seen from either end (so no neuron is left unconnected)."""
    keep = np.zeros(size.shape, dtype=bool)
    if max(size.shape) <= WIDE:
        keep[...] = True
        return keep
    rows = np.arange(size.shape[0])[:, None]
    keep[rows, np.argsort(-size, axis=1)[:, :STRONGEST]] = True
    columns = np.arange(size.shape[1])[None, :]
    keep[np.argsort(-size, axis=0)[:1, :], columns] = True
    return keep


def _connections(
    ax: Axes, l: int, weight: np.ndarray, y_from: np.ndarray, y_to: np.ndarray
) -> float:
    """Draw band l → l+1; return the largest |value| its widths are relative to."""
    size = np.abs(weight)
    scale = float(size.max()) or 1.0
    keep = _strongest(size)
    segments: list[list[tuple[float, float]]] = []
    colours: list[str] = []
    widths: list[float] = []
    for j, k in zip(*np.nonzero(keep), strict=True):
        segments.append([(l, y_from[k]), (l + 1, y_to[j])])
        colours.append(POSITIVE if weight[j, k] >= 0 else NEGATIVE)
        widths.append(_width(size[j, k] / scale))
    dense = len(segments) > 400
    ax.add_collection(
        LineCollection(
            segments, colors=colours, linewidths=widths, alpha=0.45 if dense else 0.8, zorder=1
        )
    )
    return scale


def _neurons(ax: Axes, l: int, ys: np.ndarray, bias: np.ndarray | None) -> None:
    faces: list[ColorType]
    if bias is None:
        faces = ["white"] * len(ys)
    else:
        scale = np.abs(bias).max() or 1.0
        faces = [
            to_rgba(POSITIVE if b >= 0 else NEGATIVE, 0.15 + 0.85 * abs(b) / scale) for b in bias
        ]
    ax.scatter(
        np.full(len(ys), l),
        ys,
        s=min(260, 3000 / max(len(ys), 1)),
        c=faces,
        edgecolors="k",
        linewidths=0.8,
        zorder=2,
    )


def _label_layers(
    ax: Axes,
    activations: list[str],
    sizes: list[int],
    shown: list[np.ndarray],
    positions: list[np.ndarray],
    feature_names: list[str] | None,
    output_names: list[str] | None,
    first: int,
) -> None:
    last = len(sizes) - 1
    for l in range(first, len(sizes)):
        n = sizes[l]
        name = "input" if l == 0 else ("output L" if l == last else f"hidden {l}")
        note = f"{n}" + (f" (showing {len(shown[l])})" if len(shown[l]) < n else "")
        act = f"\n{activations[l - 1]}" if l > 0 and activations[l - 1] else ""
        ax.text(l, -0.08, f"{name}\n{note}{act}", ha="center", va="top", fontsize=8)
    for names, l, side in ((feature_names, 0, "right"), (output_names, last, "left")):
        if names is None or len(names) != sizes[l] or len(shown[l]) > 16 or l < first:
            continue
        offset = -0.08 if side == "right" else 0.08
        for index, yy in zip(shown[l], positions[l], strict=True):
            ax.text(l + offset, yy, names[index], ha=side, va="center", fontsize=7)


def _activation_name(block: Block) -> str:
    """The activation after a layer's Linear as its label reads it ("" for raw z)."""
    return "" if block.activation is None else type(block.activation).__name__.lower()
