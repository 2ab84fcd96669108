"""A dense block (Huang et al. 2017, DenseNet) closed by a 1x1 transition, as the unit of a dense U-Net."""

from __future__ import annotations

import torch
import torch.nn as nn

from course_lib.blocks.conv import ConvNormAct

__all__ = ["DenseBlock"]


class DenseBlock(nn.Module):
    """``layers`` 3x3 conv-BN-ReLU layers, each fed the concatenation of the block input and every earlier
    layer's ``growth`` new channels; a 1x1 conv-BN-ReLU then maps the ``in + layers * growth`` channels
    to ``out_channels`` (the transition, so the block drops into a U-Net level like a double conv).

    ``growth=None`` takes ``out_channels // 2``. Feature reuse is the point: a layer sees every earlier
    map directly, so gradients reach early layers through short paths.
    """

    def __init__(self, in_channels: int, out_channels: int, *, layers: int = 4, growth: int | None = None
                 ) -> None:
        super().__init__()
        growth = max(1, out_channels // 2) if growth is None else growth
        if layers < 1 or growth < 1:
            raise ValueError(f"DenseBlock needs layers >= 1 and growth >= 1, got {layers} and {growth}.")
        self.growth = growth
        self.layers = nn.ModuleList(ConvNormAct(in_channels + k * growth, growth) for k in range(layers))
        self.transition = ConvNormAct(in_channels + layers * growth, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, dim=1)))
        return self.transition(torch.cat(features, dim=1))
