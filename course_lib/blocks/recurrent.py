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

    ``step_norm=False`` (the reference, and the published parameter counts) also shares the BatchNorm:
    its running statistics then average ``t + 1`` differently distributed inputs, and in eval mode every
    step is normalised with the wrong mean and variance (chapter 07 measures what that does).
    ``step_norm=True`` keeps the shared convolution (``conv`` is then the bare ``nn.Conv2d``) but gives
    each step its own BatchNorm (``norms[k]``), as recurrent batch normalisation prescribes (Cooijmans
    et al. 2017); it adds ``2 * channels * t`` parameters.
    """

    def __init__(self, channels: int, t: int = 2, step_norm: bool = False) -> None:
        super().__init__()
        if not isinstance(t, int) or t < 0:
            raise ValueError(f"RecurrentConv: t must be an integer >= 0 (recurrent steps), got {t!r}.")
        self.t = t
        self.step_norm = step_norm
        if step_norm:
            self.conv: nn.Module = nn.Conv2d(channels, channels, 3, padding=1)
            self.norms: nn.ModuleList | None = nn.ModuleList(nn.BatchNorm2d(channels) for _ in range(t + 1))
        else:
            self.conv = with_conv_bias(ConvNormAct(channels, channels))
            self.norms = None

    def _step(self, k: int, x: torch.Tensor) -> torch.Tensor:
        if self.norms is None:
            return self.conv(x)
        return torch.relu(self.norms[k](self.conv(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self._step(0, x)
        for k in range(1, self.t + 1):
            x1 = self._step(k, x + x1)
        return x1


class RRCNNBlock(nn.Module):
    """Recurrent residual block: ``y = conv1x1(x); return y + RCL(RCL(y))`` (two ``RecurrentConv``).

    The 1x1 conv matches the channel count so the residual sum is possible. ``step_norm``: see
    :class:`RecurrentConv`.
    """

    def __init__(self, in_channels: int, out_channels: int, t: int = 2, step_norm: bool = False) -> None:
        super().__init__()
        self.conv1x1 = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.rcnn = nn.Sequential(RecurrentConv(out_channels, t, step_norm),
                                  RecurrentConv(out_channels, t, step_norm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1x1(x)
        return x + self.rcnn(x)
