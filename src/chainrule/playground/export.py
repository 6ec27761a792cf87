"""What a session exports: a model file that `chainrule evaluate` reads, the rows it was
trained or tested on as CSV (the engineered feature columns and the target), and a short
Python script that rebuilds the data and the network and repeats the training."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path
from typing import Any

from chainrule import __version__
from chainrule import io as model_io
from chainrule.checks import refuse
from chainrule.playground.config import OPTIMIZERS, OWNER
from chainrule.playground.session import Session, Split


def _metadata(session: Session) -> dict[str, Any]:
    """The training record the command line reads (`chainrule evaluate`, `info`, `predict`)."""
    c = session.config
    test = session.test
    record: dict[str, Any] = {}
    if test is not None and session.test_loss is not None:
        record = {"rows": len(test.x), "loss": session.test_loss}
        if session.test_accuracy is not None:
            record["accuracy"] = session.test_accuracy
    return {
        "data": f"playground:{c.dataset}",
        "loss": session.loss_name,
        "optimizer": {"name": c.optimizer, "lr": c.lr},
        "batch_size": c.batch_size,
        "seed": c.seed,
        "hidden": c.hidden,
        "activation": c.activation,
        "preprocessing": session.prep.to_dict(),
        "history": {"loss": [v for v in session.record.train_loss if v is not None]},
        "test": record,
        "playground": {**c.public(), "steps": session.step},
        "chainrule_version": __version__,
    }


def model_file(session: Session) -> bytes:
    """The network as a chainrule model file (cr.save's format) with its training record."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "playground.model"
        model_io.save(session.model, path, metadata=_metadata(session))
        return path.read_bytes()


def rows_csv(session: Session, split: str | None) -> str:
    """The rows of `split` (train or test) as CSV: the features the network takes, unscaled
    (the model file standardises them), then the target as class names or numbers."""
    split = split or "test"
    if split not in ("train", "test"):
        raise refuse(OWNER, "split", "train or test", split)
    part: Split = session.train if split == "train" or session.test is None else session.test
    X = session.feature_rows(part.raw.X)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([*session.features, part.raw.target_name])
    names = session.classes
    for x, y in zip(X.tolist(), part.raw.y.tolist(), strict=True):
        writer.writerow([*(repr(v) for v in x), names[y] if names is not None else repr(y)])
    return text.getvalue()


SCRIPT = '''"""A chainrule playground run, reproduced: {summary}.

Run it with chainrule installed; it prints the training loss after {steps} steps.{edited}
"""

import numpy as np

import chainrule as cr
from chainrule.playground.datasets import generate
from chainrule.playground.features import engineer
from chainrule.playground.session import Regularisation
from chainrule.preprocess import Preprocessing, head, targets

SEED = {seed}
{data}
train, test = cr.data.split(data, test_fraction={test_fraction!r}, seed=SEED)

FEATURES = {features!r}
LOSS = {loss!r}
CLASSES = len(data.class_names) if data.class_names is not None else None


def features(part):
    """The columns the network takes, before standardisation."""
    return {rows}


# Standardise with the training rows' mean and deviation, as `chainrule train` does.
prep = Preprocessing.fit(
    cr.data.Dataset("train", features(train), train.y, FEATURES, train.class_names)
)
x_train = prep.features(features(train))
y_train = targets(train.y, LOSS, CLASSES, prep)

# Layer L: as many outputs as the loss wants for this task (2 logits for 2 classes under ce).
outputs, output_activation = head(LOSS, CLASSES)
sizes = [len(FEATURES), *{hidden!r}, outputs]
model = cr.nn.mlp(sizes, {activation!r}, output_activation, rng=SEED)
optimizer = {optimizer}

# The batches: consecutive slices of a row order reshuffled after every pass over the data.
STEPS, BATCH = {steps}, {batch}
order = np.random.default_rng(SEED)
passes = -(-STEPS * BATCH // len(x_train)) + 1
stream = np.concatenate([order.permutation(len(x_train)) for _ in range(passes)])
rows = stream[: STEPS * BATCH]
regularisation = {regularisation}
if STEPS:
    cr.fit(
        model, x_train, y_train, loss=LOSS, optimizer=optimizer, epochs=1, batch_size=BATCH,
        sampler=lambda n: rows, progress=False, callbacks=regularisation,
    )
loss = cr.nn.LOSSES[LOSS]()
with cr.no_grad():
    print("train loss", float(loss(model(cr.tensor(x_train)), y_train).data))
'''


def script(session: Session) -> str:
    """A Python script that repeats this session's training from its settings."""
    c = session.config
    if c.dataset == "csv":
        data = f"CSV = {c.csv!r}\ndata = cr.data.read_csv('upload.csv', {c.target!r}, text=CSV)"
        rows = "part.X"
    else:
        data = f"data = generate({c.dataset!r}, n={c.n}, noise={c.noise!r}, seed=SEED)"
        rows = "engineer(part.X, FEATURES)"
    name, settings = OPTIMIZERS[c.optimizer]
    cls = "SGD" if name == "sgd" else "Adam"
    extra = "".join(f", {k}={v!r}" for k, v in settings.items())
    optimizer = f"cr.optim.{cls}(model.parameters(), lr={c.lr!r}{extra})"
    regularisation = (
        f"[Regularisation(model, {c.lr!r}, l1={c.l1!r}, l2={c.l2!r})]" if c.l1 or c.l2 else "[]"
    )
    summary = (
        f"{c.dataset}, hidden layers {c.hidden} of {c.activation}, loss {session.loss_name}, "
        f"{c.optimizer} lr {c.lr:g}, batch {c.batch_size}, {session.step} steps"
    )
    edited = (
        "\nThe weights were edited by hand during the run; this script trains without the edits."
        if session.edited
        else ""
    )
    return SCRIPT.format(
        summary=summary,
        steps=session.step,
        edited=edited,
        seed=c.seed,
        data=data,
        test_fraction=1.0 - c.train_ratio,
        features=session.features,
        loss=session.loss_name,
        rows=rows,
        hidden=c.hidden,
        activation=c.activation,
        optimizer=optimizer,
        batch=min(c.batch_size, len(session.train.x)),
        regularisation=regularisation,
    )
