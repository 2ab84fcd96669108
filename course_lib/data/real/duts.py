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

from course_lib.data.real.common import RealSegmentationDataset
from course_lib.data.real.spec import DatasetSpec, Label, Part, load_spec
from course_lib.data.registry import register_dataset
from course_lib.data.sources import SOURCES

__all__: list[str] = []

LAYOUT = """  DUTS/
    DUTS-TR/DUTS-TR-Image/ILSVRC2012_test_00000004.jpg ...   (10,553 training images)
    DUTS-TR/DUTS-TR-Mask/ILSVRC2012_test_00000004.png ...    (0 = background, 255 = salient object)
    DUTS-TE/DUTS-TE-Image/*.jpg, DUTS-TE/DUTS-TE-Mask/*.png  (5,019 test images)"""


def _part(part: str) -> Part:
    """``DUTS-TR`` or ``DUTS-TE``: a folder of images and one of masks (each checked from ``DUTS/``)."""
    return Part((f"{part}/{part}-Image",), r"(.+)\.jpe?g",
                labels=(Label("mask", (f"{part}/{part}-Mask",), "{id}.png", "the mask"),))


SPEC = DatasetSpec(SOURCES["duts"], LAYOUT, train=_part("DUTS-TR"), test=_part("DUTS-TE"))


@register_dataset("duts")
def duts(split: str = "train", root: str | os.PathLike | None = None, val_fraction: float = 0.05,
         seed: int = 0, transform: Callable | None = None, cache: bool = False) -> RealSegmentationDataset:
    """DUTS samples: RGB image (own size) and salient-object ``mask`` {0,1}; ``test`` is DUTS-TE."""
    return load_spec(SPEC, split, root, val_fraction=val_fraction, seed=seed, transform=transform,
                     cache=cache)
