"""`chainrule plot`: a saved model drawn as loss curves, its 2-D decision boundary, the
network (weights or gradients) or its confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from chainrule import nn
from chainrule.checks import refuse
from chainrule.cli import show
from chainrule.cli.options import ModelFile, Target, choice, data_file, png, writable
from chainrule.cli.trained import Trained
from chainrule.errors import DataError
from chainrule.preprocess import confusion_matrix
from chainrule.tensor import Tensor
from chainrule.train import History

PLOT_KINDS = ("loss", "boundary", "network", "confusion")


def plot_command(
    model: ModelFile,
    kind: Annotated[str, typer.Option(help=f"{', '.join(PLOT_KINDS)}")],
    out: Annotated[str, typer.Option(help="the PNG file to write")],
    data: Annotated[
        str | None,
        typer.Option(
            help="dataset (needed for boundary and confusion, and network with --gradients)"
        ),
    ] = None,
    target: Target = None,
    gradients: Annotated[
        bool,
        typer.Option("--gradients", help="network: draw ∂C/∂w on --data instead of the weights"),
    ] = False,
) -> None:
    """Draw a saved model: loss curves, 2-D decision boundary, the network, confusion matrix."""
    choice("--kind", kind, PLOT_KINDS)
    writable("--out", png("--out", out), [model, data_file(data)])
    needs_data = kind in ("boundary", "confusion") or (kind == "network" and gradients)
    if needs_data and data is None:
        drawn_alone = "loss or network (without --gradients)"
        raise refuse("", "--kind", f"{drawn_alone} when --data is not given", kind)
    trained = Trained.load(model)
    if kind == "loss":
        figure = _loss(trained, model)
    elif kind == "network":
        figure = _network(trained, data if gradients else None, target)
    else:
        assert data is not None  # needs_data
        figure = _classes(trained, kind, model, data, target)
    show.save_png(figure, Path(out), "--out")
    print(f"drew {kind} to {out}")


def _plot() -> Any:
    from chainrule import plot

    return plot


def _loss(trained: Trained, model: Path) -> Any:
    history = History.from_dict(trained.metadata.get("history", {}))
    if not history.loss:
        raise DataError(f"{model} has no training history to draw")
    return _plot().loss_curves(
        history, title=Path(str(trained.metadata.get("data", model))).name, held_out="test"
    )


def _network(trained: Trained, data: str | None, target: str | None) -> Any:
    """The network's weights, or ∂C/∂w over `data` when it is given."""
    grads = None
    if data is not None:
        ds, y = trained.dataset(data, target)
        grads = gradients(trained, *trained.prepared(ds.X, y))
    return _plot().network(
        trained.model,
        gradients=grads,
        feature_names=trained.prep.feature_names,
        output_names=_output_names(trained),
    )


def _classes(trained: Trained, kind: str, model: Path, data: str, target: str | None) -> Any:
    """The decision boundary or the confusion matrix of a classifier on `data`."""
    ds, y = trained.dataset(data, target)
    names = trained.prep.class_names
    if names is None:
        raise DataError(f"--kind {kind} needs a classifier; {model} predicts numbers")
    title = f"{model.name} on {data}"
    if kind == "boundary":
        return _plot().decision_boundary(
            trained.predict,
            ds.X,
            y,
            class_names=names,
            feature_names=trained.prep.feature_names,
            title=title,
        )
    counts = confusion_matrix(y, trained.predict(ds.X), len(names))
    return _plot().confusion(counts, names, title=title)


def _output_names(trained: Trained) -> list[str] | None:
    """The class names for layer L's neurons, when there is one neuron per class."""
    names = trained.prep.class_names
    last = list(nn.blocks(trained.model))[-1].linear
    return list(names) if names is not None and last.out_features == len(names) else None


def gradients(trained: Trained, X: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """∂C/∂w for every parameter, C the model's loss over the prepared rows X, y."""
    trained.model.zero_grad()
    trained.loss_fn(trained.model(Tensor(X)), y).backward()
    return {name: p.grad for name, p in trained.model.named_parameters() if p.grad is not None}
