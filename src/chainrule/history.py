"""History: what a training run did, epoch by epoch (fit returns it; the CLI and the
estimators save it beside the weights)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(repr=False)
class History:
    """What a training run did, epoch by epoch."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    stop_reason: str = ""
    wall_time: float = 0.0
    health: list[dict[str, Any]] = field(default_factory=list)  # HealthReport.to_dict()s

    @property
    def epochs(self) -> int:
        return len(self.loss)

    def extend(self, other: History) -> None:
        """Append the epochs of `other`, a run that continued this one: its per-epoch lists
        follow these, its stop reason replaces this one's, and its wall time adds to it."""
        for f in fields(self):
            mine = getattr(self, f.name)
            if isinstance(mine, list):
                mine.extend(getattr(other, f.name))
        self.stop_reason = other.stop_reason
        self.wall_time += other.wall_time

    def __repr__(self) -> str:
        """One line (the per-epoch lists are `loss`, `accuracy`, ...): epochs, first and last
        loss, best validation loss, stop reason, wall time."""
        from chainrule.notebook import history_repr  # a room above the spine

        return history_repr(self)

    def _repr_html_(self) -> str:
        """In a notebook: the summary as a table, and the loss curve when matplotlib is there."""
        from chainrule.notebook import history_html

        return history_html(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and numbers (JSON-ready); the lists are copies, not this History's."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: list(v) if isinstance(v, list) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})
