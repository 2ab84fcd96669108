"""Joint transforms: one random draw applied to the image and every label map of a sample.

A sample is a dict ``{"image": CxHxW float, "mask": 1xHxW {0,1}, "fov": ..., "weight": ...,
"instances": int64 ...}``. Geometric transforms move every spatial entry with the same parameters;
labels (``mask``, ``fov``, ``instances``) are resampled with **nearest** neighbour, images and
continuous maps (``weight``) with bilinear (or bicubic) interpolation. Bicubic or bilinear
resampling of a label produces values between 0 and 1, which are no longer labels (common bug 7).
Photometric transforms (colour jitter, noise, normalisation) touch only ``image``.

Randomness: every transform takes ``seed=`` (its own ``torch.Generator``) or a ``generator`` at call
time. :class:`Augmented` and the real-data loaders derive a generator from ``(seed, epoch, index)``,
so sample ``i`` of epoch ``e`` is the same on every run and with any number of workers.

The set follows the papers: rotation 0-360, flips, colour jitter and Gaussian noise (DACRSE-UNet),
elastic deformation on a 3x3 grid with 10 px standard deviation (U-Net), padding to 592x592 (DACRSE
on DRIVE) or to a multiple of ``2**depth``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

__all__ = [
    "LABEL_KEYS",
    "Augmented",
    "ColorJitter",
    "Compose",
    "ElasticDeformation",
    "GaussianNoise",
    "JointTransform",
    "Normalize",
    "PadTo",
    "PadToMultiple",
    "RandomCrop",
    "RandomFlip",
    "RandomPatches",
    "RandomRotation",
    "Resize",
    "apply_transform",
    "crop_back",
    "make_generator",
]

Sample = dict[str, Any]
LABEL_KEYS = ("mask", "fov", "instances")  # resampled with nearest neighbour, padded with 0
IMAGE_KEY = "image"
CROP_KEY = "crop_box"  # int64 [top, left, height, width] of the original image inside a padded one


def make_generator(seed: int, *keys: int) -> torch.Generator:
    """A torch Generator seeded from ``(seed, *keys)`` (e.g. ``seed, epoch, index``), stable across runs."""
    state = np.random.SeedSequence([int(seed) % 2**63, *(int(k) % 2**63 for k in keys)]).generate_state(2)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def _uniform(g: torch.Generator | None, low: float, high: float) -> float:
    return float(low + (high - low) * torch.rand((), generator=g))


def _as_range(value: float | Sequence[float], centre: float = 0.0) -> tuple[float, float]:
    """``0.2`` -> ``(centre - 0.2, centre + 0.2)``; a pair is returned as given."""
    if isinstance(value, (int, float)):
        return centre - float(value), centre + float(value)
    low, high = value
    return float(low), float(high)


def _spatial_items(sample: Sample) -> list[tuple[str, torch.Tensor]]:
    """The entries that live on the image grid (tensors with at least 2 dims), image first."""
    if IMAGE_KEY not in sample:
        raise KeyError(f"A sample needs an 'image' entry; got keys {sorted(sample)}.")
    height, width = sample[IMAGE_KEY].shape[-2:]
    items = []
    for key, value in sample.items():
        if isinstance(value, torch.Tensor) and value.ndim >= 2 and key != CROP_KEY:
            if tuple(value.shape[-2:]) != (height, width):
                raise ValueError(
                    f"Sample entry {key!r} is {tuple(value.shape[-2:])} but the image is {(height, width)}; "
                    "all spatial entries must share the image's height and width."
                )
            items.append((key, value))
    return items


class JointTransform:
    """Base class: ``t(sample, generator=None) -> new sample`` (the input dict is never modified)."""

    def __init__(self, seed: int | None = None) -> None:
        self.generator = None if seed is None else torch.Generator().manual_seed(seed)

    def __call__(self, sample: Sample, generator: torch.Generator | None = None) -> Sample:
        return self.apply(dict(sample), generator if generator is not None else self.generator)

    def apply(self, sample: Sample, g: torch.Generator | None) -> Sample:
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "generator")
        return f"{type(self).__name__}({fields})"


def apply_transform(transform: Callable | None, sample: Sample, generator: torch.Generator | None) -> Sample:
    """Call a joint transform with ``generator``; plain callables are called with the sample only."""
    if transform is None:
        return sample
    if isinstance(transform, JointTransform):
        return transform(sample, generator=generator)
    return transform(sample)


class Compose(JointTransform):
    """Apply transforms in order, sharing one generator."""

    def __init__(self, transforms: Sequence[Callable], seed: int | None = None) -> None:
        super().__init__(seed)
        self.transforms = list(transforms)

    def apply(self, sample: Sample, g: torch.Generator | None) -> Sample:
        for transform in self.transforms:
            sample = apply_transform(transform, sample, g)
        return sample


# ----------------------------------------------------------------------------- geometric


def _resample(sample: Sample, source_xy: torch.Tensor, padding_mode: str, interpolation: str) -> Sample:
    """Output pixel (y, x) takes the value at pixel coordinates ``source_xy[y, x]`` of the input.

    Labels use nearest neighbour; images and other maps use ``interpolation``.
    """
    height, width = sample[IMAGE_KEY].shape[-2:]
    grid = torch.empty_like(source_xy)
    grid[..., 0] = (2 * source_xy[..., 0] + 1) / width - 1  # align_corners=False convention
    grid[..., 1] = (2 * source_xy[..., 1] + 1) / height - 1
    grid = grid[None]
    out = dict(sample)
    for key, value in _spatial_items(sample):
        mode = "nearest" if key in LABEL_KEYS else interpolation
        warped = F.grid_sample(
            value.float()[None], grid, mode=mode, padding_mode=padding_mode, align_corners=False
        )[0]
        if mode == "bicubic" and key == IMAGE_KEY and value.min() >= 0 and value.max() <= 1:
            warped = warped.clamp(0, 1)  # bicubic overshoots at edges
        out[key] = warped.round().to(value.dtype) if not value.is_floating_point() else warped.to(value.dtype)
    return out


def _pixel_grid(height: int, width: int) -> torch.Tensor:
    """HxWx2 tensor of (x, y) pixel coordinates."""
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij"
    )
    return torch.stack([xs, ys], dim=-1)


class RandomRotation(JointTransform):
    """Rotate by an angle drawn uniformly from ``degrees`` (default 0-360) about the image centre."""

    def __init__(
        self,
        degrees: float | Sequence[float] = (0.0, 360.0),
        p: float = 1.0,
        padding_mode: str = "zeros",
        interpolation: str = "bilinear",
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        self.degrees = _as_range(degrees)
        self.p, self.padding_mode, self.interpolation = p, padding_mode, interpolation

    def apply(self, sample: Sample, g: torch.Generator | None) -> Sample:
        angle = _uniform(g, *self.degrees)
        if _uniform(g, 0, 1) >= self.p:
            return sample
        height, width = sample[IMAGE_KEY].shape[-2:]
        grid = _pixel_grid(height, width)
        centre = torch.tensor([(width - 1) / 2, (height - 1) / 2])
        rel = grid - centre
        cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        # inverse mapping: the source of output pixel p is R(-angle) (p - c) + c
        source = (
            torch.stack(
                [cos * rel[..., 0] + sin * rel[..., 1], -sin * rel[..., 0] + cos * rel[..., 1]], dim=-1
            )
            + centre
        )
        return _resample(sample, source, self.padding_mode, self.interpolation)


class ElasticDeformation(JointTransform):
    """The U-Net paper's deformation: random displacements on a coarse ``grid`` x ``grid`` lattice,
    drawn from N(0, sigma^2) in pixels, interpolated bicubically to a per-pixel field.

    Labels are resampled with nearest neighbour; borders are mirrored by default (as in the paper).
    """

    def __init__(
        self,
        grid: int = 3,
        sigma: float = 10.0,
        p: float = 1.0,
        padding_mode: str = "reflection",
        interpolation: str = "bilinear",
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        if grid < 2:
            raise ValueError(f"ElasticDeformation needs grid >= 2 control points per side, got {grid}.")
        self.grid, self.sigma, self.p = grid, sigma, p
        self.padding_mode, self.interpolation = padding_mode, interpolation

    def displacement(self, height: int, width: int, g: torch.Generator | None) -> torch.Tensor:
        """The per-pixel displacement field, HxWx2 (dx, dy) in pixels."""
        coarse = torch.randn(1, 2, self.grid, self.grid, generator=g) * self.sigma
        dense = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=True)[0]
        return dense.permute(1, 2, 0)

    def apply(self, sample: Sample, g: torch.Generator | None) -> Sample:
        height, width = sample[IMAGE_KEY].shape[-2:]
        field = self.displacement(height, width, g)
        if _uniform(g, 0, 1) >= self.p:
            return sample
        return _resample(sample, _pixel_grid(height, width) + field, self.padding_mode, self.interpolation)


class RandomFlip(JointTransform):
    """Flip left-right and/or up-down, each with probability ``p``."""

    def __init__(
        self, horizontal: bool = True, vertical: bool = True, p: float = 0.5, seed: int | None = None
    ) -> None:
        super().__init__(seed)
        self.horizontal, self.vertical, self.p = horizontal, vertical, p

    def apply(self, sample: Sample, g: torch.Generator | None) -> Sample:
        dims = []
        flip_h, flip_v = _uniform(g, 0, 1) < self.p, _uniform(g, 0, 1) < self.p
        if self.horizontal and flip_h:
            dims.append(-1)
        if self.vertical and flip_v:
            dims.append(-2)
        if dims:
            for key, value in _spatial_items(sample):
                sample[key] = torch.flip(value, dims)
        return sample


def _crop(sample: Sample, top: int, left: int, height: int, width: int) -> Sample:
    for key, value in _spatial_items(sample):
        sample[key] = value[..., top : top + height, left : left + width]
    return sample


def _size_pair(size: int | Sequence[int]) -> tuple[int, int]:
    return (int(size), int(size)) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))


def _pad(sample: Sample, height: int, width: int, mode: str, value: float, where: str) -> Sample:
    """Pad every spatial entry to ``height`` x ``width``; labels always with 0. Records ``crop_box``."""
    h, w = sample[IMAGE_KEY].shape[-2:]
    if h > height or w > width:
        raise ValueError(
            f"Cannot pad a {h}x{w} image to {height}x{width}: it is larger. "
            "Crop or resize it first (RandomCrop, Resize)."
        )
    top = (height - h) // 2 if where == "center" else 0
    left = (width - w) // 2 if where == "center" else 0
    pads = (left, width - w - left, top, height - h - top)
    for key, tensor in _spatial_items(sample):
        x = tensor.float()[None]
        if key in LABEL_KEYS or (key != IMAGE_KEY and mode == "constant"):
            padded = F.pad(x, pads, mode="constant", value=0.0)
        elif mode == "constant":
            padded = F.pad(x, pads, mode="constant", value=value)
        else:
            padded = F.pad(x, pads, mode=mode)
        sample[key] = padded[0].to(tensor.dtype)
    previous = sample.get(CROP_KEY)
    box = torch.tensor([top, left, h, w], dtype=torch.int64)
    if previous is not None:  # padding twice: keep the original image's box
        box = torch.tensor(
            [top + int(previous[0]), left + int(previous[1]), int(previous[2]), int(previous[3])]
        )
    sample[CROP_KEY] = box
    return sample


class PadTo(JointTransform):
    """Pad to a fixed size (DACRSE on DRIVE: 584x565 -> 592x592 with zeros).

    Labels are padded with 0 (background, outside the FOV). The original region is recorded in
    ``sample["crop_box"] = [top, left, height, width]``; :func:`crop_back` undoes the padding.
    ``mode`` is ``"constant"`` (with ``value``), ``"reflect"`` or ``"replicate"`` for the image.
    """

    def __init__(
        self, size: int | Sequence[int], mode: str = "constant", value: float = 0.0, where: str = "center"
    ) -> None:
        super().__init__(None)
        self.size, self.mode, self.value, self.where = _size_pair(size), mode, value, where

    def apply(self, sample: Sample, g: torch.Generator | None) -> Sample:
        return _pad(sample, *self.size, self.mode, self.value, self.where)


class PadToMultiple(JointTransform):
    """Pad height and width up to the next multiple of ``multiple`` (``2**depth`` for a U-Net of that
    depth), so every pooling step divides evenly. See :class:`PadTo` for the recorded crop box."""

    def __init__(
        self, multiple: int = 16, mode: str = "constant", value: float = 0.0, where: str = "center"
    ) -> None:
        super().__init__(None)
        if multiple < 1:
            raise ValueError(f"multiple must be >= 1, got {multiple}.")
        self.multiple, self.mode, self.value, self.where = multiple, mode, value, where

    def target_size(self, height: int, width: int) -> tuple[int, int]:
        m = self.multiple
        return -(-height // m) * m, -(-width // m) * m

    def apply(self, sample: Sample, g: torch.Generator | None) -> Sample:
        return _pad(
            sample, *self.target_size(*sample[IMAGE_KEY].shape[-2:]), self.mode, self.value, self.where
        )


def crop_back(x: torch.Tensor, crop_box: torch.Tensor | Sequence[int]) -> torch.Tensor:
    """Undo :class:`PadTo` / :class:`PadToMultiple` on a prediction (``...xHxW``).

    ``crop_box`` is a sample's ``[top, left, height, width]`` or a batch of identical boxes (Bx4).
    """
    box = torch.as_tensor(crop_box)
    if box.ndim == 2:
        if not bool((box == box[0]).all()):
            raise ValueError("The batch has different crop boxes; crop each prediction with its own box.")
        box = box[0]
    top, left, height, width = (int(v) for v in box)
    return x[..., top : top + height, left : left + width]


class RandomCrop(JointTransform):
    """A random ``size`` window (same place in every entry); smaller images are zero-padded first."""

    def __init__(
        self, size: int | Sequence[int], pad_if_needed: bool = True, seed: int | None = None
    ) -> None:
        super().__init__(seed)
        self.size, self.pad_if_needed = _size_pair(size), pad_if_needed

    def apply(self, sample: Sample, g: torch.Generator | None) -> Sample:
        ch, cw = self.size
        h, w = sample[IMAGE_KEY].shape[-2:]
        if h < ch or w < cw:
            if not self.pad_if_needed:
                raise ValueError(f"RandomCrop({ch}x{cw}) on a {h}x{w} image; use pad_if_needed=True.")
            sample = _pad(sample, max(h, ch), max(w, cw), "constant", 0.0, "center")
            sample.pop(CROP_KEY)
            h, w = sample[IMAGE_KEY].shape[-2:]
        top = int(torch.randint(0, h - ch + 1, (), generator=g))
        left = int(torch.randint(0, w - cw + 1, (), generator=g))
        return _crop(sample, top, left, ch, cw)


class Resize(JointTransform):
    """Resize to ``size`` (H, W): images bilinear with antialiasing, labels nearest."""

    def __init__(self, size: int | Sequence[int]) -> None:
        super().__init__(None)
        self.size = _size_pair(size)

    def apply(self, sample: Sample, g: torch.Generator | None) -> Sample:
        for key, value in _spatial_items(sample):
            x = value.float()[None]
            if key in LABEL_KEYS:
                y = F.interpolate(x, size=self.size, mode="nearest-exact")
            else:
                y = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False, antialias=True)
            sample[key] = y[0].to(value.dtype)
        sample.pop(CROP_KEY, None)
        return sample


# ----------------------------------------------------------------------------- photometric (image only)


class ColorJitter(JointTransform):
    """Random brightness, contrast and saturation factors in ``[1 - x, 1 + x]``; output clipped to [0, 1]."""

    def __init__(
        self,
        brightness: float = 0.2,
        contrast: float = 0.2,
        saturation: float = 0.2,
        p: float = 1.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        self.brightness, self.contrast, self.saturation, self.p = brightness, contrast, saturation, p

    def apply(self, sample: Sample, g: torch.Generator | None) -> Sample:
        b = _uniform(g, *_as_range(self.brightness, 1.0))
        c = _uniform(g, *_as_range(self.contrast, 1.0))
        s = _uniform(g, *_as_range(self.saturation, 1.0))
        if _uniform(g, 0, 1) >= self.p:
            return sample
        image = sample[IMAGE_KEY] * b
        gray = image.mean(dim=0, keepdim=True)
        image = (image - gray.mean()) * c + gray.mean()
        if image.shape[0] == 3:
            gray = (0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2])[None]
            image = gray + (image - gray) * s
        sample[IMAGE_KEY] = image.clamp(0, 1)
        return sample


class GaussianNoise(JointTransform):
    """Add N(0, std^2) noise to the image; ``std`` may be a range to draw from. Clipped to [0, 1]."""

    def __init__(
        self, std: float | Sequence[float] = 0.03, p: float = 1.0, clip: bool = True, seed: int | None = None
    ) -> None:
        super().__init__(seed)
        self.std = (float(std), float(std)) if isinstance(std, (int, float)) else _as_range(std)
        self.p, self.clip = p, clip

    def apply(self, sample: Sample, g: torch.Generator | None) -> Sample:
        std = _uniform(g, *self.std)
        image = sample[IMAGE_KEY]
        noise = torch.randn(image.shape, generator=g) * std
        if _uniform(g, 0, 1) >= self.p:
            return sample
        image = image + noise.to(image.dtype)
        sample[IMAGE_KEY] = image.clamp(0, 1) if self.clip else image
        return sample


class Normalize(JointTransform):
    """``(image - mean) / std`` per channel; ``mean=None`` standardises each image by its own statistics."""

    def __init__(
        self,
        mean: float | Sequence[float] | None = None,
        std: float | Sequence[float] | None = None,
        eps: float = 1e-6,
    ) -> None:
        super().__init__(None)
        if (mean is None) != (std is None):
            raise ValueError("Give both mean and std, or neither (per-image standardisation).")
        self.mean, self.std, self.eps = mean, std, eps

    def apply(self, sample: Sample, g: torch.Generator | None) -> Sample:
        image = sample[IMAGE_KEY]
        if self.mean is None:
            mean = image.mean(dim=(-2, -1), keepdim=True)
            std = image.std(dim=(-2, -1), keepdim=True)
        else:
            mean = torch.as_tensor(self.mean, dtype=image.dtype).reshape(-1, 1, 1)
            std = torch.as_tensor(self.std, dtype=image.dtype).reshape(-1, 1, 1)
            if mean.numel() not in (1, image.shape[0]):
                raise ValueError(f"Normalize has {mean.numel()} means for a {image.shape[0]}-channel image.")
        sample[IMAGE_KEY] = (image - mean) / (std + self.eps)
        return sample


# ----------------------------------------------------------------------------- dataset wrappers


class _EpochDataset(Dataset):
    """A wrapper whose random draws depend on ``(seed, epoch, index)`` only."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed, self.epoch = dataset, int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        """Call at the start of each epoch so augmentations differ between epochs (reproducibly)."""
        self.epoch = int(epoch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def generator(self, index: int) -> torch.Generator:
        return make_generator(self.seed, self.epoch, index)


class Augmented(_EpochDataset):
    """``dataset`` with ``transform`` applied; sample ``i`` at epoch ``e`` is deterministic given ``seed``."""

    def __init__(self, dataset: Dataset, transform: Callable, seed: int = 0) -> None:
        super().__init__(dataset, seed)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Sample:
        return apply_transform(self.transform, self.dataset[index], self.generator(index))


class RandomPatches(_EpochDataset):
    """``patches_per_image`` random ``patch_size`` crops of every image (index ``i`` -> image ``i // n``).

    ``foreground_fraction`` of the patches are centred on a random mask pixel (useful for thin vessels);
    the others on a random pixel inside the FOV when ``within_fov`` and the sample has one, else
    anywhere. Images smaller than the patch are zero-padded. ``transform`` runs after cropping.
    """

    def __init__(
        self,
        dataset: Dataset,
        patch_size: int | Sequence[int] = 48,
        patches_per_image: int = 16,
        foreground_fraction: float = 0.0,
        within_fov: bool = True,
        transform: Callable | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(dataset, seed)
        if patches_per_image < 1:
            raise ValueError(f"patches_per_image must be >= 1, got {patches_per_image}.")
        self.patch_size, self.patches_per_image = _size_pair(patch_size), patches_per_image
        self.foreground_fraction, self.within_fov, self.transform = foreground_fraction, within_fov, transform

    def __len__(self) -> int:
        return len(self.dataset) * self.patches_per_image

    def _centre(self, sample: Sample, g: torch.Generator) -> tuple[int, int]:
        h, w = sample[IMAGE_KEY].shape[-2:]
        region = None
        if "mask" in sample and _uniform(g, 0, 1) < self.foreground_fraction:
            region = sample["mask"][0] > 0.5
        elif self.within_fov and "fov" in sample:
            region = sample["fov"][0] > 0.5
        if region is not None and bool(region.any()):
            coords = region.nonzero()
            y, x = coords[int(torch.randint(0, len(coords), (), generator=g))].tolist()
            return y, x
        return int(torch.randint(0, h, (), generator=g)), int(torch.randint(0, w, (), generator=g))

    def __getitem__(self, index: int) -> Sample:
        if not 0 <= index < len(self):
            raise IndexError(f"Patch index {index} out of range for {len(self)} patches.")
        sample = dict(self.dataset[index // self.patches_per_image])
        g = self.generator(index)
        ph, pw = self.patch_size
        h, w = sample[IMAGE_KEY].shape[-2:]
        if h < ph or w < pw:
            sample = _pad(sample, max(h, ph), max(w, pw), "constant", 0.0, "center")
            h, w = sample[IMAGE_KEY].shape[-2:]
        sample.pop(CROP_KEY, None)
        y, x = self._centre(sample, g)
        top = min(max(y - ph // 2, 0), h - ph)
        left = min(max(x - pw // 2, 0), w - pw)
        return apply_transform(self.transform, _crop(sample, top, left, ph, pw), g)
