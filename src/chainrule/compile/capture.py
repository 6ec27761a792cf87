"""The capture of a compiled step: one eager run of step_fn, recorded as slots (the arrays a
step reads and makes), instructions (kernels, observed calls, backward passes) and guards."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from chainrule.backprop import by_birth, reachable
from chainrule.tensor import VALUE_SHAPED, Kernel, Tensor, _birth, as_array, tracing

F = TypeVar("F", bound=Callable[..., Any])
FORWARD, CALL, BACKWARD = range(3)  # the kinds of instruction in a record's program


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


class RefusedError(Exception):
    """Why a step cannot be replayed exactly: it runs eagerly instead."""


def _convert(value: Any, dtype: Any) -> tuple[np.ndarray, tuple]:
    """`Tensor(argument, dtype)` inside step_fn, as a kernel: the same conversion each step."""
    return as_array(value, dtype), ()


class Capture:
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
        self.grads: dict[int, tuple[Tensor, Any, Any]] = {}  # each leaf's grad, and a copy
        self.modules: dict[int, Any] = {}
        self.written: dict[int, set[str]] = {}  # id(module) -> the attributes step_fn assigned
        self.roots: set[int] = set()  # ids of the tensors backward() was called on
        self.reason: str | None = None
        self.value_shaped = False  # an op's output shape depends on values (a boolean mask)
        self.depth = 0  # > 0 inside an observed call, whose own work is not recorded
        self.arg_slots = [self._argument(arg) for arg in args]
        if len({id(arg) for arg in args}) < len(args):  # one slot would stand for two
            self.give_up("the same object is passed as two arguments")

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
                raise RefusedError("an op used a tensor from before the step that carries a graph")
            k = self._slot(t.data)
            self._name(t, k)
            self.leaves.append((k, t))
            self.before[id(t)] = (t, t.data, t.data.copy())
            self.grads[id(t)] = _grad_of(t)
            return k
        if t.data.ndim == 0 and not t.requires_grad:
            return self._constant(t.data)  # a Python number lifted by an op, as jax.jit keeps it
        raise RefusedError(
            "a tensor made inside step_fn from an array that is not one of its arguments "
            "(its values would be frozen at the capture)"
        )

    def _constant(self, value: Any) -> int:
        if isinstance(value, tuple | list) and any(
            isinstance(v, Tensor | np.ndarray) and np.ndim(v) for v in value
        ):
            raise RefusedError("an op took a sequence of arrays that are not step_fn's arguments")
        return self._slot(value)

    def _argument_slot(self, value: Any) -> int:
        if isinstance(value, Tensor):
            return self._tensor(value)
        if isinstance(value, np.ndarray):
            k = self.slot_of.get(id(value))
            if k is not None:
                return k
            if value.ndim:
                raise RefusedError(
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
        self.forward.append((kernel, slots, k))

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
        except RefusedError as why:
            self.give_up(f"{name}: {why}")
            return
        shaped_by = VALUE_SHAPED.get(kernel)
        if shaped_by is not None and shaped_by(*args):
            self.value_shaped = True
        self._emit(kernel, slots, out)

    def module(self, m: Any) -> None:
        if not self.depth:
            self.modules[id(m)] = m

    def assigned(self, m: Any, name: str) -> None:
        """A module's attribute assigned by step_fn itself (a forward that keeps its output):
        a side effect of the capture, not a setting a replay must find again."""
        self.written.setdefault(id(m), set()).add(name)

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
        nodes = reachable(root, leaves=False)
        nodes.sort(key=by_birth, reverse=True)
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

    def backward_done(self) -> None:
        """backward() has filled the leaves' gradients: what step_fn may not change by hand."""
        if not self.depth:
            self.grads = {i: _grad_of(t) for i, (t, _, _) in self.grads.items()}

    def call(self, bound: Callable[[], Any]) -> Any:
        """An observed method: checked, recorded, then run with its own work unrecorded."""
        if self.reason is None:
            self._changed_only_by_calls()
            self.forward = None
            self.program.append((CALL, bound))
        self.depth += 1
        try:
            return bound()
        finally:
            self.depth -= 1
            self.before = {i: (t, t.data, t.data.copy()) for i, (t, _, _) in self.before.items()}
            self.grads = {i: _grad_of(t) for i, (t, _, _) in self.grads.items()}

    def _changed_only_by_calls(self) -> None:
        """A parameter or a gradient changed outside backward() and the observed calls would
        not change at replay: an update written by hand, a gradient clipped by hand."""
        for t, data, copy in self.before.values():
            if t.data is not data or not np.array_equal(data, copy, equal_nan=True):
                self.give_up("step_fn changed a parameter other than by an optimizer's step()")
        for t, grad, copy in self.grads.values():
            if t.grad is not grad or (grad is not None and not np.array_equal(grad, copy, True)):
                self.give_up(
                    "step_fn changed a gradient other than by backward() or an optimizer's "
                    "zero_grad() (a gradient clipped or scaled by hand)"
                )


def _grad_of(t: Tensor) -> tuple[Tensor, Any, Any]:
    return (t, t.grad, None if t.grad is None else t.grad.copy())
