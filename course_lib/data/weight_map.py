"""The U-Net paper's pixel-wise loss weight map, and a Dataset wrapper that adds it to samples.

    w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))^2 / (2 sigma^2))          (Ronneberger et al., eq. 2)

``d1`` and ``d2`` are the distances to the nearest and the second-nearest cell (instance); ``w_c``
balances the class frequencies. The border term makes the network learn the thin background gaps
that separate touching cells. Choices made explicit here:

- ``w_c``: with ``class_balance=True``, ``w_c = N / (2 * N_c)`` for the pixel's class c (background =
  instance 0, foreground = any cell), so both classes carry the same total weight and the mean of
  ``w_c`` is 1; with ``class_balance=False``, ``w_c = 1``.
- The border term is added on **background pixels only** (``border_on="background"``, the gaps and
  membranes between cells, as the paper intends: "the separation background labels between touching
  cells obtain a large weight"). Inside a cell ``d1 = 0``, so ``border_on="all"`` would also raise the
  weight of cell pixels near another cell. With fewer than two cells there is no border term.
- Distances are Euclidean (``scipy.ndimage.distance_transform_edt``), 1 for a pixel next to a cell.
  Each cell's distance map is computed only within its bounding box grown by ``max_distance``, beyond
  which the term is below ``1e-4`` (default ``sigma * sqrt(2 ln(w0 / 1e-4))``, 24 px for the paper's
  w0 = 10, sigma = 5), and the two smallest distances are kept in a running update: the cost grows with
  the number of cells, not with cells x image size. A 512x512 image with ~200 cells takes ~0.1 s.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import torch
from scipy import ndimage
from torch.utils.data import Dataset

__all__ = ["WeightMapDataset", "add_weight_map", "as_numpy_2d", "label_instances", "unet_weight_map"]


def as_numpy_2d(array: np.ndarray | torch.Tensor, name: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """``(H x W numpy array, original shape)`` from an H x W or 1 x H x W array or tensor; a clear error
    naming ``name`` for any other shape. Shared with :mod:`course_lib.instance_metrics`."""
    a = array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
    shape = a.shape
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2:
        raise ValueError(f"{name} must be HxW or 1xHxW, got shape {shape}.")
    return a, shape


def label_instances(mask: np.ndarray | torch.Tensor, connectivity: int = 1) -> np.ndarray:
    """Cells from a binary mask: connected components of ``mask > 0.5`` numbered 1..K (int64, shape kept).

    ``connectivity=1`` (4-neighbours) keeps cells apart across a 1-px diagonal membrane; 2 = 8-neighbours.
    """
    a, shape = as_numpy_2d(mask, "mask")
    structure = ndimage.generate_binary_structure(2, connectivity)
    labels, _ = ndimage.label(a > 0.5, structure=structure)
    return labels.astype(np.int64).reshape(shape)


def unet_weight_map(
    instances: np.ndarray | torch.Tensor,
    w0: float = 10.0,
    sigma: float = 5.0,
    class_balance: bool = True,
    border_on: str = "background",
    max_distance: float | None = None,
) -> np.ndarray:
    """The weight map ``w = w_c + w0 * exp(-(d1 + d2)^2 / (2 sigma^2))`` of an instance map.

    ``instances``: HxW or 1xHxW integers, 0 = background/membrane, 1..K = cells (see
    :func:`label_instances` to get them from a binary mask). Returns float32 of the same shape.
    ``border_on``: ``"background"`` (default) or ``"all"`` pixels receive the border term.
    """
    if border_on not in ("background", "all"):
        raise ValueError(f"border_on must be 'background' or 'all', got {border_on!r}.")
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}.")
    labels, shape = as_numpy_2d(instances, "instances")
    if labels.dtype.kind == "f" and not np.all(labels == np.round(labels)):
        raise ValueError("instances must hold integer cell ids (0 = background); got fractional values. "
                         "For a binary mask use label_instances(mask) first.")
    labels = labels.astype(np.int64)
    if labels.min() < 0:
        raise ValueError("instances must be >= 0 (0 = background, 1..K = cells).")
    foreground = labels > 0

    weight = np.ones(labels.shape, np.float64)
    n_fg = int(foreground.sum())
    if class_balance and 0 < n_fg < labels.size:
        weight[foreground] = labels.size / (2 * n_fg)
        weight[~foreground] = labels.size / (2 * (labels.size - n_fg))

    if w0 != 0:
        if max_distance is None:
            max_distance = sigma * math.sqrt(2 * math.log(max(abs(w0), 1e-4) / 1e-4))
        reach = math.ceil(max_distance)
        d1 = np.full(labels.shape, np.inf)
        d2 = np.full(labels.shape, np.inf)
        height, width = labels.shape
        for cell, box in enumerate(ndimage.find_objects(labels), start=1):
            if box is None:  # an unused id
                continue
            ys = slice(max(0, box[0].start - reach), min(height, box[0].stop + reach))
            xs = slice(max(0, box[1].start - reach), min(width, box[1].stop + reach))
            d = ndimage.distance_transform_edt(labels[ys, xs] != cell)
            near1, near2 = d1[ys, xs], d2[ys, xs]  # views: updated in place
            np.minimum(near2, np.maximum(near1, d), out=near2)
            np.minimum(near1, d, out=near1)
        border = w0 * np.exp(-((d1 + d2) ** 2) / (2 * sigma**2))  # exp(-inf) = 0 where < 2 cells reach
        if border_on == "background":
            border[foreground] = 0.0
        weight += border
    return weight.astype(np.float32).reshape(shape)


def _digest(array: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(array).tobytes(), digest_size=16).digest()


class WeightMapDataset(Dataset):
    """Wraps a dataset of sample dicts and adds ``"weight"`` (float32 1xHxW) computed from ``"instances"``.

    Weight maps are cached per index together with a hash of the instance map, so they are computed
    once per sample and recomputed only if the instances change (e.g. under random augmentation; then
    wrap the *augmented* dataset). Samples without ``"instances"`` raise, unless ``from_mask=True``,
    which labels the connected components of ``"mask"`` as cells (:func:`label_instances`).
    """

    def __init__(self, dataset: Dataset, *, from_mask: bool = False, cache: bool = True,
                 **weight_kwargs: Any) -> None:
        self.dataset = dataset
        self.from_mask = from_mask
        self.cache = cache
        self.weight_kwargs = weight_kwargs
        self._cache: dict[int, tuple[bytes, torch.Tensor]] = {}
        unet_weight_map(np.zeros((2, 2), np.int64), **weight_kwargs)  # reject bad keywords now

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = dict(self.dataset[index])
        instances = sample.get("instances")
        if instances is None:
            if not self.from_mask or "mask" not in sample:
                raise KeyError(f"Sample {index} has no 'instances' (keys: {sorted(sample)}); the U-Net "
                               "weight map needs cell instances. Use add_weight_map(dataset, from_mask=True) "
                               "to take the connected components of 'mask' as cells.")
            instances = label_instances(sample["mask"])
        labels, _ = as_numpy_2d(instances, "instances")
        digest = _digest(labels)
        cached = self._cache.get(index)
        if cached is not None and cached[0] == digest:
            weight = cached[1]
        else:
            weight = torch.from_numpy(unet_weight_map(labels, **self.weight_kwargs))[None]
            if self.cache:
                self._cache[index] = (digest, weight)
        sample["weight"] = weight.clone()
        return sample


def add_weight_map(dataset: Dataset, **kwargs: Any) -> WeightMapDataset:
    """``add_weight_map(ds, w0=10, sigma=5)``: the dataset with a U-Net ``"weight"`` in every sample."""
    return WeightMapDataset(dataset, **kwargs)
