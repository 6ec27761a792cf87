"""The lecture's commands for the `chainrule` CLI: `walkthrough` and `exercise`.

`exercise --format md|tex|html --out sheet.tex` writes the sheet and, beside it, its answer key
(`sheet-key.tex`): Markdown as generated, a LaTeX document, or HTML whose formulas MathJax sets.

`chainrule.cli` registers them (`app.command("walkthrough")(walkthrough_command)`); its
`main` turns a chainrule error into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path
from typing import Annotated

import typer

from chainrule.checks import one_of
from chainrule.cli.options import strict_float, strict_int, whole, writable
from chainrule.errors import ConfigError, DataError
from chainrule.files import atomic_write
from chainrule.lecture.exercise import BIAS, Asked, activations, exercise
from chainrule.lecture.plain import plain
from chainrule.lecture.walkthrough import walkthrough


def walkthrough_command(
    a: Annotated[
        float | None,
        typer.Option(
            "--a",
            help="a^{(L)}, the network's output; default the slide's 0.88",
            parser=strict_float,
        ),
    ] = None,
    y: Annotated[float, typer.Option("--y", help="the target y", parser=strict_float)] = 1.0,
    a_prev: Annotated[
        float | None,
        typer.Option(
            "--a-prev", help="a^{(L−1)}, the hidden neuron; default 0.7", parser=strict_float
        ),
    ] = None,
    a_prev2: Annotated[
        float, typer.Option("--a-prev2", help="a^{(L−2)}, the network's input", parser=strict_float)
    ] = 0.5,
    lr: Annotated[
        float, typer.Option("--lr", help="the learning rate η", parser=strict_float)
    ] = 0.1,
    w: Annotated[
        float | None, typer.Option("--w", help="w^{(L)}, instead of --a", parser=strict_float)
    ] = None,
    w_prev: Annotated[
        float | None,
        typer.Option("--w-prev", help="w^{(L−1)}, instead of --a-prev", parser=strict_float),
    ] = None,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="print Markdown tables with LaTeX")
    ] = False,
) -> None:
    """Replay the lecture's simple network step by step, every number checked by autodiff."""
    result = walkthrough(a=a, y=y, a_prev=a_prev, a_prev2=a_prev2, lr=lr, w=w, w_prev=w_prev)
    print(result._repr_markdown_() if markdown else str(result))
    if not (result.agrees and result.nudges_agree):
        checks = "autodiff" if not result.agrees else "the small changes (± 0.001)"
        raise DataError(
            f"walkthrough: with these numbers {checks} do not agree with the chain rule (see "
            f"above): float64 runs out of digits; values nearer the slide's keep them"
        )


def _sizes(text: str) -> list[int]:
    try:
        return [whole(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(
            f"--sizes {text!r} is not a list of layer sizes; expected whole numbers separated "
            f"by commas, inputs first, such as 2,3,2"
        ) from None


def _ask(text: str) -> Asked:
    parts = text.split(",")
    try:
        if len(parts) != 3:
            raise ValueError
        return whole(parts[0]), whole(parts[1]), parts[2] if parts[2] == BIAS else whole(parts[2])
    except ValueError:
        raise ConfigError(
            f"--ask {text!r} is not a weight; expected layer,j,k such as 1,0,2 "
            f"(w_{{02}}^{{(1)}}), or layer,j,bias such as 2,1,bias"
        ) from None


FORMATS = ["md", "tex", "html"]
_MATH = re.compile(r"\$([^$]+)\$")


def _tex_text(text: str) -> str:
    """A Markdown line as LaTeX: its $…$ formulas kept, the words around them escaped."""
    parts = _MATH.split(text)
    for i in range(0, len(parts), 2):  # the even parts lie outside the formulas
        escaped = re.sub(r"([&%#_{}])", r"\\\1", parts[i])
        parts[i] = escaped.replace("×", r"$\times$").replace("−", "-")
    return "".join(f"${p}$" if i % 2 else p for i, p in enumerate(parts))


def to_tex(markdown: str) -> str:
    """An exercise sheet's Markdown (headings, paragraphs, lists, tables) as a LaTeX document."""
    body: list[str] = []
    block = ""  # the list or table environment open, if any
    for line in markdown.splitlines():
        kind = (
            "itemize" if line.startswith("- ") else "enumerate" if re.match(r"\d+\. ", line) else ""
        )
        kind = "tabular" if line.startswith("|") else kind
        if block and kind != block:
            body.append(f"\\end{{{block}}}")
            block = ""
        if kind == "tabular":
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not block:
                body.append(f"\\begin{{tabular}}{{{'l' * len(cells)}}}")
            if set("".join(cells)) <= {"-"}:
                body.append("\\hline")
            else:
                body.append(" & ".join(_tex_text(c) for c in cells) + r" \\")
        elif kind:
            if not block:
                body.append(f"\\begin{{{kind}}}")
            body.append(r"\item " + _tex_text(line.split(" ", 1)[1]))
        elif line.startswith("#"):
            level, title = line.split(" ", 1)
            body.append(f"\\{'sub' * (len(level) - 1)}section*{{{_tex_text(title)}}}")
        else:
            body.append(_tex_text(line))
        block = kind
    if block:
        body.append(f"\\end{{{block}}}")
    head = r"\documentclass{article}\usepackage[utf8]{inputenc}\usepackage{amsmath}"
    return "\n".join([head, r"\begin{document}", *body, r"\end{document}", ""])


def to_html(markdown: str) -> str:
    """An exercise sheet's Markdown as an HTML page; MathJax sets its formulas."""
    from markdown_it import MarkdownIt

    formulas: list[str] = []

    def hold(match: re.Match[str]) -> str:
        # Kept out of Markdown's way, which would read `\,` as an escape and `_` as emphasis.
        formulas.append(match[1])
        return f"MATH{len(formulas) - 1}END"

    page = MarkdownIt("commonmark").enable("table").render(_MATH.sub(hold, markdown))
    page = re.sub(r"MATH(\d+)END", lambda m: rf"\({html.escape(formulas[int(m[1])])}\)", page)
    title = html.escape(markdown.splitlines()[0].lstrip("# "))
    mathjax = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title>\n'
        f'<script async src="{mathjax}"></script></head>\n<body>\n{page}</body></html>\n'
    )


def _document(markdown: str, format: str) -> str:
    return {"md": lambda m: m + "\n", "tex": to_tex, "html": to_html}[format](markdown)


def key_path(out: Path) -> Path:
    """Where the answer key goes beside the sheet: sheet.tex -> sheet-key.tex."""
    return out.with_name(f"{out.stem}-key{out.suffix}")


def exercise_command(
    sizes: Annotated[
        str, typer.Option("--sizes", help="layer sizes, inputs first, e.g. 2,3,2")
    ] = "2,3,2",
    seed: Annotated[
        int, typer.Option("--seed", help="the same seed gives the same sheet", parser=strict_int)
    ] = 0,
    lr: Annotated[
        float, typer.Option("--lr", help="the learning rate η", parser=strict_float)
    ] = 0.5,
    activation: Annotated[
        str,
        typer.Option("--activation", help=f"{', '.join(activations())}; sigmoid is the lecture's"),
    ] = "sigmoid",
    answers: Annotated[
        bool, typer.Option("--answers", help="print the answer key instead of the questions")
    ] = False,
    raw: Annotated[bool, typer.Option("--raw", help="plain Markdown even on a terminal")] = False,
    ask: Annotated[
        list[str] | None,
        typer.Option(
            "--ask", help="a weight to ask about, layer,j,k (or layer,j,bias); repeatable"
        ),
    ] = None,
    format: Annotated[
        str | None, typer.Option("--format", help="md, tex or html; default the --out suffix")
    ] = None,
    out: Annotated[
        str | None,
        typer.Option("--out", help="write the sheet here and the key beside it (sheet-key.md)"),
    ] = None,
) -> None:
    """A backpropagation exercise: question sheet, or its answer key with --answers.

    On a terminal the Markdown is rendered with its formulas in Unicode; redirected
    (`> sheet.md`) it is written as is. With --out both files are written.
    """
    sheet_path = None if out is None else writable("--out", out)
    if sheet_path is not None:
        writable("--out", key_path(sheet_path))
    asked = [_ask(entry) for entry in ask] if ask else None
    sheet = exercise(_sizes(sizes), seed, lr=lr, activation=activation, ask=asked)
    if format is None:
        suffix = sheet_path.suffix.lstrip(".") if sheet_path else ""
        format = suffix if suffix in FORMATS else "md"
    format = one_of("exercise", "--format", format, FORMATS)
    if sheet_path is not None:
        if answers:
            raise ConfigError("exercise: --answers prints the key; with --out both are written")
        atomic_write(sheet_path, _document(sheet.questions, format).encode(), "--out")
        atomic_write(key_path(sheet_path), _document(sheet.answers, format).encode(), "--out")
        print(f"wrote {sheet_path} and {key_path(sheet_path)}")
        return
    text = sheet.answers if answers else sheet.questions
    if format != "md" or raw or not sys.stdout.isatty():
        print(_document(text, format), end="")
        return
    from rich.console import Console
    from rich.markdown import Markdown

    Console().print(Markdown(plain(text)))
