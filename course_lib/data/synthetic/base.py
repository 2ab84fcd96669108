"""What every synthetic dataset shares: the Dataset class, per-sample seeding, difficulty knobs and
the image helpers (smooth noise fields, illumination, sensor noise, anti-aliased shapes).

A sample is a pure function of ``(name, seed, split, index, knobs)``: it is rendered from three
independent random streams (``structure``: the geometry and labels; ``appearance``: colours and
textures; ``noise``: sensor noise), so turning the ``noise`` knob changes only the noise, and a
difficulty slider keeps showing the same scene.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

__all__ = ["Knob", "SyntheticDataset"]

SPLITS = {"train": 0, "val": 1, "test": 2}
DEFAULT_N = {"train": 40, "val": 8, "test": 8}


@dataclass(frozen=True)
class Knob:
    """One difficulty knob: its value at ``difficulty=0`` (easy) and ``difficulty=1`` (hard)."""

    easy: float
    hard: float
    doc: str

    def at(self, difficulty: float) -> float:
        return self.easy + difficulty * (self.hard - self.easy)


@dataclass(frozen=True)
class Streams:
    """The independent random streams one sample is rendered from."""

    structure: np.random.Generator
    appearance: np.random.Generator
    noise: np.random.Generator


Shape = tuple[int, int]
Sample = dict[str, np.ndarray]
Renderer = Callable[[Streams, Shape, Mapping[str, float]], Sample]


def sample_streams(name: str, seed: int, split: str, index: int) -> Streams:
    """The random streams of sample ``index``; splits and datasets get disjoint seed sequences."""
    root = np.random.SeedSequence([zlib.crc32(name.encode()), int(seed), SPLITS[split], int(index)])
    return Streams(*(np.random.default_rng(child) for child in root.spawn(3)))


def resolve_knobs(spec: Mapping[str, Knob], difficulty: float,
                  overrides: Mapping[str, Any]) -> dict[str, float]:
    """Knob values at ``difficulty`` (0 easy .. 1 hard), with explicit ``overrides`` taking precedence."""
    if not 0.0 <= float(difficulty) <= 1.0:
        raise ValueError(f"difficulty must lie in [0, 1], got {difficulty!r}.")
    unknown = sorted(set(overrides) - set(spec))
    if unknown:
        raise TypeError(
            f"Unknown option(s) {', '.join(map(repr, unknown))}. This dataset takes split, n, size, seed, "
            f"cache, difficulty and the knobs {', '.join(sorted(spec))}."
        )
    knobs = {key: knob.at(float(difficulty)) for key, knob in spec.items()}
    knobs.update({key: float(value) for key, value in overrides.items()})
    return knobs


def as_hw(size: int | tuple[int, int]) -> tuple[int, int]:
    """``256`` or ``(584, 565)`` -> ``(H, W)``, rejecting sizes too small to draw anything in."""
    hw = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if len(hw) != 2 or not all(isinstance(v, (int, np.integer)) for v in hw):
        raise ValueError(f"size must be an int or a pair of ints (H, W), got {size!r}.")
    if min(hw) < 32:
        raise ValueError(f"size {hw} is too small; synthetic samples need at least 32x32 pixels.")
    return int(hw[0]), int(hw[1])


class SyntheticDataset(Dataset):
    """A deterministic, lazily rendered synthetic segmentation dataset of dict samples.

    Built by the ``synthetic-*`` factories (``cl.data.load("synthetic-vessels", split="train")``);
    ``with_knobs(...)`` gives the same scenes at other knob settings, cheaply (for sliders).
    """

    def __init__(self, name: str, render: Renderer, spec: Mapping[str, Knob], split: str = "train",
                 n: int | None = None, size: int | tuple[int, int] = 256, seed: int = 0,
                 cache: bool = True, difficulty: float = 0.5, **knobs: float) -> None:
        if split not in SPLITS:
            raise ValueError(f"Unknown split {split!r} for {name}; use one of {', '.join(SPLITS)}.")
        if n is not None and (not isinstance(n, (int, np.integer)) or n < 1):
            raise ValueError(f"n must be a positive int (number of samples), got {n!r}.")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
        self.name, self.split, self.seed = name, split, int(seed)
        self.n = int(n) if n is not None else DEFAULT_N[split]
        self.size = as_hw(size)
        self.difficulty = float(difficulty)
        self.knobs = resolve_knobs(spec, self.difficulty, knobs)
        self._overrides = dict(knobs)
        self._render, self._spec = render, spec
        self.cache = bool(cache)
        self._cache: dict[int, dict[str, torch.Tensor]] = {}

    def __len__(self) -> int:
        return self.n

    def sample_numpy(self, index: int) -> dict[str, np.ndarray]:
        """Render sample ``index`` as numpy arrays (no caching)."""
        if not -self.n <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.name} {self.split!r} "
                             f"with {self.n} samples.")
        index %= self.n
        return self._render(sample_streams(self.name, self.seed, self.split, index), self.size, self.knobs)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        index = int(index)
        if index in self._cache:
            return {k: v.clone() for k, v in self._cache[index].items()}
        sample = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in self.sample_numpy(index).items()}
        if self.cache:
            self._cache[index % self.n] = sample
            return {k: v.clone() for k, v in sample.items()}
        return sample

    def with_knobs(self, difficulty: float | None = None, **knobs: float) -> SyntheticDataset:
        """The same dataset (seed, split, n, size) at another difficulty and/or knob values."""
        merged = {**self._overrides, **knobs} if difficulty is None else dict(knobs)
        return SyntheticDataset(self.name, self._render, self._spec, self.split, self.n, self.size, self.seed,
                                self.cache, self.difficulty if difficulty is None else difficulty, **merged)

    def describe(self) -> str:
        """A one-paragraph description: size, split, knobs and what each knob does."""
        h, w = self.size
        lines = [f"{self.name} ({self.split}, {self.n} samples of {h}x{w}, seed {self.seed}, "
                 f"difficulty {self.difficulty:g})"]
        lines += [f"  {k} = {v:.3g}: {self._spec[k].doc}" for k, v in self.knobs.items()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"SyntheticDataset({self.name!r}, split={self.split!r}, n={self.n}, size={self.size}, "
                f"seed={self.seed}, difficulty={self.difficulty:g})")


# ---------------------------------------------------------------- image helpers


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


def finish(image: np.ndarray, mask: np.ndarray, **extra: np.ndarray) -> dict[str, np.ndarray]:
    """Pack a rendered sample in the course's dict convention (float32 CxHxW image, 1xHxW labels)."""
    image = np.clip(image, 0.0, 1.0).astype(np.float32)
    sample = {"image": image[None] if image.ndim == 2 else image,
              "mask": mask.astype(np.float32)[None]}
    for key, value in extra.items():
        dtype = np.int64 if key == "instances" else np.float32
        sample[key] = value.astype(dtype)[None]
    return sample


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
