"""docs/lecture.md and docs/explain.md run: their Python blocks are doctests, their printed
output checked.

Lines outside ```python fences are blanked (so the doctest's line numbers are the file's),
then every `>>>` example runs in order in one namespace, as a reader would type them.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import numpy as np
import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
FENCE = re.compile(r"^```python\s*$")


def python_blocks_only(text: str) -> str:
    kept, inside = [], False
    for line in text.split("\n"):
        if FENCE.match(line):
            inside = True
            kept.append("")
        elif inside and line.strip() == "```":
            inside = False
            kept.append("")
        else:
            kept.append(line if inside else "")
    return "\n".join(kept)


def blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def run_doc(path: Path) -> doctest.TestResults:
    test = doctest.DocTestParser().get_doctest(
        python_blocks_only(path.read_text()), {}, path.name, str(path), 0
    )
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    failures: list[str] = []
    saved = np.get_printoptions()  # the doc sets numpy's print options for its own output
    try:
        runner.run(test, out=failures.append)
    finally:
        np.set_printoptions(**saved)
    if runner.failures:
        pytest.fail("".join(failures), pytrace=False)
    return runner.summarize(verbose=False)


def test_lecture_doc_runs_and_prints_what_it_says():
    path = DOCS / "lecture.md"
    results = run_doc(path)
    assert results.attempted >= 60, "the lecture doc lost its examples"
    # Every code block is checked: none is plain code that nothing runs.
    for block in blocks(path.read_text()):
        assert block.lstrip().startswith(">>>"), f"a python block that is not a doctest:\n{block}"


def test_explain_doc_runs_and_prints_what_it_says():
    """docs/explain.md's ```python blocks are doctests, run in order in one namespace."""
    results = run_doc(DOCS / "explain.md")
    assert results.attempted >= 20, "docs/explain.md lost its examples"


def test_lecture_doc_covers_every_slide():
    text = (DOCS / "lecture.md").read_text()
    for heading in (
        "## Gradient descent",
        "## The gradient",
        "## The backpropagation algorithm",
        "## Bias as `w_0`",
        "## A simple network, and the chain rule",
        "## The rules table",
        "## Putting it together for many neurons",
        "## The average over examples",
        "## Different losses",
    ):
        assert heading in text


def test_a_wrong_number_in_the_doc_fails(tmp_path):
    broken = tmp_path / "lecture.md"
    broken.write_text((DOCS / "lecture.md").read_text().replace("= 0.0144 ", "= 0.0145 ", 1))
    with pytest.raises(pytest.fail.Exception, match="0.0145"):
        run_doc(broken)
