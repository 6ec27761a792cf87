"""Ctrl-C around the moments that must finish once begun: writing the model file.

`main` (chainrule.cli) turns a KeyboardInterrupt anywhere into "chainrule: error: interrupted"
and exit 130. While a file is being written, `held()` keeps Ctrl-C waiting until the write is
done (it takes a moment), then raises `Interrupted`, whose one line says the file was written:
the user never has to guess whether a "saved model to" that did not appear happened.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chainrule.cli import interrupt_once


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with what was already done when it came: "interrupted after saving m.model"."""


@contextmanager
def held(done: str) -> Iterator[None]:
    """Run the block to its end even if Ctrl-C comes; then, if it came, raise Interrupted
    naming `done` (what the block did: "after saving the model to m.model")."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed: list[int] = []

    def remember(signum: int, frame: Any) -> None:
        pressed.append(signum)

    before = signal.signal(signal.SIGINT, remember)
    try:
        yield
    finally:
        # the program (main) owns Ctrl-C and is about to end: no further one may cut it short
        ending = bool(pressed) and before is interrupt_once
        signal.signal(signal.SIGINT, signal.SIG_IGN if ending else before)
    if pressed:
        raise Interrupted(f"interrupted {done}")


@contextmanager
def after(done: str | None) -> Iterator[None]:
    """A Ctrl-C in the block becomes Interrupted naming `done`, what had been done before it
    ("after saving the model to m.model"), so the last line still says so; None: nothing was
    done, a Ctrl-C stays plain."""
    if done is None:
        yield
        return
    try:
        yield
    except Interrupted:
        raise
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted {done}") from None
