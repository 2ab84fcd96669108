"""``synthetic-vessels``: DRIVE-like colour fundus images with a branching vessel tree.

A vessel tree grows from the optic disc: two temporal arcades curve around the fovea, nasal trunks
fan out, and every branch is a random walk with persistent curvature that tapers, splits by
Murray's law (w_parent^3 = w_1^3 + w_2^3) and stops at the field-of-view edge, the foveal avascular
zone or when it is thinner than about a pixel. The tree grows widest-first until it covers a drawn
fraction (10.5-13.5%) of the FOV, as in DRIVE's manual annotations (12.5% on average). Vessels are
rendered from exact distance fields (anti-aliased, chord-shaped cross-sections, a light reflex on
wide arteries), thin vessels fainter; then fundus colours, optic disc, dark macula, vignetting, an
illumination gradient, optical blur and sensor noise.

Widths are in pixels of a DRIVE-sized image (FOV radius 270 px) and scale with ``size``.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping

import numpy as np
from scipy import ndimage

from course_lib.data.registry import register_dataset
from course_lib.data.synthetic.base import Knob, Sample, Shape, Streams, SyntheticDataset, finish
from course_lib.data.synthetic.draw import fractal_noise, illumination, sensor_noise, soft_disk

__all__ = ["VESSEL_KNOBS", "synthetic_vessels"]

VESSEL_KNOBS = {
    "noise": Knob(0.005, 0.045, "sensor noise standard deviation (image in [0, 1])"),
    "contrast": Knob(1.5, 0.5, "vessel contrast multiplier (thin vessels are always fainter)"),
    "illumination": Knob(0.1, 0.5, "strength of the uneven illumination gradient"),
    "vessel_width": Knob(1.0, 1.0, "vessel width multiplier (trunks ~7 px, capillaries ~1 px at DRIVE size)"),
}

_REF_RADIUS = 270.0  # FOV radius of a DRIVE image, the unit the widths below are given in
_CHUNK = 8  # segments rendered together in one vectorised box


def _grow_tree(rng: np.random.Generator, centre: tuple[float, float], radius: float,
               disc: tuple[float, float], fovea: tuple[float, float], width_mult: float,
               budget: float) -> list[np.ndarray]:
    """Grow the vessel tree; returns polylines as arrays of rows (y, x, width_px, contrast_weight)."""
    s = radius / _REF_RADIUS
    ds = max(1.5, 2.5 * s)  # step in pixels
    ds_ref = ds / s
    cy, cx = centre
    fy, fx = fovea
    temporal = math.atan2(fy - disc[0], fx - disc[1])  # direction from disc towards the fovea
    heap: list[tuple[float, int, tuple]] = []
    counter = 0

    def push(y: float, x: float, heading: float, width: float, vein: bool, arcade: bool) -> None:
        nonlocal counter
        heapq.heappush(heap, (-width, counter, (y, x, heading, width, vein, arcade)))
        counter += 1

    for side in (-1.0, 1.0):  # superior and inferior
        for vein in (False, True):
            heading = temporal + side * math.radians(rng.uniform(35, 55))
            width = rng.uniform(7.0, 8.5) if vein else rng.uniform(5.5, 6.8)
            push(disc[0], disc[1], heading, width, vein, True)
        for _ in range(2):
            heading = temporal + math.pi - side * math.radians(rng.uniform(35, 85))
            push(disc[0], disc[1], heading, rng.uniform(3.5, 5.5), bool(rng.integers(2)), False)

    used = 0.0
    lines: list[np.ndarray] = []
    while heap and used < budget:
        _, _, (y, x, heading, w, vein, arcade) = heapq.heappop(heap)
        curv = 0.0
        gap = rng.uniform(20, 60)
        side = 1.0 if rng.random() < 0.5 else -1.0
        travelled = 0.0
        orbit, arc_len, length = rng.uniform(0.42, 0.55), rng.uniform(1.5, 2.1) * _REF_RADIUS, 0.0
        pts = [(y, x, w)]
        while used < budget and w > 0.9:
            curv = 0.9 * curv + rng.normal(0, 0.0018) * math.sqrt(ds_ref)
            curv = max(-0.015, min(0.015, curv))
            heading += curv * ds_ref
            dy, dx = y - fy, x - fx
            dist_f = math.hypot(dy, dx) / radius
            if arcade:  # follow a circle of radius ~0.5 R around the fovea
                tangent = math.atan2(dx, -dy)
                if math.cos(tangent - heading) < 0:
                    tangent += math.pi
                outward = math.atan2(dy, dx)
                pull = max(-1.0, min(1.0, (orbit - dist_f) / 0.15))
                target = math.atan2(math.sin(tangent) + pull * math.sin(outward),
                                    math.cos(tangent) + pull * math.cos(outward))
                fade = max(0.0, 1.0 - length / arc_len)  # arcades curve round ~a third of the fovea
                heading += ds_ref * (0.03 * fade * math.sin(target - heading)
                                     + 0.004 * (1 - fade) * math.sin(outward - heading))
            if dist_f < 0.32:  # steer away from the foveal avascular zone
                outward = math.atan2(dy, dx)
                heading += 0.03 * ds_ref * (0.32 - dist_f) / 0.32 * math.sin(outward - heading) * 3
            y += ds * math.sin(heading)
            x += ds * math.cos(heading)
            w -= 0.004 * ds_ref
            travelled += ds_ref
            length += ds_ref
            rr = math.hypot(y - cy, x - cx)
            if rr > radius * 1.01 or dist_f < 0.07:
                pts.append((y, x, w))
                break
            if rr < radius:
                used += ds * max(w * s * width_mult, 1.0)
            pts.append((y, x, w))
            if travelled > gap and w > 1.4:
                ratio = rng.uniform(0.3, 0.6) if w > 4 else rng.uniform(0.5, 0.85)
                child = w * ratio
                w = w * (1 - ratio**3) ** (1 / 3)
                side = -side if rng.random() < 0.75 else side
                angle = math.radians(rng.uniform(35, 80))
                push(y, x, heading + side * angle, child, vein, False)
                heading -= side * math.radians(rng.uniform(3, 15))
                travelled, gap = 0.0, rng.uniform(25, 70)
        if len(pts) > 1:
            arr = np.array(pts, dtype=np.float64)
            widths = np.maximum(arr[:, 2] * s * width_mult, 1.0)
            weight = arr[:, 2] / (arr[:, 2] + 2.0) * (1.15 if vein else 0.85)  # thin vessels fainter
            reflex = np.full(len(arr), 0.0 if vein else 1.0)
            lines.append(np.column_stack([arr[:, 0], arr[:, 1], widths, weight, reflex]))
    return lines


def _render_tree(lines: list[np.ndarray], shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Rasterise polylines: (darkness in [0, 1], binary mask), each capsule segment exact and anti-aliased."""
    h, w = shape
    dark = np.zeros(shape, np.float32)
    mask = np.zeros(shape, bool)
    for line in lines:
        for start in range(0, len(line) - 1, _CHUNK):
            seg = line[start:start + _CHUNK + 1].astype(np.float32)
            p0, p1 = seg[:-1, :2], seg[1:, :2]
            r0, r1 = seg[:-1, 2] / 2, seg[1:, 2] / 2
            pad = seg[:, 2].max() / 2 + 2
            y0, x0 = np.floor(np.maximum(seg[:, :2].min(0) - pad, 0)).astype(int)
            y1 = int(min(np.ceil(seg[:, 0].max() + pad), h - 1))
            x1 = int(min(np.ceil(seg[:, 1].max() + pad), w - 1))
            if y1 < y0 or x1 < x0:
                continue
            Y = np.arange(y0, y1 + 1, dtype=np.float32)[None, :, None]
            X = np.arange(x0, x1 + 1, dtype=np.float32)[None, None, :]
            d = (p1 - p0)[:, :, None, None]
            len2 = np.maximum((d**2).sum(1), 1e-9)
            ry, rx = Y - p0[:, 0, None, None], X - p0[:, 1, None, None]
            t = np.clip((ry * d[:, 0] + rx * d[:, 1]) / len2, 0, 1)
            dist = np.hypot(ry - t * d[:, 0], rx - t * d[:, 1])
            r = r0[:, None, None] + t * (r1 - r0)[:, None, None]
            cover = soft_disk(dist, r)
            chord = np.sqrt(np.clip(1 - (dist / r) ** 2, 0, 1))
            reflex = seg[:-1, 4, None, None] * np.clip(r - 2.0, 0, 1) * np.exp(-((dist / (0.3 * r)) ** 2))
            profile = cover * (0.55 + 0.45 * chord) * (1 - 0.35 * reflex)
            weight = seg[:-1, 3, None, None]
            box = (slice(y0, y1 + 1), slice(x0, x1 + 1))
            dark[box] = np.maximum(dark[box], (weight * profile).max(0))
            mask[box] |= (dist <= r).any(0)
    return dark, mask


def render_vessels(streams: Streams, shape: Shape, knobs: Mapping[str, float]) -> Sample:
    """One fundus sample: ``image`` 3xHxW RGB, ``mask`` (vessels inside the FOV), ``fov``."""
    rng, app = streams.structure, streams.appearance
    h, w = shape
    cy, cx = (h - 1) / 2, (w - 1) / 2
    radius = 0.478 * min(h, w)
    s = radius / _REF_RADIUS
    side = 1.0 if rng.random() < 0.5 else -1.0  # optic disc on the right (+1) or left eye
    disc = (cy + rng.normal(0, 0.05) * radius, cx + side * rng.uniform(0.66, 0.76) * radius)
    fovea = (cy + rng.normal(0, 0.04) * radius, cx - side * rng.uniform(0.0, 0.08) * radius)
    budget = 1.12 * rng.uniform(0.105, 0.135) * math.pi * radius**2  # 1.12: overlaps
    lines = _grow_tree(rng, (cy, cx), radius, disc, fovea, knobs["vessel_width"], budget)
    dark, mask = _render_tree(lines, shape)

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rr = np.hypot(yy - cy, xx - cx)
    fov = rr <= radius
    # background: fundus colour, choroidal texture, dark macula, vignetting, illumination
    base = np.array([app.uniform(0.72, 0.86), app.uniform(0.36, 0.5), app.uniform(0.18, 0.3)], np.float32)
    texture = 1 + 0.035 * fractal_noise(app, shape, (60 * s, 20 * s, 6 * s))
    macula = np.exp(-((yy - fovea[0]) ** 2 + (xx - fovea[1]) ** 2) / (2 * (0.2 * radius) ** 2))
    vignette = 1 - 0.35 * (rr / radius) ** 3
    shade = (1 - 0.3 * macula) * vignette * illumination(app, shape, knobs["illumination"])
    image = base[:, None, None] * (shade * texture)[None]
    # optic disc: a bright yellowish ellipse with a brighter cup
    rd = app.uniform(0.12, 0.15) * radius
    ell = np.hypot((yy - disc[0]) / app.uniform(1.0, 1.15), xx - disc[1])
    disc_cover = soft_disk(ell, rd, softness=0.15 * rd)
    cup = soft_disk(ell, 0.5 * rd, softness=0.2 * rd)
    disc_col = np.array([1.0, app.uniform(0.78, 0.9), app.uniform(0.45, 0.6)], np.float32)
    image = image * (1 - disc_cover) + (disc_col[:, None, None] * (0.85 + 0.15 * cup)) * disc_cover
    # vessels absorb most in green, least in red
    absorb = np.array([0.3, 0.75, 0.6], np.float32)[:, None, None]
    image = image * (1 - np.clip(knobs["contrast"] * 0.75 * dark, 0, 0.95)[None] * absorb)
    blur = max(0.5, 0.9 * s)
    image = np.stack([ndimage.gaussian_filter(c, blur) for c in image])
    edge = soft_disk(rr, radius, softness=1.0)
    image = image * edge + 0.015 * (1 - edge)
    image = sensor_noise(streams.noise, image, knobs["noise"])
    return finish(image, mask & fov, fov=fov)


@register_dataset("synthetic-vessels")
def synthetic_vessels(split: str = "train", root: str | None = None, n: int | None = None,
                      size: int | tuple[int, int] = 256, seed: int = 0, cache: bool = True,
                      difficulty: float = 0.5, **knobs: float) -> SyntheticDataset:
    """Retina-like fundus images: ``{"image": 3xHxW RGB, "mask": vessels, "fov": field of view}``.

    ``size`` is an int or ``(H, W)``; ``(584, 565)`` is DRIVE's size. ``root`` is ignored (no files).
    ``difficulty`` in [0, 1] presets the knobs ``noise``, ``contrast``, ``illumination``,
    ``vessel_width`` (0.5 is DRIVE-like); pass any of them to override.
    """
    return SyntheticDataset("synthetic-vessels", render_vessels, VESSEL_KNOBS, split, n, size, seed, cache,
                            difficulty, **knobs)
