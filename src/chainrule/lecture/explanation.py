"""What `explain` returns: the chain rule for one weight, its numbers and its two checks, printed
as text (str), Markdown and LaTeX (Jupyter) in the lecture's notation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chainrule.errors import ConfigError
from chainrule.lecture.notation import neuron, num, partial, tex, tex_factor


@dataclass(frozen=True, eq=False)
class Factor:
    """One factor of the chain: the derivative it is (`name`), what it equals in this network
    (`form`), its number for every example (`values`, one per row of x), and the form with
    example 0's numbers put in (`worked`)."""

    name: str
    form: str
    values: np.ndarray
    worked: str = ""

    @property
    def value(self) -> float:
        """The number, for a single example (a batch has `values`, one per example)."""
        if len(self.values) != 1:
            raise ConfigError(
                f"{self.name} has one value per example ({len(self.values)} of them); "
                f"read .values, or explain a single example"
            )
        return float(self.values[0])


@dataclass(frozen=True, eq=False)
class PathTerm:
    """One path from `a_q^{(m)}` to the loss through neuron p of layer m+1:
    `w_{pq}^{(m+1)} · σ'(z_p^{(m+1)}) · ∂C/∂a_p^{(m+1)}` (with softmax fused into
    cross-entropy at the output, `w_{pq}^{(L)} · ∂C/∂z_p^{(L)}`)."""

    p: int
    form: str
    weight: float
    slope: np.ndarray | None
    upstream: np.ndarray
    values: np.ndarray


@dataclass(frozen=True, eq=False)
class PathSum:
    """`∂C/∂a_q^{(m)} = Σ_p w_{pq}^{(m+1)} σ'(z_p^{(m+1)}) ∂C/∂a_p^{(m+1)}`: the many paths."""

    name: str
    form: str
    layer: int
    q: int
    terms: tuple[PathTerm, ...]
    values: np.ndarray


@dataclass(frozen=True, eq=False)
class Explanation:
    """The chain rule for one weight's gradient, with its numbers and two independent checks.

    `factors` multiply to `∂C_i/∂w` for each example (`per_example`); `value` is their mean
    `1/n Σ_i ∂C_i/∂w` (for one example, the product itself). `outputs` are the loss's factors
    `∂C/∂a_p^{(L)}` for every output p, and `paths` the sums `∂C/∂a_q^{(m)}` from the layer
    below the output down to the weight's own neuron (empty for an output-layer weight).
    `autodiff` is what `backward()` gives; `numeric` is the loss change when the weight is
    nudged by ±`nudge`, divided by the nudge (a central difference).
    """

    weight: str
    location: str
    layer: int
    layers: int
    j: int
    k: int | None
    loss: str
    factors: tuple[Factor, ...]
    outputs: tuple[Factor, ...]
    paths: tuple[PathSum, ...]
    per_example: np.ndarray
    autodiff: float
    loss_plus: float
    loss_minus: float
    nudge: float
    batch: bool
    fused: bool
    fusion: str  # the sentence saying which activation the loss's factor holds, when fused
    tolerance: tuple[float, float]

    @property
    def n(self) -> int:
        """How many examples the gradient averages over."""
        return len(self.per_example)

    @property
    def value(self) -> float:
        """The chain rule's answer: `1/n Σ_i Π factors`."""
        return float(np.mean(self.per_example))

    @property
    def numeric(self) -> float:
        """`(C(w + h) − C(w − h)) / 2h` with h = `nudge`, on the model as it is."""
        return (self.loss_plus - self.loss_minus) / (2 * self.nudge)

    @property
    def agree(self) -> bool:
        """The product equals autodiff to rounding, and the nudge to its own error (h²)."""
        exact, nudged = self.tolerance
        scale = max(1.0, abs(self.autodiff))
        return bool(
            abs(self.value - self.autodiff) <= exact * scale
            and abs(self.value - self.numeric) <= nudged * scale
        )

    # ---- printing -----------------------------------------------------------------------------

    def _c(self) -> str:
        return "C_i" if self.batch else "C"

    def _chain(self) -> str:
        return f"{partial(self._c(), self.weight)} = " + " · ".join(f.name for f in self.factors)

    def _factor_lines(self) -> list[str]:
        width = max(len(f.name) for f in self.factors)
        lines = []
        for f in self.factors:
            value = num(f.values[0])
            steps = [f.form]
            # Each step once: a constant (the bias's ∂z/∂b = 1, identity's slope) is its number.
            for step in (f.worked, value):
                if step and step != steps[-1].rpartition(" = ")[2]:
                    steps.append(step)
            lines.append(f"  {f.name:<{width}} = {' = '.join(steps)}")
        return lines

    def _path_lines(self, limit: int = 12) -> list[str]:
        """Example 0's paths: the loss's factors, then each layer's sums down to a_j^{(l)}."""
        if not self.paths:
            return []
        a_j = neuron("a", self.j, self.layer)
        lines = [f"how {a_j} reaches the loss, from the output down (paths through p):"]
        for f in self.outputs[:limit]:
            lines.append(f"  {f.name} = {f.form} = {f.worked} = {num(f.values[0])}")
        if len(self.outputs) > limit:
            lines.append(f"  … ({len(self.outputs) - limit} more outputs)")
        for m in range(self.layers - 1, self.layer - 1, -1):
            level = [s for s in self.paths if s.layer == m]
            for s in level[:limit]:
                lines.append(f"  {s.name} = {s.form}")
                for t in s.terms[:limit]:
                    numbers = [num(t.weight)]
                    if t.slope is not None:
                        numbers.append(num(t.slope[0]))
                    numbers.append(num(t.upstream[0]))
                    lines.append(
                        f"    p = {t.p}: {t.form} = {' × '.join(numbers)} = {num(t.values[0])}"
                    )
                if len(s.terms) > limit:
                    rest = s.values[0] - sum(t.values[0] for t in s.terms[:limit])
                    lines.append(f"    … {len(s.terms) - limit} more paths, together {num(rest)}")
                lines.append(f"    sum over {len(s.terms)} paths = {num(s.values[0])}")
            if len(level) > limit:
                lines.append(f"  … ({len(level) - limit} more neurons of layer {m}, summed alike)")
        return lines

    def _check_lines(self) -> list[str]:
        h = num(self.nudge)
        if self.batch:
            how = f"1/n Σ_i ∂C_i/∂w, n = {self.n}"
        else:
            how = " × ".join(num(f.values[0]) for f in self.factors)
        rows = [
            ("chain rule", how, num(self.value), ""),
            ("autodiff", "backward()", num(self.autodiff), ""),
            (
                "numeric",
                f"(C(w + {h}) − C(w − {h})) / {num(2 * self.nudge)}",
                num(self.numeric),
                f"  (C = {num(self.loss_plus)} and {num(self.loss_minus)})",
            ),
        ]
        width = max(len(r[1]) for r in rows)
        lines = [f"  {label:<10}  {how:<{width}} = {v}{note}" for label, how, v, note in rows]
        lines.append(
            f"  agree: {'yes' if self.agree else 'NO'} (|chain rule − autodiff| = "
            f"{abs(self.value - self.autodiff):.1e}, |chain rule − numeric| = "
            f"{abs(self.value - self.numeric):.1e})"
        )
        return lines

    def _batch_lines(self, limit: int = 10) -> list[str]:
        heads = [f.name for f in self.factors] + [partial("C_i", self.weight)]
        widths = [max(len(h), 12) for h in heads]
        lines = [
            f"∂C/∂w = 1/n Σ_i ∂C_i/∂w over n = {self.n} examples, each the product of its factors:",
            "  "
            + "  ".join([f"{'i':>4}"] + [h.rjust(w) for h, w in zip(heads, widths, strict=True)]),
        ]
        for i in range(min(self.n, limit)):
            cells = [num(f.values[i]) for f in self.factors] + [num(self.per_example[i])]
            lines.append(
                "  "
                + "  ".join([f"{i:>4}"] + [c.rjust(w) for c, w in zip(cells, widths, strict=True)])
            )
        if self.n > limit:
            lines.append(f"  … ({self.n - limit} more examples)")
        lines.append(f"  mean over the {self.n} examples: {num(self.value)}")
        return lines

    def __str__(self) -> str:
        layer_word = "the output layer L" if self.layer == self.layers else f"L = {self.layers}"
        examples = f"{self.n} examples" if self.batch else "one example"
        lines = [
            f"{partial('C', self.weight)}: {self.location}, layer {self.layer} ({layer_word}), "
            f"{examples}",
            f"loss: {self.loss}",
        ]
        if self.fused:
            lines.append(self.fusion)
        lines.append("")
        if self.batch:
            lines += self._batch_lines()
            lines += ["", "example 0 in full:"]
        lines.append(self._chain())
        lines += self._factor_lines()
        path_lines = self._path_lines()
        if path_lines:
            lines += [""] + path_lines
        lines += [""] + self._check_lines()
        return "\n".join(lines)

    def __repr__(self) -> str:
        verdict = "agree" if self.agree else "DISAGREE"
        return (
            f"<Explanation {partial('C', self.weight)} = {num(self.value)} over {self.n} "
            f"example{'s' if self.n > 1 else ''}: autodiff {num(self.autodiff)}, "
            f"numeric {num(self.numeric)}, {verdict}>"
        )

    def _repr_markdown_(self) -> str:
        rows = [
            f"**${tex(partial('C', self.weight))}$**: `{self.location}`, layer {self.layer} of "
            f"{self.layers}, {self.n} example{'s' if self.n > 1 else ''}; {self.loss}",
            "",
            f"${tex(self._chain())}$" + (" (per example i, then averaged)" if self.batch else ""),
            "",
            "| factor | equals | " + ("example 0" if self.batch else "value") + " |",
            "| --- | --- | ---: |",
        ]
        rows += [
            f"| ${tex(f.name)}$ | ${tex(f.form)}$ | {num(f.values[0])} |" for f in self.factors
        ]
        if self.paths:
            rows += ["", "| sum over paths | terms (example 0) | value |", "| --- | --- | ---: |"]
            for s in self.paths:
                terms = " + ".join(num(t.values[0]) for t in s.terms[:12])
                rows.append(f"| ${tex(s.name)}$ | {terms} | {num(s.values[0])} |")
        rows += [
            "",
            "| check | ∂C/∂w |",
            "| --- | ---: |",
            f"| chain rule ({f'mean over {self.n} examples' if self.batch else 'product'}) | "
            f"{num(self.value)} |",
            f"| autodiff (`backward()`) | {num(self.autodiff)} |",
            f"| numeric (nudge ±{num(self.nudge)}) | {num(self.numeric)} |",
            "",
            f"agree: **{'yes' if self.agree else 'NO'}**",
        ]
        return "\n".join(rows)

    def _repr_latex_(self) -> str:
        numbers = r" \times ".join(num(f.values[0]) for f in self.factors)
        lines = [
            tex(self._chain()).replace(" = ", " &= ", 1),
            "&= " + r" \cdot ".join(tex_factor(f.form.split(" = ")[-1]) for f in self.factors),
        ]
        if self.batch:
            lines.append(
                rf"{tex(partial('C', self.weight))} &= \frac{{1}}{{{self.n}}} \sum_i "
                rf"{tex(partial('C_i', self.weight))}"
                rf" = {num(self.value)} \quad (\text{{example 0: }} {numbers})"
            )
        else:
            lines.append(f"&= {numbers} = {num(self.value)}")
        for s in self.paths:
            terms = " + ".join(f"({num(t.values[0])})" for t in s.terms[:8])
            more = r" + \dots" if len(s.terms) > 8 else ""
            lines.append(f"{tex(s.name)} &= {tex(s.form)} = {terms}{more} = {num(s.values[0])}")
        lines.append(
            rf"\text{{autodiff}} &= {num(self.autodiff)}, \quad \text{{numeric}} = "
            rf"{num(self.numeric)}"
        )
        return "$$\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}$$"
