"""ISBI 2012 EM segmentation (Cardona et al. 2010): 30 serial-section TEM images 512x512 with labels.

Label files mark cell interiors 255 and membranes 0; here ``mask`` = 1 on **membrane** (the class to
segment) and ``instances`` = the connected cell interiors (4-connectivity, 1..K; 0 = membrane), from
which chapter 02 computes the U-Net weight map.

Splits: ``train``/``val`` a seeded split of the 30 labelled images, ``trainval`` all 30. The 30 test
images never had public labels: ``split="test"`` raises unless ``unlabeled=True``, which gives
image-only samples (``{"image"}``) for predictions.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from course_lib.data.real.common import RealSegmentationDataset
from course_lib.data.real.spec import DatasetSpec, Label, Part, build, open_folder
from course_lib.data.registry import register_dataset
from course_lib.data.sources import SOURCES

__all__: list[str] = []

LAYOUT = """  isbi2012/
    train/image/0.png ... 29.png    (512x512 greyscale)
    train/label/0.png ... 29.png    (0 = membrane, 255 = cell interior)
    test/0.png ... 29.png           (no labels)"""

SPEC = DatasetSpec(
    SOURCES["isbi2012"], LAYOUT,
    train=Part(("train", "image"), r"\d+\.png", id="{head}",
               labels=(Label("mask", ("train", "label"), "{name}", "the label"),)),
    test=Part(("test",), r"\d+\.png", id="{head}"),  # no labels
    image_mode="L", invert_mask=True, instances=True,  # the files mark membranes 0: our foreground
)


@register_dataset("isbi2012")
def isbi2012(split: str = "train", root: str | os.PathLike | None = None, val_fraction: float = 0.2,
             seed: int = 0, transform: Callable | None = None, cache: bool = True,
             unlabeled: bool = False) -> RealSegmentationDataset:
    """ISBI 2012 samples: image 1x512x512, ``mask`` (1 = membrane), ``instances`` (int64)."""
    split, top = open_folder(SPEC, split, root)
    if split == "test" and not unlabeled:
        raise ValueError(
            "ISBI2012: the 30 test images have no public labels (the challenge never released them), so "
            "split='test' cannot be scored. Hold out labelled images with split='val', or pass "
            "unlabeled=True to get image-only samples for prediction."
        )
    return build(SPEC, split, top, val_fraction=val_fraction, seed=seed, transform=transform, cache=cache)
