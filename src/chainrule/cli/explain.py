"""`chainrule explain`: the chain rule for one weight's gradient, on one row of the data."""

from __future__ import annotations

from typing import Annotated

import typer

from chainrule import data as datasets
from chainrule import nn
from chainrule.checks import refuse
from chainrule.cli.options import ModelFile, Target, strict_int
from chainrule.cli.trained import Trained


def explain_command(
    model: ModelFile,
    data: Annotated[str, typer.Option(help=f"dataset: {datasets.known_names()}")],
    example: Annotated[int, typer.Option(help="which row of the data (from 0)", parser=strict_int)],
    layer: Annotated[
        int,
        typer.Option(help="Linear layer l, counted from 1 (the last is L)", parser=strict_int),
    ],
    j: Annotated[int, typer.Option("--j", help="neuron j of layer l", parser=strict_int)],
    k: Annotated[
        int | None,
        typer.Option(
            "--k",
            help="neuron k of layer l-1 (w_jk); leave out for the bias b_j",
            parser=strict_int,
        ),
    ] = None,
    target: Target = None,
) -> None:
    """The chain rule for one weight's gradient ∂C/∂w_jk^(l) on one example, with numbers."""
    from chainrule.lecture.explain import explain

    trained = Trained.load(model)
    _check_weight(trained, layer, j, k)
    ds, y = trained.dataset(data, target)
    _index("--example", example, len(ds), f"a row of {data}")
    x, y_model = trained.prepared(ds.X[example : example + 1], y[example : example + 1])
    print(explain(trained.model, x[0], y_model[0], trained.loss, layer=layer, j=j, k=k))


def _index(option: str, value: int, size: int, what: str) -> None:
    """A bad index is a bad option (exit 2), whichever of --example, --layer, --j, --k."""
    if not 0 <= value < size:
        raise refuse("", option, f"{what}: 0..{size - 1}", value)


def _check_weight(trained: Trained, layer: int, j: int, k: int | None) -> None:
    """--layer, --j and --k name a weight (or bias) the network has."""
    linears = [block.linear for block in nn.blocks(trained.model)]
    count = len(linears)
    if not 1 <= layer <= count:
        raise refuse(
            "", "--layer", f"a Linear layer of the model, counted from 1: 1..{count}", layer
        )
    linear = linears[layer - 1]
    _index("--j", j, linear.out_features, f"a neuron of layer {layer}")
    if k is not None:
        _index("--k", k, linear.in_features, f"a neuron of layer {layer - 1}, the input of {layer}")
