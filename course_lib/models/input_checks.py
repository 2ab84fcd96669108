"""The checks every model shares, so a wrong setting or a wrong input is named where it happens, in the
course's words, instead of surfacing as torch's error from deep inside a layer.

- :func:`check_config`: ``in_channels``, ``out_channels`` and ``widths`` when a model is built (by
  :func:`course_lib.models.create_model` for every model, and by the model classes themselves).
- :func:`check_batch`: a forward call's input has the model's rank and channels, with a hint that says
  which axis is missing or extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["check_batch", "check_config", "check_widths"]


def _positive_int(name: str, value: Any, model: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{model}: {name} must be a positive whole number, got {value!r}.")
    return value


def check_widths(widths: Any, model: str, min_levels: int = 2, min_width: int = 1) -> tuple[int, ...]:
    """``widths`` as a tuple of ints, or a ValueError/TypeError naming what is wrong with it."""
    if isinstance(widths, (int, float, str)) or not isinstance(widths, Sequence):
        raise TypeError(f"{model}: widths must be a sequence of channel counts, one per level, such as "
                        f"(32, 64, 128, 256, 512); got {widths!r}.")
    values = tuple(widths)
    if any(isinstance(w, bool) or not isinstance(w, int) for w in values):
        raise TypeError(f"{model}: widths must be whole numbers, got {values}.")
    if len(values) < min_levels:
        raise ValueError(f"{model}: widths needs at least {min_levels} levels, got {values}.")
    if min(values) < min_width:
        why = " (each gate has widths[i] // 2 intermediate channels)" if min_width > 1 else ""
        raise ValueError(f"{model}: every width must be at least {min_width}{why}, got {values}.")
    return values


def check_config(model: str, cfg: dict[str, Any]) -> None:
    """Check the settings most models share, where given."""
    for name in ("in_channels", "out_channels"):
        if name in cfg:
            _positive_int(name, cfg[name], model)
    if "widths" in cfg:
        check_widths(cfg["widths"], model)


def check_batch(x: Any, model: str, in_channels: int, spatial: int = 2) -> None:
    """Raise a ValueError unless ``x`` is a batch ``(N, C, H, W)`` (``(N, C, D, H, W)`` for ``spatial=3``)
    with ``in_channels`` channels, saying which axis is missing or extra."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{model} takes a torch.Tensor, got {type(x).__name__}.")
    layout = "(N, C, H, W)" if spatial == 2 else "(N, C, D, H, W)"
    shape = tuple(x.shape)
    if x.dim() == spatial + 2:
        if shape[1] != in_channels:
            raise ValueError(f"{model} was built for {in_channels} input channel(s) but got {shape[1]} "
                             f"(input shape {shape}). Build it with in_channels={shape[1]}, or convert the "
                             "images (grayscale <-> RGB).")
        return
    head = f"{model} expects a batch {layout}, got shape {shape}"
    if x.dim() == spatial + 1:
        hint = ("one unbatched image (C, H, W)? Add a batch dimension with x.unsqueeze(0)" if spatial == 2
                else "one unbatched volume (C, D, H, W)? Add a batch dimension with x.unsqueeze(0). Or a "
                "batch of 2-D images (N, C, H, W)? Then use a 2-D model such as 'unet'")
    elif x.dim() == spatial:
        hint = ("one grayscale image without batch and channel axes? Use x[None, None]" if spatial == 2 else
                "one grayscale volume without batch and channel axes? Use x[None, None]")
    elif spatial == 2 and x.dim() == 5:
        hint = ("a batch of volumes (N, C, D, H, W)? This is a 2-D model: use create_model('unet3d') for "
                "volumes (data: 'synthetic-tubes3d'), or feed the slices as a batch of 2-D images")
    else:
        hint = f"it has {x.dim()} axes, not {spatial + 2}"
    raise ValueError(f"{head}: {hint}.")
