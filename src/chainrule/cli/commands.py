"""The Typer `app` behind `chainrule`, each command's module imported only when that command
runs (or its help is asked for), so `chainrule --help` and `chainrule --version` start without
numpy's plotting, scikit-learn or the training code; and EXIT_CODES, the exit code of each
kind of error."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from chainrule.cli import EXIT_BAD_INPUT, EXIT_BAD_OPTION, EXIT_INTERRUPTED
from chainrule.errors import ChainruleError, ConfigError, DataError, ModelFileError, ShapeError

# Each command: its module in chainrule.cli, its function there, and the one line that
# `chainrule --help` shows (tests/test_cli_hardening.py checks it against the command's own).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "train": ("train", "train_command", "Train a network and report its test accuracy."),
    "evaluate": (
        "evaluate",
        "evaluate_command",
        "Loss, accuracy and confusion matrix of a saved model on a dataset.",
    ),
    "predict": (
        "evaluate",
        "predict_command",
        "One prediction per row of a CSV file (raw values: the model standardises them).",
    ),
    "explain": (
        "explain",
        "explain_command",
        "The chain rule for one weight's gradient ∂C/∂w_jk^(l) on one example, with numbers.",
    ),
    "plot": (
        "plot",
        "plot_command",
        "Draw a saved model: loss curves, 2-D decision boundary, the network, confusion matrix.",
    ),
    "info": ("info", "info_command", "Architecture and training record of a saved model."),
    "datasets": (
        "info",
        "datasets_command",
        "The datasets --data takes; 'chainrule datasets fetch mnist' downloads MNIST (or "
        "fashion-mnist) into the cache ($CHAINRULE_DATA, else the user cache folder).",
    ),
    "walkthrough": (
        "lecture",
        "walkthrough_command",
        "Replay the lecture's simple network step by step, every number checked by autodiff.",
    ),
    "exercise": (
        "lecture",
        "exercise_command",
        "A backpropagation exercise: question sheet, or its answer key with --answers.",
    ),
    "playground": (
        "playground",
        "playground_command",
        "Train a network in the browser and click any weight to see its chain rule.",
    ),
}

# The exit code of each kind of error, first match wins. typer.TyperException is the base of
# typer's usage errors (an unknown option, a missing argument, "many" for an integer).
# A ShapeError reaching the command line comes from rows whose shape does not fit the model
# (every option that sets a shape is checked first), so it is bad input, like DataError.
# A ModelFileError is also what a file that cannot be written raises (chainrule.files).
# ChainruleError covers the rest: DivergedError (the run's numbers) and GradError.
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (ConfigError, EXIT_BAD_OPTION),
    (typer.TyperException, EXIT_BAD_OPTION),
    (DataError, EXIT_BAD_INPUT),
    (ShapeError, EXIT_BAD_INPUT),
    (ModelFileError, EXIT_BAD_INPUT),
    (OSError, EXIT_BAD_INPUT),
    (ChainruleError, EXIT_BAD_INPUT),
    # Ctrl-C outside training (typer itself may turn it into Abort)
    (typer.Abort, EXIT_INTERRUPTED),
    (KeyboardInterrupt, EXIT_INTERRUPTED),
)


def _command(name: str) -> Any:
    """The click command `name`, built from its module's function on first use."""
    module, function, _ = COMMANDS[name]
    command = getattr(importlib.import_module(f"chainrule.cli.{module}"), function)
    help_text = importlib.import_module("chainrule.cli.train").HELP if name == "train" else None
    single = typer.Typer(
        add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None
    )
    single.command(name, help=help_text)(command)
    return typer.main.get_command(single)


class _Lazy(MutableMapping[str, Any]):
    """The group's commands by name: every name known at once, each command built when it is
    first looked up."""

    def __init__(self) -> None:
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in COMMANDS:
            raise KeyError(name)
        if name not in self._built:
            self._built[name] = _command(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        raise TypeError("chainrule's commands are listed in chainrule.cli.commands.COMMANDS")

    def __delitem__(self, name: str) -> None:
        raise TypeError("chainrule's commands are listed in chainrule.cli.commands.COMMANDS")

    def __iter__(self) -> Iterator[str]:
        return iter(COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS)


class Commands(TyperGroup):
    """chainrule's command group: its commands load lazily, its help lists them from
    COMMANDS without importing any."""

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self.commands = _Lazy()

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        from typer._click.utils import make_default_short_help

        limit = formatter.width - 6 - max(map(len, COMMANDS))  # as click's own listing
        rows = [(name, make_default_short_help(COMMANDS[name][2], limit)) for name in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


app = typer.Typer(
    name="chainrule",
    cls=Commands,
    help="Backpropagation done right: train, evaluate, explain and draw neural networks.\n\n"
    "Errors are one line on stderr (exit 2: a bad option; exit 1: bad data or a bad file; "
    "130: interrupted); add --debug anywhere on the line to see the traceback.",
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


def exit_code(err: BaseException) -> int | None:
    """The exit code for `err` from EXIT_CODES; None for an error no table row expects (a bug)."""
    return next((code for kind, code in EXIT_CODES if isinstance(err, kind)), None)


def message(err: BaseException) -> str:
    """The error's one line: what was wrong and what was expected."""
    if isinstance(err, typer.TyperException):
        ctx = getattr(err, "ctx", None)  # the command a usage error belongs to
        command = getattr(ctx, "info_name", "chainrule")
        hint = "" if command == "chainrule" else f" (see 'chainrule {command} --help')"
        return err.format_message() + hint
    if isinstance(err, typer.Abort | KeyboardInterrupt):
        return str(err) or "interrupted"
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def run(args: list[str]) -> Any:
    """The command line `args` through the app; what the command returned, or the exit code
    it asked for (typer.Exit: --help, --version). Errors, and Ctrl-C, come out as they are
    raised (typer's own main would turn Ctrl-C into a bare 130 and lose its message)."""
    command = typer.main.get_command(app)
    try:
        with command.make_context("chainrule", list(args)) as ctx:
            return command.invoke(ctx)
    except typer.Exit as done:
        return done.exit_code
