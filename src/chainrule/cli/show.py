"""How the commands print tables and numbers, and write pictures."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from chainrule.files import atomic_write


def console() -> Any:
    """A rich Console that prints tables as they are (no colour guesses, no wrapping)."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def save_png(figure: Any, path: Path, option: str | None = None) -> None:
    """A matplotlib figure written to `path` as PNG, atomically (`option` names the path in
    an error: "--plot loss.png: ...")."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    atomic_write(path, buffer.getvalue(), option)
