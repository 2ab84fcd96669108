"""R2U-Net and R2AttU-Net (Alom et al. 2018): the Attention U-Net skeleton with recurrent residual units.

One class, :class:`R2UNet`, with an ``attention`` flag:
    r2unet    (3 in, 1 out, widths 64-1024, t = 2): 39,091,393 parameters
    r2attunet (same, attention gates on the skips): 39,442,925 parameters
Each level's unit is an :class:`~course_lib.blocks.recurrent.RRCNNBlock` (1x1 conv, then two
recurrent convs, each ONE shared conv applied t + 1 times, plus the residual).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from course_lib.blocks.recurrent import RRCNNBlock
from course_lib.models.attention_unet import AttentionUNet
from course_lib.models.registry import register_model

__all__ = ["R2UNet"]


class R2UNet(AttentionUNet):
    """Recurrent residual U-Net; ``attention=True`` gives R2AttU-Net (``gate``: ``"same"`` or ``"grid"``).
    ``t``: recurrent steps per conv. ``step_norm=True``: one BatchNorm per unrolled step instead of the
    reference's shared one, which breaks eval mode
    (see :class:`~course_lib.blocks.recurrent.RecurrentConv`)."""

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 1,
        widths: Sequence[int] = (64, 128, 256, 512, 1024),
        *,
        t: int = 2,
        attention: bool = False,
        gate: str = "same",
        step_norm: bool = False,
    ) -> None:
        super().__init__(in_channels, out_channels, widths, attention=attention, gate=gate,
                         unit=partial(RRCNNBlock, t=t, step_norm=step_norm))
        self.t = t


@register_model("r2unet")
def r2unet(**cfg: Any) -> R2UNet:
    """R2U-Net; ``in_channels=3, out_channels=1, t=2`` has 39,091,393 parameters."""
    return R2UNet(attention=False, **cfg)


@register_model("r2attunet")
def r2attunet(**cfg: Any) -> R2UNet:
    """R2AttU-Net; ``in_channels=3, out_channels=1, t=2`` has 39,442,925 parameters."""
    return R2UNet(attention=True, **cfg)
