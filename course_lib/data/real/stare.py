"""STARE (Hoover et al. 2000): 20 fundus images 605x700 with vessel labels by two observers.

The official tarballs hold ``stare-images/imNNNN.ppm.gz`` (all 397 images; 20 are labelled) and
``labels-ah/imNNNN.ah.ppm.gz`` (Adam Hoover) / ``labels-vk/imNNNN.vk.ppm.gz`` (Valentina Kouznetsova).
STARE has no FOV masks: ``fov`` is derived from the red channel (:func:`derive_fov`).

There is no official split. Papers use either leave-one-out or a 10/10 split; here ``test`` is the
last ``n_test`` (default 10) labelled images in id order and ``train``/``val`` a seeded split of the
first 10. Leave-one-out: ``test_ids=["im0001"]`` (and loop over the ids).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from course_lib.data.real.common import (
    DatasetLayoutError,
    RealSegmentationDataset,
    Record,
    check_split,
    dataset_dir,
    holdout_split,
    list_matching,
    require_dir,
)
from course_lib.data.registry import register_dataset

__all__: list[str] = []

NAME, FOLDER = "STARE", "STARE"
LAYOUT = """  STARE/
    stare-images/im0001.ppm.gz ...      (or .ppm; the images, 605x700 RGB)
    labels-ah/im0001.ah.ppm.gz ...      (first observer; 20 images)
    labels-vk/im0001.vk.ppm.gz ...      (second observer, optional)"""


@register_dataset("stare")
def stare(
    split: str = "train",
    root: str | os.PathLike | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    transform: Callable | None = None,
    cache: bool = True,
    annotator: str = "ah",
    n_test: int = 10,
    test_ids: Sequence[str] | None = None,
) -> RealSegmentationDataset:
    """STARE samples: RGB image, vessel ``mask`` by ``annotator`` ("ah" or "vk"), derived ``fov``."""
    split = check_split(NAME, split)
    if annotator not in ("ah", "vk"):
        raise ValueError(f"STARE: annotator must be 'ah' (Hoover) or 'vk' (Kouznetsova), got {annotator!r}.")
    top = dataset_dir(NAME, FOLDER, root)
    require_dir(NAME, top, LAYOUT)
    images = require_dir(NAME, top / "stare-images", LAYOUT, top)
    labels = require_dir(NAME, top / f"labels-{annotator}", LAYOUT, top)
    by_id = {m.group(1): p for m, p in list_matching(NAME, images, r"(im\d+)\.ppm(\.gz)?", LAYOUT)}
    records = []
    for match, label in list_matching(NAME, labels, rf"(im\d+)\.{annotator}\.ppm(\.gz)?", LAYOUT):
        image_id = match.group(1)
        if image_id not in by_id:
            raise DatasetLayoutError(
                f"STARE: label {label} has no image {images / (image_id + '.ppm.gz')}.\n"
                f"Expected layout:\n{LAYOUT}"
            )
        records.append(Record(id=image_id, image=by_id[image_id], mask=label))
    records = holdout_split(
        records, split, n_test=n_test, test_ids=test_ids, val_fraction=val_fraction, seed=seed, name=NAME
    )
    return RealSegmentationDataset(
        NAME, records, split=split, root=top, fov="derive", transform=transform, seed=seed, cache=cache
    )
