"""The `chainrule` command: train, evaluate, predict, explain, plot and inspect networks from
the shell, on built-in data or your own CSV.

One module per command group (train, evaluate, explain, plot, info, lecture), the options they
share in `options`, a saved model's wrapper in `trained`. This module holds the Typer `app`
and `main`, which turns every error into one line on stderr and an exit code chosen by the
error's type, in EXIT_CODES. `--debug` (anywhere on the line) shows the traceback.
"""

from __future__ import annotations

import sys
import traceback
from typing import Annotated

import typer

from chainrule.cli.evaluate import evaluate_command, predict_command
from chainrule.cli.explain import explain_command
from chainrule.cli.info import datasets_command, info_command
from chainrule.cli.lecture import exercise_command, walkthrough_command
from chainrule.cli.playground import playground_command
from chainrule.cli.plot import plot_command
from chainrule.cli.train import HELP as HELP_TRAIN
from chainrule.cli.train import train_command
from chainrule.errors import ChainruleError, ConfigError, DataError, ModelFileError, ShapeError

EXIT_BAD_INPUT = 1
EXIT_BAD_OPTION = 2
EXIT_INTERRUPTED = 130

# The exit code of each kind of error, first match wins. typer.TyperException is the base of
# typer's usage errors (an unknown option, a missing argument, "many" for an integer).
# A ShapeError reaching the command line comes from rows whose shape does not fit the model
# (every option that sets a shape is checked first), so it is bad input, like DataError.
# ChainruleError covers the rest: DivergedError (the run's numbers) and GradError.
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (ConfigError, EXIT_BAD_OPTION),
    (typer.TyperException, EXIT_BAD_OPTION),
    (DataError, EXIT_BAD_INPUT),
    (ShapeError, EXIT_BAD_INPUT),
    (ModelFileError, EXIT_BAD_INPUT),
    (OSError, EXIT_BAD_INPUT),
    (ChainruleError, EXIT_BAD_INPUT),
    # Ctrl-C outside training (typer itself may return it as the bare exit code 130)
    (typer.Abort, EXIT_INTERRUPTED),
    (KeyboardInterrupt, EXIT_INTERRUPTED),
)

app = typer.Typer(
    name="chainrule",
    help="Backpropagation done right: train, evaluate, explain and draw neural networks.\n\n"
    "Errors are one line on stderr (exit 2: a bad option; exit 1: bad data or a bad file); "
    "add --debug anywhere on the line to see the traceback.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        from chainrule import __version__

        print(f"chainrule {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="print the version"),
    ] = False,
) -> None:
    """Backpropagation done right: train, evaluate, explain and draw neural networks."""


app.command("train", help=HELP_TRAIN)(train_command)
app.command("evaluate")(evaluate_command)
app.command("predict")(predict_command)
app.command("explain")(explain_command)
app.command("plot")(plot_command)
app.command("info")(info_command)
app.command("datasets")(datasets_command)
app.command("walkthrough")(walkthrough_command)
app.command("exercise")(exercise_command)
app.command("playground")(playground_command)


def exit_code(err: BaseException) -> int | None:
    """The exit code for `err` from EXIT_CODES; None for an error no table row expects (a bug)."""
    return next((code for kind, code in EXIT_CODES if isinstance(err, kind)), None)


def _message(err: BaseException) -> str:
    """The error's one line: what was wrong and what was expected."""
    if isinstance(err, typer.TyperException):
        ctx = getattr(err, "ctx", None)  # the command a usage error belongs to
        command = getattr(ctx, "info_name", "chainrule")
        hint = "" if command == "chainrule" else f" (see 'chainrule {command} --help')"
        return err.format_message() + hint
    if isinstance(err, typer.Abort | KeyboardInterrupt):
        return "interrupted"
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def main(argv: list[str] | None = None) -> int:
    """Run the `chainrule` command line on `argv` (sys.argv[1:] by default); the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"] or ["--help"]
    try:
        result = app(args=args, prog_name="chainrule", standalone_mode=False)
    except (Exception, KeyboardInterrupt) as err:
        if debug:
            traceback.print_exc()
        code = exit_code(err)
        message = _message(err)
        if code is None:  # a bug: still one line, with the way to see more
            code = EXIT_BAD_INPUT
            message = (
                f"internal error: {type(err).__name__}: {message} (run again with --debug "
                f"for the traceback)"
            )
        print(f"chainrule: error: {message}", file=sys.stderr)
        return code
    if result == EXIT_INTERRUPTED:  # typer turns Ctrl-C in a command into this bare exit code
        print("chainrule: error: interrupted", file=sys.stderr)
    return result if isinstance(result, int) else 0
