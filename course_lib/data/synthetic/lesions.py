"""``synthetic-lesions``: small faint lesions in a large CT-like field, for attention gates.

A slice shows a body (soft tissue inside a fat rim), a few organs of different densities and
textures, and one target organ (liver-like). Lesions are small, faint, hypo-dense blobs with soft,
irregular edges **inside the target organ**; together they cover a drawn 1-3% of the image. The
distractors are what makes the task one of *where to look*: identical-looking dark blobs in the other
organs (not lesions: wrong organ), faint bright blobs in the target organ (wrong polarity), vessel
cross-sections and branches (tubular), and calcifications. Noise is spatially correlated, as in CT.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import ndimage

from course_lib.data.registry import register_dataset
from course_lib.data.synthetic.base import Knob, Sample, Shape, Streams, SyntheticDataset, finish
from course_lib.data.synthetic.draw import fractal_noise, shape_coverage, smooth_noise, soft_disk

__all__ = ["LESION_KNOBS", "synthetic_lesions"]

LESION_KNOBS = {
    "noise": Knob(0.01, 0.05, "correlated noise standard deviation (image in [0, 1])"),
    "contrast": Knob(2.0, 0.7, "lesion (and look-alike distractor) contrast multiplier"),
    "lesion_size": Knob(1.0, 1.0, "multiplier on lesion radius (about 4-10 px at 256x256)"),
    "distractors": Knob(0.5, 1.5, "density multiplier for look-alike distractors"),
    "lesion_fraction": Knob(0.02, 0.02, "mean fraction of lesion pixels (drawn in +-0.01 around it)"),
}


def _organ(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, centre: tuple[float, float],
           radii: tuple[float, float], lobes: float) -> np.ndarray:
    """Soft coverage of a lobulated ellipse (an organ) over the whole image."""
    dy, dx = (yy - centre[0]) / radii[0], (xx - centre[1]) / radii[1]
    theta = np.arctan2(dy, dx)
    r = 1 + lobes * sum(rng.uniform(0, 0.2) * np.cos(k * theta + rng.uniform(0, 6)) for k in (2, 3, 5))
    return soft_disk(np.hypot(dy, dx) * min(radii), r * min(radii), softness=1.5)


def _blobs(rng: np.random.Generator, shape: tuple[int, int], allowed: np.ndarray, radius: float,
           count: int) -> list[tuple[tuple[slice, slice], np.ndarray]]:
    """Up to ``count`` irregular blobs centred on ``allowed`` pixels: (box, coverage) pairs."""
    where = np.flatnonzero(allowed.ravel())
    if where.size == 0:
        return []
    out = []
    for k in rng.choice(where, size=count):
        cy, cx = divmod(int(k), shape[1])
        out.append(shape_coverage(rng, shape, (cy, cx), radius * rng.uniform(0.6, 1.4),
                                  "blob" if rng.random() < 0.7 else "ellipse"))
    return out


def render_lesions(streams: Streams, shape: Shape, knobs: Mapping[str, float]) -> Sample:
    """One CT-like slice: ``image`` 1xHxW, ``mask`` (lesions inside the target organ) and ``lookalike``
    (the dark look-alike blobs in the other organs: not lesions, for measuring where a model looks)."""
    rng, app = streams.structure, streams.appearance
    h, w = shape
    side = min(h, w)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    body = _organ(rng, yy, xx, (h / 2, w / 2), (0.44 * h, 0.47 * w), 0.3)
    inner = _organ(rng, yy, xx, (h / 2, w / 2), (0.39 * h, 0.42 * w), 0.3)
    image = 0.02 + body * 0.28 + inner * 0.17  # air, fat rim, soft tissue
    image = image + inner * 0.02 * fractal_noise(app, shape, (side / 10, side / 30))
    # the target organ (liver-like) and 3-5 other organs with their own density
    liver_c = (h * rng.uniform(0.38, 0.52), w * (0.5 + rng.choice([-1, 1]) * rng.uniform(0.12, 0.2)))
    liver = _organ(rng, yy, xx, liver_c, (side * rng.uniform(0.2, 0.26), side * rng.uniform(0.17, 0.24)), 1.0)
    liver *= inner
    others = np.zeros(shape, np.float32)
    for _ in range(rng.integers(3, 6)):
        c = (h * rng.uniform(0.25, 0.75), w * rng.uniform(0.25, 0.75))
        organ = _organ(rng, yy, xx, c, side * rng.uniform(0.08, 0.15, 2), 1.0) * inner * (1 - liver)
        level = app.uniform(0.3, 0.7)
        image += organ * (level - image) * (1 - others)
        others = np.maximum(others, organ)
    image += liver * (app.uniform(0.5, 0.58) - image)
    image += (liver + others) * 0.015 * fractal_noise(app, shape, (side / 25, side / 60))

    scale = side / 256
    radius = 6.5 * scale * knobs["lesion_size"]
    target = np.clip(knobs["lesion_fraction"] + rng.uniform(-0.01, 0.01), 0.002, 0.5) * h * w
    mask = np.zeros(shape, bool)
    lesion_dark = np.zeros(shape, np.float32)
    candidates = (liver > 0.99) & (ndimage.uniform_filter(liver, 2 * radius + 1) > 0.99)
    for _ in range(200):  # add lesions until they cover the target fraction
        if mask.sum() >= target:
            break
        for box, cover in _blobs(rng, shape, candidates, radius, 1):
            mask[box] |= (cover >= 0.5) & (liver[box] > 0.5)
            lesion_dark[box] = np.maximum(lesion_dark[box], cover * app.uniform(0.05, 0.09))
    lesion_dark = ndimage.gaussian_filter(lesion_dark, 1.2 * scale)  # soft edges
    # distractors: look-alike dark blobs in other organs, bright blobs in the liver, vessels, calcifications
    n = knobs["distractors"]
    fake = np.zeros(shape, np.float32)
    lookalike = np.zeros(shape, bool)
    for box, cover in _blobs(rng, shape, (others > 0.99), radius, rng.poisson(10 * n) + 1):
        fake[box] = np.maximum(fake[box], cover * app.uniform(0.05, 0.09))
        lookalike[box] |= cover >= 0.5
    bright = np.zeros(shape, np.float32)
    for box, cover in _blobs(rng, shape, (liver > 0.99), radius, rng.poisson(3 * n)):
        bright[box] = np.maximum(bright[box], cover * app.uniform(0.04, 0.08))
    vessels = np.zeros(shape, np.float32)
    for box, cover in _blobs(rng, shape, inner > 0.99, 0.6 * radius, rng.poisson(8 * n)):
        vessels[box] = np.maximum(vessels[box], cover * app.uniform(0.05, 0.12))
    tubes = np.clip(1 - np.abs(smooth_noise(rng, shape, side / 8)) / 0.06, 0, 1) * (liver + others) * 0.06 * n
    calc = ndimage.gaussian_filter((rng.random(shape) < 2e-4 * n).astype(np.float32) * inner, 0.8) * 3
    image += knobs["contrast"] * (ndimage.gaussian_filter(bright - fake, 1.2 * scale) - lesion_dark)
    image += vessels + tubes + np.clip(calc, 0, 0.35)
    noise = ndimage.gaussian_filter(streams.noise.standard_normal(shape).astype(np.float32), 0.8)
    image += knobs["noise"] * noise / noise.std() * body
    return finish(image, mask, lookalike=lookalike & ~mask)


@register_dataset("synthetic-lesions")
def synthetic_lesions(split: str = "train", root: str | None = None, n: int | None = None,
                      size: int | tuple[int, int] = 256, seed: int = 0, cache: bool = True,
                      difficulty: float = 0.5, **knobs: float) -> SyntheticDataset:
    """CT-like slices with small faint lesions: ``{"image": 1xHxW, "mask": lesions, "lookalike": the dark
    look-alike blobs in other organs}``. ``root`` is ignored.

    ``difficulty`` in [0, 1] presets the knobs ``noise``, ``contrast``, ``lesion_size``,
    ``distractors``, ``lesion_fraction``; pass any of them to override.
    """
    return SyntheticDataset("synthetic-lesions", render_lesions, LESION_KNOBS, split, n, size, seed, cache,
                            difficulty, **knobs)
