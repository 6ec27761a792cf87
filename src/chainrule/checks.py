"""Argument checks: the one place that writes "owner: X must be ..., got ..." and raises
ConfigError, so every refused argument reads the same in Python and on the command line.

Each check returns the value it accepted, in the type the caller uses (`int`, `float`).
`real_array` is the one check of data that must be real numbers (a tensor's, a target's).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from chainrule.errors import ArgumentTypeError, ConfigError, DTypeError, ShapeError


def refuse(owner: str, name: str, expected: str, value: Any) -> ConfigError:
    """The ConfigError for `name` of `owner` that should have been `expected`."""
    where = f"{owner}: " if owner else ""
    shown = repr(value)
    if len(shown) > 80:  # a 400-digit number or a long list: its start is enough
        shown = shown[:60] + f"... ({len(shown):,} characters)"
    return ConfigError(f"{where}{name} must be {expected}, got {shown}")


def _real(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer beyond float64 (10**400) is not a finite number
        return math.inf


def positive_int(owner: str, name: str, value: Any) -> int:
    """A whole number > 0 (a count of epochs, neurons, rows)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise refuse(owner, name, "a positive integer", value)
    return int(value)


def int_at_least(owner: str, name: str, value: Any, low: int) -> int:
    """A whole number >= `low`."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise refuse(owner, name, f"an integer >= {low}", value)
    return int(value)


def positive(owner: str, name: str, value: Any) -> float:
    """A finite number > 0 (a learning rate η)."""
    number = _real(value)
    if number is None or not math.isfinite(number) or number <= 0:
        raise refuse(owner, name, "a finite number > 0", value)
    return number


def at_least(owner: str, name: str, value: Any, low: float) -> float:
    """A finite number >= `low` (a target loss, a tolerance, noise)."""
    number = _real(value)
    if number is None or not math.isfinite(number) or number < low:
        raise refuse(owner, name, f"a finite number >= {low:g}", value)
    return number


def fraction(owner: str, name: str, value: Any) -> float:
    """A number in [0, 1) (momentum, a held-out share)."""
    number = _real(value)
    if number is None or not 0 <= number < 1:
        raise refuse(owner, name, "a fraction in [0, 1)", value)
    return number


def finite(owner: str, name: str, value: Any) -> float:
    """Any finite number."""
    number = _real(value)
    if number is None or not math.isfinite(number):
        raise refuse(owner, name, "a finite number", value)
    return number


def one_of(owner: str, name: str, value: Any, choices: Iterable[str]) -> str:
    """One of the names of a registry (activations, losses, optimizers, datasets)."""
    names = list(choices)
    if value not in names:
        raise refuse(owner, name, f"one of {', '.join(map(str, names))}", value)
    return value


def path_like(owner: str, name: str, value: Any) -> str | os.PathLike[str]:
    """A file path (str or os.PathLike); anything else is an ArgumentTypeError, the TypeError
    os.fspath would raise, with the owner's name on it."""
    if isinstance(value, str | os.PathLike):
        return value
    raise ArgumentTypeError(f"{owner}: {name} must be a file path (str or Path), got {value!r:.60}")


# numpy kinds a tensor can hold: booleans, integers, floats. Complex numbers would lose their
# imaginary part, and strings, None and other objects are not numbers at all.
_NUMERIC_KINDS = frozenset("biuf")


def real_array(value: Any, dtype: Any = None) -> np.ndarray:
    """`value` as a numpy array of real numbers (its dtype as numpy infers it, or `dtype`);
    DTypeError for strings, None, complex numbers and objects, ShapeError for ragged lists,
    ArgumentTypeError for a `dtype` numpy does not know."""
    try:
        # converted as it is first, so that `dtype` cannot hide complex numbers or text
        array = _big_integers(np.asarray(value))
        if array.dtype.kind in _NUMERIC_KINDS and dtype is not None:
            array = array.astype(dtype, copy=False)
    except TypeError as err:
        if dtype is not None and not _is_dtype(dtype):
            raise ArgumentTypeError(f"dtype must be a numpy dtype, got {dtype!r}") from None
        raise DTypeError(f"a tensor holds real numbers, got {_kind(value)} ({err})") from None
    except ValueError as err:
        if "inhomogeneous" in str(err) or "sequence" in str(err):
            raise ShapeError(
                f"a tensor is rectangular, got rows of different lengths ({err})"
            ) from None
        raise DTypeError(f"a tensor holds real numbers, got {_kind(value)} ({err})") from None
    if array.dtype.kind not in _NUMERIC_KINDS:
        raise DTypeError(
            f"a tensor holds real numbers (bool, int or float), got {_kind(value)} of numpy "
            f"dtype {array.dtype}"
        )
    return array


def _big_integers(array: np.ndarray) -> np.ndarray:
    """Python integers beyond int64 (10**20) make an object array; they are real numbers, so
    they become float64. Any other object array is left for the caller to refuse."""
    if array.dtype.kind == "O" and array.size and all(type(v) in (int, float) for v in array.flat):
        return array.astype(np.float64)
    return array


def float_dtype(owner: str, value: Any) -> np.dtype:
    """A floating dtype (float32 or float64), the dtype of a network's parameters."""
    if not _is_dtype(value):
        raise ArgumentTypeError(f"{owner}: dtype must be a numpy dtype, got {value!r:.60}")
    dtype = np.dtype(value)
    if dtype.kind != "f":
        raise refuse(owner, "dtype", "a floating dtype (float32 or float64)", dtype)
    return dtype


def _is_dtype(dtype: Any) -> bool:
    try:
        np.dtype(dtype)
    except TypeError:
        return False
    return True


def _kind(value: Any) -> str:
    """A short description of `value` for an error message, never its whole contents."""
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"
