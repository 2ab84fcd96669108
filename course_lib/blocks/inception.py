"""Inception modules (Szegedy et al. 2015, 2016) as the unit of an Inception U-Net."""

from __future__ import annotations

import torch
import torch.nn as nn

from course_lib.blocks.conv import ConvNormAct

__all__ = ["InceptionBlock", "InceptionModule"]


class InceptionModule(nn.Module):
    """Four parallel branches, concatenated: 1x1; 1x1 -> 3x3; 1x1 -> 3x3 -> 3x3 (a 5x5 field, factorised
    as in Inception-v3); 3x3 max-pool -> 1x1. Each branch gives ``out_channels / 4`` channels, so one
    module sees 1, 3 and 5 px neighbourhoods at once. Every conv is conv-BN-ReLU; the 1x1 convs in front
    of the 3x3s reduce the width to the branch width first (the module's cost saving)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        if out_channels % 4:
            raise ValueError(f"InceptionModule splits its output over 4 branches, so out_channels must be a "
                             f"multiple of 4; got {out_channels}.")
        b = out_channels // 4
        self.branches = nn.ModuleList([
            ConvNormAct(in_channels, b, 1),
            nn.Sequential(ConvNormAct(in_channels, b, 1), ConvNormAct(b, b)),
            nn.Sequential(ConvNormAct(in_channels, b, 1), ConvNormAct(b, b), ConvNormAct(b, b)),
            nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), ConvNormAct(in_channels, b, 1)),
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches], dim=1)


class InceptionBlock(nn.Sequential):
    """Two inception modules, ``in -> out -> out``: the Inception U-Net's replacement for the double conv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(InceptionModule(in_channels, out_channels),
                         InceptionModule(out_channels, out_channels))
