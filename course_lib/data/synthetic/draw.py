"""Image helpers of the synthetic datasets: smooth noise fields, illumination, sensor noise,
anti-aliased shapes and textures. Each draws from the random generator it is given.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__: list[str] = []


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """A smooth random field with unit standard deviation and features about ``scale`` pixels across.

    White noise on a coarse grid, upsampled bicubically: much faster than a wide Gaussian filter.
    """
    step = max(float(scale), 1.0)
    coarse = rng.standard_normal((int(shape[0] / step) + 2, int(shape[1] / step) + 2)).astype(np.float32)
    field = F.interpolate(torch.from_numpy(coarse)[None, None], size=shape, mode="bicubic",
                          align_corners=True)[0, 0].numpy()
    field -= field.mean()
    return field / (field.std() + 1e-8)


def fractal_noise(rng: np.random.Generator, shape: tuple[int, int], scales: tuple[float, ...],
                  falloff: float = 0.6) -> np.ndarray:
    """Sum of :func:`smooth_noise` octaves (largest scale weighted most), unit standard deviation."""
    field = sum(falloff ** k * smooth_noise(rng, shape, s) for k, s in enumerate(scales))
    return field / (field.std() + 1e-8)


def illumination(rng: np.random.Generator, shape: tuple[int, int], strength: float) -> np.ndarray:
    """A multiplicative illumination field around 1: a random linear gradient plus a soft blob."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy, xx = yy / max(h - 1, 1) - 0.5, xx / max(w - 1, 1) - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * xx + np.sin(angle) * yy
    cy, cx = rng.uniform(-0.4, 0.4, 2)
    blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rng.uniform(0.15, 0.35) ** 2)) - 0.5
    return (1.0 + strength * (1.2 * ramp + 0.6 * blob)).astype(np.float32)


def sensor_noise(rng: np.random.Generator, image: np.ndarray, sigma: float) -> np.ndarray:
    """Signal-dependent Gaussian noise (a shot-noise-like term plus a read-noise floor), clipped to [0, 1]."""
    std = sigma * np.sqrt(0.3 + 0.7 * np.clip(image, 0, 1))
    return np.clip(image + std * rng.standard_normal(image.shape), 0.0, 1.0)


def soft_disk(dist: np.ndarray, radius: np.ndarray | float, softness: float = 0.5) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of a shape whose boundary lies at ``dist == radius``."""
    return np.clip((radius - dist) / (2 * softness) + 0.5, 0.0, 1.0)


# ---------------------------------------------------------------- shapes and textures

SHAPE_FAMILIES = ("ellipse", "superellipse", "polygon", "star", "blob", "crescent", "ring")


def shape_coverage(rng: np.random.Generator, shape: tuple[int, int], centre: tuple[float, float],
                   radius: float, family: str) -> tuple[tuple[slice, slice], np.ndarray]:
    """Anti-aliased coverage of one random shape of ``family``; returns (box, coverage within box).

    Star-shaped families are a radial function r(theta) around the centre (ellipse, superellipse,
    regular polygon, star, smooth random blob); crescent and ring combine two discs.
    """
    if family not in SHAPE_FAMILIES:
        raise ValueError(f"Unknown shape family {family!r}; use one of {', '.join(SHAPE_FAMILIES)}.")
    h, w = shape
    cy, cx = centre
    reach = int(np.ceil(1.7 * radius)) + 2
    y0, y1 = max(int(cy) - reach, 0), min(int(cy) + reach + 1, h)
    x0, x1 = max(int(cx) - reach, 0), min(int(cx) + reach + 1, w)
    box = (slice(y0, max(y1, y0)), slice(x0, max(x1, x0)))
    dy = np.arange(y0, max(y1, y0), dtype=np.float32)[:, None] - cy
    dx = np.arange(x0, max(x1, x0), dtype=np.float32)[None, :] - cx
    rho = np.hypot(dy, dx)
    theta = np.arctan2(dy, dx) - rng.uniform(0, 2 * np.pi)
    if family == "crescent":
        shift, phi = rng.uniform(0.35, 0.7) * radius, rng.uniform(0, 2 * np.pi)
        inner = np.hypot(dy - shift * np.sin(phi), dx - shift * np.cos(phi))  # offset disc cut out
        return box, soft_disk(rho, radius) * (1 - soft_disk(inner, rng.uniform(0.7, 0.95) * radius))
    if family == "ring":
        return box, soft_disk(rho, radius) * (1 - soft_disk(rho, rng.uniform(0.35, 0.6) * radius))
    if family == "ellipse":
        a, b = 1.0, rng.uniform(0.45, 0.95)
        r = 1 / np.sqrt((np.cos(theta) / a) ** 2 + (np.sin(theta) / b) ** 2)
    elif family == "superellipse":
        a, b, p = 1.0, rng.uniform(0.5, 1.0), rng.uniform(3, 6)
        r = (np.abs(np.cos(theta) / a) ** p + np.abs(np.sin(theta) / b) ** p) ** (-1 / p)
    elif family == "polygon":
        k = int(rng.integers(3, 8))
        r = np.cos(np.pi / k) / np.cos(np.mod(theta, 2 * np.pi / k) - np.pi / k)
    elif family == "star":
        r = 1 + rng.uniform(0.25, 0.45) * np.cos(int(rng.integers(4, 8)) * theta)
        r /= r.max() if r.size else 1
    else:  # blob: a few low harmonics
        r = np.ones_like(theta)
        for k in range(2, 6):
            r += rng.uniform(0, 0.25 / k * 2) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
        r /= 1.3
    return box, soft_disk(rho, radius * r)


def texture(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """A random pattern in [0, 1]: stripes, checks, spots or mottled noise, features ~``scale`` px."""
    h, w = shape
    kind = rng.integers(4)
    if kind == 3:
        return np.clip(0.5 + 0.25 * fractal_noise(rng, shape, (scale, scale / 3)), 0, 1)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    u = np.cos(angle) * xx + np.sin(angle) * yy
    v = -np.sin(angle) * xx + np.cos(angle) * yy
    freq = 2 * np.pi / max(scale, 2.0)
    if kind == 0:
        return 0.5 + 0.5 * np.sin(freq * u + 2 * smooth_noise(rng, shape, 4 * scale))
    if kind == 1:
        return 0.5 + 0.5 * np.sign(np.sin(freq * u) * np.sin(freq * v)) * 0.8
    spots = smooth_noise(rng, shape, scale / 2)
    return np.clip((spots - 0.6) * 2, 0, 1)
