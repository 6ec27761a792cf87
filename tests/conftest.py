"""Shared oracles: PyTorch (CPU, float64) and central differences, and where the data lives.

PyTorch is a test-only oracle, and the suite must collect and run without it. A test module
that compares with PyTorch says, instead of `import torch`, in one line:

    torch = oracle()   # from conftest import oracle

It gets the real torch (default dtype float64) when it is installed. Without it, a stand-in
that lets the module import and define its tables (`torch.exp`, `torch.nn.Tanh`), and that
skips the test which first uses it, with the reason; the central-difference checks before
that use (and in tests that never use torch) still run. With CHAINRULE_REQUIRE_TORCH=1 (CI
sets it in .ci/run) a missing torch fails those tests instead of skipping them. A test that
uses torch out of sight (the benchmarks' PyTorch contender) calls `need_torch()` first.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("chainrule", deadline=None, max_examples=25, derandomize=True)
settings.load_profile("chainrule")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
MNIST = SHARED / "data" / "mnist"

REQUIRE_TORCH = "CHAINRULE_REQUIRE_TORCH"
NO_TORCH = (
    "PyTorch (the test oracle) is not installed; pip install -e '.[test]' or make test "
    "runs these comparisons"
)


class _MissingTorch:
    """Stands for torch when it is not installed: any attribute is another stand-in, so module
    tables import; calling one (a test using the oracle) skips that test, or fails it when
    CHAINRULE_REQUIRE_TORCH=1."""

    def __init__(self, name: str = "torch") -> None:
        self._name = name

    def __getattr__(self, attr: str) -> _MissingTorch:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _MissingTorch(f"{self._name}.{attr}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if os.environ.get(REQUIRE_TORCH) == "1":
            pytest.fail(f"{self._name}: {NO_TORCH} ({REQUIRE_TORCH}=1 asks for it)")
        pytest.skip(f"{self._name}: {NO_TORCH}")

    def __repr__(self) -> str:
        return f"<{self._name}: not installed>"


def oracle() -> Any:
    """torch, in float64 by default; a skipping stand-in when it is not installed."""
    try:
        import torch
    except ImportError:
        return _MissingTorch()
    torch.set_default_dtype(torch.float64)
    return torch


def need_torch() -> None:
    """For a test whose PyTorch use is out of sight (a subprocess, the benchmarks' contender):
    skip it, or fail it under CHAINRULE_REQUIRE_TORCH=1, when torch is not installed."""
    torch = oracle()
    if isinstance(torch, _MissingTorch):
        torch()


# The largest relative error against PyTorch seen in this run, reported at the end.
WORST = {"rel": 0.0, "what": "nothing compared"}


def relative_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    """max |ours − theirs| / max(|theirs|, 1e-8): relative where the value is not tiny."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    if ours.shape != theirs.shape:
        raise AssertionError(f"shapes differ: ours {ours.shape}, PyTorch's {theirs.shape}")
    if ours.size == 0:
        return 0.0
    return float(np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-8)))


def assert_matches_torch(ours, theirs, what: str, tol: float = 1e-10) -> None:
    """Assert agreement with PyTorch to `tol` relative error, and remember the worst seen."""
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    err = relative_error(ours, theirs)
    if err > WORST["rel"]:
        WORST.update(rel=err, what=what)
    assert err <= tol, f"{what}: relative error {err:.3e} against PyTorch exceeds {tol:.0e}"


def pytest_terminal_summary(terminalreporter) -> None:
    if WORST["what"] != "nothing compared":
        terminalreporter.write_line(
            f"largest relative error against PyTorch: {WORST['rel']:.3e} ({WORST['what']})"
        )


def training_step(model: Any, loss: Any, optimizer: Any) -> Any:
    """The step a compiled step is made from: clear the gradients, forward, loss, backward,
    update, and return the loss (`step = cr.compile(training_step(...))`)."""
    import chainrule as cr

    def step_fn(x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        optimizer.zero_grad()
        c = loss(model(cr.Tensor(x)), y)
        c.backward()
        optimizer.step()
        return c

    return step_fn


@pytest.fixture
def mnist_dir() -> Path:
    if not (MNIST / "t10k-images-idx3-ubyte").exists() and not any(MNIST.glob("t10k-images*")):
        pytest.skip(f"the MNIST test set is not at {MNIST} (../shared beside the clone)")
    return MNIST


@pytest.fixture
def one_blas_thread():
    """BLAS on one thread: tiny matrix products on a shared 2-core machine run faster so."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield
