"""The first thing `import chainrule` does when the process is the `chainrule` command (the
console script, or `python -m chainrule.cli`): until `chainrule.cli.main` takes Ctrl-C over,
a Ctrl-C while numpy and the rest of the package load is the command's one line,
"chainrule: error: interrupted", and exit 130, not a traceback. In any other process (a
script, a notebook, the tests) it does nothing."""

from __future__ import annotations

import os
import sys
from types import TracebackType


def _run_module() -> str | None:
    """The module `python -m NAME` runs, if that is how this process started."""
    argv = sys.orig_argv
    return next((name for flag, name in zip(argv, argv[1:], strict=False) if flag == "-m"), None)


COMMAND = os.path.basename(sys.argv[0]) == "chainrule" or _run_module() in (
    "chainrule",
    "chainrule.cli",
)


def _interrupted(
    kind: type[BaseException], error: BaseException, trace: TracebackType | None
) -> None:
    """sys.excepthook: a KeyboardInterrupt that reached the top is the one line; any other
    exception is shown as Python shows it."""
    if not issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, trace)
        return
    print("chainrule: error: interrupted", file=sys.stderr, flush=True)
    os._exit(130)  # the exit code, not a death by SIGINT: nothing else is left to run


if COMMAND:
    sys.excepthook = _interrupted
