"""The residual U-block RSU-L of U^2-Net (Qin et al. 2020), generic in its height L, and RSU-4F.

An RSU-L is a small U-Net inside a residual unit::

    x_in = conv_in(x)                                   # in -> out channels
    U    = encoder e_1..e_L (max-pool before e_2..e_{L-1}; e_L dilated 2, no pool)
           decoder d_{L-1}..d_1 (concat with e_k, bilinear upsample between levels)
    y    = U(x_in) + x_in

RSU-4F ("F" for "flat") replaces pooling and upsampling by dilations 1, 2, 4, 8, so it keeps full
resolution; U^2-Net uses it on its coarsest stages. Both come from the same class here.
Every conv is REBNCONV = 3x3 conv (with bias, as in the reference code) - BN - ReLU.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib.blocks.attention import with_conv_bias
from course_lib.blocks.conv import ConvNormAct

__all__ = ["RSU", "RSU4F", "ResidualREBN", "rebnconv", "upsample_like"]


def rebnconv(in_channels: int, out_channels: int, dilation: int = 1) -> ConvNormAct:
    """U^2-Net's REBNCONV: 3x3 conv (dilation ``d``, padding ``d``, with bias) - BN - ReLU."""
    return with_conv_bias(ConvNormAct(in_channels, out_channels, 3, dilation=dilation))


def upsample_like(src: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Bilinearly resize ``src`` to ``target``'s height and width (no-op when they already match)."""
    if src.shape[-2:] == target.shape[-2:]:
        return src
    return F.interpolate(src, size=target.shape[-2:], mode="bilinear", align_corners=False)


class RSU(nn.Module):
    """Residual U-block RSU-L with ``height`` = L levels (``RSU(7, ...)`` is the paper's RSU-7).

    Args:
        height: L >= 2, number of encoder convs (the paper uses 7, 6, 5, 4).
        in_channels, mid_channels, out_channels: C_in, M and C_out of the paper.
        dilated: ``False`` -> RSU-L (pooling, last level dilated 2); ``True`` -> RSU-LF (no pooling,
            level k dilated 2^(k-1)); ``RSU4F`` is ``RSU(4, ..., dilated=True)``.

    Pooling uses ``ceil_mode=True`` and upsampling resizes to the skip's size, so any input size works.
    """

    def __init__(self, height: int, in_channels: int, mid_channels: int, out_channels: int,
                 *, dilated: bool = False) -> None:
        super().__init__()
        if height < 2:
            raise ValueError(f"RSU: height L must be >= 2, got {height}.")
        self.height = height
        self.dilated = dilated
        L = height
        dilations = [2**k for k in range(L)] if dilated else [1] * (L - 1) + [2]
        # pool before e_k (k = 2..L-1); never before e_1 or the dilated bottom e_L
        self._pool_before = [False] + [not dilated] * (L - 2) + [False]
        self.conv_in = rebnconv(in_channels, out_channels)
        self.encoder = nn.ModuleList(
            rebnconv(out_channels if k == 0 else mid_channels, mid_channels, dilations[k]) for k in range(L)
        )
        # decoder d_{L-1}, ..., d_1; d_k mirrors e_k's dilation
        self.decoder = nn.ModuleList(
            rebnconv(2 * mid_channels, out_channels if k == 0 else mid_channels, dilations[k])
            for k in reversed(range(L - 1))
        )
        self.pool = nn.MaxPool2d(2, stride=2, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_in = self.conv_in(x)
        h = x_in
        skips = []
        for pool_first, conv in zip(self._pool_before, self.encoder, strict=True):
            h = conv(self.pool(h) if pool_first else h)
            skips.append(h)
        d = skips.pop()
        for conv, skip in zip(self.decoder, reversed(skips), strict=True):
            d = conv(torch.cat([upsample_like(d, skip), skip], dim=1))
        return d + x_in

    def extra_repr(self) -> str:
        return f"L={self.height}, dilated={self.dilated}"


class RSU4F(RSU):
    """RSU-4F: a 4-level RSU without pooling, dilations 1, 2, 4, 8 (decoder mirrors 4, 2, 1)."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int) -> None:
        super().__init__(4, in_channels, mid_channels, out_channels, dilated=True)


class ResidualREBN(nn.Module):
    """The plain residual block U^2-Net's paper compares RSU with (its Fig. 2b): ``x + f(f(x))`` with two
    REBNCONVs at one resolution. Its footprint grows by only 4 px per block, whatever its width.

    ``dilations`` (default ``(1, 1)``) dilates the two convolutions: a block with ``(d1, d2)`` widens the
    footprint by ``2 (d1 + d2)`` px for the same parameters (a dilated residual stack, chapter 09's
    control with RSU-7's reach)."""

    def __init__(self, channels: int, dilations: tuple[int, int] = (1, 1)) -> None:
        super().__init__()
        self.body = nn.Sequential(*(rebnconv(channels, channels, d) for d in dilations))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)
