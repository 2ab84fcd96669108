"""DUTS (Wang et al. 2017): the salient-object set U^2-Net trains on.

DUTS-TR holds 10,553 training images, DUTS-TE 5,019 test images, each with a pixel-accurate mask, in
their own sizes (about 400x300): batch them after a ``Resize`` (U^2-Net: 320x320, then
``RandomCrop(288)`` and flips for training). ``train``/``val`` are a seeded split of DUTS-TR, ``test`` is
DUTS-TE. Decoded images are not kept in memory by default (``cache=False``): DUTS-TR would need about
4 GB.
"""

from __future__ import annotations

import os
from collections.abc import Callable

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

NAME, FOLDER = "DUTS", "DUTS"
LAYOUT = """  DUTS/
    DUTS-TR/DUTS-TR-Image/ILSVRC2012_test_00000004.jpg ...   (10,553 training images)
    DUTS-TR/DUTS-TR-Mask/ILSVRC2012_test_00000004.png ...    (0 = background, 255 = salient object)
    DUTS-TE/DUTS-TE-Image/*.jpg, DUTS-TE/DUTS-TE-Mask/*.png  (5,019 test images)"""


def _records(top, part: str) -> list[Record]:
    images = require_dir(NAME, top / part / f"{part}-Image", LAYOUT, top)
    masks = require_dir(NAME, top / part / f"{part}-Mask", LAYOUT, top)
    return [
        Record(id=m.group(1), image=p,
               mask=require_file(NAME, masks / f"{m.group(1)}.png", f"the mask of {p.name}", LAYOUT))
        for m, p in list_matching(NAME, images, r"(.+)\.jpe?g", LAYOUT)
    ]


@register_dataset("duts")
def duts(
    split: str = "train",
    root: str | os.PathLike | None = None,
    val_fraction: float = 0.05,
    seed: int = 0,
    transform: Callable | None = None,
    cache: bool = False,
) -> RealSegmentationDataset:
    """DUTS samples: RGB image (own size) and salient-object ``mask`` {0,1}; ``test`` is DUTS-TE."""
    split = check_split(NAME, split)
    top = require_dir(NAME, dataset_dir(NAME, FOLDER, root), LAYOUT)
    if split == "test":
        records = _records(top, "DUTS-TE")
    else:
        records = seeded_split(_records(top, "DUTS-TR"), split, val_fraction, seed, NAME)
    return RealSegmentationDataset(NAME, records, split=split, root=top, transform=transform, seed=seed,
                                   cache=cache)
