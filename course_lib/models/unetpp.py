"""UNet++ (Zhou et al. 2018): nested dense skip pathways X^{i,j}, deep supervision, pruning at inference.

Node X^{i,j} (level i = 0..D down the encoder, column j = 0..D-i along the skip pathway):
    X^{i,0} = conv(pool(X^{i-1,0}))                                  (the backbone encoder)
    X^{i,j} = conv([X^{i,0}, ..., X^{i,j-1}, up(X^{i+1,j-1})])       (j >= 1)
with conv = two 3x3 conv(-BN)-ReLU layers to w_i channels and up = a 2x2 transposed conv w_{i+1} -> w_i
owned by each node. Widths 32-64-128-256-512, 1 in, 1 out, no BatchNorm: 9,041,601 parameters with
one 1x1 head on X^{0,4}, 9,041,700 with deep supervision (a 1x1 head on each X^{0,j}, j = 1..4).

Outputs (logits): without deep supervision one tensor; with it a list, final output first:
``[head(X^{0,4}), head(X^{0,3}), head(X^{0,2}), head(X^{0,1})]``.
Pruning: ``forward(x, prune_level=L)`` (or ``model.prune(L)``) computes only the nodes with i + j <= L
and returns the single output ``head(X^{0,L})`` - the pruned network UNet++ L_L of the paper. It needs
deep supervision for L < depth (otherwise there is no trained head on X^{0,L}).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn

from course_lib.blocks.conv import DoubleConv, UpConcat, transposed_up
from course_lib.models.attention_unet import check_padded_size
from course_lib.models.input_checks import check_batch, check_config, check_widths
from course_lib.models.registry import register_model

__all__ = ["UNetPlusPlus"]


def node_name(i: int, j: int) -> str:
    """Module key of X^{i,j}: ``"x_{i}_{j}"``."""
    return f"x_{i}_{j}"


class UNetPlusPlus(nn.Module):
    """UNet++ with nodes ``self.nodes["x_i_j"]`` and heads ``self.heads["out_j"]`` (1x1 conv on X^{0,j}).

    Args:
        in_channels, out_channels: image channels and logit channels.
        widths: w_0..w_D, channels per level (depth D = ``len(widths) - 1``).
        batch_norm: BatchNorm after every 3x3 conv (``False`` for the paper's parameter count).
        deep_supervision: a head on every X^{0,j} (list output); needed for pruning.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        widths: Sequence[int] = (32, 64, 128, 256, 512),
        *,
        batch_norm: bool = True,
        deep_supervision: bool = False,
    ) -> None:
        super().__init__()
        check_config("UNetPlusPlus", {"in_channels": in_channels, "out_channels": out_channels})
        widths = check_widths(widths, "UNetPlusPlus")
        self.in_channels = in_channels
        self.widths = widths
        self.depth = D = len(widths) - 1
        self.deep_supervision = deep_supervision
        self.prune_level: int | None = None
        self.pool = nn.MaxPool2d(2)
        nodes: dict[str, nn.Module] = {}
        for i in range(D + 1):
            nodes[node_name(i, 0)] = DoubleConv(in_channels if i == 0 else widths[i - 1], widths[i],
                                                batch_norm=batch_norm)
        for j in range(1, D + 1):
            for i in range(D + 1 - j):
                nodes[node_name(i, j)] = UpConcat(
                    transposed_up(widths[i + 1], widths[i]),
                    DoubleConv((j + 1) * widths[i], widths[i], batch_norm=batch_norm),
                )
        self.nodes = nn.ModuleDict(nodes)
        head_columns = range(1, D + 1) if deep_supervision else [D]
        self.heads = nn.ModuleDict(
            {f"out_{j}": nn.Conv2d(widths[0], out_channels, kernel_size=1) for j in head_columns}
        )

    def check_input_size(self, height: int, width: int) -> None:
        """Raise ``ValueError`` unless ``height`` and ``width`` are multiples of 2^depth."""
        check_padded_size(height, width, self.depth, "UNetPlusPlus")

    def prune(self, level: int | None) -> UNetPlusPlus:
        """Make ``forward`` compute only UNet++ L_level (``None``: the full network); returns ``self``."""
        self._check_level(level)
        self.prune_level = level
        return self

    def nodes_for_level(self, level: int | None = None) -> list[tuple[int, int]]:
        """The nodes ``(i, j)`` that ``forward`` computes for pruning level ``level`` (None: the whole
        network): those with ``i + j <= L``, column by column."""
        self._check_level(level)
        L = self.depth if level is None else level
        return [(i, j) for j in range(L + 1) for i in range(L + 1 - j)]

    def heads_for_level(self, level: int | None = None) -> list[str]:
        """The heads ``forward`` uses: ``out_L`` when pruned (or without deep supervision), else all."""
        self._check_level(level)
        if level is None and self.deep_supervision:
            return list(self.heads)
        return [f"out_{self.depth if level is None else level}"]

    def parameters_used(self, level: int | None = None) -> int:
        """Parameters of the nodes and heads that run at pruning level ``level`` (None: all that run)."""
        modules = [self.nodes[node_name(i, j)] for i, j in self.nodes_for_level(level)]
        modules += [self.heads[name] for name in self.heads_for_level(level)]
        return sum(p.numel() for m in modules for p in m.parameters())

    def _check_level(self, level: int | None) -> None:
        if level is None:
            return
        if not isinstance(level, int) or not 1 <= level <= self.depth:
            raise ValueError(f"prune level must be an integer in 1..{self.depth} (or None), got {level!r}.")
        if level < self.depth and not self.deep_supervision:
            raise ValueError(
                f"Pruning to L{level} needs a trained head on X^{{0,{level}}}: build the model with "
                "deep_supervision=True (and train it so) to prune."
            )

    def forward(self, x: torch.Tensor, prune_level: int | None = None) -> torch.Tensor | list[torch.Tensor]:
        level = self.prune_level if prune_level is None else prune_level
        self._check_level(level)
        check_batch(x, "UNetPlusPlus", self.in_channels)
        self.check_input_size(*x.shape[-2:])
        L = self.depth if level is None else level
        X: dict[tuple[int, int], torch.Tensor] = {}
        for i in range(L + 1):  # encoder X^{i,0}, only as deep as output level L needs
            X[i, 0] = self.nodes[node_name(i, 0)](x if i == 0 else self.pool(X[i - 1, 0]))
        for j in range(1, L + 1):
            for i in range(L + 1 - j):
                skips = torch.cat([X[i, k] for k in range(j)], dim=1)
                X[i, j] = self.nodes[node_name(i, j)](X[i + 1, j - 1], skips)
        if level is not None or not self.deep_supervision:
            return self.heads[f"out_{L}"](X[0, L])
        return [self.heads[f"out_{j}"](X[0, j]) for j in range(L, 0, -1)]


@register_model("unetpp")
def unetpp(**cfg: Any) -> UNetPlusPlus:
    """UNet++; ``widths=(32, 64, 128, 256, 512), batch_norm=False`` has 9,041,601 parameters."""
    return UNetPlusPlus(**cfg)
