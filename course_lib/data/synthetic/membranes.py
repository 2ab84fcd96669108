"""``synthetic-membranes``: ISBI-2012-like electron-microscopy images of cells and their membranes.

Cells are the regions of a Voronoi tessellation whose seeds come from a spatially varying density
(small and large cells side by side), computed in domain-warped coordinates so walls curve. Each
pixel's distance to the nearest wall is the bisector distance (d2^2 - d1^2) / (2 |s1 - s2|); the
membrane is where it is below half the local thickness (2-5 px, varying along walls), with the
thickness scaled so that about 20% of pixels are membrane, as in ISBI 2012 (22%). The interior
holds the distractors a network must learn to ignore: mitochondria (dark outlined ellipses with
cristae), vesicle clusters and dark granules. Membrane contrast varies along walls (oblique
sectioning makes some faint); then blur, uneven illumination and noise.

**Labels:** ``mask`` is 1 on MEMBRANE (the thing to segment) and 0 inside cells. ISBI 2012's own
label files use the opposite (0 = membrane); the real-data loader converts them to this convention.
``instances`` holds cell ids 1..K (int64) and 0 on membranes, for the U-Net weight map.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from course_lib.data.registry import register_dataset
from course_lib.data.synthetic.base import Knob, Sample, Shape, Streams, SyntheticDataset, as_hw, finish
from course_lib.data.synthetic.draw import fractal_noise, illumination, sensor_noise, smooth_noise, soft_disk

__all__ = ["MEMBRANE_KNOBS", "synthetic_membranes"]

MEMBRANE_KNOBS = {
    "noise": Knob(0.02, 0.09, "sensor noise standard deviation (image in [0, 1])"),
    "contrast": Knob(1.2, 0.5, "membrane contrast multiplier (some walls are always fainter)"),
    "blur": Knob(0.6, 1.6, "Gaussian blur sigma in pixels"),
    "organelles": Knob(0.8, 2.2, "density multiplier for mitochondria, vesicles and granules"),
    "cell_size": Knob(36.0, 36.0, "mean cell diameter in pixels (membranes are 2-5 px regardless)"),
    "membrane_fraction": Knob(0.2, 0.2, "target fraction of membrane pixels (ISBI 2012: ~0.22)"),
}


def _cells(rng: np.random.Generator, shape: tuple[int, int], cell_size: float):
    """Warped Voronoi cells: (nearest-seed label, distance to the nearest wall)."""
    h, w = shape
    pad = 2 * cell_size
    density = np.exp(0.5 * smooth_noise(rng, shape, 120))  # >1: small cells, <1: large cells
    area = (h + 2 * pad) * (w + 2 * pad)
    n_candidates = int(3 * area / (0.8 * cell_size**2))
    cand = rng.uniform([-pad, -pad], [h + pad, w + pad], size=(n_candidates, 2))
    iy = np.clip(cand[:, 0], 0, h - 1).astype(int)
    ix = np.clip(cand[:, 1], 0, w - 1).astype(int)
    keep = rng.random(n_candidates) < density[iy, ix] / 3.0
    seeds = cand[keep]
    # drop one seed of each too-close pair: near-coincident seeds make sliver cells
    nn_dist, nn_idx = cKDTree(seeds).query(seeds, k=2)
    local = cell_size / np.sqrt(density[iy[keep], ix[keep]])
    seeds = seeds[(nn_dist[:, 1] > 0.45 * local) | (nn_idx[:, 1] > np.arange(len(seeds)))]
    warp = 0.15 * cell_size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    wy = yy + warp * smooth_noise(rng, shape, 1.6 * cell_size)
    wx = xx + warp * smooth_noise(rng, shape, 1.6 * cell_size)
    points = np.column_stack([wy.ravel(), wx.ravel()])
    dist, idx = cKDTree(seeds).query(points, k=2)
    gap = np.linalg.norm(seeds[idx[:, 0]] - seeds[idx[:, 1]], axis=1)
    wall = (dist[:, 1] ** 2 - dist[:, 0] ** 2) / (2 * np.maximum(gap, 1e-6))
    return idx[:, 0].reshape(shape), wall.reshape(shape).astype(np.float32)


def _organelles(rng: np.random.Generator, wall: np.ndarray, density: float, image: np.ndarray) -> np.ndarray:
    """Darken ``image`` with mitochondria, vesicles and granules placed inside cells (not on walls)."""
    h, w = wall.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    n_mito = rng.poisson(density * h * w / 7000)
    inside = np.flatnonzero(wall.ravel() > 9)
    for k in rng.choice(inside, size=min(n_mito, inside.size), replace=False) if inside.size else ():
        cy, cx = divmod(int(k), w)
        a = min(rng.uniform(6, 16), wall[cy, cx] - 2.5)
        b = a * rng.uniform(0.4, 0.8)
        th = rng.uniform(0, np.pi)
        r = int(a) + 3
        box = (slice(max(cy - r, 0), cy + r + 1), slice(max(cx - r, 0), cx + r + 1))
        dy, dx = yy[box] - cy, xx[box] - cx
        u, v = np.cos(th) * dx + np.sin(th) * dy, -np.sin(th) * dx + np.cos(th) * dy
        rho = np.sqrt((u / a) ** 2 + (v / b) ** 2) * b  # ~ distance in px from the centre, scaled to b
        body = soft_disk(rho, b)
        rim = np.exp(-(((rho - b + 0.8) / 1.0) ** 2))
        cristae = 0.5 + 0.5 * np.cos(u * rng.uniform(1.2, 1.8) + rng.uniform(0, 6))
        image[box] *= 1 - body * (0.22 + 0.12 * cristae) - 0.25 * rim
    # vesicles (dark rings, light centres) in clusters, and small dark granules
    spots = np.zeros((h, w), np.float32)
    clusters = rng.poisson(density * h * w / 4000)
    for _ in range(clusters):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        pts = rng.normal([cy, cx], rng.uniform(4, 10), size=(rng.integers(5, 25), 2))
        pts = pts[(pts[:, 0] >= 0) & (pts[:, 0] < h) & (pts[:, 1] >= 0) & (pts[:, 1] < w)].astype(int)
        spots[pts[:, 0], pts[:, 1]] = 1.0
    spots *= wall > 3
    ring = ndimage.gaussian_filter(spots, 1.6) - 0.6 * ndimage.gaussian_filter(spots, 0.7)
    granules = (rng.random((h, w)) < density * 6e-4) & (wall > 3)
    dots = ndimage.gaussian_filter(granules.astype(np.float32), 1.3)
    image *= 1 - np.clip(2.5 * ring, 0, 0.35) - np.clip(12 * dots, 0, 0.45)
    return image


def render_membranes(streams: Streams, shape: Shape, knobs: Mapping[str, float]) -> Sample:
    """One EM sample: ``image`` 1xHxW, ``mask`` (1 = membrane), ``instances`` (cell ids, 0 on membrane)."""
    rng, app = streams.structure, streams.appearance
    if not 8 <= knobs["cell_size"] <= 0.5 * min(shape):
        raise ValueError(f"cell_size must lie in [8, {0.5 * min(shape):g}] px for size {shape}, "
                         f"got {knobs['cell_size']:g}.")
    label, wall = _cells(rng, shape, knobs["cell_size"])
    thick = np.exp(np.clip(0.2 * smooth_noise(rng, shape, 25), -0.35, 0.35))  # relative thickness along walls
    fraction = np.clip(knobs["membrane_fraction"] + rng.uniform(-0.02, 0.02), 0.02, 0.6)
    half = np.quantile(wall / thick, fraction)
    half = float(np.clip(half, 1.0, 2.5))  # membranes 2-5 px thick
    mask = wall <= half * thick
    present = np.bincount(label[~mask], minlength=label.max() + 1) > 0
    instances = np.where(mask, 0, np.cumsum(present)[label])  # consecutive ids 1..K, 0 on membrane

    interior = np.clip(0.62 + 0.06 * app.standard_normal(label.max() + 1), 0.4, 0.8)[label]
    texture = 1 + 0.12 * fractal_noise(app, shape, (8, 3, 1.5))
    image = (interior * texture).astype(np.float32)
    image = _organelles(app, wall, knobs["organelles"], image)
    strength = np.clip(0.6 + 0.2 * smooth_noise(app, shape, 40), 0.15, 0.85) * knobs["contrast"]
    image *= 1 - np.clip(strength * soft_disk(wall, half * thick, softness=0.7), 0, 0.9)
    image = ndimage.gaussian_filter(image, knobs["blur"]) * illumination(app, shape, 0.3)
    image = sensor_noise(streams.noise, image, knobs["noise"])
    return finish(image, mask, instances=instances)


@register_dataset("synthetic-membranes")
def synthetic_membranes(split: str = "train", root: str | None = None, n: int | None = None,
                        size: int | tuple[int, int] = 256, seed: int = 0, cache: bool = True,
                        difficulty: float = 0.5, **knobs: float) -> SyntheticDataset:
    """EM-like cell images: ``{"image": 1xHxW, "mask": 1 = MEMBRANE, "instances": cell ids (0 = membrane)}``.

    Pixel scale is ISBI 2012's (a 256 sample is a crop of a 512 ISBI-like field). ``root`` is ignored.
    ``difficulty`` in [0, 1] presets the knobs ``noise``, ``contrast``, ``blur``, ``organelles``,
    ``cell_size``, ``membrane_fraction`` (0.5 is ISBI-like); pass any of them to override. Images smaller
    than 72 px get smaller cells by default (at most half the image side), so every size renders.
    """
    if "cell_size" not in knobs:
        h, w = as_hw(size)
        default = MEMBRANE_KNOBS["cell_size"].at(float(difficulty))
        if default > 0.5 * min(h, w):
            knobs["cell_size"] = max(8.0, 0.5 * min(h, w))
    return SyntheticDataset("synthetic-membranes", render_membranes, MEMBRANE_KNOBS, split, n, size, seed,
                            cache, difficulty, **knobs)
