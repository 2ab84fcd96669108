"""CHASE_DB1 (Fraz et al. 2012): 28 fundus images 999x960 of 14 children, left and right eyes,
vessel labels by two observers (``_1stHO``, ``_2ndHO``). CC BY 4.0 (Kingston University).

No FOV masks ship with it: ``fov`` is derived from the red channel (:func:`derive_fov`).
No official split: the common convention (used here) trains on the first 20 images
(Image_01L..Image_10R) and tests on the last 8; ``train``/``val`` is a seeded split of the 20.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from course_lib.data.real.common import RealSegmentationDataset
from course_lib.data.real.spec import DatasetSpec, Label, Part, load_spec
from course_lib.data.registry import register_dataset
from course_lib.data.sources import SOURCES

__all__: list[str] = []

LAYOUT = """  CHASE_DB1/                 (the content of CHASEDB1.zip, flat)
    Image_01L.jpg, Image_01L_1stHO.png, Image_01L_2ndHO.png
    ...
    Image_14R.jpg, Image_14R_1stHO.png, Image_14R_2ndHO.png"""

SPEC = DatasetSpec(
    SOURCES["chase_db1"], LAYOUT, fov="derive", annotators={"1stHO": "", "2ndHO": ""},
    train=Part((), r"(Image_\d+[LR])\.jpe?g",  # flat: images and labels side by side
               labels=(Label("mask", (), "{id}_{annotator}.png", "the label"),)),
)


@register_dataset("chase_db1")
def chase_db1(split: str = "train", root: str | os.PathLike | None = None, val_fraction: float = 0.2,
              seed: int = 0, transform: Callable | None = None, cache: bool = True, annotator: str = "1stHO",
              n_test: int = 8, test_ids: Sequence[str] | None = None) -> RealSegmentationDataset:
    """CHASE_DB1 samples: RGB image 3x960x999, vessel ``mask`` ("1stHO" or "2ndHO"), derived ``fov``."""
    return load_spec(SPEC, split, root, annotator=annotator, val_fraction=val_fraction, seed=seed,
                     transform=transform, cache=cache, n_test=n_test, test_ids=test_ids)
