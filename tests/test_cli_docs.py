"""docs/cli.md shows real output: every `$ chainrule ...` line in its console blocks is run
again, in order, in an empty folder, and its output must be what the page shows (training
times aside). `python tests/test_cli_docs.py` rewrites the page's outputs after a change.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import sys
from pathlib import Path

import pytest

from chainrule.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
FILE_LABEL = re.compile(r"^`([\w.-]+)`:$")
# wall-clock seconds ("0.09 s") are the only thing a rerun may change
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


def masked(text: str) -> str:
    return SECONDS.sub(lambda m: re.sub(r"\d", "N", m.group()), text)


@pytest.fixture
def plain_terminal(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")  # rich's width when the output is not a terminal
    return tmp_path


def test_docs_cli_page_shows_real_output(plain_terminal):
    page = DOC.read_text()
    assert page.count("$ chainrule ") >= 15
    fresh = regenerate(page, plain_terminal)
    assert masked(fresh).splitlines() == masked(page).splitlines()


def test_the_page_check_fails_on_a_changed_output(plain_terminal):
    page = (
        "```console\n$ chainrule train --lr 0\nchainrule: error: --lr must be > 0, got 1.0\n```\n"
    )
    fresh = regenerate(page, plain_terminal)
    assert "got 0.0" in fresh and masked(fresh) != masked(page)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        os.environ["COLUMNS"] = "80"
        text = regenerate(DOC.read_text(), Path(folder))
    DOC.write_text(text)
    sys.exit(0)
