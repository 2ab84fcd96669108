"""Chapter 06's ablation with seeds: what DAC and RSE each contribute where context matters.

On ``synthetic-cue`` (chapter 04's task: a border frame decides which discs are the target, so a pixel
needs to see the border), four models from the one DACRSE-UNet factory, differing only in ``dac`` and
``rse``: U-Net (neither), RSE-U-Net (RSE units: squeeze-and-excitation pools the whole map), DAC-U-Net
(the DAC bottleneck: dilated branches enlarge the receptive field) and DACRSE-UNet (both). DropBlock is
off (``keep_prob=1``; chapter 03's subject), so the two mechanisms are all that differ.

- :data:`ARMS`, :func:`plan_for`: the arms and the sizes per mode (a shallow net on small images, so
  that the border lies outside the plain U-Net's receptive field for the central discs).
- :func:`make_model`: one arm's model, seeded.
- :func:`receptive_field_side`: the side of an output pixel's convolutional footprint, measured.
- :func:`compare`: every arm with every seed, with the wrong-kind rate per distance from the border;
  :func:`budget_text` (from :mod:`sweep`) names its budget for :func:`course_lib.stats.compare`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch.nn as nn

from course_lib import config
from course_lib.blocks.se import SEBlock
from course_lib.protocols import recalibration
from course_lib.protocols.recalibration import ContextPlan
from course_lib.protocols.sweep import ArmResult, budget_text
from course_lib.receptive_field import bounding_box, footprint

__all__ = ["ARMS", "DISTANCE_EDGES", "PLANS", "band_labels", "budget_text", "compare", "make_model",
           "plan_for", "receptive_field_side"]

ARMS: dict[str, dict[str, bool]] = {
    "U-Net": {"dac": False, "rse": False},
    "RSE-U-Net": {"dac": False, "rse": True},
    "DAC-U-Net": {"dac": True, "rse": False},
    "DACRSE-UNet": {"dac": True, "rse": True},
}

PLANS = {
    "smoke": recalibration.PLANS["smoke"],
    "quick": ContextPlan(n_train=512, n_val=48, size=64, widths=(8, 16, 32), epochs=4, steps_per_epoch=40,
                         batch_size=8),
    "full": ContextPlan(n_train=2048, n_val=256, size=96, widths=(16, 32, 64), epochs=10, steps_per_epoch=100,
                        batch_size=16),
}

# bands of distance to the image border (px) for the wrong-kind rate; the last edge is open-ended
DISTANCE_EDGES = (0, 12, 18, 24, 1_000)


def band_labels(edges: Sequence[int] = DISTANCE_EDGES) -> list[str]:
    """``"0-11"``, ``"12-17"``, ... ``"24+"``: the distance bands of ``edges``, the last one open-ended."""
    inner = [f"{low}-{high - 1}" for low, high in itertools.pairwise(edges[:-1])]
    return [*inner, f"{edges[-2]}+"]


def plan_for(mode: str | None = None, **overrides: Any) -> ContextPlan:
    """The plan of ``mode`` (default: the current mode), with ``overrides`` applied."""
    return replace(PLANS[config.check_mode(mode or config.get_mode())], **overrides)


def make_model(arm: str, plan: ContextPlan, seed: int = 0, in_channels: int = 1) -> nn.Module:
    """``create_model("dacrse_unet")`` at the plan's widths with the arm's ``dac`` / ``rse`` settings,
    DropBlock off, seeded with ``seed``."""
    from course_lib.models import create_model

    if arm not in ARMS:
        raise ValueError(f"Unknown arm {arm!r}; choose one of {', '.join(ARMS)}.")
    config.seed_everything(seed)
    return create_model("dacrse_unet", in_channels=in_channels, widths=plan.widths, keep_prob=1.0,
                        reduction=plan.reduction, **ARMS[arm])


def receptive_field_side(model: nn.Module, probe_size: int = 256) -> int:
    """Width in pixels of the input square that can change the centre output pixel, measured with
    :func:`~course_lib.receptive_field.footprint` on a ``probe_size`` image (large enough not to clip it),
    SE blocks treated as identities (their global pool alone would reach every pixel)."""
    reach = footprint(model, (1, model.in_channels, probe_size, probe_size), identity_for=(SEBlock,))
    top, left, bottom, right = bounding_box(reach)
    return int(max(bottom - top, right - left)) + 1


def compare(plan: ContextPlan, arms: Sequence[str] = tuple(ARMS), seeds: Sequence[int] | None = None,
            keep_seed: int | None = 0, progress: bool = True) -> list[ArmResult]:
    """Every arm with every seed on ``synthetic-cue`` (:func:`recalibration.compare_context`), with
    ``extras["wrong_kind_by_distance"]`` over :data:`DISTANCE_EDGES`."""
    return recalibration.compare_context(plan, arms, seeds, keep_seed=keep_seed, progress=progress,
                                         build=make_model, distance_edges=DISTANCE_EDGES,
                                         desc="DAC/RSE x seeds")
