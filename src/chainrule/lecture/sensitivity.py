"""Which weights matter most: every weight and bias ranked by |∂C/∂w|, as the gradient-descent
slide does ("w_1 moves the loss 21 times more than w_2").

`sensitivity(model, X, Y, loss)` reads autodiff's gradients; `explain` then shows, for any row,
why that weight's gradient is what it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from chainrule.checks import refuse
from chainrule.errors import GradError
from chainrule.lecture.notation import num, tex, weight_name
from chainrule.nn.layers import Sequential, blocks
from chainrule.nn.losses import Loss, loss_module
from chainrule.tensor import ArrayLike, Tensor, as_array, is_grad_enabled


def gradients(model: Sequential, x: np.ndarray, y: ArrayLike, loss: Loss) -> dict[str, np.ndarray]:
    """∂C/∂(every parameter) from one backward pass, leaving each parameter's `.grad` as it was."""
    if not is_grad_enabled():
        raise GradError("explain/sensitivity need a backward pass: call them outside no_grad()")
    params = list(model.named_parameters())
    saved = [p.grad for _, p in params]
    try:
        for _, p in params:
            p.grad = None
        loss(model(Tensor(x)), y).backward()
        return {
            name: p.grad.copy() if p.grad is not None else np.zeros_like(p.data)
            for name, p in params
        }
    finally:
        for (_, p), grad in zip(params, saved, strict=True):
            p.grad = grad


@dataclass(frozen=True)
class SensitivityRow:
    """One weight or bias: its lecture name, where it lives, `∂C/∂w`, and `ratio`, how many
    times more a small change in it moves the loss than the same change in the next row's
    (None for the last row)."""

    name: str
    parameter: str
    layer: int
    j: int
    k: int | None
    gradient: float
    ratio: float | None


class Sensitivity:
    """Every weight and bias ranked by |∂C/∂w|, the most influential first."""

    def __init__(self, rows: list[SensitivityRow], loss: str) -> None:
        self.rows = rows
        self.loss = loss

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[SensitivityRow]:
        return iter(self.rows)

    def __getitem__(self, index: int) -> SensitivityRow:
        return self.rows[index]

    def headline(self) -> str:
        """The gradient-descent slide's sentence for the two most influential weights."""
        if len(self.rows) < 2:
            return ""
        first, second = self.rows[0], self.rows[1]
        return (
            f"{first.name} moves the loss {_ratio(first.ratio)} more than {second.name} "
            f"(|∂C/∂w| {num(abs(first.gradient))} against {num(abs(second.gradient))})"
        )

    def table(self, limit: int | None = 20) -> str:
        """The ranking as text, the first `limit` rows (all when None)."""
        shown = self.rows if limit is None else self.rows[:limit]
        cells = [("rank", "weight", "parameter", "∂C/∂w", "× next")]
        cells += [
            (str(i + 1), r.name, r.parameter, num(r.gradient), _ratio(r.ratio))
            for i, r in enumerate(shown)
        ]
        widths = [max(len(row[c]) for row in cells) for c in range(5)]
        lines = [f"sensitivity of {self.loss} to each of {len(self.rows)} weights and biases:"]
        for row in cells:
            lines.append(
                "  "
                + "  ".join(
                    cell.ljust(w) if c in (1, 2) else cell.rjust(w)
                    for c, (cell, w) in enumerate(zip(row, widths, strict=True))
                )
            )
        if len(shown) < len(self.rows):
            lines.append(f"  … ({len(self.rows) - len(shown)} more)")
        if self.headline():
            lines.append(self.headline())
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        top = f", first {self.rows[0].name} = {num(self.rows[0].gradient)}" if self.rows else ""
        return f"<Sensitivity of {self.loss} to {len(self.rows)} weights and biases{top}>"

    def _repr_html_(self) -> str:
        """In a notebook: the ranking's first rows as a table, and the slide's sentence."""
        from chainrule.notebook import ROWS, code, ranked, symbol

        rows = [
            (symbol(r.name), code(r.parameter), num(r.gradient), _ratio(r.ratio))
            for r in self.rows[:ROWS]
        ]
        caption = f"sensitivity of {self.loss} to each of {len(self.rows)} weights and biases"
        header = ["weight", "parameter", "∂C/∂w", "× next"]
        return ranked(rows, len(self.rows), header, caption, symbol(self.headline()))

    def _repr_markdown_(self) -> str:
        rows = [
            "| rank | weight | parameter | ∂C/∂w | × next |",
            "| ---: | --- | --- | ---: | ---: |",
        ]
        rows += [
            f"| {i + 1} | ${tex(r.name)}$ | `{r.parameter}` | {num(r.gradient)} | "
            f"{_ratio(r.ratio)} |"
            for i, r in enumerate(self.rows[:20])
        ]
        if len(self.rows) > 20:
            rows.append(f"\n… ({len(self.rows) - 20} more)")
        return "\n".join(rows) + ("\n\n" + self.headline() if self.headline() else "")


def _ratio(ratio: float | None) -> str:
    if ratio is None or np.isnan(ratio):
        return "–"
    return "∞" if np.isinf(ratio) else f"{ratio:.3g}×"


def sensitivity(model: Sequential, X: ArrayLike, Y: ArrayLike, loss: Loss | str) -> Sensitivity:
    """Rank every weight and bias of `model` by |∂C/∂w| on (X, Y), with the ratio to the next.

    `model` is a Sequential; its Linear layers are counted from 1 as in `explain`, and every
    gradient is autodiff's, of the loss as the model reduces it.
    """
    if not isinstance(model, Sequential):
        raise refuse("sensitivity", "model", "an nn.Sequential with Linear layers", model)
    loss = loss_module("sensitivity", loss)
    linears = [(b.position, b.linear) for b in blocks(model)]
    owners = {f"{i}.{name}" for i, _ in linears for name in ("weight", "bias")}
    for name, _ in model.named_parameters():
        if name not in owners:
            raise refuse(
                "sensitivity",
                "every parameter",
                "a Linear layer's weight or bias (a Sequential of Linear layers and activations)",
                name,
            )
    x = as_array(X, model.dtype)
    grads = gradients(model, x, Y, loss)
    entries: list[tuple[int, int, int | None, str, float]] = []
    for layer, (i, linear) in enumerate(linears, start=1):
        g = grads[f"{i}.weight"]
        for j, k in np.ndindex(g.shape):
            entries.append((layer, j, k, f"{i}.weight[{j}, {k}]", float(g[j, k])))
        if linear.bias is not None:
            for j, value in enumerate(grads[f"{i}.bias"]):
                entries.append((layer, j, None, f"{i}.bias[{j}]", float(value)))
    # Stable sort: equal gradients keep the model's order.
    order = np.argsort([-abs(e[4]) for e in entries], kind="stable")
    ranked = [entries[i] for i in order]
    rows = []
    for r, (layer, j, k, where, g) in enumerate(ranked):
        ratio = None
        if r + 1 < len(ranked):
            after = abs(ranked[r + 1][4])
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = float(np.divide(abs(g), after))
        rows.append(SensitivityRow(weight_name(layer, j, k), where, layer, j, k, g, ratio))
    return Sensitivity(rows, type(loss).__name__)
