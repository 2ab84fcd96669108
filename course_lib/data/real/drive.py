"""DRIVE (Staal et al. 2004): 40 fundus images 584x565, 20 training + 20 test, vessel labels and FOV masks.

Splits: ``train``/``val`` are a seeded split of the official 20 training images (``val_fraction``),
``trainval`` all 20, ``test`` the official 20 test images with the first observer's labels.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from course_lib.data.real.common import (
    RealSegmentationDataset,
    Record,
    check_split,
    dataset_dir,
    list_matching,
    require_dir,
    require_file,
    seeded_split,
)
from course_lib.data.registry import register_dataset

__all__: list[str] = []

NAME, FOLDER = "DRIVE", "DRIVE"
LAYOUT = """  DRIVE/                      (root: the folder holding training/ and test/)
    training/images/21_training.tif ... 40_training.tif
    training/1st_manual/21_manual1.gif
    training/mask/21_training_mask.gif
    test/images/01_test.tif ... 20_test.tif
    test/1st_manual/01_manual1.gif
    test/mask/01_test_mask.gif"""


def drive_records(top: Path, part: str) -> list[Record]:
    """The records of ``training`` or ``test`` under the DRIVE folder ``top``."""
    base = require_dir(NAME, top / part, LAYOUT, top)
    images = require_dir(NAME, base / "images", LAYOUT, base)
    labels = require_dir(NAME, base / "1st_manual", LAYOUT, base)
    fovs = require_dir(NAME, base / "mask", LAYOUT, base)
    records = []
    for match, path in list_matching(NAME, images, rf"(\d+)_{part}\.tiff?", LAYOUT):
        number = match.group(1)
        records.append(
            Record(
                id=path.name.split(".")[0],
                image=path,
                mask=require_file(
                    NAME, labels / f"{number}_manual1.gif", f"the vessel label of {path.name}", LAYOUT
                ),
                fov=require_file(
                    NAME, fovs / f"{number}_{part}_mask.gif", f"the FOV mask of {path.name}", LAYOUT
                ),
            )
        )
    return records


@register_dataset("drive")
def drive(
    split: str = "train",
    root: str | os.PathLike | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    transform: Callable | None = None,
    cache: bool = True,
) -> RealSegmentationDataset:
    """DRIVE samples: RGB image 3x584x565, vessel ``mask`` and ``fov`` (both {0,1})."""
    split = check_split(NAME, split)
    top = dataset_dir(NAME, FOLDER, root)
    require_dir(NAME, top, LAYOUT)
    if split == "test":
        records = drive_records(top, "test")
    else:
        records = seeded_split(drive_records(top, "training"), split, val_fraction, seed, NAME)
    return RealSegmentationDataset(
        NAME, records, split=split, root=top, fov="file", transform=transform, seed=seed, cache=cache
    )
