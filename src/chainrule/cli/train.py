"""`chainrule train`: build (or resume) a network, train it through one call to `cr.fit` with
the callbacks the options ask for, save it with its training record, print the summary."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from chainrule import data as datasets
from chainrule import io, nn
from chainrule.callbacks import Callback, Checkpoint, ProgressBar, Run
from chainrule.checks import at_least, fraction, int_at_least, positive, positive_int, refuse
from chainrule.cli import cluster, show, source
from chainrule.cli.options import (
    DEFAULT_ACTIVATION,
    DEFAULT_BATCH,
    DEFAULT_DATA,
    DEFAULT_DTYPE,
    DEFAULT_EPOCHS,
    DEFAULT_HIDDEN,
    DEFAULT_INIT,
    DEFAULT_LR,
    DEFAULT_OPTIMIZER,
    DEFAULT_SEED,
    DEFAULT_TEST_SPLIT,
    DTYPES,
    HIDDEN_ACTIVATIONS,
    INIT_NAMES,
    LOSS_NAMES,
    MOMENTUM,
    OPTIMIZER_NAMES,
    TASKS,
    choice,
    make_optimizer,
    parse_batch,
    parse_hidden,
    png,
    writable,
)
from chainrule.cli.trained import Trained
from chainrule.preprocess import Preprocessing, decode, head, resolve_loss
from chainrule.tensor import Tensor
from chainrule.train import History, fit, predicting

# Fewer rows than this (the 4-row logic gates) are all trained on and evaluated on.
MIN_ROWS_TO_SPLIT = 20

HELP = f"""Train a network and report its test accuracy.

With no options this trains the default: scikit-learn's 8x8 digits with one hidden layer of
{DEFAULT_HIDDEN} {DEFAULT_ACTIVATION} neurons, {DEFAULT_OPTIMIZER} (lr {DEFAULT_LR}),
{DEFAULT_EPOCHS} epochs, mini-batches of {DEFAULT_BATCH}, seed {DEFAULT_SEED}, 20% held out
for the test: about 97% test accuracy in a few seconds. A dataset that needs more brings its
own default network (spirals: two hidden layers of 32, 300 epochs).

Ctrl-C stops after the current batch, keeps what was trained (saved with --save) and prints
the summary. --resume FILE continues a saved run up to --epochs in total.
"""


def train_command(
    data: Annotated[
        str | None,
        typer.Option(help=f"dataset: {datasets.known_names()} [default: {DEFAULT_DATA}]"),
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="CSV target column, by name or index [default: the last]")
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(
            help="classification|regression: how to read the target [default: text or at most "
            "20 whole numbers are classes]"
        ),
    ] = None,
    n: Annotated[int | None, typer.Option("--n", help="rows of a generated set")] = None,
    noise: Annotated[
        float | None, typer.Option(help="noise of a generated set (its own scale)")
    ] = None,
    hidden: Annotated[
        str | None,
        typer.Option(
            help=f"hidden layer sizes, comma-separated; none (or 0) for no hidden layer "
            f"[default: {DEFAULT_HIDDEN}, or the dataset's]"
        ),
    ] = None,
    activation: Annotated[
        str | None,
        typer.Option(
            help=f"hidden activation: {', '.join(HIDDEN_ACTIVATIONS)} "
            f"[default: {DEFAULT_ACTIVATION}]"
        ),
    ] = None,
    loss: Annotated[
        str | None,
        typer.Option(
            help=f"{', '.join(LOSS_NAMES)}; auto is ce for class labels, squared for numbers "
            "[default: auto]"
        ),
    ] = None,
    init: Annotated[
        str | None,
        typer.Option(help=f"initial weights: {', '.join(INIT_NAMES)} [default: {DEFAULT_INIT}]"),
    ] = None,
    optimizer: Annotated[
        str,
        typer.Option(
            help=f"{', '.join(OPTIMIZER_NAMES)} (momentum = SGD with momentum {MOMENTUM})"
        ),
    ] = DEFAULT_OPTIMIZER,
    lr: Annotated[float, typer.Option(help="learning rate η, > 0")] = DEFAULT_LR,
    momentum: Annotated[
        float | None,
        typer.Option(help=f"SGD's momentum, 0 <= m < 1 (sgd or momentum) [default: 0, {MOMENTUM}]"),
    ] = None,
    weight_decay: Annotated[
        float | None,
        typer.Option(help="L2 penalty λ >= 0: each step adds λW to the gradient [default: 0]"),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(
            help=f"epochs in total (an upper bound with --until) [default: {DEFAULT_EPOCHS}, "
            "or the dataset's]"
        ),
    ] = None,
    batch_size: Annotated[
        str, typer.Option(help="examples per update, or 'full' for the lecture's full batch")
    ] = DEFAULT_BATCH,
    until: Annotated[
        float | None, typer.Option(help="stop when the epoch's loss is <= this")
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            help=f"seed for weights, split, shuffling and a generated set [default: {DEFAULT_SEED}]"
        ),
    ] = None,
    dtype: Annotated[
        str | None, typer.Option(help=f"float32|float64 [default: {DEFAULT_DTYPE}]")
    ] = None,
    test_split: Annotated[
        float | None,
        typer.Option(help=f"fraction held out for the test [default: {DEFAULT_TEST_SPLIT}]"),
    ] = None,
    save_path: Annotated[Path | None, typer.Option("--save", help="write the model here")] = None,
    plot_path: Annotated[
        Path | None, typer.Option("--plot", help="draw loss curves to this PNG")
    ] = None,
    checkpoint_every: Annotated[
        int | None, typer.Option(help="also save the model every N epochs (needs --save)")
    ] = None,
    resume: Annotated[
        Path | None, typer.Option(help="continue the run saved in this model file")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
    scheduler: Annotated[str | None, typer.Option(help=cluster.HELP_SCHEDULER)] = None,
    workers: Annotated[int | None, typer.Option(help=cluster.HELP_WORKERS)] = None,
) -> None:
    # Every option is checked before any data is read or any epoch is trained.
    run_settings = {
        "optimizer": _optimizer_settings(optimizer, lr, momentum, weight_decay),
        "epochs": None if epochs is None else positive_int("", "--epochs", epochs),
        "batch_size": parse_batch(batch_size),
        "until": None if until is None else at_least("", "--until", until, 0.0),
    }
    if plot_path is not None:
        writable("--plot", png("--plot", plot_path))
    if save_path is not None:
        writable("--save", save_path)
    if checkpoint_every is not None:
        positive_int("", "--checkpoint-every", checkpoint_every)
        if save_path is None and resume is None:
            raise refuse("", "--checkpoint-every", "given with --save FILE", checkpoint_every)
    cluster.check(scheduler, workers)
    if resume is not None:
        fixed = (data, target, task, n, noise, hidden, activation, init, loss, seed, dtype)
        trained = _resumed(resume, *fixed, test_split)
        settings = dict(trained.metadata)
        history = History.from_dict(settings.get("history", {}))
        save_path = save_path or resume
    else:
        lasting = source.lasting(data or DEFAULT_DATA)
        entry = datasets.DATASETS.get(lasting)
        settings = {
            "data": lasting,
            "target": target,
            "task": None if task is None else choice("--task", task, TASKS),
            "data_options": source.data_options(lasting, n, noise, seed),
            "hidden": parse_hidden(hidden)
            if hidden is not None
            else list(entry.hidden if entry and entry.hidden else parse_hidden(DEFAULT_HIDDEN)),
            "activation": choice(
                "--activation", activation or DEFAULT_ACTIVATION, HIDDEN_ACTIVATIONS
            ),
            "init": choice("--init", init or DEFAULT_INIT, INIT_NAMES),
            "loss": choice("--loss", loss or "auto", LOSS_NAMES),
            "seed": DEFAULT_SEED if seed is None else int_at_least("", "--seed", seed, 0),
            "dtype": choice("--dtype", dtype or DEFAULT_DTYPE, DTYPES),
            "test_split": DEFAULT_TEST_SPLIT
            if test_split is None
            else fraction("", "--test-split", test_split),
        }
        trained, history = None, History()
    settings.update(run_settings)
    if settings["epochs"] is None:
        entry = datasets.DATASETS.get(settings["data"])
        settings["epochs"] = entry.epochs if entry and entry.epochs else DEFAULT_EPOCHS
    with cluster.connected(scheduler, workers) as client:
        _train(settings, history, trained, save_path, plot_path, checkpoint_every, quiet, client)


# The options a resumed run takes from its model file, in train_command's order.
FIXED_BY_RESUME = (
    "--data",
    "--target",
    "--task",
    "--n",
    "--noise",
    "--hidden",
    "--activation",
    "--init",
    "--loss",
    "--seed",
    "--dtype",
    "--test-split",
)


def _resumed(resume: Path, *fixed_options: Any) -> Trained:
    """The run saved in `resume`, once none of the options FIXED_BY_RESUME was given."""
    for name, value in zip(FIXED_BY_RESUME, fixed_options, strict=True):
        if value is not None:
            expected = f"left out with --resume (the run's data, network and seed are {resume}'s)"
            raise refuse("", name, expected, value)
    return Trained.load(resume)


def _optimizer_settings(
    name: str, lr: float, momentum: float | None, weight_decay: float | None
) -> dict[str, Any]:
    """The optimizer as the model file records it; --momentum belongs to SGD only."""
    name = choice("--optimizer", name, OPTIMIZER_NAMES)
    settings: dict[str, Any] = {"name": name, "lr": positive("", "--lr", lr)}
    if momentum is not None:
        if name not in ("sgd", "momentum"):
            raise refuse("", "--momentum", "given with --optimizer sgd or momentum", momentum)
        if not 0.0 <= momentum < 1.0:
            raise refuse("", "--momentum", "a number with 0 <= m < 1", momentum)
        settings["momentum"] = momentum
    elif name == "momentum":
        settings["momentum"] = MOMENTUM
    if weight_decay is not None:
        settings["weight_decay"] = at_least("", "--weight-decay", weight_decay, 0.0)
    return settings


def _network(settings: dict[str, Any], full: datasets.Dataset, train: datasets.Dataset) -> Trained:
    """A new network for `settings`, its output layer L decided by the loss and the task."""
    loss_name = resolve_loss(settings["loss"], full.is_classification)
    n_classes = len(full.class_names) if full.class_names is not None else None
    outputs, out_activation = head(loss_name, n_classes)
    sizes = [full.X.shape[1], *settings["hidden"], outputs]
    dtype = np.dtype(settings["dtype"])
    model = nn.mlp(
        sizes,
        settings["activation"],
        out_activation,
        init=settings.get("init", DEFAULT_INIT),
        dtype=dtype,
        rng=settings["seed"],
    )
    return Trained(model, Preprocessing.fit(train), loss_name, settings)


def _train(
    settings: dict[str, Any],
    earlier: History,
    trained: Trained | None,
    save_path: Path | None,
    plot_path: Path | None,
    checkpoint_every: int | None,
    quiet: bool,
    client: Any = None,
) -> None:
    """Train to settings["epochs"] in all (`earlier` epochs are behind a resumed run), on the
    Dask cluster of `client` when there is one."""
    full = source.load(settings)
    if full.note:
        print(full.note)
    fraction = settings["test_split"] if len(full) >= MIN_ROWS_TO_SPLIT else 0.0
    train_ds, test_ds = datasets.split(full, fraction, settings["seed"])
    trained = trained or _network(settings, full, train_ds)
    settings["loss"] = trained.loss
    X, y = trained.prepared(train_ds.X, train_ds.y)
    test = None if test_ds is None else (test_ds, *trained.prepared(test_ds.X, test_ds.y))
    if not quiet:
        _announce(settings, trained, full, train_ds, test_ds)

    def record(history: History) -> dict[str, Any]:
        """The model file's metadata: settings, preprocessing, the whole history, the test."""
        from chainrule import __version__

        return {
            **settings,
            "preprocessing": trained.prep.to_dict(),
            "history": history.to_dict(),
            "test": _score(trained, test),
            "chainrule_version": __version__,
        }

    callbacks: list[Callback] = []
    if not quiet and sys.stdout.isatty():
        callbacks.append(
            ProgressBar(settings["epochs"], earlier.epochs, transient=True, held_out="test")
        )
    if checkpoint_every is not None and save_path is not None:
        callbacks.append(
            Checkpoint(save_path, checkpoint_every, lambda run: record(_whole(earlier, run)))
        )
    optimizer = settings["optimizer"]
    history = _whole(earlier)
    if earlier.epochs < settings["epochs"]:
        history.extend(
            fit(
                trained.model,
                X,
                y,
                loss=trained.loss_fn,
                optimizer=make_optimizer(
                    optimizer["name"],
                    trained.model.parameters(),
                    optimizer["lr"],
                    optimizer.get("momentum"),
                    optimizer.get("weight_decay", 0.0),
                ),
                epochs=settings["epochs"] - earlier.epochs,
                batch_size=settings["batch_size"],
                until=settings["until"],
                # a resumed run shuffles on from where the saved one stopped, not from the start
                seed=settings["seed"] + earlier.epochs,
                validation=None if test is None else test[1:],
                progress=False,
                callbacks=callbacks,
                client=client,
            )
        )
    if save_path is not None:
        io.save(trained.model, save_path, metadata=record(history))
    train_score, test_score = _score(trained, (train_ds, X, y)), _score(trained, test)
    _summary(trained, history, train_score, test_score)
    if trained.prep.is_classification:
        scored = (test_ds, test_score) if test_ds is not None else (train_ds, train_score)
        _chance_hint(settings, scored[1]["accuracy"], scored[0].y)
    if plot_path is not None:
        from chainrule import plot

        show.save_png(plot.loss_curves(history, title=full.name, held_out="test"), plot_path)
        print(f"loss curves drawn to {plot_path}")
    if save_path is not None:
        print(f"saved model to {save_path}")


def _whole(earlier: History, run: Run | None = None) -> History:
    """A new History: the `earlier` epochs, then those of `run` so far."""
    history = History()
    history.extend(earlier)
    if run is not None:
        history.extend(run.history)
    return history


def _announce(
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


def _score(
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


def _summary(
    trained: Trained, history: History, train: dict[str, Any], test: dict[str, Any]
) -> None:
    """The table printed after training, from _score's train and test records."""
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


def _chance_hint(settings: dict[str, Any], accuracy: float, labels: np.ndarray) -> None:
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
