"""The basic convolution blocks of every U-Net: conv(-BN)-ReLU, the double conv, down and up steps."""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = [
    "ConvNormAct", "DoubleConv", "Down", "UpConcat", "UpsampleConv", "center_crop", "center_crop_to",
    "transposed_up",
]


class ConvNormAct(nn.Sequential):
    """``conv k x k -> [BatchNorm] -> ReLU``; ``padding=None`` means "same" size (k // 2 * dilation)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        *,
        padding: int | None = None,
        dilation: int = 1,
        batch_norm: bool = True,
        activation: bool = True,
    ) -> None:
        if padding is None:
            padding = kernel_size // 2 * dilation
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation,
                      bias=not batch_norm)
        ]
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        if activation:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class DoubleConv(nn.Sequential):
    """Two 3x3 conv(-BN)-ReLU layers, the unit of U-Net. ``padding=0`` gives the paper's valid convs."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        mid_channels: int | None = None,
        *,
        batch_norm: bool = True,
        padding: int = 1,
    ) -> None:
        mid = out_channels if mid_channels is None else mid_channels
        super().__init__(
            ConvNormAct(in_channels, mid, padding=padding, batch_norm=batch_norm),
            ConvNormAct(mid, out_channels, padding=padding, batch_norm=batch_norm),
        )


class Down(nn.Sequential):
    """2x2 max-pool, then a conv block (``DoubleConv`` unless ``block`` is given)."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__(nn.MaxPool2d(2), block)


def center_crop(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Crop the centre ``height x width`` of ``x`` (N, C, H, W); used by valid-conv U-Net skips."""
    h, w = x.shape[-2:]
    if height > h or width > w:
        raise ValueError(f"Cannot centre-crop a {h}x{w} map to {height}x{width}: it is smaller.")
    top, left = (h - height) // 2, (w - width) // 2
    return x[..., top:top + height, left:left + width]


def center_crop_to(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Crop the centre of the last ``len(shape)`` axes of ``x`` to ``shape`` (any number of axes: volumes)."""
    have = x.shape[-len(shape):]
    if any(want > n for want, n in zip(shape, have, strict=True)):
        raise ValueError(f"Cannot centre-crop a {tuple(have)} map to {tuple(shape)}: it is smaller.")
    starts = [(n - want) // 2 for n, want in zip(have, shape, strict=True)]
    return x[(..., *(slice(a, a + want) for a, want in zip(starts, shape, strict=True)))]


class UpsampleConv(nn.Sequential):
    """Bilinear x2 upsampling followed by a conv(-BN)-ReLU (an alternative to transposed conv)."""

    def __init__(self, in_channels: int, out_channels: int, *, batch_norm: bool = True,
                 mode: str = "bilinear") -> None:
        align = False if mode in ("bilinear", "bicubic") else None
        super().__init__(
            nn.Upsample(scale_factor=2, mode=mode, align_corners=align),
            ConvNormAct(in_channels, out_channels, batch_norm=batch_norm),
        )


class UpConcat(nn.Module):
    """U-Net's expanding step: upsample ``x``, concatenate the (centre-cropped) skip, apply ``block``.

    ``up`` maps ``in_channels -> up_channels`` and doubles the size (a 2x2 transposed conv by default).
    If the skip is larger than the upsampled map (valid convolutions) it is centre-cropped; if it is
    smaller, that is a size the network cannot take, and a clear error says so.
    """

    def __init__(self, up: nn.Module, block: nn.Module) -> None:
        super().__init__()
        self.up = up
        self.block = block

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        if skip.shape[-2:] != x.shape[-2:]:
            if skip.shape[-2] < x.shape[-2] or skip.shape[-1] < x.shape[-1]:
                raise ValueError(
                    f"Skip connection is {tuple(skip.shape[-2:])} but the upsampled map is "
                    f"{tuple(x.shape[-2:])}: the input size does not suit this network's depth."
                )
            skip = center_crop(skip, *x.shape[-2:])
        return self.block(torch.cat([skip, x], dim=1))


def transposed_up(in_channels: int, out_channels: int) -> nn.ConvTranspose2d:
    """The paper's 2x2 up-convolution (stride 2)."""
    return nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)

