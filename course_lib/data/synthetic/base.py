"""What every synthetic dataset shares: the Dataset class, per-sample seeding, argument checks,
difficulty knobs and the sample dict (:func:`finish`). The image helpers are in :mod:`.draw`.

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


def check_split(name: str, split: str) -> str:
    """``split`` if it is one of :data:`SPLITS`, else a ValueError naming the dataset ``name``."""
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r} for {name}; use one of {', '.join(SPLITS)}.")
    return split


def check_index(index: int, n: int, name: str, split: str) -> int:
    """``index`` of ``n`` samples as 0..n-1 (negative counts from the end), else an IndexError."""
    if not -n <= index < n:
        raise IndexError(f"index {index} out of range for {name} {split!r} with {n} samples.")
    return index % n


class SyntheticDataset(Dataset):
    """A deterministic, lazily rendered synthetic segmentation dataset of dict samples.

    Built by the ``synthetic-*`` factories (``cl.data.load("synthetic-vessels", split="train")``);
    ``with_knobs(...)`` gives the same scenes at other knob settings, cheaply (for sliders).
    """

    def __init__(self, name: str, render: Renderer, spec: Mapping[str, Knob], split: str = "train",
                 n: int | None = None, size: int | tuple[int, int] = 256, seed: int = 0,
                 cache: bool = True, difficulty: float = 0.5, **knobs: float) -> None:
        check_split(name, split)
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
        index = check_index(index, self.n, self.name, self.split)
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


def finish(image: np.ndarray, mask: np.ndarray, **extra: np.ndarray) -> dict[str, np.ndarray]:
    """Pack a rendered sample in the course's dict convention (float32 CxHxW image, 1xHxW labels)."""
    image = np.clip(image, 0.0, 1.0).astype(np.float32)
    sample = {"image": image[None] if image.ndim == 2 else image,
              "mask": mask.astype(np.float32)[None]}
    for key, value in extra.items():
        dtype = np.int64 if key == "instances" else np.float32
        sample[key] = value.astype(dtype)[None]
    return sample
