"""DACRSE-UNet: a U-Net whose conv units are residual SE blocks, with CE-Net's DAC at the bottom.

Three resolution levels joined by skip concatenations, then the bottleneck (``widths = (32, 64, 128,
256)`` by default: 3 max-pools, DAC at 1/8 resolution)::

    stem 3x3 conv -> RSE(w0) ------------------------------ concat -> RSE(w0) -> BN-ReLU-1x1 -> logit
        maxpool 2 -> RSE(w1) ------------------- concat -> RSE(w1) -^ 2x2 up-conv
            maxpool 2 -> RSE(w2) ------ concat -> RSE(w2) -^ 2x2 up-conv
                maxpool 2 -> RSE(w3) -> DAC(w3) -^ 2x2 up-conv

2x2 transposed convs go up and every decoder level concatenates its encoder skip (the source code of
the course had no skips at all, which makes it an encoder-decoder: bug 5). One logit channel and no
sigmoid: train with ``BCEWithLogitsLoss``. The pre-activation RSE units need a plain conv first (so
raw pixels are not BN-ReLU'd) and a BN-ReLU before the head.

The same factory gives the chapter's ablation with identical widths: ``rse=False`` uses U-Net's
DoubleConv units (conv-BN-ReLU x2), ``dac=False`` drops the DAC block (``create_model("rse_unet")``).

DropBlock settings (keep_prob 0.9, block 7, in every RSE unit) and why not the source's p = 0.5,
block 9. The paper (Ghiasi et al. 2018) targets a drop rate of about 10 % (keep_prob 0.9, block 7),
reached gradually with :class:`~course_lib.blocks.dropblock.LinearKeepProbSchedule` (1.0 -> 0.9).
With the DRIVE protocol (whole images padded to 592) the maps are 592, 296, 148 and 74 px, so a 7x7
block is small next to the map: it removes a vessel segment, not the vessel tree, and the exact
expected drop rate (:func:`~course_lib.blocks.dropblock.expected_drop_rate`, overlaps included) is
9.5 % at every level. p = 0.5 with block 9 drops 38-39 % of activations at those sizes (38.3 % at
74 px, 39.3 % at 592 px) in each of the 14 DropBlock layers (two per RSE unit), i.e. it deletes over a third
of every feature map in both paths; the nominal 50 % is never reached because overlapping blocks are
counted once. Small training patches make blocks relatively larger: on 64x64 patches the bottleneck
map is 8x8 and a 7-px block covers most of it (the layer clamps blocks to the map size), so pass a
per-level ``block_size=(7, 5, 3, 2)`` there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn

from course_lib import sizes
from course_lib.blocks.conv import DoubleConv, Down, UpConcat, transposed_up
from course_lib.blocks.dac import DACBlock
from course_lib.blocks.se import RSEBlock
from course_lib.models.input_checks import check_batch
from course_lib.models.registry import register_model

__all__ = ["DACRSEUNet"]


class DACRSEUNet(nn.Module):
    """U-Net with RSE units and a DAC bottleneck; returns logits ``(N, out_channels, H, W)``.

    Args:
        in_channels, out_channels: image channels and logit channels (1 for vessels).
        widths: channels per level, the last one is the bottleneck; ``len(widths) - 1`` max-pools.
        keep_prob, block_size: DropBlock in every RSE unit; ``block_size`` is one int or one per level
            (``len(widths)`` values, the last for the bottleneck). ``keep_prob=1`` disables it.
        reduction: SE reduction ratio r.
        dac, rse: use the DAC bottleneck / RSE units (else plain DoubleConv units).
        dac_shared: CE-Net's weight sharing between DAC branches.
        pad_input: accept any size by mirror-padding bottom/right to a multiple of ``2**depth`` and
            cropping the output back; with ``False`` such sizes raise a ValueError.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 1,
        widths: Sequence[int] = (32, 64, 128, 256),
        *,
        keep_prob: float = 0.9,
        block_size: int | Sequence[int] = 7,
        reduction: int = 16,
        dac: bool = True,
        rse: bool = True,
        dac_shared: bool = True,
        pad_input: bool = True,
    ) -> None:
        super().__init__()
        w = tuple(int(v) for v in widths)
        if len(w) < 2 or min(w) < 1:
            raise ValueError(f"DACRSEUNet needs at least two positive widths, got {tuple(widths)}.")
        blocks = (block_size,) * len(w) if isinstance(block_size, int) else tuple(block_size)
        if len(blocks) != len(w):
            raise ValueError(f"block_size needs one value per level ({len(w)}), got {tuple(blocks)}.")
        self.in_channels, self.out_channels, self.widths = in_channels, out_channels, w
        self.depth, self.pad_input = len(w) - 1, pad_input
        self.config = {"in_channels": in_channels, "out_channels": out_channels, "widths": w,
                       "keep_prob": keep_prob, "block_size": blocks, "reduction": reduction, "dac": dac,
                       "rse": rse, "dac_shared": dac_shared, "pad_input": pad_input}

        def unit(cin: int, cout: int, level: int) -> nn.Module:
            if rse:
                return RSEBlock(cin, cout, keep_prob=keep_prob, block_size=blocks[level], reduction=reduction)
            return DoubleConv(cin, cout)

        self.stem = nn.Conv2d(in_channels, w[0], 3, padding=1) if rse else nn.Identity()
        first = w[0] if rse else in_channels
        self.encoder = nn.ModuleList(
            [unit(first, w[0], 0)] + [Down(unit(w[i - 1], w[i], i)) for i in range(1, self.depth)]
        )
        bottom = unit(w[-2], w[-1], self.depth)
        self.bottleneck = Down(nn.Sequential(bottom, DACBlock(w[-1], shared=dac_shared)) if dac else bottom)
        self.decoder = nn.ModuleList(
            UpConcat(transposed_up(w[i + 1], w[i]), unit(2 * w[i], w[i], i)) for i in range(self.depth)
        )
        pre_head = [nn.BatchNorm2d(w[0]), nn.ReLU(inplace=True)] if rse else []
        self.head = nn.Sequential(*pre_head, nn.Conv2d(w[0], out_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_batch(x, "DACRSEUNet", self.in_channels)
        height, width = x.shape[-2:]
        multiple = 2**self.depth
        if self.pad_input:
            x = sizes.mirror_pad(x, 0, -height % multiple, 0, -width % multiple)
        elif height % multiple or width % multiple:
            raise ValueError(
                f"DACRSEUNet (depth {self.depth}) needs sides that are multiples of {multiple}, got "
                f"{height}x{width}. Pad or crop the image (the DRIVE protocol pads to 592x592), or build "
                "the model with pad_input=True."
            )
        x = self.stem(x)
        skips = []
        for level in self.encoder:
            x = level(x)
            skips.append(x)
        x = self.bottleneck(x)
        for i in reversed(range(self.depth)):
            x = self.decoder[i](x, skips[i])
        return self.head(x)[..., :height, :width]


@register_model("dacrse_unet")
def dacrse_unet(**cfg: Any) -> DACRSEUNet:
    """DACRSE-UNet (options: :class:`DACRSEUNet`); ``rse=False`` / ``dac=False`` give the ablation models."""
    return DACRSEUNet(**cfg)


@register_model("rse_unet")
def rse_unet(**cfg: Any) -> DACRSEUNet:
    """The RSE-U-Net of the ablation: DACRSE-UNet without the DAC block (same options, minus DAC's)."""
    for key in ("dac", "dac_shared"):
        if key in cfg:
            raise TypeError(f"rse_unet has no DAC block, so no {key!r} option; use "
                            "create_model('dacrse_unet', ...) for a model with DAC.")
    return DACRSEUNet(dac=False, **cfg)
