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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from course_lib.data.real.common import (
    DatasetLayoutError,
    RealSegmentationDataset,
    Record,
    list_matching,
    require_dir,
)
from course_lib.data.real.spec import DatasetSpec, load_spec
from course_lib.data.registry import register_dataset
from course_lib.data.sources import SOURCES

__all__: list[str] = []

LAYOUT = """  STARE/
    stare-images/im0001.ppm.gz ...      (or .ppm; the images, 605x700 RGB)
    labels-ah/im0001.ah.ppm.gz ...      (first observer; 20 images)
    labels-vk/im0001.vk.ppm.gz ...      (second observer, optional)"""


def _records(top: Path, options: Mapping[str, str]) -> list[Record]:
    """STARE's own listing: by label (20 of its 397 images have one), each label needing its image."""
    name, annotator = SPEC.name, options["annotator"]
    images = require_dir(name, top / "stare-images", LAYOUT, top)
    labels = require_dir(name, top / f"labels-{annotator}", LAYOUT, top)
    by_id = {m.group(1): p for m, p in list_matching(name, images, r"(im\d+)\.ppm(\.gz)?", LAYOUT)}
    records = []
    for match, label in list_matching(name, labels, rf"(im\d+)\.{annotator}\.ppm(\.gz)?", LAYOUT):
        image_id = match.group(1)
        if image_id not in by_id:
            raise DatasetLayoutError(
                f"STARE: label {label} has no image {images / (image_id + '.ppm.gz')}.\n"
                f"Expected layout:\n{LAYOUT}"
            )
        records.append(Record(id=image_id, image=by_id[image_id], mask=label))
    return records


SPEC = DatasetSpec(SOURCES["stare"], LAYOUT, train=_records, fov="derive",
                   annotators={"ah": "Hoover", "vk": "Kouznetsova"})


@register_dataset("stare")
def stare(split: str = "train", root: str | os.PathLike | None = None, val_fraction: float = 0.2,
          seed: int = 0, transform: Callable | None = None, cache: bool = True, annotator: str = "ah",
          n_test: int = 10, test_ids: Sequence[str] | None = None) -> RealSegmentationDataset:
    """STARE samples: RGB image, vessel ``mask`` by ``annotator`` ("ah" or "vk"), derived ``fov``."""
    return load_spec(SPEC, split, root, annotator=annotator, val_fraction=val_fraction, seed=seed,
                     transform=transform, cache=cache, n_test=n_test, test_ids=test_ids)
