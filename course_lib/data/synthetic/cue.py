"""``synthetic-cue``: a task whose answer at a pixel depends on something far away (chapter 04).

Every image holds bright and dark discs of the same sizes on a noisy, unevenly lit background. A
**cue** far from most discs, a bright frame along the image border, says which kind is the target:
frame present, segment the **bright** discs; frame absent, segment the **dark** ones. Locally, a disc
looks the same in both cases, so a network whose receptive field does not reach the border can only
guess; a squeeze-and-excitation block, whose global average pool sees the whole image, can switch
channels on and off by the cue.

**Labels:** ``mask`` is 1 on the target discs; ``distractor`` is 1 on the discs of the other kind (to
measure how often a model segments the wrong kind).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from course_lib.data.registry import register_dataset
from course_lib.data.synthetic.base import Knob, Sample, Shape, Streams, SyntheticDataset, finish
from course_lib.data.synthetic.draw import illumination, sensor_noise, smooth_noise, soft_disk

__all__ = ["CUE_KNOBS", "synthetic_cue"]

CUE_KNOBS = {
    "noise": Knob(0.03, 0.08, "sensor noise standard deviation (image in [0, 1])"),
    "contrast": Knob(0.3, 0.18, "disc and frame contrast against the background"),
    "frame": Knob(6.0, 4.0, "width of the cue frame in pixels"),
    "discs": Knob(4.0, 6.0, "discs of each kind per 96x96 area"),
}


def _place_discs(rng: np.random.Generator, shape: Shape, n: int, margin: float
                 ) -> list[tuple[float, float, float]]:
    """Up to ``n`` non-overlapping discs ``(y, x, r)`` at least ``margin`` px inside the border."""
    h, w = shape
    discs: list[tuple[float, float, float]] = []
    for _ in range(50 * n):
        if len(discs) == n:
            break
        r = rng.uniform(4.0, 8.0)
        y, x = rng.uniform(margin + r, h - margin - r), rng.uniform(margin + r, w - margin - r)
        if all((y - yy) ** 2 + (x - xx) ** 2 > (r + rr + 3) ** 2 for yy, xx, rr in discs):
            discs.append((y, x, r))
    return discs


def render_cue(streams: Streams, shape: Shape, knobs: Mapping[str, float]) -> Sample:
    """One sample: ``image`` 1xHxW, ``mask`` (the discs the cue selects), ``distractor`` (the others)."""
    rng, app = streams.structure, streams.appearance
    h, w = shape
    frame = round(knobs["frame"])
    if min(h, w) < 4 * frame + 24:
        raise ValueError(f"synthetic-cue needs images of at least {4 * frame + 24} px for a {frame}-px "
                         f"frame, got {h}x{w}.")
    cue = bool(rng.random() < 0.5)
    n = max(1, round(knobs["discs"] * h * w / 96**2))
    discs = _place_discs(rng, shape, 2 * n, margin=frame + 3)
    kinds = rng.permutation(np.arange(len(discs)) % 2)  # 1 = bright, 0 = dark; equal numbers
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bright, dark = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    for (y, x, r), kind in zip(discs, kinds, strict=True):
        cover = soft_disk(np.hypot(yy - y, xx - x), r)
        target = bright if kind else dark
        np.maximum(target, cover, out=target)
    image = 0.5 + 0.04 * smooth_noise(app, shape, 12)
    image = image + knobs["contrast"] * (bright - dark)
    if cue:
        border = np.zeros(shape, bool)
        border[:frame], border[-frame:], border[:, :frame], border[:, -frame:] = True, True, True, True
        image = np.where(border, image + knobs["contrast"], image)
    image = sensor_noise(streams.noise, image * illumination(app, shape, 0.15), knobs["noise"])
    selected, other = (bright, dark) if cue else (dark, bright)
    return finish(image, selected > 0.5, distractor=other > 0.5)


@register_dataset("synthetic-cue")
def synthetic_cue(split: str = "train", root: str | None = None, n: int | None = None,
                  size: int | tuple[int, int] = 96, seed: int = 0, cache: bool = True,
                  difficulty: float = 0.5, **knobs: float) -> SyntheticDataset:
    """Bright and dark discs; a bright border frame (present in half the images) selects the bright ones as
    the target, its absence the dark ones: ``{"image", "mask", "distractor"}``. ``root`` is ignored."""
    return SyntheticDataset("synthetic-cue", render_cue, CUE_KNOBS, split, n, size, seed, cache, difficulty,
                            **knobs)
