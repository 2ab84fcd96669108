"""U-Net (Ronneberger et al., 2015): one class for the course's padded U-Net and the original.

``UNet(padding="same")`` is the course's U-Net (3x3 convs padded by 1, output size = input size);
``UNet(padding="valid")`` is the paper's (unpadded convs, centre-cropped skips, 572 -> 388), built by
``create_model("unet_original")`` in :mod:`course_lib.models.unet_original`.

Submodules are named by level so feature maps can be hooked per level: ``encoder[i]`` and
``decoder[i]`` work at the same resolution (level ``i``, ``widths[i]`` channels) and are joined by
skip ``i``; ``bottleneck`` is the deepest level; ``head`` is the 1x1 conv to ``out_channels`` logits.
The decoder runs from ``decoder[depth - 1]`` up to ``decoder[0]`` (see :meth:`UNet.feature_names`).

Input sizes (see :mod:`course_lib.sizes`): every 2x2 max-pool must see an even size, so a padded
U-Net of depth ``d = len(widths) - 1`` takes multiples of ``2**d`` and the valid one ``188 + 16k``
(depth 4). With ``pad_input=True`` any size is accepted: the input is mirror-padded (reflect) up to
the next valid size (and, for valid convs, by the context margin on every side) and the output is
cropped back, so **output size = input size**. With ``pad_input=False`` a size the network cannot
take raises a ValueError that names the nearest valid sizes.

Regularisers (chapter 03): ``regularizer=factory`` inserts ``factory(level, channels)`` (for example a
:class:`~course_lib.blocks.dropblock.DropBlock2d`, ``nn.Dropout`` or ``nn.Dropout2d``) after the double
convolution of every level named in ``regularize`` (``"encoder"``, ``"bottleneck"``, ``"decoder"``).
The layers live in ``regularizers`` (a ``ModuleDict``: ``encoder_0`` ... ``bottleneck`` ...
``decoder_0``) and act in :meth:`UNet.forward_unchecked`, so the convolutions keep their names: a
regularised model has the same parameters and state-dict keys as a plain one (parameter-free
regularisers add nothing). With the default ``regularizer=None`` the model is exactly the plain U-Net
(``regularizers`` is None). An encoder level's regularised map is also what its skip carries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import torch
import torch.nn as nn

from course_lib import sizes
from course_lib.blocks.conv import DoubleConv, Down, UpConcat, UpsampleConv, transposed_up
from course_lib.init import he_normal_
from course_lib.models.input_checks import check_batch, check_config, check_widths
from course_lib.models.registry import register_model

__all__ = ["UNet"]

_UP_MODES = ("transposed", "bilinear")
_PADDINGS = ("same", "valid")
_INITS = ("default", "he")
_REGULARIZED_PARTS = ("encoder", "bottleneck", "decoder")


class UpNoSkip(nn.Module):
    """Decoder step without a skip connection (an encoder-decoder): upsample, then ``block``."""

    def __init__(self, up: nn.Module, block: nn.Module) -> None:
        super().__init__()
        self.up = up
        self.block = block

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        return self.block(self.up(x))


class UNet(nn.Module):
    """A U-Net with ``len(widths)`` levels; returns logits ``(N, out_channels, H_out, W_out)``.

    Args:
        in_channels, out_channels: image channels and output logit channels.
        widths: channels per level, e.g. ``(32, 64, 128, 256, 512)``; depth = ``len(widths) - 1`` pools.
        batch_norm: conv -> BatchNorm -> ReLU (convs then have no bias) instead of conv -> ReLU.
        up: ``"transposed"`` (2x2 stride-2 up-conv, the paper's) or ``"bilinear"`` (x2 bilinear + 3x3 conv).
        padding: ``"same"`` (3x3 convs padded by 1) or ``"valid"`` (unpadded, the paper's).
        skip: ``False`` drops the skip concatenation, giving a plain encoder-decoder with the same widths
            (its decoder convs then take ``widths[i]`` instead of ``2 * widths[i]`` channels, so it has
            ``9 * sum(w * w for w in widths[:-1])`` fewer weights: 783,360 for widths 32..512).
        pad_input: accept any input size (mirror-pad, then crop the output back to the input size).
        init: ``"default"`` (PyTorch's) or ``"he"`` (normal, std ``sqrt(2/N)``, as in the paper).
        regularizer: ``factory(level, channels) -> nn.Module`` applied after the double conv of each
            regularised level (level ``0..depth - 1`` for encoder and decoder, ``depth`` for the bottleneck).
        regularize: which parts get it: any of ``"encoder"``, ``"bottleneck"``, ``"decoder"``.
        block: ``block(in_channels, out_channels) -> nn.Module``, the unit of every level instead of the
            double conv (chapter 10's ResUNet, dense and Inception U-Nets); it must keep the spatial size,
            so it needs ``padding="same"``. ``first_block``: the unit that sees the image (default ``block``).
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        widths: tuple[int, ...] = (32, 64, 128, 256, 512),
        *,
        batch_norm: bool = True,
        up: str = "transposed",
        padding: str = "same",
        skip: bool = True,
        pad_input: bool = False,
        init: str = "default",
        regularizer: Callable[[int, int], nn.Module] | None = None,
        regularize: Sequence[str] = ("encoder", "bottleneck"),
        block: Callable[[int, int], nn.Module] | None = None,
        first_block: Callable[[int, int], nn.Module] | None = None,
    ) -> None:
        super().__init__()
        check_config("UNet", {"in_channels": in_channels, "out_channels": out_channels})
        widths = check_widths(widths, "UNet")
        for name, value, allowed in (("up", up, _UP_MODES), ("padding", padding, _PADDINGS),
                                     ("init", init, _INITS)):
            if value not in allowed:
                raise ValueError(f"UNet: {name}={value!r} is not one of {allowed}.")
        if len(widths) < 2 or min(widths) < 1:
            raise ValueError(f"UNet needs at least two positive widths (levels), got {widths}.")
        self.in_channels, self.out_channels, self.widths = in_channels, out_channels, widths
        self.depth = len(widths) - 1
        self.padding, self.skip, self.pad_input = padding, skip, pad_input
        self.config = {"in_channels": in_channels, "out_channels": out_channels, "widths": widths,
                       "batch_norm": batch_norm, "up": up, "padding": padding, "skip": skip,
                       "pad_input": pad_input, "init": init}

        if (block is not None or first_block is not None) and padding != "same":
            raise ValueError("UNet: a custom block must keep the spatial size, so it needs padding='same'.")
        if block is None:
            block = partial(DoubleConv, batch_norm=batch_norm, padding=1 if padding == "same" else 0)
        first_block = block if first_block is None else first_block
        w = widths
        self.encoder = nn.ModuleList(
            [first_block(in_channels, w[0])] + [Down(block(w[i - 1], w[i])) for i in range(1, self.depth)]
        )
        self.bottleneck = Down(block(w[-2], w[-1]))
        decoder = []
        for i in range(self.depth):
            upsample = (transposed_up(w[i + 1], w[i]) if up == "transposed"
                        else UpsampleConv(w[i + 1], w[i], batch_norm=batch_norm))
            decoder.append(UpConcat(upsample, block(2 * w[i], w[i])) if skip
                           else UpNoSkip(upsample, block(w[i], w[i])))
        self.decoder = nn.ModuleList(decoder)
        self.head = nn.Conv2d(w[0], out_channels, kernel_size=1)
        self.regularizers = self._build_regularizers(regularizer, regularize)
        if init == "he":
            he_normal_(self)

    def _build_regularizers(self, factory: Callable[[int, int], nn.Module] | None,
                            parts: Sequence[str]) -> nn.ModuleDict | None:
        parts = (parts,) if isinstance(parts, str) else tuple(parts)
        unknown = [p for p in parts if p not in _REGULARIZED_PARTS]
        if unknown:
            raise ValueError(f"UNet: regularize={parts!r} names {unknown}; use any of {_REGULARIZED_PARTS}.")
        if factory is None:
            return None
        layers = nn.ModuleDict()
        levels = {"encoder": [(f"encoder.{i}", i) for i in range(self.depth)],
                  "bottleneck": [("bottleneck", self.depth)],
                  "decoder": [(f"decoder.{i}", i) for i in range(self.depth)]}
        for part in parts:
            for name, level in levels[part]:
                layer = factory(level, self.widths[level])
                if not isinstance(layer, nn.Module):
                    raise TypeError(f"UNet: regularizer({level}, {self.widths[level]}) returned "
                                    f"{type(layer).__name__}, not an nn.Module; the factory takes "
                                    "(level, channels), e.g. lambda level, channels: nn.Dropout2d(0.1).")
                layers[name.replace(".", "_")] = layer  # ModuleDict keys may not contain dots
        self.config["regularize"] = parts
        return layers

    def _regularize(self, name: str, x: torch.Tensor) -> torch.Tensor:
        key = name.replace(".", "_")
        if self.regularizers is None or key not in self.regularizers:
            return x
        return self.regularizers[key](x)

    # ----------------------------------------------------------------- sizes
    @property
    def context_margin(self) -> int:
        """Pixels of context lost on each side, ``(input - output) / 2``: 92 for the original, 0 padded."""
        return sizes.context_margin(self.depth, padded=self.padding == "same")

    def valid_input_sizes(self, max_size: int = 1024) -> list[int]:
        """Side lengths the network takes without padding (multiples of ``2**depth``, or 188 + 16k)."""
        return sizes.valid_input_sizes(self.depth, max_size, padded=self.padding == "same")

    def check_input_size(self, height: int, width: int) -> tuple[int, int]:
        """Return the output ``(height, width)`` for this input size, or raise a clear ValueError."""
        if height < 1 or width < 1:
            raise ValueError(f"UNet: input size must be positive, got {height}x{width}.")
        if self.pad_input:
            return height, width
        padded = self.padding == "same"
        try:
            return (sizes.check_valid_input(height, self.depth, padded, what="input height"),
                    sizes.check_valid_input(width, self.depth, padded, what="input width"))
        except ValueError as err:
            raise ValueError(f"UNet: {err} Or build the model "
                             "with pad_input=True to mirror-pad any size and crop the output back.") from None

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        """Alias of :meth:`check_input_size`: the output size for an input size."""
        return self.check_input_size(height, width)

    def _input_pads(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) mirror pads that make any size valid with output >= input."""
        padded, m = self.padding == "same", self.context_margin

        def target(n: int) -> int:
            return sizes.nearest_valid_sizes(n + 2 * m, self.depth, padded)[1]

        return m, target(height) - height - m, m, target(width) - width - m

    # --------------------------------------------------------------- forward
    def feature_names(self) -> list[str]:
        """Names of the submodules whose outputs are the per-level feature maps, in execution order."""
        return ([f"encoder.{i}" for i in range(self.depth)] + ["bottleneck"]
                + [f"decoder.{i}" for i in reversed(range(self.depth))] + ["head"])

    def forward_unchecked(self, x: torch.Tensor, features: dict | None = None) -> torch.Tensor:
        """Run the layers on ``x`` as it is (no size check, no padding); fill ``features`` if given."""
        def keep(name: str, value: torch.Tensor) -> torch.Tensor:
            if features is not None:
                features[name] = value
            return value

        skips = []
        for i, level in enumerate(self.encoder):
            x = keep(f"encoder.{i}", self._regularize(f"encoder.{i}", level(x)))
            skips.append(x)
        x = keep("bottleneck", self._regularize("bottleneck", self.bottleneck(x)))
        for i in reversed(range(self.depth)):
            x = keep(f"decoder.{i}", self._regularize(f"decoder.{i}", self.decoder[i](x, skips[i])))
        return keep("head", self.head(x))

    def _prepare(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        check_batch(x, "UNet", self.in_channels)
        height, width = x.shape[-2:]
        self.check_input_size(height, width)
        if self.pad_input:
            x = sizes.mirror_pad(x, *self._input_pads(height, width))
        return x, (height, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (height, width) = self._prepare(x)
        y = self.forward_unchecked(x)
        return y[..., :height, :width] if self.pad_input else y

    def feature_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """All per-level feature maps for ``x`` (name -> tensor, see :meth:`feature_names`).

        With ``pad_input=True`` they are the maps of the padded input (not cropped).
        """
        features: dict[str, torch.Tensor] = {}
        self.forward_unchecked(self._prepare(x)[0], features)
        return features


@register_model("unet")
def unet(
    in_channels: int = 1,
    out_channels: int = 1,
    widths: tuple[int, ...] = (32, 64, 128, 256, 512),
    batch_norm: bool = True,
    up: str = "transposed",
    pad_input: bool = True,
    skip: bool = True,
    init: str = "default",
    regularizer: Callable[[int, int], nn.Module] | None = None,
    regularize: Sequence[str] = ("encoder", "bottleneck"),
) -> UNet:
    """The course's padded U-Net. With ``batch_norm=False`` and these widths: 7,759,521 parameters
    (the UNet++ paper's baseline). ``regularizer``/``regularize``: see :class:`UNet` (chapter 03)."""
    return UNet(in_channels, out_channels, widths, batch_norm=batch_norm, up=up, padding="same",
                skip=skip, pad_input=pad_input, init=init, regularizer=regularizer, regularize=regularize)
