"""The `chainrule` command: train, evaluate, predict, explain, plot and inspect networks from
the shell, on built-in data or your own CSV.

One module per command group (train, evaluate, explain, plot, info, lecture), the options they
share in `options`, a saved model's wrapper in `trained`, the Typer `app` and EXIT_CODES in
`commands` (imported lazily, and reachable here: `from chainrule.cli import app`). This module
holds only `main`, which turns every error into one line on stderr and an exit code chosen by
the error's type, numpy's warnings into at most one line, and Ctrl-C at any moment into
"chainrule: error: interrupted" and exit 130. It imports nothing heavy itself, so the handling
is in place before typer, the commands and their libraries load. `--debug` (anywhere on the
line) shows the traceback.
"""

from __future__ import annotations

from chainrule.cli import start  # noqa: F401  (first of all: see start.py)

# isort: split
import signal
import sys
import threading
import warnings
from typing import Any

EXIT_BAD_INPUT = 1
EXIT_BAD_OPTION = 2
EXIT_INTERRUPTED = 130

# Names that live in chainrule.cli.commands, loaded on first use: `from chainrule.cli import app`.
_LAZY = ("app", "EXIT_CODES", "exit_code", "COMMANDS")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from chainrule.cli import commands as module

        return getattr(module, name)
    raise AttributeError(f"module 'chainrule.cli' has no attribute {name!r}")


def interrupt_once(signum: int, frame: Any) -> None:
    """Ctrl-C: stop what runs now; a second Ctrl-C while it unwinds is ignored, so the exit
    stays clean (never a traceback, never a bare signal exit)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _ignore_ctrl_c() -> None:
    """From here to the process's exit nothing may be interrupted (only main() run as the
    program calls this)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _numeric_line(numeric: list[str]) -> str:
    """numpy's RuntimeWarnings (overflow, invalid value, ...) as one line: the first, and how
    many more."""
    more = f" (and {len(numeric) - 1} more numeric warnings)" if len(numeric) > 1 else ""
    return f"numpy: {numeric[0]}{more}; the numbers may be inaccurate"


def _first_line(message: Any, category: type[Warning]) -> str:
    text = str(message).strip().splitlines()
    return text[0] if text else category.__name__


def main(argv: list[str] | None = None) -> int:
    """Run the `chainrule` command line on `argv` (sys.argv[1:] by default); the exit code.

    Called with no `argv` it is the program itself (the console script, `python -m
    chainrule.cli`): it then owns the process's Ctrl-C, and once it has its answer nothing can
    interrupt the exit. Called with `argv` (from Python, from tests) it leaves signals alone."""
    program = argv is None and threading.current_thread() is threading.main_thread()
    if program:
        signal.signal(signal.SIGINT, interrupt_once)
    try:
        code = _run(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:  # between _run's own handlers: still the one line
        code = _fail(KeyboardInterrupt(), debug=False)
    if program:
        _ignore_ctrl_c()
    return code


def _run(args: list[str]) -> int:
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"] or ["--help"]
    numeric: list[str] = []

    def show(message: Any, category: type[Warning], *rest: Any, **more: Any) -> None:
        """Each warning as one line of chainrule's own, at once; numpy's numeric ones are
        kept and summed up in one line at the end (or dropped when the run fails: its error
        line says what went wrong)."""
        if issubclass(category, RuntimeWarning):
            numeric.append(_first_line(message, category))
        else:
            print(f"chainrule: warning: {_first_line(message, category)}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        try:
            from chainrule.cli.commands import run

            result = run(args)
        except (Exception, KeyboardInterrupt) as err:
            return _fail(err, debug)
    if numeric:
        print(f"chainrule: warning: {_numeric_line(numeric)}", file=sys.stderr)
    if result == EXIT_INTERRUPTED:  # typer turns Ctrl-C in a command into this bare exit code
        return _fail(KeyboardInterrupt(), debug=False)
    return result if isinstance(result, int) else 0


def _fail(err: BaseException, debug: bool) -> int:
    """Print `err` as one line on stderr; its exit code."""
    on_main = threading.current_thread() is threading.main_thread()
    if on_main and signal.getsignal(signal.SIGINT) is interrupt_once:
        _ignore_ctrl_c()  # the program is ending: a further Ctrl-C must not cut the line short
    if debug:
        import traceback

        traceback.print_exception(err)
    code: int | None
    if isinstance(err, KeyboardInterrupt):  # also at start-up, before the app has loaded
        code, line = EXIT_INTERRUPTED, str(err) or "interrupted"
    else:
        from chainrule.cli.commands import exit_code, message

        code, line = exit_code(err), message(err)
    if code is None:  # a bug: still one line, with the way to see more
        code = EXIT_BAD_INPUT
        line = (
            f"internal error: {type(err).__name__}: {line} (run again with --debug for the "
            f"traceback)"
        )
    print(f"chainrule: error: {line}", file=sys.stderr)
    return code
