"""U^2-Net and U^2-Net-lite (Qin et al. 2020): a U-Net of RSU blocks with six side outputs and a fuse.

Stages follow the paper's names: encoder En_1..En_6 (max-pool 2 between them), decoder De_5..De_1
(De_k takes [upsample(previous), En_k]). Side output k is a 3x3 conv on De_k (k = 1..5) or En_6
(k = 6), bilinearly upsampled to the input size; the fused output is a 1x1 conv over the six side
logits. ``forward`` returns seven logit maps at input size, fused first: ``[d0, d1, ..., d6]``
(train with the 7-term BCE-with-logits loss; predict with ``sigmoid(d0)``).

Both models come from ONE class and a config table (stage -> (L, mid, out), ``"4F"`` for RSU-4F):
    u2net  (3 in, 1 out): 44,009,869 parameters      u2netp (3 in, 1 out): 1,131,181 parameters
Pooling uses ceil mode and upsampling resizes to the skip's size, so any input size works (as in the
reference code); multiples of 32 keep every level aligned.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from course_lib.blocks.rsu import RSU, RSU4F, upsample_like
from course_lib.models.input_checks import check_batch, check_config
from course_lib.models.registry import register_model

__all__ = ["U2NET_CONFIGS", "U2Net"]

StageSpec = tuple[int | str, int, int]  # (L or "4F", mid channels, out channels)

U2NET_CONFIGS: dict[str, dict[str, StageSpec]] = {
    "u2net": {
        "En_1": (7, 32, 64), "En_2": (6, 32, 128), "En_3": (5, 64, 256), "En_4": (4, 128, 512),
        "En_5": ("4F", 256, 512), "En_6": ("4F", 256, 512),
        "De_5": ("4F", 256, 512), "De_4": (4, 128, 256), "De_3": (5, 64, 128), "De_2": (6, 32, 64),
        "De_1": (7, 16, 64),
    },
    "u2netp": {
        "En_1": (7, 16, 64), "En_2": (6, 16, 64), "En_3": (5, 16, 64), "En_4": (4, 16, 64),
        "En_5": ("4F", 16, 64), "En_6": ("4F", 16, 64),
        "De_5": ("4F", 16, 64), "De_4": (4, 16, 64), "De_3": (5, 16, 64), "De_2": (6, 16, 64),
        "De_1": (7, 16, 64),
    },
}


def _rsu(spec: StageSpec, in_channels: int) -> RSU:
    height, mid, out = spec
    if height == "4F":
        return RSU4F(in_channels, mid, out)
    if not isinstance(height, int):
        raise ValueError(f"Stage height must be an integer L or '4F', got {height!r}.")
    return RSU(height, in_channels, mid, out)


class U2Net(nn.Module):
    """U^2-Net built from a stage table with keys En_1..En_N and De_{N-1}..De_1.

    Args:
        config: a name in :data:`U2NET_CONFIGS` or a table of the same form.
        in_channels, out_channels: image channels and logit channels per output.
    """

    def __init__(self, config: str | Mapping[str, StageSpec] = "u2net", in_channels: int = 3,
                 out_channels: int = 1) -> None:
        super().__init__()
        check_config("U2Net", {"in_channels": in_channels, "out_channels": out_channels})
        self.in_channels = in_channels
        if isinstance(config, str):
            if config not in U2NET_CONFIGS:
                raise ValueError(f"Unknown U^2-Net config {config!r}; choose from {sorted(U2NET_CONFIGS)}.")
            config = U2NET_CONFIGS[config]
        n = sum(key.startswith("En_") for key in config)
        expected = {f"En_{k}" for k in range(1, n + 1)} | {f"De_{k}" for k in range(1, n)}
        if n < 2 or set(config) != expected:
            raise ValueError(
                f"A U^2-Net config needs exactly the stages {sorted(expected)}; got {sorted(config)}."
            )
        self.n_stages = n
        stages: dict[str, nn.Module] = {}
        channels = in_channels
        for k in range(1, n + 1):
            stages[f"En_{k}"] = _rsu(config[f"En_{k}"], channels)
            channels = config[f"En_{k}"][2]
        for k in range(n - 1, 0, -1):  # De_k sees [previous decoder output, En_k]
            stages[f"De_{k}"] = _rsu(config[f"De_{k}"], channels + config[f"En_{k}"][2])
            channels = config[f"De_{k}"][2]
        self.stages = nn.ModuleDict(stages)
        side_from = [f"De_{k}" for k in range(1, n)] + [f"En_{n}"]
        self.sides = nn.ModuleList(
            nn.Conv2d(config[name][2], out_channels, kernel_size=3, padding=1) for name in side_from
        )
        self.fuse = nn.Conv2d(n * out_channels, out_channels, kernel_size=1)
        self.pool = nn.MaxPool2d(2, stride=2, ceil_mode=True)

    def check_input_size(self, height: int, width: int) -> None:
        """Any positive size works (ceil-mode pooling, resize-to-skip upsampling); else ``ValueError``."""
        if height <= 0 or width <= 0:
            raise ValueError(f"U2Net needs a positive input size, got {height}x{width}.")

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        check_batch(x, "U2Net", self.in_channels)
        self.check_input_size(*x.shape[-2:])
        n = self.n_stages
        enc = []
        h = x
        for k in range(1, n + 1):
            h = self.stages[f"En_{k}"](h if k == 1 else self.pool(h))
            enc.append(h)
        features = [enc[-1]]  # En_n, then De_{n-1}, ..., De_1
        d = enc[-1]
        for k in range(n - 1, 0, -1):
            skip = enc[k - 1]
            d = self.stages[f"De_{k}"](torch.cat([upsample_like(d, skip), skip], dim=1))
            features.append(d)
        features.reverse()  # De_1, ..., De_{n-1}, En_n
        sides = [upsample_like(side(f), x) for side, f in zip(self.sides, features, strict=True)]
        return [self.fuse(torch.cat(sides, dim=1)), *sides]


@register_model("u2net")
def u2net(**cfg: Any) -> U2Net:
    """U^2-Net; ``in_channels=3, out_channels=1`` (defaults) has 44,009,869 parameters."""
    return U2Net("u2net", **cfg)


@register_model("u2netp")
def u2netp(**cfg: Any) -> U2Net:
    """U^2-Net-lite (U2NETP); ``in_channels=3, out_channels=1`` has 1,131,181 parameters."""
    return U2Net("u2netp", **cfg)
