"""How chainrule's objects show in a notebook: short HTML views, and pictures inlined as PNG.

Jupyter calls an object's `_repr_html_` (or `_repr_markdown_`) to show it. The classes keep a
one-line forward to a function here, imported inside the method, so nothing in the spine loads
this room, and nothing at all loads matplotlib, when chainrule is imported. Every cell goes
through `html.escape`; numbers are written by `lecture.notation.num`, as every teaching view
writes them. A picture appears only when matplotlib is installed; the table shows without it.
"""

from __future__ import annotations

import base64
import html
import importlib.util
import io
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from chainrule.lecture.notation import num

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from chainrule.data import Dataset
    from chainrule.nn.module import Module
    from chainrule.tensor import Tensor
    from chainrule.train import History

ROWS = 10  # a ranked table or a list of layers shows this many rows, then "… n more"
VALUES = 20  # a tensor shows its values in full up to this many, else its corners
DPI = 72  # inline pictures are small: a notebook column is about 800 pixels wide


class Html(str):
    """Text that is already HTML: `table` puts it in a cell as it is, and escapes any other."""

    __slots__ = ()


def cell(value: object) -> Html:
    return value if isinstance(value, Html) else Html(html.escape(str(value)))


def table(rows: Iterable[Sequence[object]], header: Sequence[str] = (), caption: str = "") -> Html:
    """An HTML table of `rows` under `header`; each cell is escaped unless it is `Html`."""
    parts = ["<table>"]
    if caption:
        parts.append(f"<caption style='text-align:left'>{cell(caption)}</caption>")
    if header:
        parts.append("<tr>" + "".join(f"<th>{cell(h)}</th>" for h in header) + "</tr>")
    parts += ["<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows]
    return Html("".join(parts) + "</table>")


def facts(pairs: Iterable[tuple[str, object]], caption: str = "") -> Html:
    """A two-column table: what, and its value (the shape of every summary below)."""
    return table(([Html(f"<b>{cell(k)}</b>"), v] for k, v in pairs), caption=caption)


def more(shown: int, total: int) -> str:
    """`… 12 more` under a list cut at `shown` of `total`, or nothing when none was cut."""
    return f"… {total - shown} more" if total > shown else ""


def code(text: str) -> Html:
    return Html(f"<code>{cell(text)}</code>")


def symbol(text: str) -> Html:
    """A symbol of the lecture's plain notation in HTML, `w_{01}^{(2)}` as
    `w<sub>01</sub><sup>(2)</sup>` (the reading `notation.tex` gives LaTeX): an HTML view
    cannot count on MathJax reaching it."""
    escaped = html.escape(text)
    escaped = re.sub(r"_\{([^}]*)\}|_(\w)", lambda m: f"<sub>{m[1] or m[2]}</sub>", escaped)
    escaped = re.sub(r"\^\{([^}]*)\}|\^(\w)", lambda m: f"<sup>{m[1] or m[2]}</sup>", escaped)
    return Html(escaped)


def has_matplotlib() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def png(figure: Figure, alt: str) -> Html:
    """The figure as an inline `<img>`: a PNG drawn by Agg, base64 in a data URL."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return Html(f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}"/>')


def beside(summary: Html, picture: Html) -> Html:
    """The table with the picture to its right, or under it when the column is too narrow."""
    style = "display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start"
    return Html(f"<div style='{style}'>{summary}{picture}</div>")


def values(array: np.ndarray) -> Html:
    """A few values: the whole array when small, else its corners, as numpy prints them."""
    text = np.array2string(array, precision=4, separator=", ", threshold=VALUES, edgeitems=2)
    return Html(f"<pre style='margin:0'>{html.escape(text)}</pre>")


# ---- Tensor and Module --------------------------------------------------------------------------


def tensor_html(t: Tensor) -> Html:
    """Shape, dtype, the op that made it, whether it takes a gradient and has one, its values."""
    if not t.requires_grad:
        grad: object = "not tracked (requires_grad=False)"
    elif t.grad is None:
        grad = "none yet: call backward()" if t.is_leaf else "not kept (only after retain_grad())"
    else:
        grad = values(t.grad)
    op = "leaf (no op made it)" if t.is_leaf else code(t.op)
    return facts(
        [
            ("shape", t.shape),
            ("dtype", t.dtype),
            ("op", op),
            ("requires_grad", t.requires_grad),
            ("grad", grad),
            ("values", values(t.data)),
        ],
        caption=type(t).__name__,
    )


def parameter_count(module: Module) -> int:
    return sum(p.data.size for p in module.parameters())


def module_html(module: Module) -> Html:
    """Its layers, each with its parameters' shapes and count, and the total."""
    children = list(module.named_children()) or [("", module)]
    rows = [
        [
            name,
            code(repr(child).splitlines()[0]),
            ", ".join(f"{p} {tuple(t.shape)}" for p, t in child.named_parameters()) or "–",
            f"{parameter_count(child):,}",
        ]
        for name, child in children[:ROWS]
    ]
    if len(children) > ROWS:
        rows.append(["", more(ROWS, len(children)), "", ""])
    mode = "" if module.training else ", eval mode"
    caption = (
        f"{type(module).__name__}: {parameter_count(module):,} parameters, {module.dtype}{mode}"
    )
    return table(rows, ["", "layer", "parameters", "count"], caption)


# ---- History ------------------------------------------------------------------------------------


def _best(series: list[float], highest: bool = False) -> str:
    at = int(np.argmax(series) if highest else np.argmin(series))
    return f"{num(series[at], 4)} (epoch {at + 1})"


def history_repr(h: History) -> str:
    """One line: epochs, the loss from first to last, the stop reason and the wall time."""
    if not h.loss:
        return "History(0 epochs)"
    parts = [f"{h.epochs} epochs", f"loss {num(h.loss[0], 4)} → {num(h.loss[-1], 4)}"]
    if h.val_loss:
        parts.append(f"best validation loss {_best(h.val_loss)}")
    parts.append(f"stopped by {h.stop_reason or '-'}, {h.wall_time:.3g} s")
    return f"History({', '.join(parts)})"


def history_html(h: History) -> Html:
    """The summary as a table, and beside it the loss curve (`plot.loss_curves`)."""
    pairs: list[tuple[str, object]] = [("epochs", h.epochs)]
    if h.loss:
        pairs.append(("loss", f"{num(h.loss[0], 4)} → {num(h.loss[-1], 4)} (final)"))
    if h.accuracy:
        pairs.append(("accuracy", f"{num(h.accuracy[-1], 4)} (final)"))
    if h.val_loss:
        pairs.append(("best validation loss", _best(h.val_loss)))
    if h.val_accuracy:
        pairs.append(("best validation accuracy", _best(h.val_accuracy, highest=True)))
    pairs += [("stopped by", h.stop_reason or "-"), ("wall time", f"{h.wall_time:.3g} s")]
    summary = facts(pairs, caption="History")
    if not (h.loss and has_matplotlib()):
        return summary
    from chainrule.plot import loss_curves

    return beside(summary, png(loss_curves(h), f"loss per epoch over {h.epochs} epochs"))


# ---- ranked lists (Sensitivity) ---------------------------------------------------------------


def ranked(
    rows: Sequence[Sequence[object]],
    total: int,
    header: Sequence[str],
    caption: str,
    note: str = "",
) -> Html:
    """The first ROWS of a ranking numbered from 1, `… n more` for the `total − ROWS` left out,
    and `note` (the slide's sentence) under it."""
    numbered: list[list[object]] = [[i + 1, *row] for i, row in enumerate(rows[:ROWS])]
    if total > ROWS:
        numbered.append(["", more(ROWS, total), *[""] * (len(header) - 1)])
    body = table(numbered, ["rank", *header], caption)
    return Html(body + (f"<p>{cell(note)}</p>" if note else ""))


# ---- Dataset ------------------------------------------------------------------------------------


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:ROWS])
    return shown + (f", {more(ROWS, len(names))}" if len(names) > ROWS else "")


def _classes(d: Dataset) -> str:
    assert d.class_names is not None
    counts = np.bincount(np.asarray(d.y, dtype=np.intp), minlength=len(d.class_names))
    named = [f"{name} ({n})" for name, n in zip(d.class_names, counts, strict=False)]
    return f"{len(d.class_names)}: {_names(named)}"


def dataset_html(d: Dataset) -> Html:
    """Shape, the classes and how many rows each has (or the target's range), the feature names,
    and for 2-D data a scatter of the rows coloured by class."""
    n, features = d.X.shape
    pairs: list[tuple[str, object]] = [
        ("rows × features", f"{n:,} × {features}"),
        ("features", _names(d.feature_names)),
    ]
    if d.class_names is not None:
        pairs.append((f"classes ({d.target_name})", _classes(d)))
    elif n:
        pairs.append((d.target_name, f"{num(np.min(d.y), 4)} to {num(np.max(d.y), 4)}"))
    if d.n_train is not None:
        pairs.append(("split", f"{d.n_train:,} train, {n - d.n_train:,} test"))
    if d.note:
        pairs.append(("note", d.note))
    summary = facts(pairs, caption=f"Dataset {d.name}")
    if features != 2 or not n or not has_matplotlib():
        return summary
    return beside(summary, png(_scatter(d), f"the {n} rows of {d.name} in the plane"))


def _scatter(d: Dataset) -> Figure:
    from matplotlib.figure import Figure

    from chainrule.plot import CLASS_COLOURS

    figure = Figure(figsize=(3.6, 3.4), layout="constrained")
    ax = figure.subplots()
    if d.class_names is None:
        points = ax.scatter(d.X[:, 0], d.X[:, 1], c=d.y, s=8, cmap="viridis")
        figure.colorbar(points, ax=ax, label=d.target_name)
    else:
        for c, name in enumerate(d.class_names):
            rows = d.y == c
            colour = CLASS_COLOURS[c % len(CLASS_COLOURS)]
            ax.scatter(d.X[rows, 0], d.X[rows, 1], s=8, color=colour, label=name)
        ax.legend(fontsize="small", markerscale=2)
    ax.set_xlabel(d.feature_names[0])
    ax.set_ylabel(d.feature_names[1])
    ax.set_title(d.name)
    return figure
