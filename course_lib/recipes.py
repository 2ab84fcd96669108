"""Per-mode training recipes: how much data, how large, how long, for a dataset in a mode.

The chapters and the command line share these, so "quick mode" means the same thing everywhere.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from course_lib import config


@dataclass(frozen=True)
class Recipe:
    """Everything that scales with the mode; the architecture does not."""

    epochs: int
    batch_size: int
    lr: float
    n_train: int
    n_val: int
    size: int
    base_width: int
    max_steps_per_epoch: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_SYNTHETIC = {
    "smoke": Recipe(epochs=1, batch_size=2, lr=1e-3, n_train=4, n_val=2, size=64, base_width=8,
                    max_steps_per_epoch=2),
    "quick": Recipe(epochs=12, batch_size=4, lr=2e-3, n_train=96, n_val=12, size=128, base_width=16),
    "full": Recipe(epochs=40, batch_size=8, lr=1e-3, n_train=400, n_val=40, size=256, base_width=32),
}


def recipe_for(dataset: str, mode: str | None = None, **overrides: Any) -> Recipe:
    """The recipe for ``dataset`` in ``mode`` (default: the current mode), with fields overridden."""
    mode = config.check_mode(mode or config.get_mode())
    recipe = _SYNTHETIC[mode]
    return replace(recipe, **{k: v for k, v in overrides.items() if v is not None})
