"""docs/architecture.md's rules, held: the spine imports no room above it, and no source file
grows past 500 lines
(but Tensor's method table)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "chainrule"
SPINE = [
    "tensor.py",
    "tensor_methods.py",
    "backprop.py",
    "ops",
    "function.py",
    "checks.py",
    "errors.py",
    "optim.py",
    "compile",
    "threads.py",
    "examples.py",
    "history.py",
    "train.py",
    "train_step.py",
    "nn",
]
ROOMS = (
    "lecture",
    "cli",
    "plot",
    "graph",
    "notebook",
    "liveplot",
    "plot_network",
    "graph_svg",
    "io",
    "data",
    "preprocess",
    "sklearn",
    "callbacks",
    "distributed",
    "modelfile",
    "records",
    "csvfile",
    "files",
    "fetch",
    "idx",
)
MAX_LINES = 500


def _files(names: list[str]) -> list[Path]:
    return [
        p
        for name in names
        for p in ([SRC / name] if name.endswith(".py") else (SRC / name).rglob("*.py"))
    ]


def _top_level_imports(path: Path) -> list[str]:
    """The chainrule modules `path` imports when it is loaded (not inside a function)."""
    found = []
    for statement in ast.parse(path.read_text()).body:
        if isinstance(statement, ast.ImportFrom) and statement.module:
            found.append(statement.module)
            found += [f"{statement.module}.{alias.name}" for alias in statement.names]
        elif isinstance(statement, ast.Import):
            found += [alias.name for alias in statement.names]
    return [name for name in found if name.startswith("chainrule.")]


@pytest.mark.parametrize("path", _files(SPINE), ids=lambda p: str(p.relative_to(SRC)))
def test_the_spine_imports_no_room_above_it(path):
    above = [name for name in _top_level_imports(path) if name.split(".")[1] in ROOMS]
    assert not above, f"{path.relative_to(SRC)} imports {above}"


def test_no_source_file_is_over_500_lines():
    long = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, long
