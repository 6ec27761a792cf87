"""A compiled step's key: what its arguments and grad mode must be for a record to replay.

An array stands for its shape and dtype, a Tensor for those and whether it requires grad, and
anything else for its type and value, as `jax.jit` keys static arguments. The same key is
written as source at the head of each record's replay function, so that the step a record
replays most often is entered with a few comparisons instead of building and hashing a key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy import ndarray

from chainrule.tensor import Tensor, _grad_mode


def signature(arg: Any) -> Any:
    if isinstance(arg, np.ndarray):
        return (arg.shape, arg.dtype)
    if isinstance(arg, Tensor):
        return (Tensor, arg.data.shape, arg.data.dtype, arg.requires_grad)
    return (type(arg), arg)


def key_of(args: tuple) -> tuple:
    """The key of a call (a dict lookup with it raises TypeError when an argument cannot be
    part of one)."""
    # a plain array's signature written out: this runs before every step
    return (_grad_mode.enabled, *[(a.shape, a.dtype) if type(a) is ndarray else signature(a)
                                  for a in args])  # fmt: skip


def describe(key: tuple) -> str:
    grad, *args = key
    return f"({', '.join(map(_described, args))})" + ("" if grad else " under no_grad")


def _described(sig: tuple) -> str:
    """One argument of a key: an array's (shape, dtype), a Tensor's, else the value."""
    if sig[0] is Tensor:
        return f"{sig[1]} {sig[2]}"
    if isinstance(sig[0], tuple):
        return f"{sig[0]} {sig[1]}"
    return repr(sig[1])


def checks(key: tuple, bind: Callable[[str, Any], str]) -> list[str]:
    """The key as conditions on `args`, `signature`'s cases in its order; `bind(prefix, value)`
    names a value the conditions compare with."""
    grad, *sigs = key
    terms = [f"{bind('grad_mode', _grad_mode)}.enabled is {grad}", f"len(args) == {len(sigs)}"]
    array, tensor = bind("ndarray", np.ndarray), bind("Tensor", Tensor)
    for i, sig in enumerate(sigs):
        a = f"args[{i}]"
        if sig[0] is Tensor:
            _, shape, dtype, requires_grad = sig
            terms.append(
                f"not isinstance({a}, {array}) and isinstance({a}, {tensor}) and "
                f"{a}.data.shape == {shape!r} and {a}.data.dtype == {bind('dtype', dtype)} "
                f"and {a}.requires_grad is {requires_grad}"
            )
        elif isinstance(sig[0], tuple):
            shape, dtype = sig
            terms.append(
                f"isinstance({a}, {array}) and {a}.shape == {shape!r} and "
                f"{a}.dtype == {bind('dtype', dtype)}"
            )
        else:
            kind, value = sig
            terms.append(
                f"not isinstance({a}, ({array}, {tensor})) and type({a}) is {bind('kind', kind)} "
                f"and {a} == {bind('value', value)}"
            )
    return terms
