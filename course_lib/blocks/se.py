"""Squeeze-and-excitation (Hu et al., CVPR 2018) and the residual SE unit (RSE) of DACRSE-UNet."""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType

import torch
import torch.nn as nn

from course_lib.blocks.dropblock import DropBlock2d

__all__ = ["RSEBlock", "SEBlock", "SEWeightRecorder", "se_parameter_count", "se_weights"]


def se_parameter_count(channels: int, reduction: int = 16, *, min_hidden: int = 1) -> int:
    """Parameters of ``SEBlock(channels, reduction)``: ``2*C*h + h + C`` with ``h = max(C // r, min_hidden)``.

    Two fully connected layers ``C -> h -> C`` with biases; for ``C`` divisible by ``r`` that is the
    paper's ``2 C^2 / r`` weights plus ``C / r + C`` biases.
    """
    if channels < 1 or reduction < 1:
        raise ValueError(f"channels and reduction must be positive, got {channels} and {reduction}.")
    hidden = max(channels // reduction, min_hidden)
    return 2 * channels * hidden + hidden + channels


class SEBlock(nn.Module):
    """Channel attention: ``x * sigmoid(W2 relu(W1 avgpool(x)))``; returns the re-weighted ``x``.

    squeeze: global average pool to one number per channel; excitation: FC ``C -> C/r``, ReLU,
    FC ``C/r -> C``, sigmoid. ``reduction`` r = 16 as in the paper; the hidden width is floored at
    ``min_hidden`` (default 1) so narrow layers (C < r) still work; a single hidden ReLU unit can die
    and freeze the gate, so give narrow layers a smaller r. The last channel weights are kept
    (detached) in ``last_weights`` (N, C) for plotting; :class:`SEWeightRecorder` collects them over
    many batches and every SE block of a model.

    The block already multiplies by ``x``: writing ``se(x) * x`` afterwards squares the input
    (a bug in the course's source material).
    """

    def __init__(self, channels: int, reduction: int = 16, *, min_hidden: int = 1) -> None:
        super().__init__()
        if channels < 1 or reduction < 1:
            raise ValueError(f"channels and reduction must be positive, got {channels} and {reduction}.")
        self.channels, self.reduction = channels, reduction
        self.hidden = max(channels // reduction, min_hidden)
        self.squeeze = nn.AdaptiveAvgPool2d(1)
        self.excitation = nn.Sequential(
            nn.Linear(channels, self.hidden),
            nn.ReLU(inplace=True),
            nn.Linear(self.hidden, channels),
            nn.Sigmoid(),
        )
        self.last_weights: torch.Tensor | None = None

    def channel_weights(self, x: torch.Tensor) -> torch.Tensor:
        """The (N, C) excitation weights in (0, 1) for input ``x``."""
        return self.excitation(self.squeeze(x).flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.channel_weights(x)
        self.last_weights = weights.detach()
        return x * weights[:, :, None, None]


def _preact_conv(in_channels: int, out_channels: int, keep_prob: float, block_size: int) -> nn.Sequential:
    """``BN -> ReLU -> conv3x3 -> DropBlock``: one pre-activation step with structured dropout."""
    layers: list[nn.Module] = [
        nn.BatchNorm2d(in_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
    ]
    if keep_prob < 1.0:
        layers.append(DropBlock2d(keep_prob, block_size))
    return nn.Sequential(*layers)


class RSEBlock(nn.Module):
    """Residual SE unit: ``shortcut(x) + SE(F(x))`` with a pre-activation residual branch ``F``.

    ``F = BN-ReLU-conv3x3-DropBlock-BN-ReLU-conv3x3-DropBlock``:

    - pre-activation order (BN and ReLU before each conv, nothing after the addition) from He et al.,
      "Identity mappings in deep residual networks", ECCV 2016;
    - DropBlock right after each conv, i.e. before the next BN, as in the structured-dropout blocks of
      SA-UNet / RSAN (Guo et al. 2020) for retinal vessels;
    - SE on the residual branch, before the addition, as in SE-ResNet (Hu et al. 2018, Fig. 3).

    The shortcut is the identity when ``in_channels == out_channels`` and a 1x1 convolution
    (no bias) when the width changes. ``keep_prob=1`` leaves DropBlock out.
    """

    def __init__(self, in_channels: int, out_channels: int, *, keep_prob: float = 0.9, block_size: int = 7,
                 reduction: int = 16) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            _preact_conv(in_channels, out_channels, keep_prob, block_size),
            _preact_conv(out_channels, out_channels, keep_prob, block_size),
        )
        self.se = SEBlock(out_channels, reduction)
        self.shortcut: nn.Module = (
            nn.Identity() if in_channels == out_channels
            else nn.Conv2d(in_channels, out_channels, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # self.se(...) is already "features * weights"; multiplying by the features again is bug 2.
        return self.shortcut(x) + self.se(self.residual(x))


class SEWeightRecorder:
    """Record the channel weights of every :class:`SEBlock` in ``model`` while the ``with`` block runs.

    ::

        with SEWeightRecorder(model) as rec:
            model(batch_1)
            model(batch_2)
        rec.weights  # {"encoder.0.se": (N1 + N2, C) tensor, ...} in forward order

    Forward hooks are removed on exit, so the model is left as it was. The weights are detached and
    kept on the CPU.
    """

    def __init__(self, model: nn.Module) -> None:
        self.blocks = {name or "se": m for name, m in model.named_modules() if isinstance(m, SEBlock)}
        if not self.blocks:
            raise ValueError(f"{type(model).__name__} contains no SEBlock: nothing to record "
                             "(build the model with SE/RSE units, e.g. create_model('rse_unet')).")
        self._batches: dict[str, list[torch.Tensor]] = {name: [] for name in self.blocks}
        self._order: list[str] = []
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def _hook(self, name: str):
        def hook(module: SEBlock, inputs: tuple, output: torch.Tensor) -> None:
            if name not in self._order:
                self._order.append(name)
            self._batches[name].append(module.last_weights.float().cpu())

        return hook

    def __enter__(self) -> SEWeightRecorder:
        self._handles = [m.register_forward_hook(self._hook(name)) for name, m in self.blocks.items()]
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    @property
    def weights(self) -> dict[str, torch.Tensor]:
        """``{block name: (N, C) weights}`` over all recorded batches, in the order the blocks ran."""
        return {name: torch.cat(self._batches[name]) for name in self._order}


@torch.inference_mode()
def se_weights(model: nn.Module, images: torch.Tensor | Iterable[torch.Tensor],
               batch_size: int = 8) -> dict[str, torch.Tensor]:
    """The (N, C) channel weights of every SE block for ``images`` (N x C x H x W, or an iterable of batches).

    Runs ``model`` in eval mode on its own device (restoring train mode afterwards).
    """
    device = next(model.parameters()).device
    batches = images.split(batch_size) if isinstance(images, torch.Tensor) else images
    was_training = model.training
    model.eval()
    try:
        with SEWeightRecorder(model) as recorder:
            for batch in batches:
                model(batch.to(device))
    finally:
        model.train(was_training)
    return recorder.weights
