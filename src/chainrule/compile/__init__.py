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
dtypes, grad mode, or, for the modules it called, any attribute given another value (the
`training` flag, a parameter or layer replaced, a setting such as a Dropout's p, which its
ops hold as a constant), or a tensor it reads given an array of another shape or dtype, or
frozen or unfrozen (`requires_grad`, which decides the rules backward applies). Since
those fix every shape of the step (unless a boolean mask picks elements), the first replay
notes which gradients needed summing back over broadcast axes or casting, and later replays
check only those; an optimizer's `zero_grad()` or `step()` that reshapes a parameter in the
middle of a step is refused with a ConfigError.

A step that cannot be replayed exactly runs eagerly instead, every time for that key, and
`step.stats.fallbacks` says why: an op without a kernel, `backward(grad)` with an explicit
gradient, a tensor made inside `step_fn` from an array that is not one of its arguments, a
parameter changed other than by an optimizer's `step()`, a gradient changed after
`backward()` by hand (clipped in place), or records replaced at almost every step (a module
setting moved at every batch), which would cost a capture a step.

As in `jax.jit`, `step_fn` is traced: Python numbers it computes, branches it takes and other
side effects happen at the capture only (a module's settings are watched, as above; any other
value step_fn reads, a global of yours, is not). Clear gradients with `optimizer.zero_grad()` or
`model.zero_grad()` (observed and replayed), not by setting `p.grad` yourself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.compile.capture import Capture, observed
from chainrule.compile.key import describe, key_of
from chainrule.compile.replay import Replay
from chainrule.errors import ConfigError
from chainrule.tensor import Tensor, detached, node, tracing
from chainrule.threads import MIN_PRODUCT_FOR_THREADS, on_free_cores

__all__ = ["CompileStats", "CompiledStep", "compile", "observed"]

RECORDS = 8  # records kept per key: train and eval, or a few sets of parameters
# A capture costs about as much as 8 eager steps (W1: 545 µs against 72): a key recorded
# again RECORDS times in a row, each record replayed fewer times than that, runs eagerly.
CAPTURE_COST = 8


@dataclass
class CompileStats:
    """What a compiled step did: `captures` recorded, `replays` replayed, `eager` steps run
    eagerly because their key could not be replayed, and `fallbacks` the reason for each such
    key."""

    captures: int = 0
    replays: int = 0
    eager: int = 0
    fallbacks: dict[str, str] = field(default_factory=dict)


class CompiledStep:
    """`step_fn` compiled: call it as step_fn itself. It returns the loss as a new 0-d
    Tensor of its own (detached: its graph is not kept), with the value eager gives."""

    def __init__(self, step_fn: Callable[..., Any], extras: bool = False) -> None:
        """`extras` is fit's own step: it also returns the output, and fit chooses the BLAS
        threads itself, so the step leaves them alone."""
        if not callable(step_fn):
            raise ConfigError(f"compile: step_fn must be callable, got {step_fn!r}")
        self.step_fn = step_fn
        self.stats = CompileStats()
        self._extras = extras  # fit's own step also returns the output a^{(L)}
        # per key, the records of each set of training modes and parameters seen (newest
        # first, at most RECORDS), or why that key runs eagerly
        self._cache: dict[Any, list[Replay] | str] = {}
        self._last: Replay | None = None  # the record replayed last, tried first
        # per key: the replays counted at its last capture, and how many captures in a row
        # came before CAPTURE_COST replays had paid for the one before
        self._churn: dict[Any, tuple[int, int]] = {}
        functools.update_wrapper(self, step_fn)

    def __call__(self, *args: Any) -> Tensor:
        last = self._last
        if last is not None and tracing.capture is None and last.product < MIN_PRODUCT_FOR_THREADS:
            # the usual step of a small network written out (`arrays`, `_replay`, `detached`):
            # three calls fewer are 0.5 µs of a 55 µs W1 step
            self.stats.replays += 1
            values = last.run(args)
            if values is not None:
                return node(values[0], (), "leaf", ())
            self.stats.replays -= 1
        return detached(self.arrays(*args)[0])

    def arrays(self, *args: Any) -> tuple[np.ndarray, ...]:
        """The returned arrays (the loss's, then fit's output's): what `__call__` wraps."""
        last = self._last
        if last is not None and tracing.capture is None:  # most steps: its head checks the key
            values = self._replay(last, args)
            if values is not None:
                return values
        try:
            key = key_of(args)
            entry = self._cache.get(key)
        except TypeError:  # an argument that cannot be part of a key
            key, entry = None, "an argument that cannot be hashed"
        if tracing.capture is not None:  # inside another capture: its record takes these ops
            return self._eager(args)
        if isinstance(entry, str):
            self.stats.eager += 1
            return self._eager(args)
        for replay in entry or ():
            values = self._replay(replay, args)
            if values is not None:
                self._last = replay
                return values
        return self._capture(key, args)

    def _replay(self, replay: Replay, args: tuple) -> tuple[np.ndarray, ...] | None:
        self.stats.replays += 1  # counted first: a replay that raises was one
        if self._extras or replay.product < MIN_PRODUCT_FOR_THREADS:  # fit chose, or small
            values = replay.run(args)
        else:
            values = on_free_cores(replay.product, replay.run, args)
        if values is None:
            self.stats.replays -= 1  # the record did not hold: nothing ran
        return values

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
        capture = Capture(())
        capture.reason = "eager"  # only observe what backward() was called on
        values = self._run_capturing(capture, args)
        return tuple(v.data for v in values)

    def _run_capturing(self, capture: Capture, args: tuple) -> tuple[Tensor, ...]:
        outer = tracing.capture
        tracing.capture = capture
        try:
            result = self.step_fn(*args)
        finally:
            tracing.capture = outer
        return self._returned(result, capture.roots)

    def _capture(self, key: Any, args: tuple) -> tuple[np.ndarray, ...]:
        capture = Capture(args)
        values = self._run_capturing(capture, args)
        capture._changed_only_by_calls()
        slots = tuple(capture.slot_of.get(id(v), -1) for v in values)
        if capture.reason is None and -1 in slots:
            capture.give_up("step_fn returned a tensor no recorded op made")
        self.stats.captures += 1
        if key is not None and capture.reason is None and self._churns(key):
            capture.give_up(
                f"recorded again at {RECORDS} steps in a row, each record replayed fewer than "
                f"{CAPTURE_COST} times: something the records hold (a module's setting) "
                f"changes at almost every step"
            )
        if key is not None:
            if capture.reason is None:
                kept = self._cache.get(key)
                kept = kept[: RECORDS - 1] if isinstance(kept, list) else []
                self._cache[key] = [Replay(capture, key, slots), *kept]
            else:
                self._cache[key] = capture.reason
                self.stats.fallbacks[describe(key)] = capture.reason
                self._last = None  # it may be this key's, whose records no longer serve
        return tuple(v.data for v in values)

    def _churns(self, key: Any) -> bool:
        """Whether `key` has been recorded again too often to pay: a schedule that sets a
        module's setting at every batch would cost a capture a step, several eager steps."""
        last, in_a_row = self._churn.get(key, (None, 0))
        if last is not None:
            in_a_row = in_a_row + 1 if self.stats.replays - last < CAPTURE_COST else 0
        self._churn[key] = (self.stats.replays, in_a_row)
        return in_a_row >= RECORDS


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
