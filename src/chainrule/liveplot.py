"""LivePlot: the loss curves, the decision boundary of 2-D data and, if asked, each layer's
gradient norm, redrawn in place in a notebook while `fit` trains.

    cr.fit(model, X, y, epochs=300, callbacks=[cr.callbacks.LivePlot()])

One output is kept and updated: IPython's `display(frame, display_id=True)` gives a handle,
and every later picture goes through `handle.update(frame)` to the same place (Jupyter's
display protocol: Jupyter, JupyterLab, Colab; no widget framework). A frame is a PNG drawn by
matplotlib's Agg canvas on one Figure that is made once and changed between pictures.

Outside a notebook (a terminal, plain Python or IPython, a script) it does nothing, silently,
so a notebook's cells run unchanged as a script. In a notebook without matplotlib it warns
once and does nothing.
"""

from __future__ import annotations

import io
import math
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.checks import at_least, int_at_least, positive_int
from chainrule.nn.losses import BCEWithLogitsLoss
from chainrule.tensor import Tensor
from chainrule.train import Callback, Run, predicting

MAX_POINTS = 1000  # examples drawn on the boundary: more would only slow every frame down
DPI = 80
PANEL_INCHES = (3.6, 3.2)


def notebook_display() -> Callable[..., Any] | None:
    """IPython's `display` when Python runs under a notebook kernel, else None.

    A notebook's shell has a kernel (ipykernel's ZMQInteractiveShell, and Colab's, which
    derives from it); a terminal IPython has none, and plain Python has no shell at all:
    neither has an output to update in place."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    return display


class Frame:
    """One picture of the run: PNG bytes for a notebook, and a line of text (its repr) for a
    front end that shows no images."""

    def __init__(self, png: bytes | None, text: str) -> None:
        self.png = png
        self.text = text

    def _repr_png_(self) -> bytes | None:
        return self.png

    def __repr__(self) -> str:
        return self.text


class LivePlot(Callback):
    """Live training curves in a notebook, updated in place.

    Panels: the loss C per epoch (training, and `held_out` when fit has `validation=`); for
    2-D inputs the decision boundary, the class the network predicts over the box of the
    data (`resolution` points a side) with the examples on it; with `gradients=True`, the norm
    ‖∂C/∂W^{(l)}‖ of each weight matrix (layers l = 1..L in parameter order) on the epoch's
    last batch.

    It redraws after an epoch only when `every` epochs have passed since training began AND
    `interval` seconds since the last picture, and once more when training ends (however it
    ends). The defaults keep drawing to a few percent of fit's time (docs/performance.md).
    `frames` counts the pictures sent in the last fit.
    """

    def __init__(
        self,
        every: int = 1,
        interval: float = 2.0,
        gradients: bool = False,
        resolution: int = 60,
        held_out: str = "validation",
    ) -> None:
        self.every = positive_int("LivePlot", "every", every)
        self.interval = at_least("LivePlot", "interval", interval, 0.0)
        self.gradients = bool(gradients)
        self.resolution = int_at_least("LivePlot", "resolution", resolution, 2)
        self.held_out = held_out
        self.handle: Any = None
        self.picture: _Picture | None = None
        self.frames = 0
        self.rows: list[tuple[np.ndarray, np.ndarray]] = []
        self.norms: list[list[float]] = []
        self.last = 0.0

    def on_train_begin(self, run: Run) -> None:
        self.handle, self.picture, self.frames, self.rows, self.norms = None, None, 0, [], []
        display = notebook_display()
        if display is None:
            return
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            warnings.warn(
                "LivePlot draws nothing: matplotlib is not installed "
                "(pip install 'chainrule[plot]')",
                stacklevel=4,  # fit's caller: this hook, _Loop.train, fit
            )
            return
        self.handle = display(Frame(None, "LivePlot: training..."), display_id=True)
        self.last = time.perf_counter()

    def on_batch_end(self, run: Run) -> None:
        # the first epoch visits the training rows: they are the points on the boundary
        if self.handle is None or run.epoch != 1 or run.x is None or run.y is None:
            return
        if run.x.ndim == 2 and run.x.shape[1] == 2:
            self.rows.append((run.x, run.y))

    def on_epoch_end(self, run: Run) -> None:
        if self.handle is None:
            return
        if self.gradients:
            self.norms.append(_weight_gradient_norms(run))
        if run.epoch % self.every == 0 and time.perf_counter() - self.last >= self.interval:
            self._draw(run, final=False)

    def on_train_end(self, run: Run) -> None:
        if self.handle is not None and run.history.loss:
            self._draw(run, final=True)

    def _draw(self, run: Run, final: bool) -> None:
        if self.picture is None:
            points = _points(self.rows) if self.rows else None
            self.picture = _Picture(run, points, self)
        png = self.picture.render(run, self.norms, final)
        self.handle.update(Frame(png, f"LivePlot: {_summary(run, self.held_out, final)}"))
        self.frames += 1
        self.last = time.perf_counter()


def _weight_gradient_norms(run: Run) -> list[float]:
    return [
        math.nan if p.grad is None else float(np.linalg.norm(p.grad))
        for p in run.model.parameters()
        if p.data.ndim == 2
    ]


def _points(rows: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The first epoch's rows and their classes, thinned evenly to MAX_POINTS."""
    X = np.concatenate([x for x, _ in rows]).astype(np.float64)
    y = np.concatenate([y for _, y in rows])
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot or probability rows
        y = y.argmax(axis=1)
    elif y.dtype.kind == "f":  # one 0/1 target per row, for a sigmoid or squared-error output
        y = (y.reshape(len(y), -1)[:, 0] > 0.5).astype(int)
    keep = np.unique(np.linspace(0, len(X) - 1, min(len(X), MAX_POINTS)).astype(int))
    return X[keep], y[keep].astype(int)


def _summary(run: Run, held_out: str, final: bool) -> str:
    history = run.history
    text = f"epoch {history.epochs}/{run.epochs}, loss {history.loss[-1]:.4g}"
    if history.accuracy:
        text += f", accuracy {history.accuracy[-1]:.3f}"
    if history.val_loss:
        text += f", {held_out} loss {history.val_loss[-1]:.4g}"
    if final:
        text += f" (stopped by {history.stop_reason or 'an error'})"
    return text


class _Picture:
    """The Figure kept across frames: its artists are changed, not rebuilt, between frames."""

    def __init__(self, run: Run, points: tuple[np.ndarray, np.ndarray] | None, live: LivePlot):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        from chainrule.plot import NEGATIVE, POSITIVE

        panels = 1 + (points is not None) + live.gradients
        self.figure = Figure(figsize=(PANEL_INCHES[0] * panels, PANEL_INCHES[1]), dpi=DPI)
        self.canvas = FigureCanvasAgg(self.figure)
        # fixed margins: a layout engine would measure every label again at every frame
        self.figure.subplots_adjust(left=0.7 / (PANEL_INCHES[0] * panels), right=0.98)
        self.figure.subplots_adjust(bottom=0.15, top=0.85, wspace=0.3)
        axes = list(self.figure.subplots(1, panels, squeeze=False)[0])
        self.held_out = live.held_out
        self.loss_ax = _panel(axes.pop(0), "loss C per epoch")
        (self.train,) = self.loss_ax.plot([], [], color=POSITIVE, label="training")
        (self.val,) = self.loss_ax.plot([], [], color=NEGATIVE, label=live.held_out)
        self.loss_ax.set_xlim(1, max(run.epochs, 2))
        self.legend: Any = None
        self.boundary = _Boundary(axes.pop(0), run, points, live.resolution) if points else None
        self.grad_ax = _panel(axes.pop(0), "‖∂C/∂W‖ per epoch") if live.gradients else None
        self.grad_lines: list[Any] = []
        self.title = self.figure.suptitle("", fontsize="medium")

    def render(self, run: Run, norms: list[list[float]], final: bool) -> bytes:
        history = run.history
        if final:
            self.loss_ax.set_xlim(1, max(history.epochs, 2))
        _curves(self.loss_ax, [(self.train, history.loss), (self.val, history.val_loss)])
        if self.legend is None:
            shown = [self.train, self.val] if history.val_loss else [self.train]
            self.legend = self.loss_ax.legend(handles=shown, loc="upper right")
        if self.boundary is not None:
            self.boundary.update(run)
        if self.grad_ax is not None and norms:
            self._gradients(np.array(norms), final, history.epochs)
        self.title.set_text(_summary(run, self.held_out, final))
        buffer = io.BytesIO()
        # the fastest zlib level: a frame is sent once, and level 6 only saves a tenth of it
        self.canvas.print_png(buffer, pil_kwargs={"compress_level": 1})
        return buffer.getvalue()

    def _gradients(self, norms: np.ndarray, final: bool, epochs: int) -> None:
        ax = self.grad_ax
        assert ax is not None
        if not self.grad_lines:
            self.grad_lines = [
                ax.plot([], [], label=f"$W^{{({l})}}$")[0] for l in range(1, norms.shape[1] + 1)
            ]
            ax.set_xlim(*self.loss_ax.get_xlim())
            ax.legend(loc="upper right", fontsize="small")
        if final:
            ax.set_xlim(1, max(epochs, 2))
        _curves(ax, list(zip(self.grad_lines, norms.T, strict=True)))


def _panel(ax: Any, title: str) -> Any:
    """An axes that is quick to redraw: a title at a fixed place and a few ticks, no axis
    labels (matplotlib measures every tick label again to place those at each frame)."""
    from matplotlib.ticker import MaxNLocator

    ax.set_title(title, fontsize="medium", y=1.0)
    ax.xaxis.set_major_locator(MaxNLocator(4, integer=True))
    ax.grid(True, alpha=0.3)
    return ax


def _curves(ax: Any, curves: list[tuple[Any, Any]]) -> None:
    """Set each line's points (values at epochs 1..n) and rescale y to them all: a log axis
    while every value is positive, since losses and gradient norms fall by decades."""
    for line, values in curves:
        line.set_data(np.arange(1, len(values) + 1), values)
    shown = np.concatenate([np.asarray(values, dtype=float) for _, values in curves])
    shown = shown[np.isfinite(shown)]
    if shown.size == 0:
        return
    scale = "log" if shown.min() > 0 else "linear"
    if ax.get_yscale() != scale:
        from matplotlib.ticker import FormatStrFormatter, LogLocator, MaxNLocator, NullLocator

        ax.set_yscale(scale)
        # 0.05, 0.1, 0.2 in plain text: mathtext's 10⁻¹ costs more to lay out at every frame
        ticks = LogLocator(subs=(1, 2, 5), numticks=5) if scale == "log" else MaxNLocator(4)
        ax.yaxis.set_major_locator(ticks)
        ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
        ax.yaxis.set_minor_locator(NullLocator())
    if scale == "log":
        low, high = np.log10(shown.min()), np.log10(shown.max())
        pad = 0.05 * (high - low) + 0.01
        ax.set_ylim(10 ** max(low - pad, -300.0), 10 ** min(high + pad, 300.0))
    else:
        # a diverging run reaches 1e300: pad and clip so that the limits stay finite
        low, high = shown.min(), shown.max()
        pad = 0.05 * high - 0.05 * low + 1e-12
        ax.set_ylim(max(low - pad, -1e300), min(high + pad, 1e300))


class _Boundary:
    """The class the network predicts over the data's box (a filled contour), and the data."""

    def __init__(
        self, ax: Any, run: Run, points: tuple[np.ndarray, np.ndarray], resolution: int
    ) -> None:
        X = points[0]
        pad = 0.1 * (X.max(axis=0) - X.min(axis=0)) + 1e-9
        low, high = X.min(axis=0) - pad, X.max(axis=0) + pad
        self.g1, self.g2 = np.meshgrid(
            np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution)
        )
        self.grid = np.column_stack([self.g1.ravel(), self.g2.ravel()])
        self.threshold = 0.0 if isinstance(run.loss, BCEWithLogitsLoss) else 0.5
        self.ax, self.points = ax, points
        self.regions: Any = None
        self.classes = np.zeros(len(self.grid), dtype=int)
        ax.set_xlim(low[0], high[0])
        ax.set_ylim(low[1], high[1])
        ax.set_title("decision boundary (x1, x2)", fontsize="medium", y=1.0)
        # the data's box is the scale; ticks would cost a tenth of a frame to draw
        ax.set_xticks([])
        ax.set_yticks([])

    def _outputs(self, run: Run) -> np.ndarray:
        with predicting(run.model) as model:
            return model(Tensor(self.grid, dtype=model.dtype)).data

    def update(self, run: Run) -> None:
        a = self._outputs(run)
        self.classes = a.argmax(axis=1) if a.shape[1] > 1 else (a[:, 0] > self.threshold)
        if self.regions is None:
            self._draw_points(a.shape[1])
        else:
            self.regions.remove()
        self.regions = self.ax.contourf(
            self.g1,
            self.g2,
            self.classes.reshape(self.g1.shape).astype(float),
            levels=np.arange(self.k + 1) - 0.5,
            cmap=self.cmap,
            alpha=0.35,
            zorder=1,
        )

    def _draw_points(self, outputs: int) -> None:
        """The examples in their true class's colour, once: every class the labels or the
        network's outputs can name gets its colour."""
        from matplotlib.colors import ListedColormap

        from chainrule.plot import CLASS_COLOURS

        X, y = self.points
        self.k = max(int(y.max()) + 1, outputs, 2)
        self.cmap = ListedColormap((CLASS_COLOURS * (self.k // len(CLASS_COLOURS) + 1))[: self.k])
        classes = dict(c=y, cmap=self.cmap, vmin=-0.5, vmax=self.k - 0.5)
        self.ax.scatter(X[:, 0], X[:, 1], **classes, s=12, edgecolors="k", linewidths=0.3, zorder=2)
