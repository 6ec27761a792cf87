"""Pictures of training and of networks, each returned as a matplotlib Figure (so it shows
inline in Jupyter) and saved with `figure.savefig("name.png")`.

Figures are made without pyplot and drawn by the Agg canvas: no display is needed, nothing is
kept in pyplot's global list of open figures, and a script can make thousands of them.

- `loss_curves(history)`: loss (and accuracy) per epoch, training and validation;
- `decision_boundary(model, X, y)`: the classes a 2-D model predicts over the plane, and the data;
- `network(model)`: neurons and connections, colour for the sign of w_{jk}, width for |w_{jk}|
  (or ∂C/∂w_{jk} with `gradients=(X, y)`), thinned when wide, first-layer weights as images
  when the inputs are images (in `chainrule.plot_network`);
- `confusion(counts, class_names)`: the confusion matrix;
- `graph(root)`: the computation graph behind a tensor (from `chainrule.graph`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, FuncFormatter

from chainrule.checks import int_at_least
from chainrule.errors import ConfigError, ShapeError
from chainrule.graph import graph  # noqa: F401
from chainrule.nn.module import Module
from chainrule.plot_network import MAX_NEURONS_DRAWN, NEGATIVE, POSITIVE, network  # noqa: F401
from chainrule.plot_network import new_figure as _figure
from chainrule.tensor import Tensor, no_grad
from chainrule.train import History

# The class colours are colour-blind-safe (Okabe-Ito).
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
