"""Segmentation losses on logits: cross-entropy (plain and pixel-weighted), soft Dice, and their mix.

**One signature for every loss:** ``loss(logits, mask, weight=None) -> scalar tensor``

- ``logits``: the raw model output, ``N x C x H x W`` with ``C = 1`` (sigmoid: foreground probability
  ``sigmoid(logits)``) or ``C = 2`` (softmax: foreground probability ``softmax(logits, 1)[:, 1]``).
- ``mask``: ``N x 1 x H x W`` in ``{0, 1}`` (``N x H x W`` is accepted too).
- ``weight``: an optional per-pixel weight map shaped like ``mask`` (the U-Net paper's ``w(x)``). Only
  ``weighted_cross_entropy`` and ``masked_cross_entropy`` (0 = not annotated, the 3D U-Net's sparse
  labels) use it; the others accept and ignore it, so one dataset that provides weight maps can be
  trained with any loss and the effect of the weights compared.
- Volumes work the same way: ``N x C x D x H x W`` logits and ``N x 1 x D x H x W`` masks.

Losses take logits, never probabilities: ``sigmoid`` followed by ``BCELoss`` loses precision for
confident pixels (course bug 8), while ``binary_cross_entropy_with_logits`` computes
``log(sigmoid(x))`` stably.

Multi-output models (deep supervision in UNet++, the seven side outputs of U^2-Net) return a list of
logits; :class:`MultiOutputLoss` applies a loss to each and sums them with weights.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "LOSSES", "LossFn", "MultiOutputLoss", "bce_dice_loss", "bce_loss", "dice_loss", "foreground_probability",
    "get_loss", "masked_cross_entropy", "weighted_cross_entropy",
]

LossFn = Callable[..., torch.Tensor]


def _check(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Validate shapes; return the mask as ``N x 1 x H x W`` (or ``N x 1 x D x H x W``) float."""
    if mask.dim() == logits.dim() - 1:
        mask = mask.unsqueeze(1)
    if logits.dim() not in (4, 5) or mask.dim() != logits.dim():
        raise ValueError(f"Expected logits N x C x H x W and a mask N x 1 x H x W (or N x C x D x H x W for "
                         f"volumes), got logits {tuple(logits.shape)} and mask {tuple(mask.shape)}.")
    if logits.shape[1] not in (1, 2):
        raise ValueError(f"The model outputs {logits.shape[1]} channels, but a binary mask needs 1 channel "
                         "(sigmoid) or 2 (softmax). A 3-channel sigmoid output cannot be trained against a "
                         "1-channel mask (course bug 5): create the model with out_channels=1.")
    if mask.shape[1] != 1:
        raise ValueError(f"The mask has {mask.shape[1]} channels; a binary mask has 1 (N x 1 x H x W).")
    if logits.shape[2:] != mask.shape[2:] or logits.shape[0] != mask.shape[0]:
        have, want = "x".join(map(str, logits.shape[2:])), "x".join(map(str, mask.shape[2:]))
        hint = ""
        if all(a < b for a, b in zip(logits.shape[2:], mask.shape[2:], strict=True)):
            hint = (" A valid-convolution (unpadded) U-Net returns a smaller map than its input: centre-crop "
                    "the masks to the output size (cl.blocks.center_crop) or use a padded model.")
        raise ValueError(f"The prediction is {have} (batch {logits.shape[0]}) but the mask is {want} "
                         f"(batch {mask.shape[0]}); they must match pixel for pixel.{hint}")
    return mask.to(logits.dtype)


def foreground_probability(logits: torch.Tensor) -> torch.Tensor:
    """``N x 1 x H x W`` foreground probability: sigmoid of 1-channel logits, softmax channel 1 of 2."""
    if logits.shape[1] == 1:
        return torch.sigmoid(logits)
    if logits.shape[1] == 2:
        return torch.softmax(logits, dim=1)[:, 1:2]
    raise ValueError(f"Expected 1- or 2-channel logits for a binary task, got {logits.shape[1]} channels.")


def weighted_cross_entropy(
    logits: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Pixel-weighted cross-entropy, the energy of the U-Net paper: ``mean_x w(x) * -log p_{l(x)}(x)``.

    1-channel logits use the binary (sigmoid) form, 2-channel logits the softmax form; for two classes
    they are the same loss in two parametrisations. ``weight=None`` (or all ones) is the plain mean CE.
    """
    mask = _check(logits, mask)
    if logits.shape[1] == 1:
        per_pixel = F.binary_cross_entropy_with_logits(logits, mask, reduction="none")
    else:
        per_pixel = F.cross_entropy(logits, mask[:, 0].long(), reduction="none").unsqueeze(1)
    if weight is not None:
        if weight.dim() == mask.dim() - 1:
            weight = weight.unsqueeze(1)
        if weight.shape != per_pixel.shape:
            raise ValueError(f"The weight map has shape {tuple(weight.shape)} but the mask has "
                             f"{tuple(per_pixel.shape)}; give one weight per mask pixel.")
        per_pixel = per_pixel * weight
    return per_pixel.mean()


def masked_cross_entropy(
    logits: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy over the annotated pixels only: ``sum_x w(x) ce(x) / sum_x w(x)``, with ``w`` 0 where
    nothing was annotated (the 3D U-Net's sparse annotation). Whatever the mask says where ``w = 0`` has
    no effect on the loss or its gradient. ``weight=None`` is the plain mean CE."""
    if weight is None:
        return weighted_cross_entropy(logits, mask)
    mask = _check(logits, mask)
    if weight.dim() == mask.dim() - 1:
        weight = weight.unsqueeze(1)
    if weight.shape != mask.shape:
        raise ValueError(f"The annotation weight has shape {tuple(weight.shape)} but the mask has "
                         f"{tuple(mask.shape)}; give one weight per mask voxel.")
    if logits.shape[1] == 1:
        per_pixel = F.binary_cross_entropy_with_logits(logits, mask, reduction="none")
    else:
        per_pixel = F.cross_entropy(logits, mask[:, 0].long(), reduction="none").unsqueeze(1)
    return (per_pixel * weight).sum() / weight.sum().clamp_min(1.0)


def bce_loss(logits: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy on logits (softmax CE for 2-channel logits); ignores ``weight``."""
    return weighted_cross_entropy(logits, mask)


def dice_loss(
    logits: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor | None = None, smooth: float = 1.0
) -> torch.Tensor:
    """Soft Dice loss ``1 - (2 sum(p m) + s) / (sum p + sum m + s)`` on the foreground probability.

    Sums run over all pixels of the batch (like the course metrics). ``smooth`` keeps the loss defined
    (and 0) for an empty mask predicted empty. Ignores ``weight``.
    """
    mask = _check(logits, mask)
    prob = foreground_probability(logits.float())
    intersection = (prob * mask).sum()
    return 1 - (2 * intersection + smooth) / (prob.sum() + mask.sum() + smooth)


def bce_dice_loss(
    logits: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """``bce + dice``: cross-entropy for per-pixel calibration, Dice against class imbalance."""
    return bce_loss(logits, mask) + dice_loss(logits, mask)


LOSSES: dict[str, LossFn] = {
    "bce": bce_loss,
    "dice": dice_loss,
    "bce_dice": bce_dice_loss,
    "weighted_ce": weighted_cross_entropy,
    "masked_ce": masked_cross_entropy,
}


def _accepts_three_args(fn: Callable) -> bool:
    target = fn.forward if isinstance(fn, torch.nn.Module) else fn  # Module.__call__ takes *args
    try:
        params = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return True
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return True
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params) >= 3


def get_loss(loss: str | Callable) -> LossFn:
    """A loss by name (``"bce"``, ``"dice"``, ``"bce_dice"``, ``"weighted_ce"``) or a callable.

    A two-argument callable such as ``torch.nn.BCEWithLogitsLoss()`` is wrapped so that it fits the
    course signature ``(logits, mask, weight=None)`` (the weight is then ignored).
    """
    if isinstance(loss, str):
        key = loss.strip().lower().replace("-", "_").replace("+", "_")
        if key not in LOSSES:
            raise ValueError(f"Unknown loss {loss!r}. Use one of {', '.join(LOSSES)} or pass a callable "
                             "loss(logits, mask, weight=None).")
        return LOSSES[key]
    if not callable(loss):
        raise TypeError(f"loss must be a name or a callable, got {type(loss).__name__}.")
    if _accepts_three_args(loss):
        return loss

    def two_argument_loss(logits: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor | None = None):
        return loss(logits, mask)

    return two_argument_loss


class MultiOutputLoss:
    """Apply ``base`` to every output of a multi-output model and sum with ``weights``.

    ``outputs`` may be one tensor (then this is just ``base``) or a list, final output first, each at
    mask resolution. ``weights=None`` gives every output weight 1, i.e. the plain sum used by U^2-Net
    (``L = sum_m l_side^(m) + l_fuse``, seven BCE terms).
    """

    def __init__(self, base: str | Callable = "bce", weights: Sequence[float] | None = None) -> None:
        self.base = get_loss(base)
        if weights is not None:
            if isinstance(weights, (int, float)) or not all(isinstance(w, (int, float)) for w in weights):
                raise TypeError(f"deep_supervision_weights must be a list of numbers, one per output (got "
                                f"{weights!r}).")
            if not all(math.isfinite(w) and w >= 0 for w in weights) or not any(w > 0 for w in weights):
                raise ValueError(f"deep_supervision_weights must be finite, non-negative and not all zero "
                                 f"(got {list(weights)}).")
        self.weights = None if weights is None else [float(w) for w in weights]

    def __call__(
        self,
        outputs: torch.Tensor | Sequence[torch.Tensor],
        mask: torch.Tensor,
        weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if isinstance(outputs, torch.Tensor):
            if self.weights is not None:
                raise ValueError(f"deep_supervision_weights={self.weights} were given, but the model returns "
                                 "one output, so they would be ignored. Drop them, or build the model with "
                                 "deep supervision (e.g. deep_supervision=True) so it returns a list.")
            return self.base(outputs, mask, weight)
        weights = self.weights if self.weights is not None else [1.0] * len(outputs)
        if len(weights) != len(outputs):
            raise ValueError(f"The model returned {len(outputs)} outputs but {len(weights)} loss weights "
                             "were given (deep_supervision_weights); give one weight per output.")
        return sum(w * self.base(out, mask, weight) for w, out in zip(weights, outputs, strict=True))

    def __repr__(self) -> str:
        return f"MultiOutputLoss({getattr(self.base, '__name__', self.base)!r}, weights={self.weights})"
