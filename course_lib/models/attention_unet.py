"""Attention U-Net (Oktay et al. 2018), in the widely used variant of LeeJunHyun/Image_Segmentation.

The skeleton class here is shared with R2U-Net / R2AttU-Net (:mod:`course_lib.models.r2unet`): they
differ only in the conv unit (double conv here, recurrent residual block there) and in whether the
skips pass through attention gates.

Configuration (3 in, 1 out, widths 64-1024: 34,878,573 parameters):
    encoder: unit(C_in, 64), then max-pool 2 + unit for 128, 256, 512, 1024;
    decoder: up-conv = nearest x2 upsample + 3x3 conv-BN-ReLU (halves the channels),
             AttentionGate(F_g = F_l = w, F_int = w / 2) on the skip, concat [gated skip, up],
             unit(2w, w);
    ``gate="grid"`` swaps each gate for Oktay et al.'s GridAttentionGate(F_g = 2w, F_l = w,
    F_int = w / 2), gated by the coarser decoder features before they are upsampled;
    head: 1x1 conv -> logits.
The unit is 2 x (3x3 conv with bias - BN - ReLU); the conv biases before BN are redundant but are in
the reference code and its parameter count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn as nn

from course_lib import sizes
from course_lib.blocks.attention import GATE_VARIANTS, AttentionUpConcat, make_gate, with_conv_bias
from course_lib.blocks.conv import DoubleConv, Down, UpConcat, UpsampleConv
from course_lib.models.input_checks import check_batch, check_config, check_widths
from course_lib.models.registry import register_model

__all__ = ["AttentionUNet", "check_padded_size"]

ConvUnit = Callable[[int, int], nn.Module]


def check_padded_size(height: int, width: int, depth: int, model: str) -> None:
    """Raise a ``ValueError`` naming the nearest valid sizes unless both sides are multiples of 2^depth."""
    for side, name in ((height, "height"), (width, "width")):
        if side < 1:
            raise ValueError(f"{model}: input {name} must be positive, got {side}.")
        sizes.check_valid_input(side, depth, padded=True, what=f"{model}: input {name}")


def double_conv_with_bias(in_channels: int, out_channels: int) -> nn.Module:
    """The reference conv unit: 2 x (3x3 conv with bias - BN - ReLU)."""
    return with_conv_bias(DoubleConv(in_channels, out_channels))


class AttentionUNet(nn.Module):
    """A padded U-Net with nearest-upsample up-convs and, if ``attention``, attention-gated skips.

    Args:
        in_channels, out_channels: image channels and output logit channels.
        widths: channels per level, shallow to deep; depth = ``len(widths) - 1`` poolings.
        attention: put an attention gate on every skip connection.
        gate: ``"same"`` (:class:`~course_lib.blocks.attention.AttentionGate`, g upsampled to the skip's
            size; the default) or ``"grid"`` (:class:`~course_lib.blocks.attention.GridAttentionGate`,
            g one level coarser, as in the paper's code), or ``"grid-open"``
            (:class:`~course_lib.blocks.attention.OpenGridGate`: the grid gate's ``W`` with the
            coefficients fixed at 1, the control that isolates the gating).
        unit: ``unit(in, out) -> nn.Module``, the conv unit of every level (default: the reference
            double conv with biases).

    ``attention_maps()`` returns the last attention coefficients of each gate (deepest first).
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 1,
        widths: Sequence[int] = (64, 128, 256, 512, 1024),
        *,
        attention: bool = True,
        gate: str = "same",
        unit: ConvUnit | None = None,
    ) -> None:
        super().__init__()
        check_config("AttentionUNet", {"in_channels": in_channels, "out_channels": out_channels})
        widths = check_widths(widths, "AttentionUNet", min_width=2 if attention else 1)
        self.in_channels = in_channels
        if gate not in GATE_VARIANTS:
            make_gate(gate, 1, 1)  # raises the explanation
        self.gate_variant = gate
        unit = double_conv_with_bias if unit is None else unit
        self.widths = widths
        self.depth = len(widths) - 1
        self.attention = attention
        self.encoder = nn.ModuleList(
            [unit(in_channels, widths[0])]
            + [Down(unit(widths[i - 1], widths[i])) for i in range(1, len(widths))]
        )
        steps: list[nn.Module] = []
        for i in reversed(range(self.depth)):  # deepest decoder step first
            w = widths[i]
            up = with_conv_bias(UpsampleConv(widths[i + 1], w, mode="nearest"))
            block = unit(2 * w, w)
            g_channels = w if gate == "same" else widths[i + 1]
            steps.append(AttentionUpConcat(up, block, make_gate(gate, g_channels, w, w // 2)) if attention
                         else UpConcat(up, block))
        self.decoder = nn.ModuleList(steps)
        self.head = nn.Conv2d(widths[0], out_channels, kernel_size=1)

    def check_input_size(self, height: int, width: int) -> None:
        """Raise ``ValueError`` unless ``height`` and ``width`` are multiples of 2^depth."""
        check_padded_size(height, width, self.depth, type(self).__name__)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch(x, type(self).__name__, self.in_channels)
        self.check_input_size(*x.shape[-2:])
        skips = []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        x = skips.pop()
        for step, skip in zip(self.decoder, reversed(skips), strict=True):
            x = step(x, skip)
        return self.head(x)

    def attention_maps(self) -> list[torch.Tensor | None]:
        """The gates' last coefficients (N x 1 x H x W, deepest level first); empty without attention."""
        return [step.gate.last_attention for step in self.decoder if isinstance(step, AttentionUpConcat)]


@register_model("attention_unet")
def attention_unet(**cfg: Any) -> AttentionUNet:
    """Attention U-Net; ``in_channels=3, out_channels=1`` (defaults) has 34,878,573 parameters.

    ``gate="grid"`` uses the paper's grid attention gates instead (see :class:`AttentionUNet`)."""
    return AttentionUNet(**cfg)
