"""DRIVE (Staal et al. 2004): 40 fundus images 584x565, 20 training + 20 test, vessel labels and FOV masks.

Splits: ``train``/``val`` are a seeded split of the official 20 training images (``val_fraction``),
``trainval`` all 20, ``test`` the official 20 test images with the first observer's labels.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from course_lib.data.real.common import RealSegmentationDataset, Record
from course_lib.data.real.spec import DatasetSpec, Label, Part, list_records, load_spec
from course_lib.data.registry import register_dataset
from course_lib.data.sources import SOURCES

__all__: list[str] = []

LAYOUT = """  DRIVE/                      (root: the folder holding training/ and test/)
    training/images/21_training.tif ... 40_training.tif
    training/1st_manual/21_manual1.gif
    training/mask/21_training_mask.gif
    test/images/01_test.tif ... 20_test.tif
    test/1st_manual/01_manual1.gif
    test/mask/01_test_mask.gif"""


def _part(part: str) -> Part:
    """``training`` or ``test``: the same three folders, the part's name in the file names."""
    return Part((part, "images"), rf"(\d+)_{part}\.tiff?", id="{head}", labels=(
        Label("mask", (part, "1st_manual"), "{0}_manual1.gif", "the vessel label"),
        Label("fov", (part, "mask"), f"{{0}}_{part}_mask.gif", "the FOV mask"),
    ))


SPEC = DatasetSpec(SOURCES["drive"], LAYOUT, train=_part("training"), test=_part("test"), fov="file")


def drive_records(top: Path, part: str) -> list[Record]:
    """The records of ``training`` or ``test`` under the DRIVE folder ``top``."""
    return list_records(SPEC, _part(part), top)


@register_dataset("drive")
def drive(split: str = "train", root: str | os.PathLike | None = None, val_fraction: float = 0.2,
          seed: int = 0, transform: Callable | None = None, cache: bool = True) -> RealSegmentationDataset:
    """DRIVE samples: RGB image 3x584x565, vessel ``mask`` and ``fov`` (both {0,1})."""
    return load_spec(SPEC, split, root, val_fraction=val_fraction, seed=seed, transform=transform,
                     cache=cache)
