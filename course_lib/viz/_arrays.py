"""Turn tensors / arrays of the shapes the course uses into what matplotlib displays."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def to_numpy(x: Any) -> np.ndarray:
    """A torch tensor (any device, with grad) or array-like as a numpy array."""
    if hasattr(x, "detach"):  # torch.Tensor without importing torch here
        x = x.detach().cpu()
        if x.dtype.is_floating_point:
            x = x.float()
        return x.numpy()
    return np.asarray(x)


def _describe(x: np.ndarray) -> str:
    return f"shape {tuple(x.shape)}"


def to_unit_range(x: np.ndarray) -> np.ndarray:
    """Float copy in [0, 1]: uint8 is divided by 255; anything outside [0, 1] is min/max-scaled."""
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    x = x.astype(np.float32)
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        return np.zeros_like(x)
    lo, hi = float(finite.min()), float(finite.max())
    if lo >= 0.0 and hi <= 1.0:
        return x
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def as_image(x: Any, name: str = "image") -> np.ndarray:
    """One image as HxW (grey) or HxWx3 (RGB) float in [0, 1].

    Accepts HxW, 1xHxW, 3xHxW, HxWx3, 1xCxHxW. Normalised images are min/max-scaled for display.
    """
    a = to_numpy(x)
    if a.ndim == 4:
        if a.shape[0] != 1:
            raise ValueError(f"{name}: got a batch of {a.shape[0]} images ({_describe(a)}); pass one "
                             f"(e.g. {name}[0]) or use show_samples / show_predictions for batches.")
        a = a[0]
    if a.ndim == 3:
        if a.shape[0] in (1, 3):
            a = np.moveaxis(a, 0, -1)
        elif a.shape[-1] not in (1, 3):
            raise ValueError(f"{name}: expected 1 or 3 channels (CxHxW or HxWx3), got {_describe(a)}. "
                             "For feature maps with many channels use feature_map_grid.")
        if a.shape[-1] == 1:
            a = a[..., 0]
    elif a.ndim != 2:
        raise ValueError(f"{name}: expected HxW, CxHxW or 1xCxHxW, got {_describe(a)}.")
    return to_unit_range(a)


def as_map(x: Any, name: str = "map") -> np.ndarray:
    """A single-channel map (mask, probability, weights) as float HxW, values untouched.

    Accepts HxW, 1xHxW, 1x1xHxW.
    """
    a = to_numpy(x)
    while a.ndim > 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2:
        raise ValueError(f"{name}: expected one map (HxW, 1xHxW or 1x1xHxW), got {_describe(a)}. "
                         "Multi-channel outputs: pick the channel you mean, e.g. x[:, 1:2].")
    return a.astype(np.float32)


def as_batch(x: Any, name: str, image: bool) -> list[np.ndarray]:
    """Split a batch into per-sample arrays.

    Lists/tuples are taken as given; a 4-D array is NxCxHxW; a 3-D array is one image (``image=True``,
    C in {1, 3}) or one map (leading dim 1) and otherwise N maps / N grey images; 2-D is one sample.
    """
    if isinstance(x, Sequence) and not isinstance(x, str | bytes):
        return [to_numpy(item) for item in x]
    a = to_numpy(x)
    if a.ndim == 4:
        return list(a)
    if a.ndim == 3:
        single = a.shape[0] in (1, 3) if image else a.shape[0] == 1
        return [a] if single else list(a[:, None])
    if a.ndim == 2:
        return [a]
    raise ValueError(f"{name}: expected NxCxHxW, CxHxW or HxW (or a list of those), got {_describe(a)}.")


def binarize(x: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Boolean mask: bool arrays as they are, anything else ``>= threshold``."""
    return x.astype(bool) if x.dtype == bool else x >= threshold


def check_probabilities(p: np.ndarray, name: str = "probs") -> None:
    """Refuse logits where probabilities are expected (a common bug: forgetting the sigmoid)."""
    finite = p[np.isfinite(p)]
    if p.dtype != bool and finite.size and (finite.min() < 0 or finite.max() > 1):
        raise ValueError(f"{name} has values in [{finite.min():.3g}, {finite.max():.3g}], outside [0, 1]: "
                         "these look like logits. Pass torch.sigmoid(logits) (or softmax for 2 classes).")


def check_same_size(**maps: np.ndarray | None) -> None:
    shapes = {k: v.shape[:2] for k, v in maps.items() if v is not None}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{k} {s[0]}x{s[1]}" for k, s in shapes.items())
        raise ValueError(f"spatial sizes differ ({listed}); crop or resize so they match "
                         "(the valid-convolution U-Net output is smaller than its input: centre-crop).")
