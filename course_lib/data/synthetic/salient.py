"""``synthetic-salient``: salient-object scenes for U^2-Net (textured foreground shapes on clutter).

A scene is a blurred, colourful background (smooth colour fields plus many clutter shapes of the
same families and palette as the foreground) and one or two large foreground objects drawn from
seven shape families (ellipse, superellipse, polygon, star, blob, crescent, ring), each with its
own texture (stripes, checks, spots, mottling) and shading. What makes the foreground salient is
what makes it so in photographs: it is bigger, nearer the centre, in focus (the background has
depth-of-field blur) and contrasts with what surrounds it; no single colour or grey level does.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import ndimage

from course_lib.data.registry import register_dataset
from course_lib.data.synthetic.base import Knob, Sample, Shape, Streams, SyntheticDataset, finish
from course_lib.data.synthetic.draw import (
    SHAPE_FAMILIES,
    fractal_noise,
    illumination,
    sensor_noise,
    shape_coverage,
    texture,
)

__all__ = ["SALIENT_KNOBS", "synthetic_salient"]

SALIENT_KNOBS = {
    "noise": Knob(0.01, 0.06, "sensor noise standard deviation (image in [0, 1])"),
    "contrast": Knob(1.0, 0.35, "colour contrast between objects and their surroundings (0..1)"),
    "clutter": Knob(0.5, 1.6, "density multiplier for background clutter shapes"),
    "background_blur": Knob(3.0, 0.8, "depth-of-field blur of the background in pixels (0 = sharp)"),
    "object_scale": Knob(1.0, 1.0, "multiplier on foreground object size"),
}


def _paint(rng: np.random.Generator, canvas: np.ndarray, box: tuple[slice, slice], cover: np.ndarray,
           colour: np.ndarray, pattern: np.ndarray) -> None:
    """Composite a textured, shaded object of base ``colour`` onto ``canvas`` (3xHxW) in place.

    ``pattern`` is a full-size texture in [0, 1]; the object shows the part of it under its box.
    """
    hb, wb = cover.shape
    if hb == 0 or wb == 0:
        return
    second = np.clip(colour + rng.normal(0, 0.25, 3), 0, 1).astype(np.float32)
    pat = pattern[box][None] * rng.uniform(0.3, 0.9)
    shade = np.linspace(rng.uniform(0.75, 1.0), rng.uniform(1.0, 1.2), hb, dtype=np.float32)[None, :, None]
    fill = (colour[:, None, None] * (1 - pat) + second[:, None, None] * pat) * shade
    region = canvas[:, box[0], box[1]]
    region += cover[None] * (np.clip(fill, 0, 1) - region)


def render_salient(streams: Streams, shape: Shape, knobs: Mapping[str, float]) -> Sample:
    """One scene: ``image`` 3xHxW RGB and ``mask`` (the salient object(s))."""
    rng, app = streams.structure, streams.appearance
    h, w = shape
    side = min(h, w)
    palette = app.uniform(0.05, 0.95, size=(6, 3)).astype(np.float32)
    weights = fractal_noise(app, shape, (side / 3, side / 8))
    mix = np.stack([fractal_noise(app, shape, (side / 4,)) for _ in range(3)])
    background = np.clip(palette[0][:, None, None] * (1 + 0.3 * weights)[None] + 0.12 * mix, 0, 1)
    patterns = [texture(app, shape, side * scale) for scale in (0.015, 0.03, 0.05, 0.08)]
    n_clutter = rng.poisson(knobs["clutter"] * 30)  # shape sizes scale with the image
    for _ in range(n_clutter):
        box, cover = shape_coverage(rng, shape, (rng.uniform(0, h), rng.uniform(0, w)),
                                    side * rng.uniform(0.03, 0.15), rng.choice(SHAPE_FAMILIES))
        _paint(app, background, box, cover, palette[app.integers(6)], patterns[app.integers(2)])
    if knobs["background_blur"] > 0:
        background = np.stack([ndimage.gaussian_filter(c, knobs["background_blur"]) for c in background])

    image = background.copy()
    mask = np.zeros(shape, np.float32)
    for k in range(1 if rng.random() < 0.7 else 2):
        radius = side * rng.uniform(0.2, 0.32) * knobs["object_scale"] * (1.0 if k == 0 else 0.7)
        centre = (h / 2 + rng.normal(0, 0.12) * h, w / 2 + rng.normal(0, 0.12) * w)
        box, cover = shape_coverage(rng, shape, centre, radius, rng.choice(SHAPE_FAMILIES))
        # a colour pushed away from the surroundings' mean by the contrast knob
        around = background[:, box[0], box[1]].reshape(3, -1).mean(1)
        colour = app.uniform(0.05, 0.95, 3).astype(np.float32)
        away = np.where(around > 0.5, 0.0, 1.0).astype(np.float32)
        colour = (1 - knobs["contrast"]) * colour + knobs["contrast"] * (0.5 * colour + 0.5 * away)
        _paint(app, image, box, cover, colour, patterns[app.integers(4)])
        mask[box] = np.maximum(mask[box], cover)
    image = image * illumination(app, shape, 0.2)[None]
    image = sensor_noise(streams.noise, image, knobs["noise"])
    return finish(image, mask >= 0.5)


@register_dataset("synthetic-salient")
def synthetic_salient(split: str = "train", root: str | None = None, n: int | None = None,
                      size: int | tuple[int, int] = 256, seed: int = 0, cache: bool = True,
                      difficulty: float = 0.5, **knobs: float) -> SyntheticDataset:
    """Salient-object scenes: ``{"image": 3xHxW RGB, "mask": the salient object(s)}``. ``root`` is ignored.

    ``difficulty`` in [0, 1] presets the knobs ``noise``, ``contrast``, ``clutter``,
    ``background_blur``, ``object_scale``; pass any of them to override.
    """
    return SyntheticDataset("synthetic-salient", render_salient, SALIENT_KNOBS, split, n, size, seed, cache,
                            difficulty, **knobs)
