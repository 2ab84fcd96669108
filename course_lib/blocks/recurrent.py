"""Recurrent convolution and the recurrent residual (RRCNN) block of R2U-Net (Alom et al. 2018)."""

from __future__ import annotations

import torch
import torch.nn as nn

from course_lib.blocks.attention import with_conv_bias
from course_lib.blocks.conv import ConvNormAct

__all__ = ["RRCNNBlock", "RecurrentConv"]


class RecurrentConv(nn.Module):
    """A recurrent convolutional layer: ONE shared 3x3 conv-BN-ReLU unrolled over ``t`` time steps.

        x1 = conv(x)
        for _ in range(t):
            x1 = conv(x + x1)

    The same weights are applied ``t + 1`` times (common bug 9: it is not ``t`` different convs, and
    the parameter count does not depend on ``t``). The feed-forward input ``x`` is re-injected at each
    step, which grows the receptive field by 2 pixels per step without adding parameters.
    """

    def __init__(self, channels: int, t: int = 2) -> None:
        super().__init__()
        if not isinstance(t, int) or t < 0:
            raise ValueError(f"RecurrentConv: t must be an integer >= 0 (recurrent steps), got {t!r}.")
        self.t = t
        self.conv = with_conv_bias(ConvNormAct(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.conv(x)
        for _ in range(self.t):
            x1 = self.conv(x + x1)
        return x1


class RRCNNBlock(nn.Module):
    """Recurrent residual block: ``y = conv1x1(x); return y + RCL(RCL(y))`` (two ``RecurrentConv``).

    The 1x1 conv matches the channel count so the residual sum is possible.
    """

    def __init__(self, in_channels: int, out_channels: int, t: int = 2) -> None:
        super().__init__()
        self.conv1x1 = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.rcnn = nn.Sequential(RecurrentConv(out_channels, t), RecurrentConv(out_channels, t))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1x1(x)
        return x + self.rcnn(x)
