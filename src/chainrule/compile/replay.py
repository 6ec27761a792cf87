"""The replay of a compiled step: the captured instructions on new arguments, with no Tensor
made and no graph walked."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backprop import accumulate, unbroadcast
from chainrule.compile.capture import CALL, FORWARD, Capture


class Replay:
    """A captured step, replayed on new arguments of the same kind."""

    def __init__(self, capture: Capture, returned: tuple[int, ...]) -> None:
        # constants keep their values; every other slot is filled anew at each replay, so the
        # capture's arrays (and the graph they came from) are not kept alive
        self.vals = list(capture.vals)
        refilled = [k for k, _ in capture.arg_slots if k >= 0] + [k for k, _ in capture.leaves]
        for kind, item in capture.program:
            if kind == FORWARD:
                refilled += [k for *_, k in item]
        for k in refilled:
            self.vals[k] = None
        # after an observed call, the parameters are read again if an op comes later
        self.program: list[tuple[int, Any]] = [
            (
                kind,
                (item, any(k == FORWARD for k, _ in capture.program[i:])) if kind == CALL else item,
            )
            for i, (kind, item) in enumerate(capture.program)
        ]
        self.leaves = capture.leaves
        self.arg_slots = capture.arg_slots
        self.returned = returned
        self.modules = list(capture.modules.values())
        self.training = [m.training for m in self.modules]
        self.params = [(m, name, p) for m in self.modules for name, p in m._parameters.items()]

    def holds(self) -> bool:
        """The modules train or predict as they did, with the same parameters."""
        if [m.training for m in self.modules] != self.training:
            return False
        return all(m._parameters.get(name) is p for m, name, p in self.params)

    def run(self, args: tuple) -> tuple[np.ndarray, ...]:
        vals = self.vals.copy()
        for (k, is_tensor), arg in zip(self.arg_slots, args):  # noqa: B905  (the key's length)
            if k >= 0:
                vals[k] = arg.data if is_tensor else arg
        for k, t in self.leaves:
            vals[k] = t.data
        rules: list[Any] = [None] * len(vals)
        for kind, item in self.program:
            if kind == FORWARD:
                for kernel, get, single, k in item:
                    vals[k], rules[k] = kernel(vals[single]) if get is None else kernel(*get(vals))
            elif kind == CALL:
                call, reread = item
                call()
                if reread:
                    for k, t in self.leaves:
                        vals[k] = t.data
            else:
                _backward(item, vals, rules)
        return tuple(vals[k] for k in self.returned)


def _backward(item: tuple, vals: list, rules: list) -> None:
    """`tensor._backward_pass` on the captured order: the same rules, sums and accumulation."""
    root, shape, dtype, plan = item
    seed = np.empty(shape, dtype)
    seed.fill(1)
    ups = {root: seed}
    for t, edges in plan:
        up = ups.pop(t, None)
        if up is None:
            continue
        rule = rules[t]
        for i, p, leaf in edges:
            g = rule[i](up)
            data = vals[p] if leaf is None else leaf.data
            if g.shape != data.shape:
                g = unbroadcast(g, data.shape)
            if g.dtype != data.dtype:
                g = g.astype(data.dtype)
            if leaf is None:
                before = ups.get(p)
                ups[p] = g if before is None else before + g
            elif leaf.grad is not None:
                leaf.grad += g
            else:  # tensor._accumulate's rule: keep g itself only if no one else holds it
                accumulate(leaf, g, g is not up and g.flags.owndata and g.flags.writeable)
