"""``synthetic-tubes3d``: bright tubes winding through a noisy volume, for the 3D U-Net (chapter 10).

A volume holds a few tubes (smooth random curves, radius 1.2-2.8 voxels) on a smoothly varying
background, with unlabelled bright blobs as distractors (so thresholding is not enough), a slight blur
and noise. ``annotate_every=k`` imitates the 3D U-Net paper's sparse annotation: only every k-th slice
along each of the three axes is labelled (phase drawn per volume), and the sample's ``weight`` is 1 on
those slices and 0 elsewhere. ``unlabelled="background"`` instead writes 0 into the mask off the
labelled slices and drops the weight: the mistake of treating "not annotated" as "not a tube".
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch.utils.data import Dataset

from course_lib.data.registry import register_dataset
from course_lib.data.synthetic.base import DEFAULT_N, check_index, check_split, sample_streams

__all__ = ["TubeVolumes", "sparse_annotation_weight", "synthetic_tubes3d"]

_UNLABELLED = ("ignore", "background")


def sparse_annotation_weight(shape: tuple[int, int, int], every: int, phase: tuple[int, int, int] = (0, 0, 0)
                             ) -> np.ndarray:
    """1 on every ``every``-th slice along each axis (starting at ``phase``), 0 elsewhere (float32 D x H x W).
    The labelled share of voxels is about ``1 - (1 - 1/every)**3``."""
    if every < 1:
        raise ValueError(f"annotate_every must be a positive number of slices, got {every}.")
    weight = np.zeros(shape, dtype=bool)
    for axis in range(3):
        index = [slice(None)] * 3
        index[axis] = slice(phase[axis] % every, None, every)
        weight[tuple(index)] = True
    return weight.astype(np.float32)


def _tube_centreline(rng: np.random.Generator, size: int) -> np.ndarray:
    """Points of a smooth random walk through the volume (one voxel apart)."""
    point = rng.uniform(0.15 * size, 0.85 * size, 3)
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    points = []
    for _ in range(int(2.5 * size)):
        points.append(point.copy())
        direction += rng.normal(scale=0.12, size=3)
        direction /= np.linalg.norm(direction)
        point = point + direction
        outside = (point < 1) | (point > size - 2)
        direction[outside] *= -1  # bounce off the walls so the tube stays in view
        point = np.clip(point, 1, size - 2)
    return np.array(points)


def render_tubes(streams, size: int, tubes: int = 4, noise: float = 0.12, distractors: int = 6
                 ) -> tuple[np.ndarray, np.ndarray]:
    """One (image, mask) pair of ``size``^3 voxels, float32 in [0, 1] and 0/1."""
    rng, look, noise_rng = streams.structure, streams.appearance, streams.noise
    shape = (size,) * 3
    centre = np.zeros(shape, dtype=bool)  # centreline voxels of all tubes
    radius = np.zeros(shape, dtype=np.float32)  # tube radius at each centreline voxel
    level = np.zeros(shape, dtype=np.float32)  # tube brightness at each centreline voxel
    for _ in range(tubes):
        idx = np.round(_tube_centreline(rng, size)).astype(int).T
        centre[tuple(idx)] = True
        radius[tuple(idx)] = rng.uniform(1.2, 2.8)
        level[tuple(idx)] = look.uniform(0.35, 0.6)
    # one distance transform for all tubes; each voxel takes the radius of its nearest centreline voxel
    dist, nearest = ndimage.distance_transform_edt(~centre, return_indices=True)
    mask = dist <= radius[tuple(nearest)]
    image = np.where(mask, level[tuple(nearest)], 0).astype(np.float32)
    grid = np.indices(shape, dtype=np.float32)
    for _ in range(distractors):  # bright unlabelled blobs: a threshold alone cannot separate them
        centre = rng.uniform(0, size, 3)[:, None, None, None]
        radius = rng.uniform(2.0, 4.5)
        blob = np.sqrt(((grid - centre) ** 2).sum(0)) <= radius
        image = np.maximum(image, blob * look.uniform(0.35, 0.6))
    coarse = torch.from_numpy(look.normal(size=(6, 6, 6)).astype(np.float32))[None, None]
    background = F.interpolate(coarse, size=shape, mode="trilinear", align_corners=True)[0, 0].numpy()
    image = image + 0.25 + 0.06 * background
    image = ndimage.gaussian_filter(image, 0.7) + noise * noise_rng.standard_normal(shape).astype(np.float32)
    return np.clip(image, 0, 1).astype(np.float32), mask


@functools.lru_cache(maxsize=32)
def _rendered(seed: int, split: str, index: int, size: int, tubes: int, noise: float
              ) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int]]:
    """(image, mask, phase of the annotated slices) of one volume; cached, so that datasets differing only
    in how they are labelled (chapter 10's three arms) render each volume once."""
    streams = sample_streams(TubeVolumes.name, seed, split, index)
    image, mask = render_tubes(streams, size, tubes, noise)
    phase = tuple(int(p) for p in streams.structure.integers(0, 2**16, 3))
    image.setflags(write=False)
    mask.setflags(write=False)
    return image, mask, phase


class TubeVolumes(Dataset):
    """Deterministic 3D samples ``{"image": 1xDxHxW, "mask": 1xDxHxW[, "weight": 1xDxHxW]}`` (see module)."""

    name = "synthetic-tubes3d"

    def __init__(self, split: str = "train", n: int | None = None, size: int = 64, seed: int = 0,
                 annotate_every: int | None = None, unlabelled: str = "ignore", tubes: int = 4,
                 noise: float = 0.12) -> None:
        check_split(self.name, split)
        if not isinstance(size, (int, np.integer)) or size < 16:
            raise ValueError(f"size must be an int of at least 16 voxels (a cube's side), got {size!r}.")
        if unlabelled not in _UNLABELLED:
            raise ValueError(f"unlabelled must be one of {_UNLABELLED}, got {unlabelled!r}.")
        if annotate_every is not None and annotate_every < 1:
            raise ValueError(f"annotate_every must be a positive number of slices, got {annotate_every}.")
        self.split, self.n, self.size, self.seed = split, int(n or DEFAULT_N[split]), int(size), int(seed)
        self.annotate_every, self.unlabelled = annotate_every, unlabelled
        self.tubes, self.noise = tubes, noise
        self._cache: dict[int, dict[str, torch.Tensor]] = {}

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        index = check_index(index, self.n, self.name, self.split)
        if index not in self._cache:
            image, mask, phase = _rendered(self.seed, self.split, index, self.size, self.tubes, self.noise)
            sample = {"image": image[None], "mask": mask.astype(np.float32)[None]}
            if self.annotate_every is not None:
                weight = sparse_annotation_weight(mask.shape, self.annotate_every, phase)[None]
                if self.unlabelled == "ignore":
                    sample["weight"] = weight
                else:
                    sample["mask"] = sample["mask"] * weight
            self._cache[index] = {k: torch.from_numpy(np.array(v, dtype=np.float32))
                                  for k, v in sample.items()}
        return {k: v.clone() for k, v in self._cache[index].items()}


@register_dataset("synthetic-tubes3d")
def synthetic_tubes3d(split: str = "train", root: str | None = None, n: int | None = None, size: int = 64,
                      seed: int = 0, **cfg) -> TubeVolumes:
    """Tubes in 3D volumes of ``size``^3 voxels (``annotate_every``, ``unlabelled``, ``tubes``, ``noise``:
    see :class:`TubeVolumes`). ``root`` is ignored."""
    return TubeVolumes(split, n, size, seed, **cfg)
