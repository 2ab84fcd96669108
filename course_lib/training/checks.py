"""Clear errors for the usual training mistakes, instead of a stack trace from deep inside torch.

Each check raises :class:`TrainingError` with a plain message: what was wrong and what to do.
"""

from __future__ import annotations

import math
import re

import torch
import torch.nn as nn

__all__ = [
    "TrainingError", "check_finite_batch", "check_finite_loss", "check_input", "explain_forward_error",
    "first_conv",
]


class TrainingError(RuntimeError):
    """A mistake in how training was set up (shapes, channels, sizes, a diverging loss)."""


def first_conv(model: nn.Module) -> nn.Conv2d | nn.Conv3d | None:
    """The model's first ``Conv2d`` or ``Conv3d`` (in registration order), which sees the input image."""
    return next((m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Conv3d))), None)


def check_input(model: nn.Module, image_shape: tuple[int, ...]) -> None:
    """Before the first step: do the images have the channels and a size the model can take?

    ``image_shape`` is ``C x H x W`` of one sample (``C x D x H x W`` for a 3D model). If the model defines
    ``check_input_size(*sizes)`` (raising ValueError for sizes it cannot take), it is called.
    """
    conv = first_conv(model)
    spatial = 3 if isinstance(conv, nn.Conv3d) else 2
    if len(image_shape) != spatial + 1:
        raise TrainingError(_layout_hint(spatial, tuple(image_shape)))
    channels, *sizes = image_shape
    if conv is not None and conv.in_channels != channels:
        raise TrainingError(
            f"The model's first convolution expects {conv.in_channels} input channel(s) but the images have "
            f"{channels}. Create the model with in_channels={channels} (or convert the images, e.g. "
            "grayscale <-> RGB)."
        )
    check_size = getattr(model, "check_input_size", None)
    if callable(check_size):
        try:
            check_size(*sizes)
        except ValueError as err:
            raise TrainingError(f"The model cannot take {'x'.join(map(str, sizes))} inputs: {err}") from None


def _layout_hint(spatial: int, shape: tuple[int, ...]) -> str:
    """Which axis is missing or extra, for a sample of ``shape`` given to a ``spatial``-D model."""
    if spatial == 2:
        head = f"Each sample's image must be C x H x W for this 2-D model, got shape {shape}"
        if len(shape) == 2:
            return f"{head}: it has no channel axis. Add one to grayscale images (image[None])."
        if len(shape) == 4:
            return (f"{head}: that is a volume (C x D x H x W) or a sample with a batch axis. For "
                    "volumes use create_model('unet3d') (data: 'synthetic-tubes3d'), or train on 2-D "
                    "slices; a dataset's samples carry no batch axis (the loader adds it).")
        return f"{head}."
    head = f"Each sample must be a volume C x D x H x W for this 3-D model (unet3d), got shape {shape}"
    if len(shape) == 3:
        return (f"{head}. If these are 2-D images (C x H x W), use a 2-D model (e.g. 'unet'), or the "
                "volume dataset 'synthetic-tubes3d'; if each is one grayscale volume D x H x W, add a "
                "channel axis (volume[None]).")
    if len(shape) == 5:
        return f"{head}: a dataset's samples carry no batch axis (the loader adds it)."
    return f"{head}."


_SIZE_WORDS = ("size", "shape", "dimension", "match")


def check_finite_batch(images: torch.Tensor, mask: torch.Tensor | None, what: str, batch: int) -> None:
    """Stop with the culprit named when a batch's images or masks hold NaN/inf (or masks leave [0, 1]).

    ``what`` names the data (``"training"``, ``"validation"``, ``"evaluation"``); ``batch`` is 1-based.
    """
    if not bool(torch.isfinite(images).all()):
        bad = int((~torch.isfinite(images)).sum())
        raise TrainingError(
            f"The {what} images contain NaN or infinite values ({bad} pixel values in batch {batch}); the "
            f"model cannot score them. Fix the {what} data (e.g. a division by a zero standard deviation "
            "in normalisation, or an unreadable file); the model itself is not at fault.")
    if mask is None:
        return
    if not bool(torch.isfinite(mask).all()):
        bad = int((~torch.isfinite(mask)).sum())
        raise TrainingError(
            f"The {what} masks contain NaN or infinite values ({bad} pixels in batch {batch}); they would be "
            "scored as background. Masks must hold 0 (background) and 1 (foreground): fix the labels.")
    low, high = float(mask.min()), float(mask.max())
    if low < 0 or high > 1:
        raise TrainingError(
            f"The {what} masks must hold values in [0, 1] but range over [{low:g}, {high:g}] (batch "
            f"{batch}). Divide 0..255 masks by 255, or map class labels to 0/1.")


def explain_forward_error(err: RuntimeError | ValueError, images: torch.Tensor) -> TrainingError | None:
    """A TrainingError explaining a channel- or size-related failure inside ``model(images)``, else None."""
    text = str(err).strip()
    channels = re.search(r"expected input\[[^\]]*\] to have (\d+) channels, but got (\d+) channels", text)
    if channels:
        want, got = channels.groups()
        return TrainingError(
            f"A layer of the model expects {want} input channels but got {got} "
            f"(batch {tuple(images.shape)}). "
            "If it is the first layer, the images have the wrong number of channels for this model: create "
            f"the model with in_channels={images.shape[1]} or convert the images (grayscale <-> RGB).")
    if "out of memory" in text.lower() or not any(word in text.lower() for word in _SIZE_WORDS):
        return None
    height, width = images.shape[-2:]
    first_line = text.splitlines()[0] if text else type(err).__name__
    return TrainingError(
        f"The model failed on an input of size {height}x{width} (batch {tuple(images.shape)}). "
        "A U-Net with k pooling steps needs height and width divisible by 2^k (the valid-convolution "
        "U-Net needs sizes 16k + 12); pad or crop the images (or pick a size the model accepts). "
        f"Torch said: {first_line}"
    )


def check_finite_loss(value: float, epoch: int, step: int, lr: float) -> None:
    """Stop with a helpful message when the loss is NaN or infinite."""
    if not math.isfinite(value):
        raise TrainingError(
            f"The loss became {value} at epoch {epoch}, step {step}. Training diverged: lower the learning "
            f"rate (now {lr:g}; try {lr / 10:g}), check the inputs for NaN/inf values, and if it persists "
            "train without mixed precision (amp=False). The checkpoints of earlier epochs are untouched."
        )
