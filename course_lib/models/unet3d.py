"""3D U-Net (Cicek et al. 2016, "3D U-Net: learning dense volumetric segmentation from sparse annotation").

The paper's network, 3 in, 3 classes (:func:`unet3d` defaults): valid 3x3x3 convolutions, each followed
by BatchNorm and ReLU; 2x2x2 max-pools; 2x2x2 transposed convs (stride 2) up; centre-cropped skips;
a 1x1x1 head. Widths per level (first conv, second conv): 32-64, 64-128, 128-256, 256-512, i.e. the
first conv of a level doubles nothing and the second doubles, as in the paper's Fig. 1; the decoder
level ``i`` takes [skip, up] and gives the skip's width. 132x132x116 -> 44x44x28.

The paper prints 19,069,955 parameters. That count is the conv weights, one parameter per output
channel of every 3x3x3 conv (a bias), the up-convs without bias and the 1x1x1 head with its bias. The
network has exactly those: each 3x3x3 conv has a bias, and BatchNorm has no learnable scale and shift
(as in Caffe's BatchNorm layer without a Scale layer). The bias before BatchNorm is redundant (the mean
subtraction removes it); it is kept so that the count is the paper's.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from course_lib import sizes
from course_lib.blocks.conv import center_crop_to
from course_lib.models.input_checks import check_batch
from course_lib.models.registry import register_model

__all__ = ["UNet3D", "valid_volume_sizes"]


def _conv(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(in_channels, out_channels, 3), nn.BatchNorm3d(out_channels, affine=False),
                         nn.ReLU(inplace=True))


def valid_volume_sizes(depth: int = 3, max_size: int = 256) -> list[int]:
    """Side lengths a valid 3D U-Net of ``depth`` poolings takes: 92 + 8k for the paper's depth 3.

    The arithmetic per axis is the 2D valid U-Net's (:mod:`course_lib.sizes`): two 3x3x3 convs lose 4
    voxels per level, and every pool needs an even size."""
    return sizes.valid_input_sizes(depth, max_size, padded=False)


class UNet3D(nn.Module):
    """The valid-convolution 3D U-Net; returns logits ``(N, out_channels, D - m, H - m, W - m)`` with
    ``m = 2 * context_margin`` (88 for depth 3).

    Args:
        in_channels, out_channels: input channels and classes (the paper: 3 and 3).
        base: width of the first conv (32); level ``i`` has ``base * 2**i`` then ``base * 2**(i + 1)``.
        depth: number of max-pools (3).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, *, base: int = 32, depth: int = 3
                 ) -> None:
        super().__init__()
        if base < 1 or depth < 1:
            raise ValueError(f"UNet3D needs base >= 1 and depth >= 1, got base={base}, depth={depth}.")
        self.in_channels, self.out_channels, self.depth, self.base = in_channels, out_channels, depth, base
        outs = [base * 2 ** (i + 1) for i in range(depth + 1)]  # second conv of each level: 64, 128, 256, 512
        self.encoder = nn.ModuleList()
        cin = in_channels
        for i in range(depth + 1):
            self.encoder.append(nn.Sequential(_conv(cin, base * 2**i), _conv(base * 2**i, outs[i])))
            cin = outs[i]
        self.pool = nn.MaxPool3d(2)
        self.up = nn.ModuleList(nn.ConvTranspose3d(outs[i + 1], outs[i + 1], 2, stride=2, bias=False)
                                for i in range(depth))
        self.decoder = nn.ModuleList(
            nn.Sequential(_conv(outs[i] + outs[i + 1], outs[i]), _conv(outs[i], outs[i]))
            for i in range(depth))
        self.head = nn.Conv3d(outs[0], out_channels, 1)

    @property
    def context_margin(self) -> int:
        """Voxels lost on each side of each axis: 44 for depth 3."""
        return sizes.context_margin(self.depth, padded=False)

    def output_shape(self, *spatial: int) -> tuple[int, ...]:
        """The output size for an input size (one value per axis), or a ValueError naming valid sizes."""
        if len(spatial) != 3:
            raise ValueError(f"UNet3D: give three sizes (D, H, W), got {spatial}.")
        return tuple(sizes.check_valid_input(n, self.depth, padded=False, what=f"UNet3D: input {axis}")
                     for n, axis in zip(spatial, ("depth", "height", "width"), strict=True))

    check_input_size = output_shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch(x, "UNet3D", self.in_channels, spatial=3)
        self.output_shape(*x.shape[2:])
        skips = []
        for i, level in enumerate(self.encoder):
            x = level(x if i == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for i in reversed(range(self.depth)):
            up = self.up[i](x)
            x = self.decoder[i](torch.cat([center_crop_to(skips[i], tuple(up.shape[2:])), up], dim=1))
        return self.head(x)


@register_model("unet3d")
def unet3d(**cfg: Any) -> UNet3D:
    """The 3D U-Net of Cicek et al. 2016; the defaults (3 in, 3 classes, base 32, depth 3) have 19,069,955
    parameters."""
    return UNet3D(**cfg)
