"""Per-mode training recipes: how much data, how large, how long, for a dataset in a mode.

The chapters and the command line share these, so "quick mode" means the same thing everywhere.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from course_lib import config
from course_lib.data.preprocessing import preprocessing_channels


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


@dataclass(frozen=True)
class DriveRecipe:
    """Chapter 06's DRIVE training, per mode (see :mod:`course_lib.protocols.drive`).

    ``protocol``: ``"patches"`` (random ``patch_size`` patches, ``steps_per_epoch`` x ``batch_size`` per
    epoch, learning rate decayed with a cosine to 0) or ``"paper"`` (whole images padded to 592 with the
    paper's augmentation, each image ``repeats`` times per epoch, constant learning rate).
    ``preprocessing``: a key of :data:`course_lib.protocols.drive.PREPROCESSING` (``"rgb_flat"``,
    ``"rgb_norm"``, ``"green_lcn"`` or ``"rgb"``). ``ablation_epochs``: the shared, possibly
    smaller budget of the U-Net / RSE-U-Net / DACRSE-UNet ablation (same steps per epoch).
    """

    protocol: str
    preprocessing: str
    widths: tuple[int, ...]
    epochs: int
    batch_size: int
    lr: float
    patch_size: int = 64
    steps_per_epoch: int = 100
    repeats: int = 1
    vessel_fraction: float = 0.75
    keep_prob: float = 0.9
    block_size: tuple[int, ...] = (7, 5, 3, 2)
    reduction: int = 4
    ablation_epochs: int = 2
    synthetic_size: int = 256

    def __post_init__(self) -> None:
        if self.protocol not in ("patches", "paper"):
            raise ValueError(f"protocol must be 'patches' or 'paper', got {self.protocol!r}.")
        preprocessing_channels(self.preprocessing)  # a clear error for an unknown name

    @property
    def in_channels(self) -> int:
        return preprocessing_channels(self.preprocessing)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_DRIVE = {
    "smoke": DriveRecipe(protocol="patches", preprocessing="rgb_flat", widths=(4, 8, 16, 32), epochs=1,
                         batch_size=4, lr=2e-3, patch_size=32, steps_per_epoch=2, reduction=2,
                         block_size=(5, 3, 2, 1), ablation_epochs=1, synthetic_size=96),
    "quick": DriveRecipe(protocol="patches", preprocessing="rgb_flat", widths=(16, 32, 64, 128), epochs=18,
                         batch_size=8, lr=3e-3, patch_size=64, steps_per_epoch=150, block_size=(7, 5, 3, 2),
                         ablation_epochs=2),
    "full": DriveRecipe(protocol="paper", preprocessing="rgb", widths=(32, 64, 128, 256), epochs=50,
                        batch_size=8, lr=1e-4, repeats=5, keep_prob=0.9, block_size=(7, 7, 7, 7),
                        reduction=16, ablation_epochs=20, synthetic_size=512),
}


def drive_recipe(mode: str | None = None, **overrides: Any) -> DriveRecipe:
    """Chapter 06's recipe for ``mode`` (default: the current mode), with fields overridden."""
    mode = config.check_mode(mode or config.get_mode())
    return replace(_DRIVE[mode], **{k: v for k, v in overrides.items() if v is not None})
