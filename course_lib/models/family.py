"""Chapter 10's U-Net family members: the course's U-Net (:class:`~course_lib.models.unet.UNet`) given
another unit per level, nothing else changed (max-pool down, 2x2 transposed-conv up, skip concatenation,
1x1 head). At the default widths 32-512 with 1 input and 1 output channel:

    unet            double conv (2 x conv-BN-ReLU)                                   7,762,465
    res_unet        pre-activation residual unit (Zhang et al. 2018)                 8,113,537
    dense_unet      4-layer dense block + 1x1 transition (Huang et al. 2017)        14,082,785
    inception_unet  2 inception modules (Szegedy et al. 2015/2016)                   2,963,809

The published ResUNet downsamples with stride-2 convolutions and has 3 levels plus a bridge (7.8 M
parameters at widths 64-512); here it keeps the U-Net's max-pools so that the unit is the only change.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from course_lib.blocks.dense import DenseBlock
from course_lib.blocks.inception import InceptionBlock
from course_lib.blocks.residual import ResidualUnit
from course_lib.models.registry import register_model
from course_lib.models.unet import UNet

__all__ = ["FAMILY_BLOCKS"]

#: model name -> (unit factory, the unit that sees the image or None, source)
FAMILY_BLOCKS: dict[str, tuple[Any, Any, str]] = {
    "res_unet": (ResidualUnit, partial(ResidualUnit, preactivate=False),
                 "Zhang, Liu & Wang 2018, Road extraction by deep residual U-Net (IEEE GRSL)"),
    "dense_unet": (DenseBlock, None,
                   "Huang et al. 2017, DenseNet (CVPR); dense U-Nets e.g. Li et al. 2018, H-DenseUNet "
                   "(IEEE TMI)"),
    "inception_unet": (InceptionBlock, None,
                       "Szegedy et al. 2015/2016, Inception (CVPR); Punn & Agarwal 2020, Inception U-Net "
                       "(ACM TOMM)"),
}


def _family_unet(name: str, in_channels: int = 1, out_channels: int = 1,
                 widths: tuple[int, ...] = (32, 64, 128, 256, 512), pad_input: bool = True, **cfg: Any
                 ) -> UNet:
    block, first, _ = FAMILY_BLOCKS[name]
    if cfg:
        raise TypeError(f"{name} takes in_channels, out_channels, widths and pad_input; got {sorted(cfg)}.")
    return UNet(in_channels, out_channels, widths, padding="same", pad_input=pad_input, block=block,
                first_block=first)


for _name in FAMILY_BLOCKS:
    register_model(_name)(partial(_family_unet, _name))
