"""LivePlot: the loss curves, the decision boundary of 2-D data and, if asked, each layer's
gradient norm, redrawn in place in a notebook while `fit` trains.

    cr.fit(model, X, y, epochs=300, callbacks=[cr.callbacks.LivePlot()])

One output is kept and updated: IPython's `display(frame, display_id=True)` gives a handle,
and every later picture goes through `handle.update(frame)` to the same place (Jupyter's
display protocol: Jupyter, JupyterLab, Colab; no widget framework). A frame is a PNG drawn
straight on matplotlib's Agg renderer: a few paths, markers and cached labels, with no Figure,
Axes or pyplot, because those cost several times more per picture.

Outside a notebook (a terminal, plain Python or IPython, a script) it does nothing, silently,
so a notebook's cells run unchanged as a script. In a notebook without matplotlib it warns
once and does nothing.
"""

from __future__ import annotations

import functools
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
PANEL_PIXELS, PANEL_PIXELS_HIGH = 288, 256  # one panel's width, and the frame's height


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
    """The frame's pixels, drawn straight on matplotlib's Agg renderer.

    No Figure and no Axes: their artists, tick objects and layout cost several times what the
    few curves, polygons and labels of a frame do (docs/performance.md#liveplot), and a frame
    must cost little beside the epochs it shows. Pixel coordinates start at the bottom left.
    """

    def __init__(self, run: Run, points: tuple[np.ndarray, np.ndarray] | None, live: LivePlot):
        from matplotlib.backends.backend_agg import RendererAgg

        from chainrule.plot import NEGATIVE, POSITIVE

        self.held_out = live.held_out
        self.colours = (POSITIVE, NEGATIVE)
        panels = 1 + (points is not None) + live.gradients
        self.width, self.height = PANEL_PIXELS * panels, PANEL_PIXELS_HIGH
        self.renderer = RendererAgg(self.width, self.height, DPI)
        boxes = [_box(i) for i in range(panels)]
        self.loss = _Curves("loss C per epoch", boxes.pop(0), run.epochs)
        self.boundary = _Boundary(boxes.pop(0), run, points, live.resolution) if points else None
        self.grad = (
            _Curves("‖∂C/∂W‖ per epoch", boxes.pop(0), run.epochs) if live.gradients else None
        )

    def render(self, run: Run, norms: list[list[float]], final: bool) -> bytes:
        history = run.history
        self.fill((0, 0, self.width, self.height), (1.0, 1.0, 1.0))
        last = history.epochs if final else None
        curves = [("training", history.loss, self.colours[0])]
        if history.val_loss:
            curves.append((self.held_out, history.val_loss, self.colours[1]))
        self.loss.draw(self, curves, last)
        if self.boundary is not None:
            self.boundary.draw(self, run)
        if self.grad is not None and norms:
            columns = np.array(norms).T
            layers = [(f"layer {l}", list(c), _cycle(l - 1)) for l, c in enumerate(columns, 1)]
            self.grad.draw(self, layers, last)
        summary = _summary(run, self.held_out, final)
        self.text(self.width / 2, self.height - 13, summary, "center", 9)
        return self._png()

    def _png(self) -> bytes:
        from PIL import Image

        size = (self.width, self.height)
        image = Image.frombuffer("RGBA", size, self.renderer.buffer_rgba(), "raw", "RGBA", 0, 1)
        buffer = io.BytesIO()
        # the fastest zlib level: a frame is sent once, and level 6 saves under a tenth of it
        image.save(buffer, "png", compress_level=1)
        return buffer.getvalue()

    def gc(self, colour: Any, width: float = 1.0, clip: tuple | None = None) -> Any:
        from matplotlib.transforms import Bbox

        gc = self.renderer.new_gc()
        gc.set_foreground(colour)
        gc.set_linewidth(width)
        if clip is not None:
            gc.set_clip_rectangle(Bbox.from_extents(*clip))
        return gc

    def fill(self, box: tuple, colour: Any, edge: Any = None) -> None:
        from matplotlib.path import Path
        from matplotlib.transforms import IdentityTransform

        x0, y0, x1, y1 = box
        rect = Path([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], closed=True)
        gc = self.gc(colour if edge is None else edge, 0.0 if edge is None else 0.8)
        self.renderer.draw_path(gc, rect, IdentityTransform(), rgbFace=colour)

    def line(self, xy: np.ndarray, colour: Any, width: float, clip: tuple) -> None:
        """A polyline through the pixels xy (n, 2); NaN points break it."""
        from matplotlib.path import Path
        from matplotlib.transforms import IdentityTransform

        if len(xy) > 1:
            gc = self.gc(colour, width, clip)
            self.renderer.draw_path(gc, Path(xy), IdentityTransform())

    def text(self, x: float, y: float, s: str, align: str = "left", size: float = 8) -> None:
        """`s` with its baseline at height y, starting, centred or ending at x."""
        image, descent = _text_image(s, size)
        x -= {"left": 0.0, "center": image.shape[1] / 2, "right": image.shape[1]}[align]
        self.renderer.draw_image(self.gc("black"), round(x), round(y - descent), image)


@functools.lru_cache(maxsize=1024)
def _text_image(s: str, size: float) -> tuple[np.ndarray, float]:
    """`s` drawn once, dark grey on a clear ground, with rows bottom-up as draw_image takes
    them, and how far it reaches below its baseline. Tick labels, titles and legends come
    back at every frame and every fit, and laying text out is most of what a frame costs."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    font = FontProperties(size=size)
    w, h, descent = RendererAgg(1, 1, DPI).get_text_width_height_descent(s, font, False)
    width, height = int(np.ceil(w)) + 2, int(np.ceil(h)) + 2
    renderer = RendererAgg(width, height, DPI)
    gc = renderer.new_gc()
    gc.set_foreground("#222222")
    # draw_text counts rows from the top
    renderer.draw_text(gc, 0, height - descent - 1, s, font, 0)
    return np.asarray(renderer.buffer_rgba())[::-1].copy(), descent + 1


def _box(i: int) -> tuple[float, float, float, float]:
    """Panel i's plot area (x0, y0, x1, y1) in pixels: room for tick labels on the left and
    below, and for the panel's title and the frame's summary line above."""
    x0 = i * PANEL_PIXELS
    return (x0 + 46.0, 22.0, x0 + PANEL_PIXELS - 10.0, PANEL_PIXELS_HIGH - 44.0)


def _cycle(i: int) -> str:
    from chainrule.plot import CLASS_COLOURS

    return CLASS_COLOURS[i % len(CLASS_COLOURS)]


class _Curves:
    """A panel of curves against the epoch: a log axis while every value is positive, since
    losses and gradient norms fall by decades; light grid lines at the ticks; a legend."""

    def __init__(self, title: str, box: tuple[float, float, float, float], epochs: int) -> None:
        self.title, self.box, self.epochs = title, box, max(epochs, 2)
        self.curves: list[tuple[str, list[float]]] = []  # the last frame's, for the tests
        self.scale = "linear"

    def draw(self, pic: _Picture, curves: list[tuple[str, Any, str]], last: int | None) -> None:
        from matplotlib.ticker import LogLocator, MaxNLocator

        x0, y0, x1, y1 = self.box
        pic.fill(self.box, (1.0, 1.0, 1.0), edge="#888888")
        pic.text((x0 + x1) / 2, y1 + 6, self.title, "center", 9)
        self.curves = [(label, list(values)) for label, values, _ in curves]
        shown = np.concatenate([np.asarray(v, dtype=float) for _, v, _ in curves])
        shown = shown[np.isfinite(shown)]
        if shown.size == 0:
            return
        self.scale = "log" if shown.min() > 0 else "linear"
        low, high = _limits(shown, self.scale)
        right = max(last or self.epochs, 2)
        ticks = np.asarray(MaxNLocator(4, integer=True).tick_values(1, right))
        for t in ticks[(ticks >= 1) & (ticks <= right)]:
            x = x0 + (t - 1) / (right - 1) * (x1 - x0)
            pic.line(np.array([[x, y0], [x, y1]]), "#e5e5e5", 0.8, self.box)
            pic.text(x, y0 - 12, f"{t:g}", "center")
        locator = LogLocator(subs=(1, 2, 5), numticks=5) if self.scale == "log" else MaxNLocator(4)
        span = (10**low, 10**high) if self.scale == "log" else (low, high)
        ticks = np.asarray(locator.tick_values(*span))
        for t in ticks:
            v = np.log10(t) if self.scale == "log" else t
            if low <= v <= high:
                y = y0 + (v - low) / (high - low) * (y1 - y0)
                pic.line(np.array([[x0, y], [x1, y]]), "#e5e5e5", 0.8, self.box)
                pic.text(x0 - 4, y - 3, f"{t:.3g}", "right")
        for _, values, colour in curves:
            v = np.asarray(values, dtype=float)
            v = np.log10(np.where(v > 0, v, np.nan)) if self.scale == "log" else v
            xs = x0 + np.arange(len(v)) / (right - 1) * (x1 - x0)
            ys = y0 + (np.clip(v, low - 1, high + 1) - low) / (high - low) * (y1 - y0)
            pic.line(np.column_stack([xs, ys]), colour, 1.5, self.box)
        pic.fill((x1 - 80, y1 - 6 - 12 * len(curves), x1 - 2, y1 - 2), (1.0, 1.0, 1.0), "#cccccc")
        for i, (label, _, colour) in enumerate(curves):
            y = y1 - 14 - 12 * i
            pic.line(np.array([[x1 - 76, y + 3], [x1 - 64, y + 3]]), colour, 2.0, self.box)
            pic.text(x1 - 60, y, label)


def _limits(shown: np.ndarray, scale: str) -> tuple[float, float]:
    """The y range drawn, padded by a twentieth: decades (log10) on a log axis. A diverging
    run reaches 1e300, so the pad is taken so that the range stays finite."""
    if scale == "log":
        low, high = np.log10(shown.min()), np.log10(shown.max())
        pad = 0.05 * (high - low) + 0.05
        return max(float(low - pad), -300.0), min(float(high + pad), 300.0)
    low, high = shown.min(), shown.max()
    pad = 0.05 * high - 0.05 * low + 1e-12 + 1e-9 * abs(high)
    return max(float(low - pad), -1e300), min(float(high + pad), 1e300)


class _Boundary:
    """The class the network predicts over the data's box, as filled contours of the class
    map on a `resolution`² grid (contourpy's, as matplotlib's contourf), and the data on it."""

    def __init__(
        self,
        box: tuple[float, float, float, float],
        run: Run,
        points: tuple[np.ndarray, np.ndarray],
        resolution: int,
    ) -> None:
        X, y = points
        pad = 0.1 * (X.max(axis=0) - X.min(axis=0)) + 1e-9
        self.low, self.high = X.min(axis=0) - pad, X.max(axis=0) + pad
        self.g1, self.g2 = np.meshgrid(
            np.linspace(self.low[0], self.high[0], resolution),
            np.linspace(self.low[1], self.high[1], resolution),
        )
        self.grid = np.column_stack([self.g1.ravel(), self.g2.ravel()])
        self.threshold = 0.0 if isinstance(run.loss, BCEWithLogitsLoss) else 0.5
        self.box, self.points = box, points
        self.classes = np.zeros(len(self.grid), dtype=int)

    def _outputs(self, run: Run) -> np.ndarray:
        with predicting(run.model) as model:
            return model(Tensor(self.grid, dtype=model.dtype)).data

    def _pixels(self) -> Any:
        """Data coordinates to the panel's pixels."""
        from matplotlib.transforms import Affine2D

        x0, y0, x1, y1 = self.box
        scale = (x1 - x0) / (self.high[0] - self.low[0]), (y1 - y0) / (self.high[1] - self.low[1])
        return Affine2D().translate(-self.low[0], -self.low[1]).scale(*scale).translate(x0, y0)

    def draw(self, pic: _Picture, run: Run) -> None:
        import contourpy
        from matplotlib.colors import to_rgb
        from matplotlib.markers import MarkerStyle
        from matplotlib.path import Path
        from matplotlib.transforms import Affine2D

        a = self._outputs(run)
        self.classes = a.argmax(axis=1) if a.shape[1] > 1 else (a[:, 0] > self.threshold)
        X, y = self.points
        k = max(int(y.max()) + 1, a.shape[1], 2)
        colours = [np.array(to_rgb(_cycle(c))) for c in range(k)]
        x0, y0, x1, y1 = self.box
        pic.text((x0 + x1) / 2, y1 + 6, "decision boundary", "center", 9)
        to_pixels = self._pixels()
        regions = self.classes.reshape(self.g1.shape).astype(float)
        contours = contourpy.contour_generator(self.g1, self.g2, regions, fill_type="OuterCode")
        for c in range(k):
            # alpha 0.35 over the white page, mixed here: the page under it is white
            light = tuple(0.35 * colours[c] + 0.65)
            for xy, codes in zip(*contours.filled(c - 0.5, c + 0.5), strict=True):
                path = Path(xy, codes)
                pic.renderer.draw_path(pic.gc(light, 0.0), path, to_pixels, rgbFace=light)
        dot = MarkerStyle("o").get_path()
        size = Affine2D().scale(2.5)
        for c in range(k):
            rows = X[y == c]
            if len(rows):
                gc = pic.gc("black", 0.4, self.box)
                face = tuple(colours[c])
                pic.renderer.draw_markers(gc, dot, size, Path(rows), to_pixels, face)
        pic.fill(self.box, None, edge="#888888")
