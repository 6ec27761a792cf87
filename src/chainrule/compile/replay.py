"""The replay of a compiled step: the captured instructions written out as one Python function,
run on new arguments with no Tensor made and no graph walked.

The record (capture.py) is a list of instructions over slots. Interpreting it costs a loop, a
list and a dict per step; instead, as torch.fx and TorchScript do, it is turned into the
source of a straight-line function, once per record: each slot becomes a local variable,
each kernel call a line, each edge of the backward pass its own lines, with the sums and the
order that `backprop.backward_pass` uses. What cannot be known before a step (a parameter's
array, a gradient's shape) is still read when the step runs, so the generated function does
exactly what eager does, and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.backprop import unbroadcast
from chainrule.compile.capture import CALL, FORWARD, Capture


class Replay:
    """A captured step, replayed on new arguments of the same kind."""

    def __init__(self, capture: Capture, returned: tuple[int, ...]) -> None:
        modules = list(capture.modules.values())
        params = [(m, name, p) for m in modules for name, p in m._parameters.items()]
        self.run: Callable[[tuple], tuple[np.ndarray, ...]] = _Writer(capture).function(returned)
        self.holds: Callable[[], bool] = _guard(modules, params)
        self.product = _largest_product(capture)


def _largest_product(capture: Capture) -> int:
    """Multiply-adds of the step's largest matrix product, as `threads.largest_product`
    counts them: the rows of the first array argument × the largest parameter matrix."""
    rows = next((np.shape(capture.vals[k])[0] for k, _ in capture.arg_slots
                 if k >= 0 and np.ndim(capture.vals[k])), 0)  # fmt: skip
    return rows * max((t.data.size for _, t in capture.leaves if t.data.ndim >= 2), default=0)


def _guard(modules: list, params: list) -> Callable[[], bool]:
    """`holds()`: the modules train or predict as they did, with the same parameters; one
    expression, since it runs before every step."""
    names: dict[str, Any] = {}
    terms = []
    for i, m in enumerate(modules):
        names[f"m{i}"] = m
        terms.append(f"m{i}.training is {m.training}")
    for i, (m, name, p) in enumerate(params):
        names[f"owner{i}"], names[f"p{i}"] = m, p
        terms.append(f"owner{i}._parameters.get({name!r}) is p{i}")
    source = "def holds():\n    return " + (" and ".join(terms) or "True") + "\n"
    exec(compile(source, "<chainrule compiled step: guard>", "exec"), names)  # noqa: S102
    return names["holds"]


class _Writer:
    """Writes a record as the source of `replay(args)` and compiles it."""

    def __init__(self, capture: Capture) -> None:
        self.capture = capture
        self.names: dict[str, Any] = {"unbroadcast": unbroadcast, "array": np.array}
        self.lines: list[str] = []
        refilled = {k for k, _ in capture.arg_slots if k >= 0} | {k for k, _ in capture.leaves}
        for kind, item in capture.program:
            if kind == FORWARD:
                refilled |= {k for *_, k in item}
        self.refilled = refilled
        self.passes = 0

    def slot(self, k: int) -> str:
        """The name of slot k: a local the step fills, or a constant kept from the capture."""
        if k in self.refilled:
            return f"v{k}"
        self.names[f"c{k}"] = self.capture.vals[k]
        return f"c{k}"

    def bind(self, prefix: str, value: Any) -> str:
        name = f"{prefix}{len(self.names)}"
        self.names[name] = value
        return name

    def function(self, returned: tuple[int, ...]) -> Callable[[tuple], tuple[np.ndarray, ...]]:
        capture = self.capture
        for i, (k, is_tensor) in enumerate(capture.arg_slots):
            if k >= 0:
                self.lines.append(f"v{k} = args[{i}]" + (".data" if is_tensor else ""))
        self.read_leaves()
        program = capture.program
        for i, (kind, item) in enumerate(program):
            if kind == FORWARD:
                for kernel, slots, k in item:
                    args = ", ".join(self.slot(s) for s in slots)
                    self.lines.append(f"v{k}, r{k} = {self.bind('kernel', kernel)}({args})")
            elif kind == CALL:
                self.lines.append(f"{self.bind('call', item)}()")
                if any(later == FORWARD for later, _ in program[i + 1 :]):
                    self.read_leaves()  # an optimizer's step may have replaced p.data
            else:
                self.backward(*item)
        self.lines.append("return (" + "".join(f"{self.slot(k)}, " for k in returned) + ")")
        source = "def replay(args):\n" + "".join(f"    {line}\n" for line in self.lines)
        exec(compile(source, "<chainrule compiled step>", "exec"), self.names)  # noqa: S102
        return self.names["replay"]

    def read_leaves(self) -> None:
        for k, t in self.capture.leaves:
            self.lines.append(f"v{k} = {self.leaf(k, t)}.data")

    def leaf(self, k: int, t: Any) -> str:
        self.names[f"t{k}"] = t
        return f"t{k}"

    def backward(self, root: int, shape: tuple, dtype: np.dtype, plan: tuple) -> None:
        """`backprop.backward_pass` on the captured order: the same rules, sums and
        accumulation. An upstream gradient is a local `u<pass>_<slot>`; which of them exist
        at each point is known here, so the eager engine's dict of them is not needed."""
        self.passes += 1
        up = f"u{self.passes}_"
        lines = self.lines
        lines.append(
            f"{up}{root} = {self.bind('empty', np.empty)}({shape!r}, {self.bind('dtype', dtype)})"
        )
        lines.append(f"{up}{root}.fill(1)")
        reached = {root}
        for t, edges in plan:
            if t not in reached:
                continue
            reached.discard(t)
            for i, p, leaf in edges:
                target = f"{self.leaf(p, leaf)}.data" if leaf is not None else self.slot(p)
                lines.append(f"g = r{t}[{i}]({up}{t})")
                lines.append(f"if g.shape != {target}.shape: g = unbroadcast(g, {target}.shape)")
                lines.append(f"if g.dtype != {target}.dtype: g = g.astype({target}.dtype)")
                if leaf is None:
                    lines.append(f"{up}{p} = {up}{p} + g" if p in reached else f"{up}{p} = g")
                    reached.add(p)
                    continue
                # backprop.accumulate's rule: keep g itself only if no one else holds it
                name = self.leaf(p, leaf)
                lines.append(f"if {name}.grad is not None: {name}.grad += g")
                lines.append(
                    f"else: {name}.grad = g if g is not {up}{t} and g.flags.owndata "
                    f"and g.flags.writeable else array(g)"
                )
