"""Shared pieces of the real-dataset loaders: file readers, layout checks, splits and the Dataset class.

Every loader lists its files as :class:`Record` s and hands them to :class:`RealSegmentationDataset`,
which decodes each file once (kept in memory as uint8: the datasets are small), checks sizes,
converts to the course's sample dict and applies the joint transform with a generator derived from
``(seed, epoch, index)`` so augmentation is reproducible.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage
from torch.utils.data import Dataset

from course_lib.data.real.file_check import ImageReadError, image_size, open_image, refetch_advice
from course_lib.data.registry import data_root
from course_lib.data.sources import SOURCES
from course_lib.data.transforms import apply_transform, make_generator

__all__ = [
    "DatasetLayoutError",
    "DatasetNotFoundError",
    "ImageReadError",
    "RealSegmentationDataset",
    "derive_fov",
]

TRAIN_SPLITS = ("train", "val", "trainval")


class DatasetNotFoundError(FileNotFoundError):
    """The dataset folder (or a required sub-folder) does not exist."""


class DatasetLayoutError(ValueError):
    """The folder exists but its files do not follow the dataset's standard layout."""


@dataclass(frozen=True)
class Record:
    """The files of one sample; ``mask``/``fov`` may be absent (unlabelled test images, derived FOV)."""

    id: str
    image: Path
    mask: Path | None = None
    fov: Path | None = None


# ----------------------------------------------------------------------------- folders and errors


def dataset_dir(name: str, folder: str, root: str | os.PathLike | None) -> Path:
    """``root`` itself if given, else ``data_root() / folder``."""
    return Path(root).expanduser() if root is not None else data_root() / folder


def not_found(name: str, path: Path, layout: str) -> DatasetNotFoundError:
    source = SOURCES.get(name.lower())
    return DatasetNotFoundError(
        f"{name}: folder {path} does not exist.\nExpected layout under the dataset folder:\n{layout}\n"
        f"Download it with cl.data.download({name.lower()!r}) (or pass root= pointing at that folder), "
        f"or work offline with cl.data.load({source.stand_in if source else 'synthetic-vessels'!r})."
    )


def require_dir(name: str, path: Path, layout: str, top: Path | None = None) -> Path:
    """``path`` if it is a folder; else a not-found error (dataset root) or a layout error (sub-folder)."""
    if path.is_dir():
        return path
    if top is None or not top.is_dir():
        raise not_found(name, top or path, layout)
    found = sorted(p.name + ("/" if p.is_dir() else "") for p in top.iterdir())[:12]
    raise DatasetLayoutError(
        f"{name}: expected the folder {path} but it is missing. {top} contains: "
        f"{', '.join(found) or 'nothing'}.\nExpected layout:\n{layout}"
    )


def list_matching(name: str, folder: Path, pattern: str, layout: str) -> list[tuple[re.Match, Path]]:
    """Files in ``folder`` whose name fully matches regex ``pattern``, naturally sorted; error if none."""
    regex = re.compile(pattern, re.IGNORECASE)
    hits = [(m, p) for p in folder.iterdir() if p.is_file() and (m := regex.fullmatch(p.name))]
    if not hits:
        sample = sorted(p.name for p in folder.iterdir())[:8]
        raise DatasetLayoutError(
            f"{name}: no file in {folder} matches {pattern!r} (found: {', '.join(sample) or 'nothing'}).\n"
            f"Expected layout:\n{layout}"
        )
    return sorted(hits, key=lambda mp: _natural_key(mp[1].name))


def _natural_key(text: str) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text)]


def require_file(name: str, path: Path, what: str, layout: str) -> Path:
    if not path.is_file():
        raise DatasetLayoutError(f"{name}: {what} {path} is missing.\nExpected layout:\n{layout}")
    return path


# ----------------------------------------------------------------------------- readers


def read_image(path: Path, mode: str, dataset: str = "") -> np.ndarray:
    """Decode ``path`` (any PIL format, also ``.gz``-compressed) converted to PIL ``mode`` as uint8."""
    try:
        image = open_image(path)[0]
        with image:
            image.load()
            return np.asarray(image.convert(mode), dtype=np.uint8).copy()
    except (OSError, ValueError, EOFError, SyntaxError) as error:
        raise ImageReadError(
            f"Could not read {path} as an image ({type(error).__name__}: {error}). The file is truncated, "
            f"corrupt or not an image. {refetch_advice(dataset) if dataset else ''}"
        ) from error


def to_binary(gray: np.ndarray) -> np.ndarray:
    """{0,1}-valued labels from any grey convention: {0,1}, {0,255}, anti-aliased 0..255 (> 127)."""
    return gray > 0 if gray.max(initial=0) <= 1 else gray > 127


def derive_fov(rgb: np.ndarray, threshold: float | None = None, erode: int = 2) -> np.ndarray:
    """Field-of-view mask of a fundus photograph (for STARE and CHASE_DB1, which ship none).

    The red channel is bright inside the camera aperture and near black outside: threshold it at
    ``threshold`` (default 15% of its 99th percentile, at least 10/255), open with a 5x5 square to
    remove noise and text, keep the largest connected component, fill holes, and erode by ``erode``
    pixels to drop the dark rim.
    """
    red = rgb[..., 0].astype(np.float32)
    level = threshold if threshold is not None else max(0.15 * float(np.percentile(red, 99)), 10.0)
    fov = ndimage.binary_opening(red > level, structure=np.ones((5, 5), bool))
    labels, count = ndimage.label(fov)
    if count > 1:
        sizes = ndimage.sum(fov, labels, index=np.arange(1, count + 1))
        fov = labels == 1 + int(np.argmax(sizes))
    fov = ndimage.binary_fill_holes(fov)
    if erode > 0:
        fov = ndimage.binary_erosion(fov, iterations=erode)
    return fov


# ----------------------------------------------------------------------------- splits


def seeded_split(
    records: Sequence[Record], split: str, val_fraction: float, seed: int, name: str
) -> list[Record]:
    """``train`` / ``val`` from a seeded permutation of ``records``; ``trainval`` = all of them."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"{name}: val_fraction must be in [0, 1), got {val_fraction}.")
    n = len(records)
    if split == "trainval":
        return list(records)
    n_val = round(n * val_fraction)
    if split == "val" and n_val == 0:
        raise ValueError(f"{name}: val_fraction={val_fraction} of {n} images leaves no validation image.")
    order = np.random.default_rng(seed).permutation(n)
    chosen = order[:n_val] if split == "val" else order[n_val:]
    return [records[i] for i in sorted(chosen)]


def check_split(name: str, split: str, allowed: Sequence[str] = (*TRAIN_SPLITS, "test")) -> str:
    key = str(split).strip().lower()
    if key not in allowed:
        raise ValueError(f"{name}: unknown split {split!r}; use one of {', '.join(allowed)}.")
    return key


# ----------------------------------------------------------------------------- the dataset


class RealSegmentationDataset(Dataset):
    """Dict samples from image/label files (see the module docstring).

    ``image_mode``: PIL mode of the image ("RGB" or "L"); ``invert_mask``: the file marks background
    (ISBI: 0 = membrane = our foreground); ``fov``: "file" (from ``Record.fov``), "derive"
    (:func:`derive_fov`) or None; ``instances``: add connected components of the background
    (4-connectivity) as ``"instances"``. ``ids`` lists the sample names in order.
    """

    def __init__(
        self,
        name: str,
        records: Sequence[Record],
        *,
        split: str,
        root: Path,
        image_mode: str = "RGB",
        invert_mask: bool = False,
        fov: str | None = None,
        instances: bool = False,
        transform: Callable | None = None,
        seed: int = 0,
        cache: bool = True,
    ) -> None:
        if not records:
            raise DatasetLayoutError(f"{name}: the {split!r} split is empty (root {root}).")
        self.name, self.records, self.split, self.root = name, list(records), split, root
        self.image_mode, self.invert_mask, self.fov, self.instances = image_mode, invert_mask, fov, instances
        self.transform, self.seed, self.epoch, self.cache = transform, int(seed), 0, cache
        self._cache: dict[int, dict[str, np.ndarray]] = {}
        self.check_files()

    def check_files(self) -> None:
        """Read every file's header (not its pixels): a truncated or corrupt file, or a label whose size
        differs from its image, is reported now rather than mid-epoch."""
        for record in self.records:
            width, height = image_size(record.image, self.name)
            for path, what in ((record.mask, "mask"), (record.fov, "FOV mask")):
                if path is None or (what == "FOV mask" and self.fov != "file"):
                    continue
                size = image_size(path, self.name)
                if size != (width, height):
                    raise self._size_mismatch(record.image, (width, height), path, size, what)

    def _size_mismatch(self, image: Path, image_wh: tuple[int, int], label: Path, label_wh: tuple[int, int],
                       what: str) -> DatasetLayoutError:
        return DatasetLayoutError(
            f"{self.name}: size mismatch: image {image} is {image_wh[0]}x{image_wh[1]} (WxH) but {what} "
            f"{label} is {label_wh[0]}x{label_wh[1]}; they must be the same size."
        )

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}({self.name}, split={self.split!r}, n={len(self)}, root={str(self.root)!r})"

    def set_epoch(self, epoch: int) -> None:
        """Make the transform draw new (still reproducible) parameters for this epoch."""
        self.epoch = int(epoch)

    def _label(self, path: Path, image: np.ndarray, image_path: Path, what: str) -> np.ndarray:
        gray = read_image(path, "L", self.name)
        if gray.shape != image.shape[:2]:
            raise self._size_mismatch(image_path, image.shape[1::-1], path, gray.shape[::-1], what)
        return to_binary(gray)

    def decode(self, index: int) -> dict[str, np.ndarray]:
        """The sample's arrays as uint8 (image HxW[xC], masks HxW {0,1}; instances int32)."""
        if index in self._cache:
            return self._cache[index]
        record = self.records[index]
        image = read_image(record.image, self.image_mode, self.name)
        arrays: dict[str, np.ndarray] = {"image": image}
        if record.mask is not None:
            mask = self._label(record.mask, image, record.image, "mask")
            arrays["mask"] = (~mask if self.invert_mask else mask).astype(np.uint8)
            if self.instances:
                arrays["instances"] = ndimage.label(~arrays["mask"].astype(bool))[0].astype(np.int32)
        if self.fov == "file" and record.fov is not None:
            arrays["fov"] = self._label(record.fov, image, record.image, "FOV mask").astype(np.uint8)
        elif self.fov == "derive":
            arrays["fov"] = derive_fov(image if image.ndim == 3 else np.stack([image] * 3, -1)).astype(
                np.uint8
            )
        if self.cache:
            self._cache[index] = arrays
        return arrays

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"{self.name} {self.split}: index {index} out of range for {len(self)} samples.")
        index %= len(self)
        arrays = self.decode(index)
        image = torch.from_numpy(arrays["image"]).float().div_(255.0)
        sample: dict[str, Any] = {"image": image.permute(2, 0, 1) if image.ndim == 3 else image[None]}
        for key in ("mask", "fov"):
            if key in arrays:
                sample[key] = torch.from_numpy(arrays[key]).float()[None]
        if "instances" in arrays:
            sample["instances"] = torch.from_numpy(arrays["instances"]).long()[None]
        return apply_transform(self.transform, sample, make_generator(self.seed, self.epoch, index))


def holdout_split(
    records: Sequence[Record],
    split: str,
    *,
    n_test: int,
    test_ids: Sequence[str] | None,
    val_fraction: float,
    seed: int,
    name: str,
) -> list[Record]:
    """For datasets without an official split: the last ``n_test`` records (or ``test_ids``) are the
    test set; train/val is a seeded split of the rest."""
    if test_ids is not None:
        wanted = {str(i) for i in test_ids}
        unknown = wanted - {r.id for r in records}
        if unknown:
            raise ValueError(
                f"{name}: test_ids {sorted(unknown)} are not in the dataset "
                f"(ids look like {records[0].id!r})."
            )
        test = [r for r in records if r.id in wanted]
    else:
        if not 0 < n_test < len(records):
            raise ValueError(f"{name}: n_test={n_test} must be between 1 and {len(records) - 1}.")
        test = list(records[len(records) - n_test :])
    if split == "test":
        return test
    pool = [r for r in records if r not in test]
    return seeded_split(pool, split, val_fraction, seed, name)
