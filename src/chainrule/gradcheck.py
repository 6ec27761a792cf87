"""gradcheck: the lecture's "small change in the weight" made into a test of every gradient.

Each input element x is nudged to x ± ε; (C(x + ε) − C(x − ε)) / 2ε is compared with the
gradient backpropagation gives. Central differences are accurate to O(ε²).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from chainrule.checks import at_least, positive
from chainrule.errors import ArgumentTypeError, GradError
from chainrule.tensor import ArrayLike, Tensor, as_array, no_grad


@dataclass
class InputCheck:
    """The comparison for one input: largest absolute and relative differences."""

    index: int
    shape: tuple[int, ...]
    max_abs_error: float
    max_rel_error: float
    passed: bool


@dataclass
class GradcheckReport:
    """Per-input results; truthy when every input passed."""

    inputs: list[InputCheck]
    atol: float
    rtol: float

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.inputs)

    @property
    def max_rel_error(self) -> float:
        return max((c.max_rel_error for c in self.inputs), default=0.0)

    @property
    def max_abs_error(self) -> float:
        return max((c.max_abs_error for c in self.inputs), default=0.0)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        lines = [f"gradcheck {verdict} (atol={self.atol}, rtol={self.rtol})"]
        for c in self.inputs:
            lines.append(
                f"  input {c.index} {c.shape}: max abs error {c.max_abs_error:.3e}, "
                f"max rel error {c.max_rel_error:.3e}{'' if c.passed else '  <- FAILED'}"
            )
        return "\n".join(lines)


def _scalar(out: Tensor, weights: np.ndarray | None) -> Tensor:
    return out if weights is None else (out * weights).sum()


def gradcheck(
    f: Callable[..., Tensor],
    inputs: Sequence[ArrayLike],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> GradcheckReport:
    """Compare backward() with central differences for every element of every input.

    `f(*tensors)` may return any shape: a non-scalar output is reduced to Σ r ⊙ f with a fixed
    random r, which checks the full vector-Jacobian product. Everything runs in float64.
    An element passes when |autodiff − numeric| <= atol + rtol·|numeric| (PyTorch's test).
    """
    eps = positive("gradcheck", "eps", eps)
    atol = at_least("gradcheck", "atol", atol, 0.0)
    rtol = at_least("gradcheck", "rtol", rtol, 0.0)
    # C order, so that `reshape(-1)` below is a view and nudging it nudges the input: a
    # transposed (Fortran-ordered) input would otherwise be nudged in a copy, and read as flat
    if not callable(f):
        raise ArgumentTypeError(f"gradcheck: f must be a function of tensors, got {f!r:.60}")
    arrays = [np.array(as_array(x, np.float64), order="C") for x in inputs]
    leaves = [Tensor(a, requires_grad=True) for a in arrays]
    out = f(*leaves)
    if not isinstance(out, Tensor):
        raise GradError(f"gradcheck: f must return a Tensor, got {type(out).__name__}")
    weights = None
    if out.ndim != 0:
        weights = np.random.default_rng(seed).uniform(0.5, 1.5, out.shape)
    _scalar(out, weights).backward()

    checks = []
    for i, (leaf, a) in enumerate(zip(leaves, arrays, strict=True)):
        analytic = leaf.grad if leaf.grad is not None else np.zeros_like(a)
        numeric = np.zeros_like(a)
        flat = a.reshape(-1)
        with no_grad():
            for e in range(flat.size):
                kept = flat[e]
                flat[e] = kept + eps
                up = float(_scalar(f(*[Tensor(b) for b in arrays]), weights).data)
                flat[e] = kept - eps
                down = float(_scalar(f(*[Tensor(b) for b in arrays]), weights).data)
                flat[e] = kept
                numeric.reshape(-1)[e] = (up - down) / (2 * eps)
        diff = np.abs(analytic - numeric)
        scale = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), 1e-12)
        checks.append(
            InputCheck(
                index=i,
                shape=a.shape,
                max_abs_error=float(diff.max(initial=0.0)),
                max_rel_error=float((diff / scale).max(initial=0.0)),
                passed=bool(np.all(diff <= atol + rtol * np.abs(numeric))),
            )
        )
    return GradcheckReport(checks, atol, rtol)
