"""Weight initialisation: He et al. (2015) as used by the U-Net paper.

"Ideally the initial weights should be adapted such that each feature map in the network has
approximately unit variance ... drawing the initial weights from a Gaussian distribution with a
standard deviation of sqrt(2/N), where N denotes the number of incoming nodes of one neuron (e.g. for a
3x3 convolution and 64 feature channels in the previous layer N = 9 * 64 = 576)." (Ronneberger et al.)
"""

from __future__ import annotations

import math

import torch.nn as nn
from torch.nn.modules.conv import _ConvNd

__all__ = ["he_normal_", "incoming_nodes"]


def incoming_nodes(conv: _ConvNd) -> int:
    """N, the inputs one output neuron of ``conv`` sees: ``k*k*in_channels/groups`` for a convolution.

    For a transposed convolution each output pixel receives only ``k/stride`` kernel taps per axis
    (one tap for the U-Net's 2x2 stride-2 up-conv), so N = ``in_channels * prod(k/stride)``.
    (``torch.nn.init.kaiming_normal_`` would use the *output* channels of a transposed conv here.)
    """
    taps = math.prod(conv.kernel_size)
    if conv.transposed:
        taps = max(1.0, taps / math.prod(conv.stride))
    return max(1, round(conv.in_channels // conv.groups * taps))


def he_normal_(module: nn.Module) -> nn.Module:
    """Draw every conv / transposed-conv weight from N(0, 2/N) and zero its bias, in place; returns
    ``module``. BatchNorm layers keep their defaults (weight 1, bias 0)."""
    for m in module.modules():
        if isinstance(m, _ConvNd):
            nn.init.normal_(m.weight, mean=0.0, std=math.sqrt(2.0 / incoming_nodes(m)))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module
