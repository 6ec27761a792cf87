"""The replay of a compiled step: the captured instructions written out as one Python function,
run on new arguments with no Tensor made and no graph walked.

The record (capture.py) is a list of instructions over slots. Interpreting it costs a loop, a
list and a dict per step; instead, as torch.fx and TorchScript do, it is turned into the
source of a straight-line function, once per record: each slot becomes a local variable,
each kernel its body copied in (inline.py) or a call, each edge of the backward pass its own
lines, with the sums and the order that `backprop.backward_pass` uses. What cannot be known
before a step (a parameter's array, a gradient's shape) is still read when the step runs, so
the generated function does exactly what eager does, and nothing else.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.backprop import unbroadcast
from chainrule.compile import inline
from chainrule.compile.capture import CALL, FORWARD, Capture
from chainrule.compile.key import checks
from chainrule.errors import ConfigError
from chainrule.tensor import assigned

Run = Callable[[tuple], tuple[np.ndarray, ...] | None]  # None: the record does not hold


class Replay:
    """A captured step, replayed on new arguments of the same kind.

    `run(args)` returns the step's returned arrays, or None, having done nothing, when the
    record does not hold: the arguments or grad mode are not its key's, or the modules it
    called train or predict otherwise or hold other parameters, or (when shapes are fixed) a
    tensor it reads has another shape or dtype.

    Its first replay checks every edge of the backward pass (a gradient's shape against its
    input's, for broadcasting, and its dtype) and notes which checks found something to fix.
    When no shape in the record can depend on values (only a boolean mask makes one), every
    shape and dtype of the step follows from the arguments' (in the key) and the leaves'
    (in the guard), so from then on the step runs a function with only those fixes written in.
    """

    def __init__(self, capture: Capture, key: tuple, returned: tuple[int, ...]) -> None:
        lean = not capture.value_shaped
        self.product = _largest_product(capture)
        modules = Recorded(capture)
        checked = _Writer(capture, key, modules, observing=lean)
        self.run: Run = checked.function(returned)
        if lean:
            checked_run = self.run

            def first(args: tuple) -> tuple[np.ndarray, ...] | None:
                """The first replay, checked; once it has run through, the lean one takes over."""
                values = checked_run(args)
                if values is not None:
                    lean = _Writer(capture, key, modules, fixes=checked.fixed)
                    self.run = lean.function(returned)
                return values

            self.run = first


class Recorded:
    """The modules a record called, each with its attributes as they were: its `training` flag,
    parameters, layers and settings (a Dropout's p, a loss's smoothing), each the very object
    or a number of the same bits, but those step_fn assigned itself (a side effect of the
    capture, which eager code run between steps may assign again). The record's kernels hold
    the settings as constants, so it replays only while they hold. `seen` is the module
    assignment number (`tensor.assigned`) when they last held: the replay's head compares
    that number alone, and the modules themselves when it has moved."""

    def __init__(self, capture: Capture) -> None:
        self.seen = assigned.last
        self.modules: list[tuple[Any, dict[str, Any], set[str]]] = []
        for m in capture.modules.values():
            skip = capture.written.get(id(m), set())
            kept = {k: v for k, v in vars(m).items() if k not in skip}
            self.modules.append((m, kept, skip))

    def hold(self) -> bool:
        now = assigned.last  # read first: an assignment from here on moves it again
        for m, kept, skip in self.modules:
            held = vars(m)
            if held.keys() - skip != kept.keys() or not all(
                _same(held[k], v) for k, v in kept.items()
            ):
                return False
        self.seen = now
        return True


def _same(a: Any, b: Any) -> bool:
    """The very object, or a number or string of the same value (for a float, the same bits):
    a kernel that took one as a constant computes the same with the other. A schedule that
    sets a Dropout's p to a new float of the same value at every batch records nothing."""
    if a is b:
        return True
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is float:
        return a.hex() == b.hex()
    return (kind is int or kind is str) and a == b


def _largest_product(capture: Capture) -> int:
    """Multiply-adds of the step's largest matrix product, as `threads.largest_product`
    counts them: the rows of the first array argument × the largest parameter matrix."""
    rows = next((np.shape(capture.vals[k])[0] for k, _ in capture.arg_slots
                 if k >= 0 and np.ndim(capture.vals[k])), 0)  # fmt: skip
    return rows * max((t.data.size for _, t in capture.leaves if t.data.ndim >= 2), default=0)


@functools.lru_cache(maxsize=64)
def _code(source: str) -> types.CodeType:
    """A replay function's source compiled, once per text: each fit records its steps again,
    into the same source when the network is the same (the objects it names differ, not
    their names), and compiling a W1 step's took 1 ms."""
    return compile(source, "<chainrule compiled step>", "exec")


def _reshaped(name: str) -> None:
    raise ConfigError(
        f"compile: an observed call changed the shape or dtype of a tensor step_fn reads "
        f"({name}) in the middle of a step; an optimizer's step() and zero_grad() must keep "
        f"them"
    )


class _Writer:
    """Writes a record as the source of `replay(args)` and compiles it.

    Each backward edge checks its gradient's shape and dtype against its input's. `observing`
    notes in `fixed` which checks found something to fix; given `fixes` (those notes), the
    writer writes only those checks, and checks instead that no observed call changed a
    leaf's shape or dtype (what the notes rest on, with the arguments' and leaves' on entry).
    """

    def __init__(
        self,
        capture: Capture,
        key: tuple,
        modules: Recorded,
        observing: bool = False,
        fixes: set[int] | None = None,
    ) -> None:
        self.capture = capture
        self.key = key
        self.modules = modules
        self.names: dict[str, Any] = {"unbroadcast": unbroadcast, "array": np.array}
        self.lines: list[str] = []
        refilled = {k for k, _ in capture.arg_slots if k >= 0} | {k for k, _ in capture.leaves}
        for kind, item in capture.program:
            if kind == FORWARD:
                refilled |= {k for *_, k in item}
        self.refilled = refilled
        self.passes = 0
        self.checks = 0  # the checks written so far: each has its number in `fixed`
        self.fixed: set[int] = set()
        if observing:
            self.names["fixed"] = self.fixed
        self.observing = observing
        self.fixes = fixes
        self.leaves_read = False  # since the start or the last observed call
        self.inliner = inline.Inliner(self.names)
        self.edges = 0

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

    def function(self, returned: tuple[int, ...]) -> Run:
        capture = self.capture
        self.guard()
        for i, (k, is_tensor) in enumerate(capture.arg_slots):
            if k >= 0:
                self.lines.append(f"v{k} = args[{i}]" + (".data" if is_tensor else ""))
        called = False  # an observed call has run: leaves read after it are checked
        for kind, item in capture.program:
            if kind == FORWARD:
                self.read_leaves(after_call=called)
                for kernel, slots, k in item:
                    self.kernel(kernel, [self.slot(s) for s in slots], k)
            elif kind == CALL:
                self.lines.append(f"{self.bind('call', item)}()")
                self.leaves_read = False  # an optimizer's step may have replaced p.data
                called = True
            else:
                self.backward(*item)
        if {k for k, _ in capture.leaves} & set(returned):
            self.read_leaves(after_call=called)
        self.lines.append("return (" + "".join(f"{self.slot(k)}, " for k in returned) + ")")
        source = "def replay(args):\n" + "".join(f"    {line}\n" for line in self.lines)
        exec(_code(source), self.names)  # noqa: S102
        return self.names["replay"]

    def kernel(self, kernel: Any, args: list[str], k: int) -> None:
        """Slot k from its kernel: written out in place when it can be (compile/inline.py),
        else called, keeping its rules as `r{k}`."""
        f = inline.form(kernel)
        lines = None if f is None else self.inliner.forward(f, args, k)
        if lines is None:
            self.lines.append(f"v{k}, r{k} = {self.bind('kernel', kernel)}({', '.join(args)})")
        else:
            self.lines += lines

    def rule(self, t: int, i: int, upstream: str) -> None:
        """`g` = rule i of slot t's kernel applied to `upstream`."""
        self.edges += 1
        lines = self.inliner.rule(t, i, upstream, self.edges)
        self.lines += lines if lines is not None else [f"g = r{t}[{i}]({upstream})"]

    def guard(self) -> None:
        """The first line: the key holds, the modules hold as recorded (no module attribute
        assigned since, or each found as it was), every leaf requires grad as it did (a
        parameter frozen since takes no rule in backward) and (when shapes are fixed) has its
        shape and dtype; else the function returns None. One condition, since it runs before
        every step."""
        capture = self.capture
        terms = checks(self.key, self.bind)
        if capture.modules:
            modules, last = self.bind("modules", self.modules), self.bind("assigned", assigned)
            terms.append(f"({modules}.seen == {last}.last or {modules}.hold())")
        for k, t in capture.leaves:
            terms.append(f"{self.leaf(k, t)}.requires_grad is {t.requires_grad}")
            if not capture.value_shaped:
                self.names[f"d{k}"] = t.data.dtype
                terms.append(f"t{k}.data.shape == {t.data.shape!r}")
                terms.append(f"t{k}.data.dtype == d{k}")
        self.lines.append(f"if not ({' and '.join(terms)}): return None")

    def read_leaves(self, after_call: bool) -> None:
        if self.leaves_read:
            return
        self.leaves_read = True
        for k, t in self.capture.leaves:
            self.lines.append(f"v{k} = {self.leaf(k, t)}.data")
            if after_call and self.fixes is not None:
                self.names["reshaped"], self.names[f"d{k}"] = _reshaped, t.data.dtype
                self.lines.append(
                    f"if v{k}.shape != {t.data.shape!r} or v{k}.dtype != d{k}: reshaped('t{k}')"
                )

    def leaf(self, k: int, t: Any) -> str:
        self.names[f"t{k}"] = t
        return f"t{k}"

    def check(self, condition: str, fix: str) -> None:
        """`if condition: fix`, as the mode asks: always, noting a fix, or where one was noted."""
        self.checks += 1
        if self.fixes is None:
            note = f"; fixed.add({self.checks})" if self.observing else ""
            self.lines.append(f"if {condition}: {fix}{note}")
        elif self.checks in self.fixes:
            self.lines.append(f"if {condition}: {fix}")

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
                self.rule(t, i, f"{up}{t}")
                self.check(f"g.shape != {target}.shape", f"g = unbroadcast(g, {target}.shape)")
                self.check(f"g.dtype != {target}.dtype", f"g = g.astype({target}.dtype)")
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
