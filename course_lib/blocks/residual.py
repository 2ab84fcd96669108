"""The residual unit of ResUNet (Zhang, Liu & Wang 2018, "Road extraction by deep residual U-Net")."""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["ResidualUnit"]


class ResidualUnit(nn.Module):
    """``shortcut(x) + F(x)`` with the pre-activation branch ``F = BN-ReLU-conv3x3-BN-ReLU-conv3x3``.

    Pre-activation order (He et al. 2016, "Identity mappings in deep residual networks"), as in ResUNet.
    ``preactivate=False`` drops the first BN-ReLU: ResUNet's first unit sees the image, which has not
    been through a convolution yet, so it starts with the conv. The shortcut is the identity when the
    width is kept, else a 1x1 conv + BN (ResUNet's projection shortcut).
    """

    def __init__(self, in_channels: int, out_channels: int, *, preactivate: bool = True) -> None:
        super().__init__()
        head: list[nn.Module] = [nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True)] if preactivate else []
        self.residual = nn.Sequential(
            *head,
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        )
        self.shortcut: nn.Module = (
            nn.Identity() if in_channels == out_channels
            else nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False),
                               nn.BatchNorm2d(out_channels))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.residual(x)
