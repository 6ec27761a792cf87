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
from chainrule.callbacks import Callback, ProgressBar, Run
from chainrule.checks import at_least, fraction, int_at_least, positive, positive_int, refuse
from chainrule.cli import cluster, interrupt, report, show, source
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
    strict_float,
    strict_int,
    within_budget,
    writable,
)
from chainrule.cli.outputs import OVERWRITE_OPTION, Outputs, checked
from chainrule.cli.trained import Trained
from chainrule.modelfile import MAX_PARAMETERS
from chainrule.optim import Optimizer
from chainrule.preprocess import Preprocessing, head, resolve_loss
from chainrule.train import History, Sampler, fit

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
    n: Annotated[
        int | None, typer.Option("--n", help="rows of a generated set", parser=strict_int)
    ] = None,
    noise: Annotated[
        float | None,
        typer.Option(help="noise of a generated set (its own scale)", parser=strict_float),
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
        str | None,
        typer.Option(
            help=f"{', '.join(OPTIMIZER_NAMES)} (momentum = SGD with momentum {MOMENTUM}) "
            f"[default: {DEFAULT_OPTIMIZER}, or the resumed run's]"
        ),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(
            help=f"learning rate η, > 0 [default: {DEFAULT_LR}, or the resumed run's]",
            parser=strict_float,
        ),
    ] = None,
    momentum: Annotated[
        float | None,
        typer.Option(
            help=f"SGD's momentum, 0 <= m < 1 (sgd or momentum) [default: 0, {MOMENTUM}]",
            parser=strict_float,
        ),
    ] = None,
    weight_decay: Annotated[
        float | None,
        typer.Option(
            help="L2 penalty λ >= 0: each step adds λW to the gradient [default: 0]",
            parser=strict_float,
        ),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(
            help=f"epochs in total (an upper bound with --until) [default: {DEFAULT_EPOCHS}, "
            "or the dataset's]",
            parser=strict_int,
        ),
    ] = None,
    batch_size: Annotated[
        str | None,
        typer.Option(
            help="examples per update, or 'full' for the lecture's full batch "
            f"[default: {DEFAULT_BATCH}, or the resumed run's]"
        ),
    ] = None,
    until: Annotated[
        float | None,
        typer.Option(help="stop when the epoch's loss is <= this", parser=strict_float),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            help="seed for weights, split, shuffling and a generated set "
            f"[default: {DEFAULT_SEED}]",
            parser=strict_int,
        ),
    ] = None,
    dtype: Annotated[
        str | None, typer.Option(help=f"float32|float64 [default: {DEFAULT_DTYPE}]")
    ] = None,
    test_split: Annotated[
        float | None,
        typer.Option(
            help=f"fraction held out for the test [default: {DEFAULT_TEST_SPLIT}]",
            parser=strict_float,
        ),
    ] = None,
    save_path: Annotated[str | None, typer.Option("--save", help="write the model here")] = None,
    plot_path: Annotated[
        str | None, typer.Option("--plot", help="draw loss curves to this PNG")
    ] = None,
    checkpoint_every: Annotated[
        int | None,
        typer.Option(help="also save the model every N epochs (needs --save)", parser=strict_int),
    ] = None,
    resume: Annotated[
        Path | None, typer.Option(help="continue the run saved in this model file")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
    overwrite_worse: Annotated[
        bool,
        typer.Option(
            OVERWRITE_OPTION,
            help="let an interrupted run or a checkpoint replace a --save file that holds a "
            "better model (by default it is kept)",
        ),
    ] = False,
    max_parameters: Annotated[
        int,
        typer.Option(help="refuse a bigger network before allocating it", parser=strict_int),
    ] = MAX_PARAMETERS,
    scheduler: Annotated[str | None, typer.Option(help=cluster.HELP_SCHEDULER)] = None,
    workers: Annotated[int | None, typer.Option(help=cluster.HELP_WORKERS)] = None,
) -> None:
    # Every option is checked before any data is read or any epoch is trained.
    chosen = (optimizer, lr, momentum, weight_decay)
    run_settings = {
        "optimizer": None if resume else _optimizer_settings(*chosen),
        "epochs": None if epochs is None else positive_int("", "--epochs", epochs),
        "batch_size": parse_batch(_given(batch_size, DEFAULT_BATCH)),
        "until": None if until is None else at_least("", "--until", until, 0.0),
    }
    most = positive_int("", "--max-parameters", max_parameters)
    outputs = checked(save_path, plot_path, data, resume)
    if checkpoint_every is not None:
        positive_int("", "--checkpoint-every", checkpoint_every)
        if save_path is None and resume is None:
            raise refuse("", "--checkpoint-every", "given with --save FILE", checkpoint_every)
    cluster.check(scheduler, workers)
    if resume is not None:
        fixed = (data, target, task, n, noise, hidden, activation, init, loss, seed, dtype)
        trained = _resumed(resume, *fixed, test_split)
        settings = dict(trained.metadata)
        run_settings["optimizer"] = _optimizer_settings(*chosen, settings.get("optimizer"))
        if batch_size is None:  # the saved run's, as the optimizer's settings
            run_settings["batch_size"] = settings.get("batch_size", run_settings["batch_size"])
        history = History.from_dict(settings.get("history", {}))
        outputs.save = outputs.save or writable("--save", resume)
        outputs.check_inputs(settings.get("data"), resume)
    else:
        lasting = source.lasting(DEFAULT_DATA if data is None else data)
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
                "--activation", _given(activation, DEFAULT_ACTIVATION), HIDDEN_ACTIVATIONS
            ),
            "init": choice("--init", _given(init, DEFAULT_INIT), INIT_NAMES),
            "loss": choice("--loss", _given(loss, "auto"), LOSS_NAMES),
            "seed": DEFAULT_SEED if seed is None else int_at_least("", "--seed", seed, 0),
            "dtype": choice("--dtype", _given(dtype, DEFAULT_DTYPE), DTYPES),
            "test_split": DEFAULT_TEST_SPLIT
            if test_split is None
            else fraction("", "--test-split", test_split),
        }
        # the smallest network these hidden layers make (one input, one output), before data
        within_budget(settings["hidden"], most)
        trained, history = None, History()
    settings.update(run_settings)
    if settings["epochs"] is None:
        entry = datasets.DATASETS.get(settings["data"])
        settings["epochs"] = entry.epochs if entry and entry.epochs else DEFAULT_EPOCHS
    outputs.checkpoint_every, outputs.overwrite_worse = checkpoint_every, overwrite_worse
    with cluster.connected(scheduler, workers) as client:
        _train(settings, history, trained, outputs, quiet, most, client)


def _given(value: str | None, default: str) -> str:
    """An option's value, or its default when it was left out (an empty one is refused by
    the registry's check: '' is not a name)."""
    return default if value is None else value


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
    return Trained.resumable(resume)


def _optimizer_settings(
    name: str | None,
    lr: float | None,
    momentum: float | None,
    weight_decay: float | None,
    saved: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The optimizer as the model file records it; --momentum belongs to SGD only. A resumed
    run's `saved` settings stand for the options left out, unless --optimizer changes it."""
    if saved is None or (name is not None and name != saved["name"]):
        saved = {}
    name = choice(
        "--optimizer", _given(name, saved.get("name", DEFAULT_OPTIMIZER)), OPTIMIZER_NAMES
    )
    lr = saved.get("lr", DEFAULT_LR) if lr is None else lr
    settings: dict[str, Any] = {"name": name, "lr": positive("", "--lr", lr)}
    momentum = saved.get("momentum") if momentum is None else momentum
    weight_decay = saved.get("weight_decay") if weight_decay is None else weight_decay
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
    outputs: Outputs,
    quiet: bool,
    most: int,
    client: Any = None,
) -> None:
    """Train to settings["epochs"] in all (`earlier` epochs are behind a resumed run), on the
    Dask cluster of `client` when there is one."""
    full = source.load(settings)
    if full.note:
        print(full.note)
    fraction = settings["test_split"] if len(full) >= MIN_ROWS_TO_SPLIT else 0.0
    train_ds, test_ds = datasets.split(full, fraction, settings["seed"])
    if trained is None:
        n_out = len(full.class_names) if full.class_names is not None else 1
        within_budget(settings["hidden"], most, (full.X.shape[1], n_out))
    trained = trained or _network(settings, full, train_ds)
    settings["loss"] = trained.loss
    outputs.watch(settings)
    X, y = trained.prepared(train_ds.X, train_ds.y)
    test = None if test_ds is None else (test_ds, *trained.prepared(test_ds.X, test_ds.y))
    if not quiet:
        report.announce(settings, trained, full, train_ds, test_ds)

    def record(history: History) -> dict[str, Any]:
        """The model file's metadata: settings, preprocessing, the whole history, the test."""
        from chainrule import __version__

        return {
            **settings,
            "preprocessing": trained.prep.to_dict(),
            "history": history.to_dict(),
            "test": report.score(trained, test),
            "chainrule_version": __version__,
        }

    callbacks: list[Callback] = []
    if not quiet and sys.stdout.isatty():
        callbacks.append(
            ProgressBar(settings["epochs"], earlier.epochs, transient=True, held_out="test")
        )
    checkpoint = outputs.checkpoint(
        lambda run: record(_whole(earlier, run)), lambda run: _whole(earlier, run)
    )
    if checkpoint is not None:
        callbacks.append(checkpoint)
    optimizer = _optimizer(settings["optimizer"], trained)
    history = _whole(earlier)
    if earlier.epochs < settings["epochs"]:
        history.extend(
            fit(
                trained.model,
                X,
                y,
                loss=trained.loss_fn,
                optimizer=optimizer,
                epochs=settings["epochs"] - earlier.epochs,
                batch_size=settings["batch_size"],
                until=settings["until"],
                seed=settings["seed"],
                sampler=_shuffle(settings["seed"], earlier.epochs, len(X), settings["batch_size"]),
                validation=None if test is None else test[1:],
                progress=False,
                callbacks=callbacks,
                client=client,
            )
        )
    closing, done = outputs.save_model(
        lambda path: io.save(trained.model, path, metadata=record(history), optimizer=optimizer),
        history,
    )
    with interrupt.after(done):
        train_score = report.score(trained, (train_ds, X, y))
        test_score = report.score(trained, test)
        report.summary(trained, history, train_score, test_score)
        if trained.prep.is_classification:
            scored = (test_ds, test_score) if test_ds is not None else (train_ds, train_score)
            report.chance_hint(settings, scored[1]["accuracy"], scored[0].y)
        if outputs.plot is not None:
            from chainrule import plot

            figure = plot.loss_curves(history, title=full.name, held_out="test")
            show.save_png(figure, outputs.plot, "--plot")
            print(f"loss curves drawn to {outputs.plot}")
        if closing:
            print(closing)


def _optimizer(chosen: dict[str, Any], trained: Trained) -> Optimizer:
    """The run's optimizer. A resumed run's carries on from the state its file holds (the
    momentum velocity, Adam's moments and step count), with the hyperparameters chosen now,
    so that with the same options it steps exactly as the uninterrupted run would have."""
    optimizer = make_optimizer(
        chosen["name"],
        trained.model.parameters(),
        chosen["lr"],
        chosen.get("momentum"),
        chosen.get("weight_decay", 0.0),
    )
    if trained.source is None:
        return optimizer
    saved = io.load_optimizer(trained.source, trained.model)
    if saved is None or type(saved) is not type(optimizer):
        held = (
            "no optimizer state (saved by an older chainrule or from Python)"
            if saved is None
            else f"the state of {type(saved).__name__}, not {type(optimizer).__name__}"
        )
        print(f"note: {trained.source} holds {held}: the optimizer starts afresh")
        return optimizer
    optimizer.load_state_dict(
        {**saved.state_dict(), "hyperparameters": optimizer.hyperparameters()}
    )
    return optimizer


def _shuffle(seed: int, done: int, n: int, batch_size: int | None) -> Sampler | None:
    """fit's shuffle, default_rng(seed).permutation(n) each epoch, moved past the `done`
    epochs of a resumed run, so it visits the rows in the order the uninterrupted run would
    have; None for the full batch, which is never shuffled."""
    if batch_size is None or batch_size >= n:
        return None
    rng = np.random.default_rng(seed)
    for _ in range(done):
        rng.permutation(n)
    return rng.permutation


def _whole(earlier: History, run: Run | None = None) -> History:
    """A new History: the `earlier` epochs, then those of `run` so far."""
    history = History()
    history.extend(earlier)
    if run is not None:
        history.extend(run.history)
    return history
