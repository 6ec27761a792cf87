"""What `chainrule train` prints about a run: the line that announces it, the summary table
after it (loss and accuracy on the training and test rows), and a hint when the accuracy is no
better than always answering the most common class."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import data as datasets
from chainrule import nn
from chainrule.cli import show
from chainrule.cli.trained import Trained
from chainrule.preprocess import decode
from chainrule.tensor import Tensor
from chainrule.train import History, predicting


def announce(
    settings: dict[str, Any],
    trained: Trained,
    full: datasets.Dataset,
    train: datasets.Dataset,
    test: datasets.Dataset | None,
) -> None:
    linears = [block.linear for block in nn.blocks(trained.model)]
    held = (
        f", {len(test)} held out" + (" (the published test set)" if full.n_train else "")
        if test is not None
        else " (all rows; too few to hold out a test split)"
    )
    sizes = [linears[0].in_features] + [linear.out_features for linear in linears]
    optimizer = settings["optimizer"]
    print(
        f"training on {full.name}: {len(train)} rows{held}; network "
        f"{'-'.join(map(str, sizes))} ({settings['activation']}), loss {trained.loss}, "
        f"{optimizer['name']} lr {optimizer['lr']}",
        flush=True,
    )


def score(
    trained: Trained, rows: tuple[datasets.Dataset, np.ndarray, np.ndarray] | None
) -> dict[str, Any]:
    """Loss (in the trained form) and accuracy of the model on (dataset, X, y) prepared rows;
    {} when there are none (no test split)."""
    if rows is None:
        return {}
    ds, X, y = rows
    with predicting(trained.model):
        out = trained.model(Tensor(X))
        loss = float(trained.loss_fn(out, y).data)
    result: dict[str, Any] = {"rows": len(X), "loss": loss}
    if trained.prep.is_classification:
        predicted = decode(out.data, trained.loss, trained.n_classes, trained.prep)
        result["accuracy"] = float(np.mean(predicted == ds.y))
    return result


def summary(
    trained: Trained, history: History, train: dict[str, Any], test: dict[str, Any]
) -> None:
    """The table printed after training, from score's train and test records."""
    from rich.table import Table

    table = Table(title="training summary", show_header=True)
    table.add_column("")
    table.add_column("train", justify="right")
    table.add_column("test", justify="right")
    table.add_row("rows", str(train["rows"]), str(test.get("rows", "-")))
    table.add_row("loss", f"{train['loss']:.4g}", f"{test['loss']:.4g}" if test else "-")
    if trained.prep.is_classification:
        table.add_row(
            "accuracy", show.percent(train.get("accuracy")), show.percent(test.get("accuracy"))
        )
    table.add_row("epochs", str(history.epochs), "")
    table.add_row("stopped by", history.stop_reason, "")
    table.add_row("time", f"{history.wall_time:.2f} s", "")
    show.console().print(table)
    if trained.prep.is_classification:
        where = "test" if test else "training"
        accuracy = (test or train)["accuracy"]
        print(f"{where} accuracy: {show.percent(accuracy)}")


# Within this of always answering the most common class, training has learnt nothing useful.
CHANCE_MARGIN = 0.05


def chance_hint(settings: dict[str, Any], accuracy: float, labels: np.ndarray) -> None:
    """One line on what to change when the accuracy is no better than chance."""
    majority = float(np.bincount(labels).max() / len(labels))
    if accuracy > majority + CHANCE_MARGIN:
        return
    chance = f"{show.percent(accuracy)} is about chance (always the most common class: " + (
        f"{show.percent(majority)})"
    )
    if not settings["hidden"]:
        change = (
            "with no hidden layer the boundary is one straight line, which this data cannot "
            "follow (XOR is not linearly separable): try --hidden 8"
        )
    else:
        change = "try more neurons or layers (--hidden 32,32), more --epochs, or another --lr"
    print(f"hint: {chance}; {change}")
