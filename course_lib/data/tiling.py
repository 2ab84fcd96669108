"""Predicting images larger than one forward pass: overlap-tile, sliding window and naive tiling.

- :func:`overlap_tile_predict` is the U-Net paper's strategy for valid-convolution networks: mirror
  the image border by the context margin (92 px for the original U-Net), cut input tiles of a valid
  size whose outputs abut, and stitch. Tiles start at multiples of ``2**depth`` so every tile sees
  the same pooling grid as the whole image: the result *equals* one pass over the mirror-padded image.
- :func:`sliding_window_predict` is the usual strategy for padded networks: overlapping windows whose
  outputs are blended with a Gaussian (or flat) weight, which hides the weaker window borders.
- :func:`naive_tile_predict` cuts non-overlapping tiles with no context from their neighbours
  (a valid network gets each tile's own mirror); :func:`seam_error` measures the seams it leaves
  against a whole-image prediction, :func:`seam_contrast` without one (the jump across tile borders
  against the jump between any other neighbouring pixels).

All three accept one image ``(C, H, W)`` or a batch ``(N, C, H, W)`` (tensor or NumPy) of any size,
return **logits** (the model's raw output; multi-output models: the final output) as a float tensor
shaped like the input but with the model's output channels, on the input's device. They run under
``torch.inference_mode()`` on the model's device, in eval mode (the previous mode is restored), and
batch ``batch_size`` tiles per forward pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np
import torch
import torch.nn as nn

from course_lib import sizes

__all__ = ["SeamContrast", "SeamError", "gaussian_window", "naive_tile_predict", "overlap_tile_predict",
           "seam_contrast", "seam_error", "seam_mask", "sliding_window_predict"]


class _Geometry(NamedTuple):
    margin: int                      # context lost per side
    step: int                        # tile origins must be multiples of this (2**depth)
    valid_at_least: Callable[[int], int]  # smallest valid input side >= n


def _geometry(model: nn.Module) -> _Geometry:
    """Size rules of a course U-Net (``.depth`` and ``.padding``); other models: any size, no margin."""
    depth, padding = getattr(model, "depth", None), getattr(model, "padding", None)
    if isinstance(depth, int) and padding in ("same", "valid"):
        padded = padding == "same"
        return _Geometry(sizes.context_margin(depth, padded), 2**depth,
                         lambda n: sizes.nearest_valid_sizes(n, depth, padded)[1])
    return _Geometry(0, 1, lambda n: n)


def _pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"{name} must be a positive int or (height, width), got {value!r}.")
    return int(pair[0]), int(pair[1])


def _as_batch(image: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, bool]:
    x = torch.as_tensor(image)
    if x.dim() == 2:
        raise ValueError(f"Expected an image (C, H, W) or a batch (N, C, H, W), got shape {tuple(x.shape)}; "
                         "add a channel dimension, e.g. image[None].")
    if x.dim() not in (3, 4):
        raise ValueError(f"Expected an image (C, H, W) or a batch (N, C, H, W), got shape {tuple(x.shape)}.")
    single = x.dim() == 3
    x = x.unsqueeze(0) if single else x
    return (x if x.is_floating_point() else x.float()), single


@contextmanager
def _inference(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


def _device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _run(model: nn.Module, tiles: list[torch.Tensor], raw: bool) -> torch.Tensor:
    """One forward pass over stacked tiles; ``raw`` skips a course UNet's own size checks/padding."""
    batch = torch.stack(tiles).to(_device(model))
    forward = getattr(model, "forward_unchecked", model) if raw else model
    out = forward(batch)
    return out[0] if isinstance(out, (list, tuple)) else out


def _tiled(
    model: nn.Module,
    x: torch.Tensor,
    windows: list[tuple[int, int]],
    window: tuple[int, int],
    keep: tuple[int, int],
    out_size: tuple[int, int],
    batch_size: int,
    prepare: Callable[[torch.Tensor], torch.Tensor],
    raw: bool,
    weight: torch.Tensor | None = None,
    offset: int = 0,
) -> torch.Tensor:
    """Run every ``window`` at the origins ``windows`` of every image of ``x``; write the ``keep``-sized
    part of each output starting at ``(offset, offset)`` at the same origin in an ``out_size`` canvas
    (weighted average if ``weight``)."""
    jobs = [(n, y, x0) for n in range(x.shape[0]) for (y, x0) in windows]
    canvas: torch.Tensor | None = None
    norm = torch.zeros(out_size, device=x.device) if weight is not None else None
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start:start + batch_size]
        tiles = [prepare(x[n, :, y:y + window[0], x0:x0 + window[1]]) for n, y, x0 in chunk]
        out = _run(model, tiles, raw).float().to(x.device)
        if out.shape[-2] < offset + keep[0] or out.shape[-1] < offset + keep[1]:
            raise ValueError(f"The model returned {tuple(out.shape[-2:])} for a {tuple(tiles[0].shape[-2:])} "
                             f"tile, smaller than the {keep} expected: for valid-convolution networks use "
                             "overlap_tile_predict.")
        out = out[..., offset:offset + keep[0], offset:offset + keep[1]]
        if canvas is None:
            canvas = torch.zeros((x.shape[0], out.shape[1], *out_size), device=x.device)
        for (n, y, x0), tile_out in zip(chunk, out, strict=True):
            if weight is None:
                canvas[n, :, y:y + keep[0], x0:x0 + keep[1]] = tile_out
            else:
                canvas[n, :, y:y + keep[0], x0:x0 + keep[1]] += tile_out * weight
                if n == 0:
                    norm[y:y + keep[0], x0:x0 + keep[1]] += weight
    assert canvas is not None
    return canvas / norm if norm is not None else canvas


def overlap_tile_predict(
    model: nn.Module,
    image: torch.Tensor | np.ndarray,
    tile_output: int | tuple[int, int] = 384,
    batch_size: int = 4,
    margin: int | None = None,
) -> torch.Tensor:
    """The U-Net paper's overlap-tile strategy; returns logits of the image's size.

    ``tile_output`` is the output area each tile contributes (rounded down to a multiple of
    ``2**depth``, and shrunk for small images); each input tile is the smallest valid size whose
    output covers it plus ``margin`` px of context on every side, 572 px for the original U-Net and the
    default 384. The image is mirror-padded by the margin (and on the far sides up to whole tiles), so
    for a valid-convolution network the result equals one pass of ``model`` over that padded image,
    cropped to the image.

    ``margin`` defaults to the network's context margin (92 px for the original U-Net, 0 for a padded
    one, which then makes this naive tiling). For a padded network give a margin (e.g. 32): each tile
    then sees that much real neighbourhood, its zero-padded border is thrown away, and the seams shrink
    (they vanish only when the margin covers the receptive field). A margin below a valid network's own
    is refused.
    """
    x, single = _as_batch(image)
    geo = _geometry(model)
    if margin is not None:
        if margin < geo.margin:
            raise ValueError(f"margin={margin} is smaller than the {geo.margin} px of context the network "
                             f"loses per side; use margin >= {geo.margin} (or None).")
        geo = geo._replace(margin=int(margin))
    offset = geo.margin - _geometry(model).margin  # output pixels beyond the tile's own area
    height, width = x.shape[-2:]
    strides, inputs, counts = [], [], []
    for side, target in zip((height, width), _pair(tile_output, "tile_output"), strict=True):
        stride = min(max(geo.step, target // geo.step * geo.step), math.ceil(side / geo.step) * geo.step)
        strides.append(stride)
        inputs.append(geo.valid_at_least(stride + 2 * geo.margin))
        counts.append(math.ceil(side / stride))
    m = geo.margin
    total = [(c - 1) * s + i for c, s, i in zip(counts, strides, inputs, strict=True)]
    padded = sizes.mirror_pad(x, m, total[0] - height - m, m, total[1] - width - m)
    origins = [(iy * strides[0], ix * strides[1]) for iy in range(counts[0]) for ix in range(counts[1])]
    with _inference(model):
        out = _tiled(model, padded, origins, (inputs[0], inputs[1]), (strides[0], strides[1]),
                     (counts[0] * strides[0], counts[1] * strides[1]), batch_size, lambda t: t, raw=True,
                     offset=offset)
    out = out[..., :height, :width]
    return out[0] if single else out


def _window_origins(side: int, window: int, stride: int) -> list[int]:
    origins = list(range(0, side - window + 1, stride))
    if origins[-1] + window < side:
        origins.append(side - window)
    return origins


def gaussian_window(height: int, width: int, sigma_scale: float = 1 / 8) -> torch.Tensor:
    """A separable Gaussian weight, ``sigma = sigma_scale * size`` per axis, scaled to a maximum of 1."""
    axes = []
    for n in (height, width):
        coords = torch.arange(n, dtype=torch.float32) - (n - 1) / 2
        axes.append(torch.exp(-coords**2 / (2 * (sigma_scale * n) ** 2)))
    weight = torch.outer(*axes)
    return weight / weight.max()


def sliding_window_predict(
    model: nn.Module,
    image: torch.Tensor | np.ndarray,
    window: int | tuple[int, int],
    overlap: float = 0.5,
    blend: str = "gaussian",
    batch_size: int = 4,
) -> torch.Tensor:
    """Overlapping windows for a padded network (output size = window size), blended; returns logits.

    Window origins step by ``round(window * (1 - overlap))`` and the last window is flush with the far
    border. ``blend="gaussian"`` weights each window's logits by a Gaussian (sigma = window / 8), which
    trusts window centres more than their zero-padded borders; ``"mean"`` averages them equally. An image
    smaller than the window is mirror-padded on the far sides and the output cropped back.
    """
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}.")
    if blend not in ("gaussian", "mean"):
        raise ValueError(f"blend must be 'gaussian' or 'mean', got {blend!r}.")
    x, single = _as_batch(image)
    height, width = x.shape[-2:]
    wh, ww = _pair(window, "window")
    x = sizes.mirror_pad(x, 0, max(0, wh - height), 0, max(0, ww - width))
    full_h, full_w = x.shape[-2:]
    origins = [(y, x0) for y in _window_origins(full_h, wh, max(1, round(wh * (1 - overlap))))
               for x0 in _window_origins(full_w, ww, max(1, round(ww * (1 - overlap))))]
    weight = gaussian_window(wh, ww) if blend == "gaussian" else torch.ones(wh, ww)
    with _inference(model):
        out = _tiled(model, x, origins, (wh, ww), (wh, ww), (full_h, full_w), batch_size,
                     lambda t: t, raw=False, weight=weight.to(x.device))
    out = out[..., :height, :width]
    return out[0] if single else out


def naive_tile_predict(
    model: nn.Module,
    image: torch.Tensor | np.ndarray,
    tile: int | tuple[int, int],
    batch_size: int = 4,
) -> torch.Tensor:
    """Non-overlapping ``tile``-sized tiles predicted independently (no context from neighbours): logits.

    Each tile is mirror-padded on its own up to the model's input needs (its own context margin for a
    valid network, the next valid size for a padded one), so seams appear at tile borders.
    """
    x, single = _as_batch(image)
    geo = _geometry(model)
    height, width = x.shape[-2:]
    th, tw = _pair(tile, "tile")
    ny, nx = math.ceil(height / th), math.ceil(width / tw)
    x = sizes.mirror_pad(x, 0, ny * th - height, 0, nx * tw - width)
    m = geo.margin
    in_h, in_w = geo.valid_at_least(th + 2 * m), geo.valid_at_least(tw + 2 * m)

    def own_context(t: torch.Tensor) -> torch.Tensor:
        return sizes.mirror_pad(t, m, in_h - th - m, m, in_w - tw - m)

    origins = [(iy * th, ix * tw) for iy in range(ny) for ix in range(nx)]
    with _inference(model):
        out = _tiled(model, x, origins, (th, tw), (th, tw), (ny * th, nx * tw), batch_size, own_context,
                     raw=True)
    out = out[..., :height, :width]
    return out[0] if single else out


def seam_mask(shape: tuple[int, int], tile: int | tuple[int, int], band: int = 2) -> torch.Tensor:
    """Bool ``shape`` mask of the pixels within ``band`` px of an inner border of ``tile``-sized tiles."""
    th, tw = _pair(tile, "tile")

    def near(n: int, t: int) -> torch.Tensor:
        pos = torch.arange(n)
        offset = pos % t
        return ((offset < band) | (offset >= t - band)) & (pos >= t - band) & (pos < (n - 1) // t * t + band)

    return near(shape[0], th)[:, None] | near(shape[1], tw)[None, :]


class SeamError(NamedTuple):
    """Mean absolute difference at tile borders (``seam``), elsewhere (``interior``), and the maximum."""

    seam: float
    interior: float
    max: float


def seam_error(
    pred_tiled: torch.Tensor | np.ndarray,
    pred_whole: torch.Tensor | np.ndarray,
    tile: int | tuple[int, int],
    band: int = 2,
) -> SeamError:
    """Compare a tiled prediction with the whole-image one: where tiling errs is where seams show."""
    a, b = torch.as_tensor(pred_tiled).float(), torch.as_tensor(pred_whole).float().to(
        torch.as_tensor(pred_tiled).device)
    if a.shape != b.shape:
        raise ValueError(f"seam_error: predictions differ in shape, {tuple(a.shape)} vs {tuple(b.shape)}.")
    diff = (a - b).abs()
    mask = seam_mask(tuple(diff.shape[-2:]), tile, band).to(diff.device).expand_as(diff)
    seam = diff[mask].mean().item() if mask.any() else 0.0
    interior = diff[~mask].mean().item() if (~mask).any() else 0.0
    return SeamError(seam, interior, diff.max().item())


class SeamContrast(NamedTuple):
    """Mean absolute difference between neighbouring pixels across tile borders (``border``) and between
    all other neighbouring pixels (``elsewhere``); ``ratio = border / elsewhere`` is about 1 without
    seams and grows with them."""

    border: float
    elsewhere: float
    ratio: float


def seam_contrast(prob: torch.Tensor | np.ndarray, tile: int | tuple[int, int]) -> SeamContrast:
    """How visible the borders of ``tile``-sized tiles (origins at multiples of ``tile``) are in one map.

    The mean absolute gradient of ``prob`` (``... x H x W``, e.g. a probability map) over the pixel pairs
    that straddle a tile border (row ``k * tile - 1`` next to row ``k * tile``, and the same for columns),
    against its mean over every other pair of neighbouring pixels. Needs no reference prediction.
    """
    p = torch.as_tensor(prob).float()
    if p.dim() < 2:
        raise ValueError(f"seam_contrast expects a map ... x H x W, got shape {tuple(p.shape)}.")
    th, tw = _pair(tile, "tile")
    height, width = p.shape[-2:]
    if height <= th and width <= tw:
        raise ValueError(f"A {height}x{width} map has no inner border of {th}x{tw} tiles.")
    down = (p[..., 1:, :] - p[..., :-1, :]).abs()  # pair (r - 1, r) at index r - 1
    right = (p[..., :, 1:] - p[..., :, :-1]).abs()
    rows = (torch.arange(1, height) % th == 0)[:, None].expand(height - 1, width)
    cols = (torch.arange(1, width) % tw == 0)[None, :].expand(height, width - 1)
    rows, cols = rows.expand_as(down), cols.expand_as(right)
    border = torch.cat([down[rows], right[cols]])
    elsewhere = torch.cat([down[~rows], right[~cols]])
    b, e = border.mean().item(), elsewhere.mean().item()
    return SeamContrast(b, e, b / e if e > 0 else float("inf") if b > 0 else 1.0)
