"""Size arithmetic of U-Nets: which input sizes a network can take and what comes out.

A U-Net of depth ``d`` max-pools ``d`` times. Every 2x2 max-pool must see an even size, or the
decoder's feature maps no longer line up with the encoder's (half-pixel shifts, seams in tiling).

- **Padded ("same") convolutions** keep sizes, so the valid inputs are the multiples of ``2**d``.
- **Valid convolutions** (the original U-Net) lose 2 px per 3x3 conv. Walking the arithmetic
  (``n -> n - 4`` per double conv, ``/2`` per pool, ``*2`` per up-conv) gives, for depth 4, the
  family ``16k + 12`` starting at 188 (output 4), e.g. 572 -> 388; the output always lacks a
  border of :func:`context_margin` = 92 px on each side, the context each output pixel needs.

All functions take one side length; images are checked per side. :func:`mirror_pad` is the
padding the course uses to give border pixels their missing context (the paper's mirroring).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import torch
import torch.nn.functional as F

__all__ = [
    "LayerSize", "check_valid_input", "context_margin", "layer_sizes", "mirror_pad", "nearest_valid_sizes",
    "output_size", "skip_crops", "smallest_valid_input", "valid_input_sizes", "walk_sizes",
]

_CONV_LOSS = 2  # a 3x3 valid convolution loses one pixel on each side


class LayerSize(NamedTuple):
    """One row of the size walk: layer name, side length (of a square map) and channels."""

    name: str
    size: int
    channels: int


class _InvalidSizeError(ValueError):
    """Raised by :func:`_walk` with the layer at which the arithmetic breaks."""


def _widths(depth: int, widths: tuple[int, ...] | None, base: int = 64) -> tuple[int, ...]:
    if widths is None:
        return tuple(base * 2**i for i in range(depth + 1))
    if len(widths) != depth + 1:
        raise ValueError(f"depth {depth} needs {depth + 1} widths (one per level), got {len(widths)}.")
    return tuple(widths)


def _walk(
    input_size: int,
    depth: int,
    padded: bool,
    widths: tuple[int, ...] | None = None,
    in_channels: int = 1,
    out_channels: int = 2,
    convs_per_level: int = 2,
    rows: list[LayerSize] | None = None,
) -> list[LayerSize]:
    """Follow one side length through the network; raise ``_InvalidSizeError`` where it breaks (the
    layers walked so far are then in ``rows``, if given)."""
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}.")
    w = _widths(depth, widths)
    loss = 0 if padded else _CONV_LOSS
    rows = [] if rows is None else rows
    rows.append(LayerSize("input", input_size, in_channels))
    size = input_size
    if size < 1:
        raise _InvalidSizeError(f"the input size must be positive, got {size}")

    def convs(prefix: str, channels: int) -> None:
        nonlocal size
        for j in range(1, convs_per_level + 1):
            size -= loss
            if size < 1:
                raise _InvalidSizeError(f"{prefix} conv{j} would shrink the map to {size} px")
            rows.append(LayerSize(f"{prefix} conv{j}", size, channels))

    for level in range(depth + 1):
        prefix = "bottleneck" if level == depth else f"encoder.{level}"
        if level > 0:
            if size % 2:
                raise _InvalidSizeError(f"{prefix} would max-pool an odd size ({size} px)")
            size //= 2
            rows.append(LayerSize(f"{prefix} pool", size, w[level - 1]))
        convs(prefix, w[level])
    for level in reversed(range(depth)):
        prefix = f"decoder.{level}"
        size *= 2
        rows.append(LayerSize(f"{prefix} up", size, w[level]))
        rows.append(LayerSize(f"{prefix} concat", size, 2 * w[level]))
        convs(prefix, w[level])
    rows.append(LayerSize("head", size, out_channels))
    return rows


@lru_cache(maxsize=64)
def smallest_valid_input(depth: int = 4, padded: bool = False) -> int:
    """The smallest side length the network can take (188 for the depth-4 valid U-Net, 16 padded)."""
    size = 1
    while True:
        try:
            _walk(size, depth, padded)
            return size
        except _InvalidSizeError:
            size += 1


def _is_valid(size: int, depth: int, padded: bool) -> bool:
    first = smallest_valid_input(depth, padded)
    return size >= first and (size - first) % 2**depth == 0


def valid_input_sizes(
    depth: int = 4, max_size: int = 1024, min_size: int = 1, padded: bool = False
) -> list[int]:
    """All valid side lengths in ``[min_size, max_size]``: ``[188, 204, ..., 1020]`` for depth 4 valid.

    Valid sizes form an arithmetic family with step ``2**depth`` (one size per pooling grid phase),
    starting at :func:`smallest_valid_input`, which is found by walking the layer arithmetic.
    """
    first = smallest_valid_input(depth, padded)
    step = 2**depth
    start = first if min_size <= first else first + -(-(min_size - first) // step) * step
    return list(range(start, max_size + 1, step))


def nearest_valid_sizes(size: int, depth: int = 4, padded: bool = False) -> tuple[int | None, int]:
    """The valid sizes just below and just above ``size`` (below is ``None`` under the minimum)."""
    first = smallest_valid_input(depth, padded)
    step = 2**depth
    if size < first:
        return None, first
    below = first + (size - first) // step * step
    return below, (below if below == size else below + step)


def check_valid_input(size: int, depth: int = 4, padded: bool = False, what: str = "input size") -> int:
    """Return the output size for ``size``, or raise a ValueError naming the nearest valid sizes:
    ``check_valid_input(572) == 388``; ``check_valid_input(570)`` says "nearest valid sizes: 556 and 572".
    ``what`` names the quantity in the message (e.g. ``"MyNet: input height"``).
    """
    try:
        rows = _walk(int(size), depth, padded)
    except _InvalidSizeError as err:
        below, above = nearest_valid_sizes(int(size), depth, padded)
        kind = "padded" if padded else "valid-convolution"
        nearest = (f"the smallest valid size is {above}" if below is None
                   else f"nearest valid sizes: {below} and {above}")
        raise ValueError(
            f"{what} {size} does not fit a depth-{depth} {kind} U-Net: {err}; {nearest} "
            f"(valid sizes are {smallest_valid_input(depth, padded)} + {2**depth}k). "
            "Crop or pad the image to a valid size, or tile it (course_lib.data.tiling)."
        ) from None
    return rows[-1].size


def output_size(input_size: int, depth: int = 4, padded: bool = False) -> int:
    """The output side length for a valid input (572 -> 388 for the original U-Net)."""
    return check_valid_input(input_size, depth, padded)


def context_margin(depth: int = 4, padded: bool = False) -> int:
    """Pixels lost on each side, ``(input - output) / 2``: 92 for the depth-4 valid U-Net, 0 padded.

    It is the same for every valid input size, so it is the mirror padding overlap-tile needs.
    """
    first = smallest_valid_input(depth, padded)
    lost = first - output_size(first, depth, padded)
    return lost // 2


def layer_sizes(
    input_size: int,
    padded: bool = False,
    depth: int = 4,
    widths: tuple[int, ...] | None = None,
    in_channels: int = 1,
    out_channels: int = 2,
) -> list[LayerSize]:
    """Per-layer feature-map sizes ``[LayerSize(name, size, channels), ...]`` in execution order.

    Names match :class:`course_lib.models.unet.UNet` submodules (``encoder.1 pool``, ``decoder.0 concat``,
    ``head``). ``widths`` defaults to 64, 128, ... (the paper's). Raises a ValueError naming the layer
    that breaks and the nearest valid sizes when ``input_size`` is not valid.
    """
    check_valid_input(input_size, depth, padded)
    return _walk(int(input_size), depth, padded, widths, in_channels, out_channels)


def walk_sizes(
    input_size: int, padded: bool = False, depth: int = 4, widths: tuple[int, ...] | None = None
) -> tuple[list[LayerSize], str | None]:
    """Like :func:`layer_sizes` but never raises for a bad size: the rows walked until the arithmetic
    breaks and the reason (``None`` when ``input_size`` is valid). Used by the size explorer."""
    rows: list[LayerSize] = []
    try:
        _walk(int(input_size), depth, padded, widths, rows=rows)
    except _InvalidSizeError as err:
        return rows, str(err)
    return rows, None


def mirror_pad(x: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """Reflect-pad the last two dims of ``x`` by any amount (repeating the reflection if a pad exceeds
    the image), as the U-Net paper mirrors the border to give it context."""
    if min(top, bottom, left, right) < 0:
        raise ValueError(f"Pads must be non-negative, got {(top, bottom, left, right)}.")
    if x.dim() < 2:
        raise ValueError(f"mirror_pad needs a tensor (..., H, W), got shape {tuple(x.shape)}.")
    lead = x.shape[:-2]
    x = x.reshape(1, -1, *x.shape[-2:])
    pads = [left, right, top, bottom]
    while any(pads):
        h, w = x.shape[-2:]
        step = [min(pads[0], w - 1), min(pads[1], w - 1), min(pads[2], h - 1), min(pads[3], h - 1)]
        if not any(step):  # a 1-pixel side cannot be reflected: repeat it
            x = F.pad(x, pads, mode="replicate")
            break
        x = F.pad(x, step, mode="reflect")
        pads = [p - s for p, s in zip(pads, step, strict=True)]
    return x.reshape(*lead, *x.shape[-2:])


def skip_crops(input_size: int, depth: int = 4, padded: bool = False) -> dict[int, tuple[int, int]]:
    """Per level, the skip's side before and after the centre crop: ``{0: (568, 392), ...}`` for 572.

    Padded U-Nets crop nothing (both sides equal).
    """
    sides = {r.name: r.size for r in layer_sizes(input_size, padded, depth)}
    return {level: (sides[f"encoder.{level} conv2"], sides[f"decoder.{level} concat"])
            for level in range(depth)}
