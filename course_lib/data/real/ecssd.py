"""ECSSD (Shi et al. 2016): 1000 natural images with pixel-accurate salient-object masks.

Images come in their own sizes (about 400x300): batch them after a ``Resize`` (U^2-Net: 320x320,
then ``RandomCrop(288)``). U^2-Net uses ECSSD only for evaluation; no official split exists, so here
``test`` is the last ``n_test`` (default 200) images in id order and ``train``/``val`` a seeded split
of the other 800.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from course_lib.data.real.common import (
    RealSegmentationDataset,
    Record,
    check_split,
    dataset_dir,
    holdout_split,
    list_matching,
    require_dir,
    require_file,
)
from course_lib.data.registry import register_dataset

__all__: list[str] = []

NAME, FOLDER = "ECSSD", "ECSSD"
LAYOUT = """  ECSSD/
    images/0001.jpg ... 1000.jpg
    ground_truth_mask/0001.png ... 1000.png    (0 = background, 255 = salient object)"""


@register_dataset("ecssd")
def ecssd(
    split: str = "train",
    root: str | os.PathLike | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    transform: Callable | None = None,
    cache: bool = True,
    n_test: int = 200,
    test_ids: Sequence[str] | None = None,
) -> RealSegmentationDataset:
    """ECSSD samples: RGB image (own size) and salient-object ``mask`` {0,1}."""
    split = check_split(NAME, split)
    top = require_dir(NAME, dataset_dir(NAME, FOLDER, root), LAYOUT)
    images = require_dir(NAME, top / "images", LAYOUT, top)
    masks = require_dir(NAME, top / "ground_truth_mask", LAYOUT, top)
    records = [
        Record(
            id=m.group(1),
            image=p,
            mask=require_file(NAME, masks / f"{m.group(1)}.png", f"the mask of {p.name}", LAYOUT),
        )
        for m, p in list_matching(NAME, images, r"(\d+)\.jpe?g", LAYOUT)
    ]
    records = holdout_split(
        records, split, n_test=n_test, test_ids=test_ids, val_fraction=val_fraction, seed=seed, name=NAME
    )
    return RealSegmentationDataset(
        NAME, records, split=split, root=top, transform=transform, seed=seed, cache=cache
    )
