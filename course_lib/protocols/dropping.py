"""Chapter 03's test of DropBlock's premise: dropping single activations removes little information when
neighbouring activations are correlated, because the next convolution reads it from the neighbours.

- :func:`correlated_field`: unit-variance random feature maps whose correlation length is ``length`` px
  (white noise smoothed by a Gaussian of that standard deviation, wrapped at the borders).
- :func:`recovered_share`: how much of the dropped signal a 3x3 neighbourhood of the *kept* activations
  still predicts (1 - squared error / squared signal over the dropped positions; 0: nothing recovered).
- :func:`leak_table`: that share for Dropout and for DropBlock at several block sizes, at the same drop
  rate, over several correlation lengths.
- :func:`feature_correlation`: the correlation of a trained U-Net's feature maps with themselves shifted
  by a few pixels, per level: how correlated the features DropBlock drops really are.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib.blocks import DropBlock2d

__all__ = ["correlated_field", "feature_correlation", "leak_table", "recovered_share"]


def correlated_field(length: float, shape: Sequence[int] = (8, 4, 64, 64), seed: int = 0) -> torch.Tensor:
    """N x C x H x W maps of unit variance with correlation length ``length`` px (0: white noise)."""
    if length < 0:
        raise ValueError(f"length is a correlation length in pixels, >= 0; got {length}.")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g)
    if length > 0:
        n, c, h, w = x.shape
        r = int(3 * length) + 1
        t = torch.arange(-r, r + 1, dtype=torch.float32)
        k = torch.exp(-t**2 / (2 * length**2))
        k = k / k.sum()
        x = x.reshape(n * c, 1, h, w)
        x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="circular"), k.view(1, 1, 1, -1))
        x = F.conv2d(F.pad(x, (0, 0, r, r), mode="circular"), k.view(1, 1, -1, 1)).reshape(n, c, h, w)
    return x / x.std()


def recovered_share(x: torch.Tensor, keep: torch.Tensor, window: int = 3) -> float:
    """The share of the dropped activations' signal that the mean of the kept ones in a ``window`` x
    ``window`` neighbourhood predicts: ``1 - sum (estimate - x)^2 / sum x^2`` over the dropped positions
    (a dropped position with no kept neighbour is estimated as 0). ``keep``: True where kept."""
    if x.shape != keep.shape:
        raise ValueError(f"x and keep differ in shape: {tuple(x.shape)} vs {tuple(keep.shape)}.")
    dropped = ~keep.bool()
    if not dropped.any():
        raise ValueError("Nothing was dropped: there is no dropped signal to recover.")
    flat = x.reshape(-1, 1, *x.shape[-2:])
    kept = keep.reshape(-1, 1, *x.shape[-2:]).float()
    box = torch.ones(1, 1, window, window)
    total = F.conv2d(flat * kept, box, padding=window // 2)
    count = F.conv2d(kept, box, padding=window // 2)
    estimate = torch.where(count > 0, total / count.clamp_min(1e-9), torch.zeros_like(total)).reshape(x.shape)
    return float(1 - ((estimate - x)[dropped] ** 2).sum() / (x[dropped] ** 2).sum())


def leak_table(lengths: Sequence[float] = (0.5, 1, 2, 4, 8), block_sizes: Sequence[int] = (3, 7),
               rate: float = 0.1, seed: int = 0) -> dict[str, dict[float, float]]:
    """:func:`recovered_share` for ``"Dropout"`` and ``"DropBlock <b>"`` (each block size), dropping about
    ``rate`` of the activations, on :func:`correlated_field` maps of each correlation length:
    ``{arm: {length: share}}``. The same maps and the same random draws for every arm."""
    table: dict[str, dict[float, float]] = {"Dropout": {}, **{f"DropBlock {b}": {} for b in block_sizes}}
    for length in lengths:
        x = correlated_field(length, seed=seed)
        torch.manual_seed(seed + 1)
        table["Dropout"][length] = recovered_share(x, torch.rand_like(x) >= rate)
        for b in block_sizes:
            torch.manual_seed(seed + 1)
            keep = DropBlock2d(1 - rate, b).train()(torch.ones_like(x)) > 0
            table[f"DropBlock {b}"][length] = recovered_share(x, keep)
    return table


@torch.no_grad()
def feature_correlation(model: nn.Module, images: torch.Tensor, lags: Sequence[int] = (1, 2, 4),
                        names: Sequence[str] | None = None) -> dict[str, dict[int, float]]:
    """For a course U-Net (``forward_unchecked(x, features)``): the mean correlation of each level's
    feature maps with themselves shifted by ``lag`` px (horizontally and vertically, each channel
    standardised; channels that are constant are left out), in eval mode, per level name."""
    if not hasattr(model, "forward_unchecked"):
        raise TypeError(f"{type(model).__name__} is not a course U-Net (cl.create_model('unet', ...)).")
    was_training = model.training
    model.eval()
    try:
        features: dict[str, torch.Tensor] = {}
        model.forward_unchecked(images.to(next(model.parameters()).device), features)
    finally:
        model.train(was_training)
    out: dict[str, dict[int, float]] = {}
    for name in names or [n for n in features if n != "head"]:
        f = features[name].float().cpu()
        std = f.std(dim=(-2, -1), keepdim=True)
        live = std.flatten() > 1e-6
        z = ((f - f.mean(dim=(-2, -1), keepdim=True)) / std.clamp_min(1e-6)).flatten(0, 1)[live]
        out[name] = {}
        for lag in lags:
            if lag >= min(z.shape[-2:]):
                out[name][lag] = float("nan")
                continue
            across = (z[..., :, lag:] * z[..., :, :-lag]).mean()
            down = (z[..., lag:, :] * z[..., :-lag, :]).mean()
            out[name][lag] = float((across + down) / 2)
    return out
