"""The original U-Net of Ronneberger et al. (2015): valid 3x3 convolutions, centre-cropped skips.

One input channel, two output classes, 64 base filters, 2x2 up-convolutions, no BatchNorm, 23 conv
layers (18 in double convs, 4 up-convs, the 1x1 head), 31,030,658 parameters, 572x572 -> 388x388,
He-initialised. It is :class:`course_lib.models.unet.UNet` with ``padding="valid"``.
"""

from __future__ import annotations

from course_lib.models.registry import register_model
from course_lib.models.unet import UNet

__all__: list[str] = []


@register_model("unet_original")
def unet_original(
    in_channels: int = 1,
    out_channels: int = 2,
    widths: tuple[int, ...] = (64, 128, 256, 512, 1024),
    batch_norm: bool = False,
    up: str = "transposed",
    pad_input: bool = False,
    skip: bool = True,
    init: str = "he",
) -> UNet:
    """The paper's U-Net; inputs must be 188 + 16k (572 -> 388) unless ``pad_input=True``, which
    mirror-pads any image by the 92-px context margin and returns an output of the input's size."""
    return UNet(in_channels, out_channels, widths, batch_norm=batch_norm, up=up, padding="valid",
                skip=skip, pad_input=pad_input, init=init)
