"""The files `chainrule train` writes: --save (and its checkpoints) and --plot, checked before
any work (chainrule.files: a writable folder, a regular file, none of the run's inputs), and
the rule that --save never replaces a better model with a worse one by accident.

A run that ends as asked (its epochs, --until) saves over FILE: that is what --save says. But
an interrupted run, and every checkpoint (written while a run may still be going wrong, such as
a loss climbing towards divergence), replaces an existing FILE only when the model is no worse
than the one FILE holds: the last epoch's training loss no higher than the one FILE's record
ends with, on the same data with the same loss. A FILE that cannot be compared (another
dataset, another loss, no training record, not a model file) is kept too. A diverged run saves
nothing: `fit` raises before the save. `--overwrite-worse` saves regardless.

Each time a file is kept, one line says which and why; for checkpoints only the first time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainrule.callbacks import Checkpoint, Run
from chainrule.checks import refuse
from chainrule.cli.interrupt import held
from chainrule.cli.options import data_file, png, writable
from chainrule.errors import ModelFileError
from chainrule.train import History

OVERWRITE_OPTION = "--overwrite-worse"


@dataclass
class Record:
    """What FILE held before this run: its final training loss when comparable, else why not."""

    loss: float | None
    why_not: str = ""


def recorded(path: Path, settings: dict[str, Any]) -> Record | None:
    """The record of the model file at `path` for a run with `settings`; None if there is no
    file (nothing to keep)."""
    from chainrule import modelfile

    if not path.exists():
        return None
    try:
        header = modelfile.read_header(path)
        metadata = modelfile.parse_json(header.strings.get("metadata", "{}"), str(path))
    except (ModelFileError, OSError, ValueError):
        return Record(None, "it is not a chainrule model file")
    history = metadata.get("history") if isinstance(metadata, dict) else None
    losses = history.get("loss") if isinstance(history, dict) else None
    if not isinstance(losses, list) or not losses:
        return Record(None, "it holds no training record")
    last = losses[-1]
    if isinstance(last, bool) or not isinstance(last, int | float) or not math.isfinite(last):
        return Record(None, "its record has no final loss")
    if any(metadata.get(key) != settings.get(key) for key in ("data", "loss")):
        return Record(None, "it holds a model of other data or with another loss")
    return Record(float(last))


def last_loss(history: History) -> float | None:
    return history.loss[-1] if history.loss else None


def verdict(record: Record | None, history: History) -> str | None:
    """None when this run's model may replace the file (no file, or no worse than it);
    otherwise why the file is kept."""
    if record is None:
        return None
    if record.loss is None:
        return record.why_not
    loss = last_loss(history)
    if loss is None or not math.isfinite(loss):
        return "this run has no finite loss to compare"
    if loss > record.loss:
        return f"its loss {record.loss:.4g} is lower than this run's {loss:.4g}"
    return None


class Guard:
    """Decides, for one run, whether each save may replace `path`."""

    def __init__(self, path: Path, settings: dict[str, Any], force: bool) -> None:
        self.path = path
        self.settings = settings
        self.force = force
        self.record = None if force else recorded(path, settings)
        self.told = False

    def allows(self, history: History, finished: bool) -> str | None:
        """None to save; else the one line that says the file was kept (printed by the
        caller). `finished`: the run ended as asked, so its save always goes ahead."""
        if self.force or finished:
            return None
        why = verdict(self.record, history)
        if why is None:
            return None
        return f"kept {self.path}: {why}; {OVERWRITE_OPTION} saves this run over it"

    def saved(self, history: History) -> None:
        """This run wrote the file: later saves compare with what it wrote."""
        loss = last_loss(history)
        if not self.force:
            self.record = Record(loss) if loss is not None and math.isfinite(loss) else None


@dataclass
class Outputs:
    """A train run's files: --save (None: not saved) and --plot, both already checked."""

    save: Path | None
    plot: Path | None
    checkpoint_every: int | None = None
    overwrite_worse: bool = False
    guard: Guard | None = field(default=None, repr=False)

    def check_inputs(self, data: str | None, *more: str | Path | None) -> None:
        """Refuse a --save or --plot that is one of the run's inputs: the data file (also a
        resumed run's, read from its model file), or `more` (the --resume file for --plot)."""
        if self.save is not None:
            writable("--save", self.save, [data_file(data)])
        if self.plot is not None:
            writable("--plot", self.plot, [data_file(data), *more, self.save])

    def watch(self, settings: dict[str, Any]) -> None:
        """Read what --save holds now, to compare this run's model with (after settings'
        loss is resolved)."""
        if self.save is not None:
            self.guard = Guard(self.save, settings, self.overwrite_worse)

    def checkpoint(
        self, metadata: Callable[[Run], dict[str, Any]], history: Callable[[Run], History]
    ) -> Checkpoint | None:
        """The --checkpoint-every callback, which asks the guard before each write."""
        if self.checkpoint_every is None or self.save is None or self.guard is None:
            return None
        return GuardedCheckpoint(self.save, self.checkpoint_every, metadata, self.guard, history)

    def save_model(self, write: Callable[[Path], None], history: History) -> tuple[str, str | None]:
        """Save the final model with `write` unless the guard keeps the file; the closing
        line ("saved model to m.model" or why it was kept) and, when written, what a later
        Ctrl-C must still report ("after saving the model to m.model")."""
        if self.save is None or self.guard is None:
            return "", None
        finished = history.stop_reason != "interrupted"
        kept = self.guard.allows(history, finished)
        if kept is not None:
            return kept, None
        done = f"after saving the model to {self.save}"
        with held(done):
            write(self.save)
        return f"saved model to {self.save}", done


def checked(save: str | None, plot: str | None, data: str | None, resume: Path | None) -> Outputs:
    """--save and --plot checked before any work, against each other and the inputs known
    from the options (a resumed run's data is checked once its file is read)."""
    outputs = Outputs(
        None if save is None else writable("--save", save),
        None if plot is None else writable("--plot", png("--plot", plot)),
    )
    both = outputs.save is not None and outputs.plot is not None
    if both and Path(str(save)).resolve() == Path(str(plot)).resolve():
        raise refuse("", "--plot", "another file than --save's", str(plot))
    outputs.check_inputs(data, resume)
    return outputs


class GuardedCheckpoint(Checkpoint):
    """Checkpoint, writing only what the guard allows: never a worse model over a better."""

    def __init__(
        self,
        path: Path,
        every: int,
        metadata: Callable[[Run], dict[str, Any]],
        guard: Guard,
        history: Callable[[Run], History],
    ) -> None:
        super().__init__(path, every, metadata)
        self.guard, self.history, self.told = guard, history, False

    def on_epoch_end(self, run: Run) -> None:
        if run.epoch % self.every:
            return
        history = self.history(run)
        kept = self.guard.allows(history, finished=False)
        if kept is None:
            super().on_epoch_end(run)
            self.guard.saved(history)
        elif not self.told:
            print(f"checkpoint at epoch {run.epoch} not written: {kept}", flush=True)
            self.told = True
