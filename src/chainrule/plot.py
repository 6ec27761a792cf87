"""Pictures of training and of networks, each returned as a matplotlib Figure (so it shows
inline in Jupyter) and saved with `figure.savefig("name.png")`.

Figures are made without pyplot and drawn by the Agg canvas: no display is needed, nothing is
kept in pyplot's global list of open figures, and a script can make thousands of them.

- `loss_curves(history)`: loss (and accuracy) per epoch, training and validation;
- `decision_boundary(model, X, y)`: the classes a 2-D model predicts over the plane, and the data;
- `network(model)`: neurons and connections, colour for the sign of w_{jk}, width for |w_{jk}|
  (or ∂C/∂w_{jk} with `gradients=`);
- `confusion(counts, class_names)`: the confusion matrix;
- `graph(root)`: the computation graph behind a tensor (from `chainrule.graph`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap, to_rgba
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, FuncFormatter
from matplotlib.typing import ColorType

from chainrule.checks import int_at_least, refuse
from chainrule.errors import ConfigError, ShapeError
from chainrule.graph import graph  # noqa: F401
from chainrule.nn.layers import Block, Sequential, blocks
from chainrule.nn.module import Module
from chainrule.tensor import Tensor, no_grad
from chainrule.train import History

# Blue for positive, orange for negative (the teaching playground's colours); the class
# colours are colour-blind-safe (Okabe-Ito).
POSITIVE = "#1f77b4"
NEGATIVE = "#e8710a"
CLASS_COLOURS = [
    "#e69f00",
    "#0072b2",
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#f0e442",
    "#999999",
    "#000000",
    "#882255",
]
MAX_NEURONS_DRAWN = 40  # wider layers are drawn by an evenly spaced sample of their neurons


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def loss_curves(
    history: History | Mapping[str, Any], title: str | None = None, held_out: str = "validation"
) -> Figure:
    """Loss per epoch (training and, when recorded, the held-out rows, labelled `held_out`:
    the command line calls them "test", as its summary does); accuracy beside it when the
    history has it."""
    if isinstance(history, Mapping):
        history = History.from_dict(dict(history))
    if not history.loss:
        raise ConfigError("loss_curves: the history has no epochs to draw")
    panels = 2 if history.accuracy else 1
    figure = _figure(5.2 * panels, 3.8)
    axes = figure.subplots(1, panels, squeeze=False)[0]
    epochs = np.arange(1, history.epochs + 1)
    log = min(history.loss) > 0
    _curves(axes[0], epochs, history.loss, history.val_loss, "loss C", held_out, log=log)
    if panels == 2:
        _curves(axes[1], epochs, history.accuracy, history.val_accuracy, "accuracy", held_out)
        axes[1].set_ylim(min(0.0, *history.accuracy, *history.val_accuracy), 1.02)
    heading = f"{title}: " if title else ""
    figure.suptitle(f"{heading}{history.epochs} epochs, stopped by {history.stop_reason or '-'}")
    return figure


def _curves(
    ax: Axes,
    epochs: np.ndarray,
    train: list[float],
    val: list[float],
    label: str,
    held_out: str,
    log: bool = False,
) -> None:
    marker = "o" if len(epochs) <= 30 else None
    ax.plot(epochs[: len(train)], train, color=POSITIVE, marker=marker, ms=3, label="training")
    if val:
        ax.plot(epochs[: len(val)], val, color=NEGATIVE, marker=marker, ms=3, label=held_out)
    if log:
        ax.set_yscale("log")
        # plain numbers (0.03, 0.1) read faster than 3×10⁻² on a loss axis
        ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
        ax.yaxis.set_minor_formatter(FuncFormatter(_two_and_five))
    ax.set_xlabel("epoch")
    ax.set_ylabel(label)
    ax.grid(True, alpha=0.3)
    ax.legend()


def _two_and_five(value: float, position: int) -> str:
    """Label the minor ticks 0.02, 0.05, 0.2, 0.5, ... of a log axis, leave the rest bare."""
    mantissa = value / 10 ** np.floor(np.log10(value))
    return f"{value:.3g}" if round(mantissa) in (2, 5) else ""


Predict = Callable[[np.ndarray], np.ndarray]


def _predictor(model: Module | Predict) -> Predict:
    """Rows -> class labels: a callable is used as is; a Module's outputs a^{(L)} are read as
    one probability (> 0.5 is class 1) or one score per class (the largest wins)."""
    if not isinstance(model, Module):
        return model

    def predict(X: np.ndarray) -> np.ndarray:
        with no_grad():
            a = model(Tensor(X, dtype=model.dtype)).data
        return (a[:, 0] > 0.5).astype(int) if a.shape[1] == 1 else a.argmax(axis=1)

    return predict


def decision_boundary(
    model: Module | Predict,
    X: np.ndarray,
    y: np.ndarray,
    class_names: list[str] | None = None,
    feature_names: list[str] | None = None,
    title: str | None = None,
    resolution: int = 200,
) -> Figure:
    """The class a 2-D model predicts at every point of the plane around X, shaded, with the
    examples X drawn on top in their true class's colour (the playground's picture).

    `model` is a Module (fed X as given) or a function from rows to class labels;
    `resolution` is the number of grid points along each axis.
    """
    resolution = int_at_least("decision_boundary", "resolution", resolution, 2)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ShapeError(
            f"decision_boundary: needs 2 features to draw the plane, got X of shape {X.shape}"
        )
    if len(y) != len(X):
        raise ShapeError(f"decision_boundary: X has {len(X)} rows but y has {len(y)}")
    predict = _predictor(model)
    pad = 0.1 * (X.max(axis=0) - X.min(axis=0)) + 1e-9
    low, high = X.min(axis=0) - pad, X.max(axis=0) + pad
    g1, g2 = np.meshgrid(
        np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution)
    )
    grid = np.column_stack([g1.ravel(), g2.ravel()])
    regions = np.asarray(predict(grid)).reshape(g1.shape)
    k = int(max(regions.max(), y.max())) + 1
    colours = (CLASS_COLOURS * (k // len(CLASS_COLOURS) + 1))[:k]
    figure = _figure(5.5, 5.0)
    ax = figure.subplots()
    ax.contourf(
        g1, g2, regions, levels=np.arange(k + 1) - 0.5, cmap=ListedColormap(colours), alpha=0.3
    )
    ax.contour(g1, g2, regions, levels=np.arange(k) + 0.5, colors="k", linewidths=0.8)
    names = class_names or [str(c) for c in range(k)]
    for c in range(k):
        rows = y == c
        if rows.any():
            ax.scatter(
                X[rows, 0],
                X[rows, 1],
                s=18,
                color=colours[c],
                edgecolors="k",
                linewidths=0.4,
                label=f"class {names[c]}",
            )
    x1, x2 = feature_names or ["x1", "x2"]
    ax.set_xlabel(x1)
    ax.set_ylabel(x2)
    accuracy = float(np.mean(np.asarray(predict(X)) == y))
    ax.set_title(
        f"{title + ': ' if title else ''}decision boundary, accuracy {100 * accuracy:.1f}%"
    )
    ax.legend(loc="best", fontsize="small")
    return figure


def _drawn(n: int) -> np.ndarray:
    if n <= MAX_NEURONS_DRAWN:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, MAX_NEURONS_DRAWN).round().astype(int))


def network(
    model: Sequential,
    gradients: Mapping[str, np.ndarray] | bool | None = None,
    feature_names: list[str] | None = None,
    output_names: list[str] | None = None,
    title: str | None = None,
) -> Figure:
    """The network as neurons (columns, layer 0 = inputs, layer L = outputs) and connections:
    the line from neuron k of layer l−1 to neuron j of layer l is w_{jk}^{(l)}, blue when
    positive, orange when negative, as wide as |w_{jk}| relative to its layer's largest.

    `gradients` draws ∂C/∂w_{jk} instead: a mapping from parameter names ("0.weight", ...) to
    arrays, or True to use each parameter's `.grad` (after a backward). A neuron's fill is its
    bias b_j (or ∂C/∂b_j) in the same colours. Layers wider than 40 neurons show a sample.
    """
    if not isinstance(model, Sequential):
        raise refuse("network", "model", "a Sequential", type(model).__name__)
    layers = list(blocks(model))
    if not layers:
        raise ConfigError("network: the model has no Linear layers to draw")
    values = _edge_values(model, layers, gradients)
    sizes = [layers[0].linear.in_features] + [block.linear.out_features for block in layers]
    shown = [_drawn(n) for n in sizes]
    positions = [_column(len(s)) for s in shown]
    figure = _figure(2.2 + 1.9 * len(sizes), 5.5)
    ax = figure.subplots()
    for l, (weight, bias) in enumerate(values):
        _connections(ax, l, weight[np.ix_(shown[l + 1], shown[l])], positions[l], positions[l + 1])
        if bias is not None:
            _neurons(ax, l + 1, positions[l + 1], bias[shown[l + 1]])
    _neurons(ax, 0, positions[0], None)
    activations = [_activation_name(block) for block in layers]
    _label_layers(ax, activations, sizes, shown, positions, feature_names, output_names)
    what = "∂C/∂w (gradients)" if gradients is not None and gradients is not False else "weights"
    ax.set_title(
        f"{title + ': ' if title else ''}{'-'.join(map(str, sizes))} network, "
        f"{what}\nblue > 0, orange < 0, width ∝ |value|, neuron fill = bias"
    )
    ax.set_xlim(-0.6, len(sizes) - 0.4)
    ax.set_ylim(-0.12, 1.08)
    ax.axis("off")
    return figure


EdgeValues = list[tuple[np.ndarray, np.ndarray | None]]


def _edge_values(
    model: Sequential, layers: list[Block], gradients: Mapping[str, Any] | bool | None
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
    if gradients is True:
        gradients = {name: p.grad for name, p in model.named_parameters()}
    values: EdgeValues = []
    for block in layers:
        name, layer = block.position, block.linear
        weight = gradients.get(f"{name}.weight")
        if weight is None or np.shape(weight) != layer.weight.shape:
            raise ConfigError(
                f"network: no gradient of shape {layer.weight.shape} for '{name}.weight'; "
                f"run backward() first or pass gradients as returned by named_parameters"
            )
        bias = gradients.get(f"{name}.bias") if layer.bias is not None else None
        values.append((np.asarray(weight), None if bias is None else np.asarray(bias)))
    return values


def _column(n: int) -> np.ndarray:
    # small layers sit in the middle instead of stretching to the full height
    half = min(0.5, 0.1 * (n - 1))
    return np.linspace(0.5 + half, 0.5 - half, n)


def _connections(
    ax: Axes, l: int, weight: np.ndarray, y_from: np.ndarray, y_to: np.ndarray
) -> None:
    size = np.abs(weight)
    scale = size.max() or 1.0
    segments: list[list[tuple[float, float]]] = []
    colours: list[str] = []
    widths: list[float] = []
    for j, yj in enumerate(y_to):
        for k, yk in enumerate(y_from):
            segments.append([(l, yk), (l + 1, yj)])
            colours.append(POSITIVE if weight[j, k] >= 0 else NEGATIVE)
            widths.append(0.2 + 3.3 * size[j, k] / scale)
    dense = len(segments) > 400
    ax.add_collection(
        LineCollection(
            segments, colors=colours, linewidths=widths, alpha=0.45 if dense else 0.8, zorder=1
        )
    )


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
) -> None:
    last = len(sizes) - 1
    for l, n in enumerate(sizes):
        name = "input" if l == 0 else ("output L" if l == last else f"hidden {l}")
        note = f"{n}" + (f" (showing {len(shown[l])})" if len(shown[l]) < n else "")
        act = f"\n{activations[l - 1]}" if l > 0 and activations[l - 1] else ""
        ax.text(l, -0.08, f"{name}\n{note}{act}", ha="center", va="top", fontsize=8)
    for names, l, side in ((feature_names, 0, "right"), (output_names, last, "left")):
        if names is None or len(names) != sizes[l] or len(shown[l]) > 16:
            continue
        offset = -0.08 if side == "right" else 0.08
        for index, yy in zip(shown[l], positions[l], strict=True):
            ax.text(l + offset, yy, names[index], ha=side, va="center", fontsize=7)


def _activation_name(block: Block) -> str:
    """The activation after a layer's Linear as its label reads it ("" for raw z)."""
    return "" if block.activation is None else type(block.activation).__name__.lower()


def confusion(
    counts: np.ndarray, class_names: list[str] | None = None, title: str | None = None
) -> Figure:
    """The confusion matrix: counts[i, j] examples of true class i predicted as class j, each
    cell shaded by the fraction of its true class, the diagonal being the right answers."""
    counts = np.asarray(counts)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ShapeError(f"confusion: expected a square matrix of counts, got {counts.shape}")
    k = counts.shape[0]
    names = class_names or [str(c) for c in range(k)]
    rows = counts.sum(axis=1, keepdims=True)
    share = counts / np.maximum(rows, 1)
    figure = _figure(1.6 + 0.55 * max(k, 4), 1.2 + 0.5 * max(k, 4))
    ax = figure.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                str(counts[i, j]),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if share[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(k), names, rotation=45 if max(map(len, names)) > 3 else 0)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    ax.set_title(f"{title + ': ' if title else ''}accuracy {100 * accuracy:.1f}%")
    figure.colorbar(image, ax=ax, label="fraction of the true class", shrink=0.8)
    return figure
