"""CE-Net's context extractor (Gu et al., IEEE TMI 2019): the DAC and RMP blocks."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["DACBlock", "RMPBlock"]

# (kernel, dilation) of the layers in each DAC branch; receptive fields 3, 7, 9, 19.
DAC_BRANCHES: tuple[tuple[tuple[int, int], ...], ...] = (
    ((3, 1),),
    ((3, 3), (1, 1)),
    ((3, 1), (3, 3), (1, 1)),
    ((3, 1), (3, 3), (3, 5), (1, 1)),
)


def _conv(channels: int, kernel: int, dilation: int) -> nn.Conv2d:
    return nn.Conv2d(channels, channels, kernel, padding=dilation * (kernel // 2), dilation=dilation)


class DACBlock(nn.Module):
    """Dense Atrous Convolution: ``x + sum_b relu(branch_b(x))`` over four cascade branches.

    ======  ==================================================  =================
    branch  layers                                              receptive field
    ======  ==================================================  =================
    1       3x3 d=1                                             3
    2       3x3 d=3, 1x1                                        7
    3       3x3 d=1, 3x3 d=3, 1x1                               9
    4       3x3 d=1, 3x3 d=3, 3x3 d=5, 1x1                      19
    ======  ==================================================  =================

    With ``shared=True`` (CE-Net's code) the branches reuse four convolutions: ``dilate1`` (3x3 d=1),
    ``dilate2`` (3x3 d=3), ``dilate3`` (3x3 d=5) and ``conv1x1``, all with bias: 7,342,080 parameters
    at 512 channels. ``shared=False`` gives every branch its own weights (10 convolutions).
    The 1x1 layer mixes channels only: giving it ``dilation=3`` changes nothing (a 1x1 kernel has no
    gaps to spread), which is why the d=3 context comes from the 3x3 before it (bug 1 of the source).
    Biases start at zero, as in CE-Net.
    """

    def __init__(self, channels: int, *, shared: bool = True) -> None:
        super().__init__()
        self.channels, self.shared = channels, shared
        if shared:
            self.dilate1, self.dilate2 = _conv(channels, 3, 1), _conv(channels, 3, 3)
            self.dilate3, self.conv1x1 = _conv(channels, 3, 5), _conv(channels, 1, 1)
        else:
            self.branches = nn.ModuleList(
                nn.Sequential(*(_conv(channels, k, d) for k, d in spec)) for spec in DAC_BRANCHES
            )
        for module in self.modules():
            if isinstance(module, nn.Conv2d) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def branch(self, index: int) -> nn.Sequential:
        """Branch ``index`` (0-3) as a Sequential (sharing this block's weights), e.g. for footprints."""
        if not self.shared:
            return self.branches[index]
        named = {(3, 1): self.dilate1, (3, 3): self.dilate2, (3, 5): self.dilate3, (1, 1): self.conv1x1}
        return nn.Sequential(*(named[layer] for layer in DAC_BRANCHES[index]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for index in range(len(DAC_BRANCHES)):
            out = out + F.relu(self.branch(index)(x))
        return out


class RMPBlock(nn.Module):
    """Residual Multi-kernel Pooling: max-pools of 2, 3, 5, 6 (stride = kernel), a shared 1x1 conv to
    one channel each, bilinear upsampling back, concatenated with the input: ``C -> C + 4`` channels.
    """

    def __init__(self, channels: int, pool_sizes: tuple[int, ...] = (2, 3, 5, 6)) -> None:
        super().__init__()
        self.pools = nn.ModuleList(nn.MaxPool2d(k, stride=k) for k in pool_sizes)
        self.conv = nn.Conv2d(channels, 1, 1)
        self.out_channels = channels + len(pool_sizes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        largest = max(pool.kernel_size for pool in self.pools)
        if min(size) < largest:
            raise ValueError(f"RMPBlock needs maps of at least {largest} px; got {tuple(size)}.")
        maps = [F.interpolate(self.conv(pool(x)), size=size, mode="bilinear", align_corners=False)
                for pool in self.pools]
        return torch.cat([*maps, x], dim=1)
