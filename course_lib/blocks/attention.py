"""The additive attention gate of Attention U-Net (Oktay et al. 2018) and its gated decoder step.

    q   = ReLU(W_x x + W_g g)          (W_x, W_g: 1x1 conv + BN, to F_int channels)
    a   = sigmoid(BN(psi q))           (psi: 1x1 conv to one channel; a in [0, 1] per pixel)
    out = a * x

``x`` is the skip connection (encoder features, F_l channels) and ``g`` the gating signal: the
coarser decoder features, already upsampled to ``x``'s size in the widely used variant
(LeeJunHyun/Image_Segmentation), which this module follows.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from course_lib.blocks.conv import ConvNormAct, UpConcat

__all__ = ["AttentionGate", "AttentionUpConcat", "with_conv_bias"]


def with_conv_bias(module: nn.Module) -> nn.Module:
    """Give every bias-free ``nn.Conv2d`` inside ``module`` a bias (PyTorch's default init); returns it.

    ``ConvNormAct`` drops the conv bias before BatchNorm, where it is redundant (BN subtracts the mean).
    The reference implementations of Attention U-Net, R2U-Net and U^2-Net keep it, and their published
    parameter counts include it, so the course's copies of those models call this on their conv layers.
    """
    for conv in module.modules():
        if isinstance(conv, nn.Conv2d) and conv.bias is None:
            fan_in = conv.in_channels // conv.groups * math.prod(conv.kernel_size)
            bound = 1.0 / math.sqrt(fan_in)
            bias = torch.empty(conv.out_channels, device=conv.weight.device, dtype=conv.weight.dtype)
            conv.bias = nn.Parameter(nn.init.uniform_(bias, -bound, bound))
    return module


class AttentionGate(nn.Module):
    """Additive attention gate: ``forward(x, g) -> a * x`` with ``a = sigmoid(BN(psi(ReLU(W_x x + W_g g))))``.

    Args:
        gate_channels: F_g, channels of the gating signal ``g``.
        skip_channels: F_l, channels of the skip features ``x``.
        inter_channels: F_int; default ``skip_channels // 2`` as in the reference code.

    After each forward, ``last_attention`` holds the coefficients ``a`` (N x 1 x H x W, detached, in
    [0, 1]) so a chapter can draw the attention maps as training goes on.
    """

    def __init__(self, gate_channels: int, skip_channels: int, inter_channels: int | None = None) -> None:
        super().__init__()
        inter = max(1, skip_channels // 2) if inter_channels is None else inter_channels
        self.W_g = with_conv_bias(ConvNormAct(gate_channels, inter, 1, activation=False))
        self.W_x = with_conv_bias(ConvNormAct(skip_channels, inter, 1, activation=False))
        self.psi = nn.Sequential(
            with_conv_bias(ConvNormAct(inter, 1, 1, activation=False)),
            nn.Sigmoid(),
        )
        self.relu = nn.ReLU(inplace=True)
        self.last_attention: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != g.shape[-2:]:
            raise ValueError(
                f"AttentionGate: skip x is {tuple(x.shape[-2:])} but gating signal g is "
                f"{tuple(g.shape[-2:])}; upsample g to the skip's size first."
            )
        alpha = self.psi(self.relu(self.W_g(g) + self.W_x(x)))
        self.last_attention = alpha.detach()
        return x * alpha


class AttentionUpConcat(UpConcat):
    """``UpConcat`` with an attention-gated skip: ``u = up(x); block([gate(skip, u), u])``.

    Padded networks only (the skip must already have the upsampled size).
    """

    def __init__(self, up: nn.Module, block: nn.Module, gate: AttentionGate) -> None:
        super().__init__(up, block)
        self.gate = gate

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        return self.block(torch.cat([self.gate(skip, x), x], dim=1))
