"""The lecture's commands for the `chainrule` CLI: `walkthrough` and `exercise`.

`chainrule.cli` registers them (`app.command("walkthrough")(walkthrough_command)`); its
`main` turns a chainrule error into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from chainrule.errors import ConfigError
from chainrule.lecture.exercise import activations, exercise
from chainrule.lecture.walkthrough import walkthrough


def walkthrough_command(
    a: Annotated[
        float | None,
        typer.Option("--a", help="a^{(L)}, the network's output; default the slide's 0.88"),
    ] = None,
    y: Annotated[float, typer.Option("--y", help="the target y")] = 1.0,
    a_prev: Annotated[
        float | None, typer.Option("--a-prev", help="a^{(L−1)}, the hidden neuron; default 0.7")
    ] = None,
    a_prev2: Annotated[
        float, typer.Option("--a-prev2", help="a^{(L−2)}, the network's input")
    ] = 0.5,
    lr: Annotated[float, typer.Option("--lr", help="the learning rate η")] = 0.1,
    w: Annotated[float | None, typer.Option("--w", help="w^{(L)}, instead of --a")] = None,
    w_prev: Annotated[
        float | None, typer.Option("--w-prev", help="w^{(L−1)}, instead of --a-prev")
    ] = None,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="print Markdown tables with LaTeX")
    ] = False,
) -> None:
    """Replay the lecture's simple network step by step, every number checked by autodiff."""
    result = walkthrough(a=a, y=y, a_prev=a_prev, a_prev2=a_prev2, lr=lr, w=w, w_prev=w_prev)
    print(result._repr_markdown_() if markdown else str(result))
    if not (result.agrees and result.nudges_agree):
        raise typer.Exit(1)


def _sizes(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(
            f"--sizes {text!r} is not a list of layer sizes; expected whole numbers separated "
            f"by commas, inputs first, such as 2,3,2"
        ) from None


def exercise_command(
    sizes: Annotated[
        str, typer.Option("--sizes", help="layer sizes, inputs first, e.g. 2,3,2")
    ] = "2,3,2",
    seed: Annotated[int, typer.Option("--seed", help="the same seed gives the same sheet")] = 0,
    lr: Annotated[float, typer.Option("--lr", help="the learning rate η")] = 0.5,
    activation: Annotated[
        str,
        typer.Option("--activation", help=f"{', '.join(activations())}; sigmoid is the lecture's"),
    ] = "sigmoid",
    answers: Annotated[
        bool, typer.Option("--answers", help="print the answer key instead of the questions")
    ] = False,
    raw: Annotated[bool, typer.Option("--raw", help="plain Markdown even on a terminal")] = False,
) -> None:
    """A backpropagation exercise: question sheet, or its answer key with --answers.

    On a terminal the Markdown is rendered; redirected (`> sheet.md`) it is written as is.
    """
    sheet = exercise(_sizes(sizes), seed, lr=lr, activation=activation)
    text = sheet.answers if answers else sheet.questions
    if raw or not sys.stdout.isatty():
        print(text)
        return
    from rich.console import Console
    from rich.markdown import Markdown

    Console().print(Markdown(text))
