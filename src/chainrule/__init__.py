"""chainrule: backpropagation done right.

A reverse-mode autodiff engine on numpy (`tensor`, `ops`), the networks it trains (`nn`,
`optim`, `fit`), and the tools that show how the chain rule produces every gradient.
"""

import sys

# First, before numpy: Ctrl-C while the `chainrule` command starts is its one line (start.py).
from chainrule.cli import start  # noqa: F401

# isort: split
from importlib.metadata import PackageNotFoundError, version

from chainrule import callbacks, lecture, nn, ops, optim
from chainrule.compile import compile
from chainrule.errors import (
    ChainruleError,
    ConfigError,
    DataError,
    DivergedError,
    GradError,
    ModelFileError,
    ShapeError,
)
from chainrule.function import Function
from chainrule.gradcheck import GradcheckReport, gradcheck
from chainrule.io import load, save
from chainrule.lecture import classic
from chainrule.lecture import exercise as _exercise
from chainrule.lecture import explain as _explain
from chainrule.lecture import health as _health
from chainrule.lecture import walkthrough as _walkthrough
from chainrule.lecture.exercise import exercise
from chainrule.lecture.explain import Explanation, explain
from chainrule.lecture.health import GradientHealthWarning, HealthReport, gradient_health
from chainrule.lecture.sensitivity import Sensitivity, sensitivity
from chainrule.lecture.walkthrough import walkthrough
from chainrule.nn.init import manual_seed
from chainrule.ops import (
    cat,
    chunk,
    concatenate,
    dot,
    einsum,
    gather,
    inner,
    masked_fill,
    matmul,
    maximum,
    minimum,
    one_hot,
    outer,
    pad,
    split,
    stack,
    tensordot,
    where,
)
from chainrule.tensor import Tensor, is_grad_enabled, no_grad, tensor
from chainrule.threads import get_num_threads, set_num_threads
from chainrule.train import History, fit

# The teaching modules lived at the top before chainrule.lecture; their old import paths
# (`from chainrule.explain import Explanation`) keep working.
for _module in (classic, _exercise, _explain, _health, _walkthrough):
    sys.modules.setdefault(f"chainrule.{_module.__name__.rpartition('.')[2]}", _module)

try:
    __version__ = version("chainrule")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = [
    "ChainruleError",
    "ConfigError",
    "DataError",
    "DivergedError",
    "Explanation",
    "Function",
    "GradError",
    "GradcheckReport",
    "GradientHealthWarning",
    "HealthReport",
    "History",
    "ModelFileError",
    "Sensitivity",
    "ShapeError",
    "Tensor",
    "callbacks",
    "cat",
    "chunk",
    "classic",
    "compile",
    "concatenate",
    "dot",
    "einsum",
    "exercise",
    "explain",
    "fit",
    "gather",
    "get_num_threads",
    "gradcheck",
    "gradient_health",
    "inner",
    "is_grad_enabled",
    "lecture",
    "load",
    "manual_seed",
    "masked_fill",
    "matmul",
    "maximum",
    "minimum",
    "nn",
    "no_grad",
    "one_hot",
    "ops",
    "optim",
    "outer",
    "pad",
    "save",
    "sensitivity",
    "set_num_threads",
    "split",
    "stack",
    "tensor",
    "tensordot",
    "walkthrough",
    "where",
]

# Rooms with heavy optional dependencies (matplotlib, scikit-learn, typer) load on first use.
_LAZY_MODULES = ("plot", "data", "sklearn", "cli", "playground")


def __getattr__(name: str):
    if name in _LAZY_MODULES:
        import importlib

        return importlib.import_module(f"chainrule.{name}")
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")
