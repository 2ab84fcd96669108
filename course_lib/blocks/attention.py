"""The additive attention gates of Attention U-Net (Oktay et al. 2018) and the gated decoder step.

``x`` is the skip connection (encoder features, F_l channels); ``g`` is the **gating signal**: the
decoder's features one level coarser, which have seen more context and know *where* the target is.
Two variants:

:class:`AttentionGate` (the widely used one: LeeJunHyun/Image_Segmentation, MONAI), ``g`` already
upsampled to ``x``'s size::

    q   = ReLU(W_x x + W_g g)          (W_x, W_g: 1x1 conv + BN, to F_int channels)
    a   = sigmoid(BN(psi q))           (psi: 1x1 conv to one channel; a in [0, 1] per pixel)
    out = a * x

:class:`GridAttentionGate` (the paper's own code), ``g`` at its own, coarser grid::

    q   = ReLU(theta(x) + phi(g))      (theta: 2x2 conv, stride 2, down to g's grid; phi: 1x1 conv)
    a   = up(sigmoid(psi q))           (resampled bilinearly to x's size)
    out = BN(W (a * x))                (W: 1x1 conv)

:class:`OpenGridGate` is the control that isolates the gating: the grid gate with ``a`` fixed at 1, so
only ``BN(W x)`` remains (chapter 07 trains it beside the grid gate).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib.blocks.conv import ConvNormAct, UpConcat

__all__ = ["GATE_VARIANTS", "AttentionGate", "AttentionUpConcat", "GridAttentionGate", "OpenGridGate",
           "make_gate", "with_conv_bias"]

GATE_VARIANTS = ("same", "grid", "grid-open")


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

    coarse_gating = False  # g must already have x's size (the decoder passes the upsampled features)

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


def _skip_mixing(channels: int) -> nn.Sequential:
    """The grid gate's ``W``: a 1x1 conv and BatchNorm on the (gated) skip."""
    return nn.Sequential(nn.Conv2d(channels, channels, kernel_size=1), nn.BatchNorm2d(channels))


class GridAttentionGate(nn.Module):
    """Grid attention (Oktay et al.'s code): ``forward(x, g) -> BN(W(a * x))``, ``g`` one level coarser.

    ``theta`` (2x2 conv, stride 2, no bias) brings ``x`` down to the gating grid, ``phi`` (1x1 conv) maps
    ``g`` to the same F_int channels; ``a = sigmoid(psi(ReLU(theta(x) + phi(g))))`` is computed on the
    coarse grid and resampled bilinearly to ``x``'s size (odd sizes included), then ``W`` (1x1 conv + BN)
    mixes the gated features.

    Args:
        gate_channels: F_g, channels of ``g`` (the coarser decoder features, before upsampling).
        skip_channels: F_l, channels of ``x``.
        inter_channels: F_int; default ``skip_channels // 2``.

    ``g`` must be on the coarse grid: ``ceil(H / 2)`` or ``floor(H / 2)`` for a skip of height ``H``
    (and the same for the width); anything else is a ``ValueError``. ``last_attention`` holds the
    resampled coefficients (N x 1 x H x W of the skip, detached, in [0, 1]).
    """

    coarse_gating = True  # g is the decoder's coarser features, before they are upsampled

    def __init__(self, gate_channels: int, skip_channels: int, inter_channels: int | None = None) -> None:
        super().__init__()
        inter = max(1, skip_channels // 2) if inter_channels is None else inter_channels
        self.theta = nn.Conv2d(skip_channels, inter, kernel_size=2, stride=2, bias=False)
        self.phi = nn.Conv2d(gate_channels, inter, kernel_size=1)
        self.psi = nn.Conv2d(inter, 1, kernel_size=1)
        self.W = _skip_mixing(skip_channels)
        self.last_attention: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        (h, w), (gh, gw) = x.shape[-2:], g.shape[-2:]
        if h < 2 or w < 2:
            raise ValueError(f"GridAttentionGate: the skip x is {h}x{w}; theta's 2x2 stride-2 conv needs "
                             "at least 2x2.")
        if gh not in (h // 2, -(-h // 2)) or gw not in (w // 2, -(-w // 2)):
            def half(n: int) -> str:
                return str(n // 2) if n % 2 == 0 else f"{n // 2} or {n // 2 + 1}"

            raise ValueError(
                f"GridAttentionGate: g is {gh}x{gw} but the skip x is {h}x{w}; g must be the coarser "
                f"decoder features at half x's size ({half(h)} by {half(w)}), before they are upsampled. "
                "(AttentionGate takes g already upsampled to x's size.)")
        theta_x = self.theta(x)
        phi_g = self.phi(g)
        if phi_g.shape[-2:] != theta_x.shape[-2:]:  # odd skip sizes: g has ceil(H/2), theta floor(H/2)
            phi_g = F.interpolate(phi_g, size=theta_x.shape[-2:], mode="bilinear", align_corners=False)
        alpha = torch.sigmoid(self.psi(F.relu(theta_x + phi_g)))
        alpha = F.interpolate(alpha, size=(h, w), mode="bilinear", align_corners=False)
        self.last_attention = alpha.detach()
        return self.W(x * alpha)


class OpenGridGate(nn.Module):
    """The grid gate's control: ``forward(x, g) -> BN(W x)``, the coefficients fixed at 1 and ``g`` unused.

    It keeps what :class:`GridAttentionGate` adds besides gating (the 1x1 conv ``W`` and its BatchNorm on
    the skip), so that "grid gate against this" measures the gating alone. ``last_attention`` is all ones.
    """

    coarse_gating = True  # wired like the grid gate; g is ignored

    def __init__(self, gate_channels: int, skip_channels: int, inter_channels: int | None = None) -> None:
        super().__init__()
        self.W = _skip_mixing(skip_channels)
        self.last_attention: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        self.last_attention = torch.ones_like(x[:, :1])
        return self.W(x)


def make_gate(variant: str, gate_channels: int, skip_channels: int,
              inter_channels: int | None = None) -> AttentionGate | GridAttentionGate | OpenGridGate:
    """``"same"`` -> :class:`AttentionGate` (g upsampled first), ``"grid"`` -> :class:`GridAttentionGate`,
    ``"grid-open"`` -> :class:`OpenGridGate` (the grid gate's W without the gating: a control)."""
    if variant == "same":
        return AttentionGate(gate_channels, skip_channels, inter_channels)
    if variant == "grid":
        return GridAttentionGate(gate_channels, skip_channels, inter_channels)
    if variant == "grid-open":
        return OpenGridGate(gate_channels, skip_channels, inter_channels)
    raise ValueError(f"gate={variant!r} is not one of {GATE_VARIANTS}: 'same' gates at the skip's "
                     "resolution with g upsampled (the widely used variant), 'grid' is Oktay et al.'s "
                     "grid attention with g one level coarser, 'grid-open' is the grid gate with its "
                     "coefficients fixed at 1 (a control).")


class AttentionUpConcat(UpConcat):
    """``UpConcat`` with an attention-gated skip: ``u = up(x); block([gate(skip, g), u])``.

    The gating signal ``g`` is ``u`` for an :class:`AttentionGate` and the coarse ``x`` itself for a
    :class:`GridAttentionGate`. Padded networks only (the skip must have the upsampled size).
    """

    def __init__(self, up: nn.Module, block: nn.Module,
                 gate: AttentionGate | GridAttentionGate | OpenGridGate) -> None:
        super().__init__(up, block)
        self.gate = gate

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = self.up(x)
        gated = self.gate(skip, x if self.gate.coarse_gating else up)
        return self.block(torch.cat([gated, up], dim=1))
