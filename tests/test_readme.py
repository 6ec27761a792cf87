"""The README's example runs as printed, and does what its comments say."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs_and_reaches_its_target(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README.md has no python example"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102
    history = namespace["history"]
    assert history.stop_reason == "until" and history.loss[-1] <= 0.01
    assert namespace["w"].grad.shape == (1, 2)
