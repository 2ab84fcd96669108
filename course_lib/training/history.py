"""``History``: what happened in each epoch of a run, readable as a table and as a mapping of curves.

One record per epoch: ``epoch`` (1-based), ``train_loss``, ``val_loss``, ``val_<score>`` for every
score of :func:`course_lib.metrics.segmentation_scores`, ``lr``, ``seconds`` (whole epoch),
``step_seconds`` (mean training step), ``images_per_s`` (training throughput), ``steps`` (optimizer
steps) and ``threads`` (mean CPU threads per step: fewer while other programs kept a core busy).

``history["val_dice"]`` is the list of per-epoch values, so a ``History`` can be passed wherever a
mapping ``key -> list`` is expected (e.g. :func:`course_lib.viz.plot_learning_curves`). As a mapping,
``len(history)`` counts columns; the number of epochs is ``history.epochs``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = ["TIMING_KEYS", "History"]

TIMING_KEYS = ("seconds", "step_seconds", "images_per_s")


class History(Mapping):
    """Per-epoch records of a training run. ``metric`` (e.g. ``"val_dice"``) defines :attr:`best_epoch`."""

    def __init__(self, records: list[dict[str, Any]] | None = None, metric: str = "val_dice") -> None:
        self.records: list[dict[str, Any]] = [dict(r) for r in records or []]
        self.metric = metric

    # -- mapping interface: key -> list of per-epoch values -------------------------------------------
    def __getitem__(self, key: str) -> list:
        if key not in self:
            raise KeyError(f"{key!r} is not in this history; available: {', '.join(self) or 'none'}.")
        return [r.get(key, math.nan) for r in self.records]

    def __contains__(self, key: object) -> bool:
        return any(key in r for r in self.records)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(k for r in self.records for k in r))

    def __len__(self) -> int:
        return len(list(iter(self)))

    def to_dict(self) -> dict[str, list]:
        """``{key: [value per epoch]}`` (the form ``plot_learning_curves`` takes)."""
        return {key: self[key] for key in self}

    # -- the run ------------------------------------------------------------------------------------
    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.records)

    @property
    def optimizer_steps(self) -> int:
        """Optimizer steps taken in all (epochs recorded before this count existed add nothing)."""
        return int(sum(r.get("steps", 0) for r in self.records))

    def append(self, record: dict[str, Any]) -> None:
        self.records.append(dict(record))

    def _better(self, a: float, b: float) -> bool:
        return a < b if self.metric.endswith("loss") else a > b

    @property
    def best_epoch(self) -> int | None:
        """The (1-based) epoch with the best ``metric`` (lowest for a loss, highest otherwise), or None."""
        best, best_value = None, None
        for record in self.records:
            value = record.get(self.metric)
            if value is None or math.isnan(value):
                continue
            if best_value is None or self._better(value, best_value):
                best, best_value = record["epoch"], value
        return best

    def is_best(self, record: dict[str, Any]) -> bool:
        """True if ``record`` (already appended) is the best epoch so far."""
        return self.best_epoch == record["epoch"]

    # -- persistence --------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"metric": self.metric, "records": [dict(r) for r in self.records]}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> History:
        return cls(list(state["records"]), metric=state["metric"])

    def save(self, path: str | os.PathLike) -> None:
        """Write JSON atomically (temporary file, then rename)."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(self.state(), indent=1, allow_nan=True))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        return cls.from_state(json.loads(Path(path).read_text()))

    def __repr__(self) -> str:
        if not self.records:
            return "History(no epochs yet)"
        keys = ["epoch", "train_loss", "val_loss", self.metric, "seconds"]
        keys = list(dict.fromkeys(k for k in keys if k in self))
        rows = ["  ".join(f"{k:>10}" for k in keys)]
        for r in self.records:
            rows.append("  ".join(f"{r.get(k, math.nan):>10.4g}" if k != "epoch" else f"{r[k]:>10d}"
                                  for k in keys))
        return f"History(best_epoch={self.best_epoch})\n" + "\n".join(rows)
