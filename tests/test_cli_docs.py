"""docs/cli.md shows real output: every `$ chainrule ...` line in its console blocks is run
again, in order, in an empty folder, and its output must be what the page shows (training
times aside). `python tests/test_cli_docs.py` rewrites the page's outputs after a change;
`--print` prints the rerun page instead.

A run is bit-for-bit repeatable on one machine, but BLAS picks its matrix-product kernel by CPU,
and another kernel adds in another order. A documented run must not be so chaotic that this
rounding decides its numbers (spirals with Adam at lr 0.03 was: its test loss moved from 0.07
to 0.09 between kernels), so the page is also rerun under OpenBLAS's SSE kernels.
"""

from __future__ import annotations

import contextlib
import io
import os
import platform
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from chainrule.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
FILE_LABEL = re.compile(r"^`([\w.-]+)`:$")
# wall-clock seconds ("0.09 s"): a rerun may change them freely
SECONDS = re.compile(r"\b\d+\.\d\d s\b")


def run(command: str) -> str:
    """stdout and stderr of one documented command, run in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(shlex.split(command)[1:])
    text = out.getvalue() + err.getvalue()
    expected_failure = err.getvalue().startswith("chainrule: error:")
    assert (code != 0) == expected_failure, f"{command!r} exited {code}: {text}"
    return text


def regenerate(markdown: str, folder: Path) -> str:
    """The page with every console block's output replaced by a fresh run in `folder`;
    a "`name`:" line before a fenced block writes that block to `folder / name` first."""
    lines = markdown.splitlines()
    result: list[str] = []
    console = False
    label: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        result.append(line)
        i += 1
        if FILE_LABEL.match(line):
            label = FILE_LABEL.match(line).group(1)
        elif line.startswith("```") and label is not None and line != "```":
            end = lines.index("```", i)
            (folder / label).write_text("\n".join(lines[i:end]) + "\n")
            result.extend(lines[i : end + 1])
            i, label = end + 1, None
        elif line == "```console":
            console = True
        elif console:
            result.pop()
            if line == "```":
                result.append(line)
                console = False
            elif line.startswith("$ chainrule "):
                result.append(line)
                result.extend(run(line[2:]).rstrip("\n").splitlines())
    return "\n".join(result) + "\n"


# Box-drawing characters and spaces only lay a table out: a number one digit longer widens it.
TOKENS = re.compile(r"[^\s\u2500-\u257f]+")
NUMBER = re.compile(r"^(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)(%?)[,)]?$")
# Engine changes that reorder float sums move trained numbers in the 4th digit (300 epochs
# amplify 1e-16); a wrong formula or a changed message does not stay within 10%.
REL_TOL = 0.1
# Another CPU's BLAS kernel may flip the last printed digit of a documented run, no more.
KERNEL_REL_TOL = 1e-3


def same(page: str, fresh: str, rel_tol: float = REL_TOL) -> list[str]:
    """The lines where `fresh` differs from `page`: text exactly, numbers within `rel_tol`,
    wall-clock seconds not at all."""
    differences = []
    page_lines, fresh_lines = page.splitlines(), fresh.splitlines()
    if len(page_lines) != len(fresh_lines):
        return [f"{len(page_lines)} lines on the page, {len(fresh_lines)} in the rerun"]
    for want, got in zip(page_lines, fresh_lines, strict=True):
        want_tokens = TOKENS.findall(SECONDS.sub("N s", want))
        got_tokens = TOKENS.findall(SECONDS.sub("N s", got))
        if len(want_tokens) != len(got_tokens) or not all(
            _close(a, b, rel_tol) for a, b in zip(want_tokens, got_tokens, strict=True)
        ):
            differences.append(f"page: {want!r}\nrun:  {got!r}")
    return differences


def _close(a: str, b: str, rel_tol: float) -> bool:
    x, y = NUMBER.match(a), NUMBER.match(b)
    if x is None or y is None or x.group(2) != y.group(2):
        return a == b
    u, v = float(x.group(1)), float(y.group(1))
    # Residuals such as |chain rule − numeric| ~ 1e-9 are rounding noise that BLAS threading
    # moves; they are compared only as "tiny".
    return abs(u - v) <= rel_tol * max(abs(u), abs(v)) + 1e-7


@pytest.fixture
def plain_terminal(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")  # rich's width when the output is not a terminal
    return tmp_path


def test_docs_cli_page_shows_real_output(plain_terminal):
    page = DOC.read_text()
    assert page.count("$ chainrule ") >= 15
    differences = same(page, regenerate(page, plain_terminal))
    assert not differences, (
        "docs/cli.md is out of date; run `python tests/test_cli_docs.py`, read the diff, "
        "commit it:\n" + "\n".join(differences)
    )


def test_the_page_check_fails_on_a_changed_output(plain_terminal):
    page = (
        "```console\n$ chainrule train --lr 0\nchainrule: error: --lr must be > 0, got 1.0\n```\n"
    )
    fresh = regenerate(page, plain_terminal)
    assert "got 0.0" in fresh and same(page, fresh)
    assert same("loss 0.0283 in 0.09 s", "loss 0.0290 in 1.25 s") == []
    assert same("accuracy 99.8%", "accuracy 79.8%") != []


def _openblas() -> bool:
    import numpy as np

    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]
    return "openblas" in blas.lower() and platform.machine() in ("x86_64", "AMD64")


@pytest.mark.skipif(not _openblas(), reason="OPENBLAS_CORETYPE needs OpenBLAS on x86-64")
def test_the_page_does_not_depend_on_the_cpus_blas_kernel(tmp_path):
    """The page rerun with OpenBLAS's Nehalem (SSE) kernels, as on another CPU: every
    product sums in another order, and the page's numbers must hold to the last digit."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {
        **os.environ,
        "OPENBLAS_CORETYPE": "Nehalem",
        "COLUMNS": "80",
        "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, __file__, "--print"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    differences = same(DOC.read_text(), done.stdout, KERNEL_REL_TOL)
    assert not differences, "a documented run depends on rounding:\n" + "\n".join(differences)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        os.environ["COLUMNS"] = "80"
        text = regenerate(DOC.read_text(), Path(folder))
    if sys.argv[1:] == ["--print"]:
        sys.stdout.write(text)
    else:
        DOC.write_text(text)
    sys.exit(0)
