"""A compiled training step: capture one step, then replay it (`step = cr.compile(step_fn)`).

`step_fn(x, y)` clears the gradients, runs the forward pass and the loss, calls `backward()`
and the optimizer's `step()`, and returns the loss. The first call with a new kind of input
runs it eagerly while recording it: each op reports its kernel (the op on arrays alone,
`tensor.node`) with the slots its arrays come from and go to; `backward()` reports the order
in which the engine will apply the local rules; the optimizer's `zero_grad()` and `step()`
report that they were called. Later calls with inputs of the same kind replay that record:
the same kernels on the new arrays, the same rules in the same order with the same sums,
the same optimizer methods. No Tensor and no graph is made and no graph is walked, and since
every number comes from the very same numpy calls, the results are bit-identical to eager.

What the replay keeps of eager:
- whole ops run, so their checks on values run too (label ranges, sigmoid's overflow guard);
- Dropout draws a fresh mask at every step, from the same generator, in the same order;
- parameters are read afresh at every step (`p.data` may be replaced), and gradients are
  accumulated into `p.grad` exactly as `backward()` does (`None` → set, else `+=`);
- any optimizer works: its own `zero_grad()` and `step()` are called.

A step is recorded again, not replayed, when its key changes: the arguments' types, shapes and
dtypes, grad mode, or, for the modules it called, their `training` flag or a parameter
replaced by another. A step that cannot be replayed exactly runs eagerly instead, every time
for that key, and `step.stats.fallbacks` says why: an op without a kernel, `backward(grad)`
with an explicit gradient, a tensor made inside `step_fn` from an array that is not one of its
arguments, or a parameter changed other than by an optimizer's `step()`.

As in `jax.jit`, `step_fn` is traced: Python numbers it computes, branches it takes and other
side effects happen at the capture only. Clear gradients with `optimizer.zero_grad()` or
`model.zero_grad()` (observed and replayed), not by setting `p.grad` yourself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, TypeVar

import numpy as np

from chainrule.errors import ConfigError
from chainrule.tensor import (
    Kernel,
    Tensor,
    _accumulate,
    _birth,
    _by_birth,
    _reachable,
    as_array,
    is_grad_enabled,
    tracing,
    unbroadcast,
)

F = TypeVar("F", bound=Callable[..., Any])
FORWARD, CALL, BACKWARD = range(3)
RECORDS = 8  # records kept per key: train and eval, or a few sets of parameters


def observed(method: F) -> F:
    """Mark a method a captured step calls and its replay must call again (an optimizer's
    `step` and `zero_grad`, a module's `zero_grad`): its own work is not recorded, it is
    redone by calling it."""

    @functools.wraps(method)
    def reported(self: Any, *args: Any, **kwargs: Any) -> Any:
        capture = tracing.capture
        if capture is None or capture.depth:
            return method(self, *args, **kwargs)
        return capture.call(functools.partial(method, self, *args, **kwargs))

    return reported  # type: ignore[return-value]


class _RefusedError(Exception):
    """Why a step cannot be replayed exactly: it runs eagerly instead."""


def _convert(value: Any, dtype: Any) -> tuple[np.ndarray, tuple]:
    """`Tensor(argument, dtype)` inside step_fn, as a kernel: the same conversion each step."""
    return as_array(value, dtype), ()


@dataclass
class CompileStats:
    """What a compiled step did: `captures` recorded, `replays` replayed, `eager` steps run
    eagerly because their key could not be replayed, and `fallbacks` the reason for each such
    key."""

    captures: int = 0
    replays: int = 0
    eager: int = 0
    fallbacks: dict[str, str] = field(default_factory=dict)


class _Capture:
    """The record of one eager run of step_fn: slots, instructions and guards."""

    def __init__(self, args: tuple) -> None:
        self.start = next(_birth)  # tensors born before this number existed before the step
        self.vals: list[Any] = []  # each slot's value at capture (constants keep theirs)
        self.slot_of: dict[int, int] = {}  # id(tensor or array) -> slot
        self.keep: list[Any] = []  # what slot_of names, alive so that no id is reused
        self.program: list[tuple[int, Any]] = []
        self.forward: list[tuple] | None = None  # the run of forward instructions being added
        self.leaves: list[tuple[int, Tensor]] = []  # read afresh at every replay
        self.before: dict[int, tuple[Tensor, np.ndarray, np.ndarray]] = {}
        self.modules: dict[int, Any] = {}
        self.roots: set[int] = set()  # ids of the tensors backward() was called on
        self.reason: str | None = None
        self.depth = 0  # > 0 inside an observed call, whose own work is not recorded
        self.arg_slots: list[tuple[int, bool]] = []
        for arg in args:
            self.arg_slots.append(self._argument(arg))

    # ---- slots ----------------------------------------------------------------------------

    def _slot(self, value: Any) -> int:
        self.vals.append(value)
        return len(self.vals) - 1

    def _name(self, obj: Any, k: int) -> None:
        self.slot_of[id(obj)] = k
        self.keep.append(obj)
        if isinstance(obj, Tensor):
            self.slot_of[id(obj.data)] = k

    def _argument(self, arg: Any) -> tuple[int, bool]:
        if isinstance(arg, Tensor):
            if arg.requires_grad:
                self.give_up("an argument is a tensor that requires grad")
            k = self._slot(arg.data)
            self._name(arg, k)
            return k, True
        if isinstance(arg, np.ndarray):
            k = self._slot(arg)
            self._name(arg, k)
            return k, False
        return -1, False

    def _tensor(self, t: Tensor) -> int:
        k = self.slot_of.get(id(t))
        if k is not None:
            return k
        if t._seq < self.start:
            if t._parents:
                raise _RefusedError("an op used a tensor from before the step that carries a graph")
            k = self._slot(t.data)
            self._name(t, k)
            self.leaves.append((k, t))
            self.before[id(t)] = (t, t.data, t.data.copy())
            return k
        if t.data.ndim == 0 and not t.requires_grad:
            return self._constant(t.data)  # a Python number lifted by an op, as jax.jit keeps it
        raise _RefusedError(
            "a tensor made inside step_fn from an array that is not one of its arguments "
            "(its values would be frozen at the capture)"
        )

    def _constant(self, value: Any) -> int:
        if isinstance(value, tuple | list) and any(
            isinstance(v, Tensor | np.ndarray) and np.ndim(v) for v in value
        ):
            raise _RefusedError("an op took a sequence of arrays that are not step_fn's arguments")
        return self._slot(value)

    def _argument_slot(self, value: Any) -> int:
        if isinstance(value, Tensor):
            return self._tensor(value)
        if isinstance(value, np.ndarray):
            k = self.slot_of.get(id(value))
            if k is not None:
                return k
            if value.ndim:
                raise _RefusedError(
                    "an op took an array that is not one of step_fn's arguments (its values "
                    "would be frozen at the capture)"
                )
        return self._constant(value)

    def _emit(self, kernel: Kernel, slots: tuple[int, ...], out: Tensor) -> None:
        k = self._slot(out.data)
        self._name(out, k)
        if self.forward is None:
            self.forward = []
            self.program.append((FORWARD, self.forward))
        if len(slots) == 1:
            self.forward.append((kernel, None, slots[0], k))
        else:
            self.forward.append((kernel, itemgetter(*slots) if slots else _nothing, -1, k))

    def give_up(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason

    # ---- what the engine reports ----------------------------------------------------------

    def born(self, t: Tensor, data: Any, dtype: Any) -> None:
        """A Tensor was made from `data`: from an argument (or a slot), it is a conversion."""
        if self.depth or self.reason is not None:
            return
        k = self.slot_of.get(id(data))
        if k is None:
            return
        if t.requires_grad:
            self.give_up("step_fn made a tensor that requires grad from one of its arguments")
        elif t.data is self.vals[k]:
            self._name(t, k)
        else:
            self._emit(_convert, (k, self._slot(dtype)), t)

    def op(self, out: Tensor, name: str, kernel: Kernel | None, args: tuple) -> None:
        if self.depth or self.reason is not None:
            return
        if kernel is None:
            self.give_up(f"the op {name!r} has no kernel")
            return
        try:
            slots = tuple(self._argument_slot(a) for a in args)
        except _RefusedError as why:
            self.give_up(f"{name}: {why}")
            return
        self._emit(kernel, slots, out)

    def module(self, m: Any) -> None:
        if not self.depth:
            self.modules[id(m)] = m

    def backward(self, root: Tensor, grad: Any) -> None:
        if self.depth:
            return
        self.roots.add(id(root))
        self.keep.append(root)
        if self.reason is not None or not root.requires_grad:
            return
        if grad is not None:
            self.give_up("backward(grad) with an explicit gradient")
            return
        k = self.slot_of.get(id(root))
        if k is None or not root._parents:
            self.give_up("backward() on a tensor no recorded op made")
            return
        nodes = _reachable(root, leaves=False)
        nodes.sort(key=_by_birth, reverse=True)
        plan = []
        for t in nodes:
            kt = self.slot_of.get(id(t))
            if kt is None or t._retain:
                self.give_up("backward() through a tensor no recorded op made, or retain_grad()")
                return
            edges = []
            for i, parent in enumerate(t._parents):
                if parent.requires_grad:
                    kp = self.slot_of.get(id(parent))
                    if kp is None:
                        self.give_up("backward() reaches a tensor no recorded op used")
                        return
                    edges.append((i, kp, None if parent._parents else parent))
            plan.append((kt, tuple(edges)))
        self.forward = None
        self.program.append((BACKWARD, (k, root.data.shape, root.data.dtype, tuple(plan))))

    def call(self, bound: Callable[[], Any]) -> Any:
        """An observed method: checked, recorded, then run with its own work unrecorded."""
        if self.reason is None:
            self._parameters_unchanged()
            self.forward = None
            self.program.append((CALL, bound))
        self.depth += 1
        try:
            return bound()
        finally:
            self.depth -= 1
            self.before = {i: (t, t.data, t.data.copy()) for i, (t, _, _) in self.before.items()}

    def _parameters_unchanged(self) -> None:
        """A parameter changed outside an observed call would not change at replay."""
        for t, data, copy in self.before.values():
            if t.data is not data or not np.array_equal(data, copy, equal_nan=True):
                self.give_up("step_fn changed a parameter other than by an optimizer's step()")


def _nothing(vals: list) -> tuple:
    return ()


class _Replay:
    """A captured step, replayed on new arguments of the same kind."""

    def __init__(self, capture: _Capture, returned: tuple[int, ...]) -> None:
        self.vals = capture.vals
        self.program = capture.program
        self.leaves = capture.leaves
        self.arg_slots = capture.arg_slots
        self.returned = returned
        self.keep = capture.keep
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
        for (k, is_tensor), arg in zip(self.arg_slots, args, strict=True):
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
                item()
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
            else:
                _accumulate(leaf, g, g is not up and g.flags.owndata and g.flags.writeable)


def _signature(arg: Any) -> Any:
    if isinstance(arg, np.ndarray):
        return (np.ndarray, arg.shape, arg.dtype)
    if isinstance(arg, Tensor):
        return (Tensor, arg.data.shape, arg.data.dtype, arg.requires_grad)
    return (type(arg), arg)


class CompiledStep:
    """`step_fn` compiled: call it as step_fn itself. It returns the loss as a new 0-d
    Tensor of its own (detached: its graph is not kept), with the value eager gives."""

    def __init__(self, step_fn: Callable[..., Any], extras: bool = False) -> None:
        if not callable(step_fn):
            raise ConfigError(f"compile: step_fn must be callable, got {step_fn!r}")
        self.step_fn = step_fn
        self.stats = CompileStats()
        self._extras = extras  # fit's own step also returns the output a^{(L)}
        # per key, the records of each set of training modes and parameters seen (newest
        # first, at most RECORDS), or why that key runs eagerly
        self._cache: dict[Any, list[_Replay] | str] = {}
        functools.update_wrapper(self, step_fn)

    def __call__(self, *args: Any) -> Tensor:
        return Tensor(self.arrays(*args)[0])

    def arrays(self, *args: Any) -> tuple[np.ndarray, ...]:
        """The returned arrays (the loss's, then fit's output's): what `__call__` wraps."""
        try:
            ids = [id(a) for a in args]
            key = (is_grad_enabled(), tuple(map(ids.index, ids)), *map(_signature, args))
            entry = self._cache.get(key)
        except TypeError:  # an argument that cannot be part of a key
            key, entry = None, "an argument that cannot be hashed"
        if tracing.capture is not None:  # inside another capture: its record takes these ops
            return self._eager(args)
        if isinstance(entry, str):
            self.stats.eager += 1
            return self._eager(args)
        for replay in entry or ():
            if replay.holds():
                self.stats.replays += 1
                return replay.run(args)
        return self._capture(key, args)

    def _returned(self, result: Any, roots: set[int]) -> tuple[Tensor, ...]:
        values = result if self._extras else (result,)
        loss = values[0]
        if not isinstance(loss, Tensor) or id(loss) not in roots:
            what = type(loss).__name__ if not isinstance(loss, Tensor) else "another tensor"
            raise ConfigError(
                f"compile: step_fn must return the loss it called backward() on, so that the "
                f"compiled step can return the same loss; it returned {what}"
            )
        return values

    def _eager(self, args: tuple) -> tuple[np.ndarray, ...]:
        capture = _Capture(())
        capture.reason = "eager"  # only observe what backward() was called on
        values = self._run_capturing(capture, args)
        return tuple(v.data for v in values)

    def _run_capturing(self, capture: _Capture, args: tuple) -> tuple[Tensor, ...]:
        outer = tracing.capture
        tracing.capture = capture
        try:
            result = self.step_fn(*args)
        finally:
            tracing.capture = outer
        return self._returned(result, capture.roots)

    def _capture(self, key: Any, args: tuple) -> tuple[np.ndarray, ...]:
        capture = _Capture(args)
        values = self._run_capturing(capture, args)
        capture._parameters_unchanged()
        slots = tuple(capture.slot_of.get(id(v), -1) for v in values)
        if capture.reason is None and -1 in slots:
            capture.give_up("step_fn returned a tensor no recorded op made")
        self.stats.captures += 1
        if key is not None:
            if capture.reason is None:
                kept = self._cache.get(key)
                kept = kept[: RECORDS - 1] if isinstance(kept, list) else []
                self._cache[key] = [_Replay(capture, slots), *kept]
            else:
                self._cache[key] = capture.reason
                self.stats.fallbacks[_describe(key)] = capture.reason
        return tuple(v.data for v in values)


def _describe(key: tuple) -> str:
    grad, _, *args = key
    shapes = ", ".join(
        f"{s[1]} {s[2]}" if s[0] in (np.ndarray, Tensor) else repr(s[1]) for s in args
    )
    return f"({shapes})" + ("" if grad else " under no_grad")


def compile(step_fn: Callable[..., Any]) -> CompiledStep:  # noqa: A001  (cr.compile, as jax.jit)
    """Compile a training step: `step = cr.compile(step_fn)`, then `loss = step(x, y)`.

    `step_fn(x, y)` clears the gradients, runs the forward pass and the loss, calls
    `loss.backward()` and the optimizer's `step()`, and returns the loss. The compiled step
    records the first call for each kind of input and replays it after that, with results
    bit-identical to running step_fn itself. It returns the loss as a detached 0-d Tensor.
    `step.stats` counts captures, replays and steps run eagerly, and says why a step could
    not be compiled (see chainrule.compile).
    """
    return CompiledStep(step_fn)
