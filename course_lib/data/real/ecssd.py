"""ECSSD (Shi et al. 2016): 1000 natural images with pixel-accurate salient-object masks.

Images come in their own sizes (about 400x300): batch them after a ``Resize`` (U^2-Net: 320x320,
then ``RandomCrop(288)``). U^2-Net uses ECSSD only for evaluation; no official split exists, so here
``test`` is the last ``n_test`` (default 200) images in id order and ``train``/``val`` a seeded split
of the other 800.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from course_lib.data.real.common import RealSegmentationDataset
from course_lib.data.real.spec import DatasetSpec, Label, Part, load_spec
from course_lib.data.registry import register_dataset
from course_lib.data.sources import SOURCES

__all__: list[str] = []

LAYOUT = """  ECSSD/
    images/0001.jpg ... 1000.jpg
    ground_truth_mask/0001.png ... 1000.png    (0 = background, 255 = salient object)"""

SPEC = DatasetSpec(SOURCES["ecssd"], LAYOUT, train=Part(
    ("images",), r"(\d+)\.jpe?g", labels=(Label("mask", ("ground_truth_mask",), "{id}.png", "the mask"),)
))


@register_dataset("ecssd")
def ecssd(split: str = "train", root: str | os.PathLike | None = None, val_fraction: float = 0.2,
          seed: int = 0, transform: Callable | None = None, cache: bool = True, n_test: int = 200,
          test_ids: Sequence[str] | None = None) -> RealSegmentationDataset:
    """ECSSD samples: RGB image (own size) and salient-object ``mask`` {0,1}."""
    return load_spec(SPEC, split, root, val_fraction=val_fraction, seed=seed, transform=transform,
                     cache=cache, n_test=n_test, test_ids=test_ids)
