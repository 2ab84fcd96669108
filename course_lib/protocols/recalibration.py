"""Chapter 04's two comparisons, each with several seeds.

Where SE should help: the same shallow U-Net with and without a squeeze-and-excitation block after the
double convolution of every level, on ``synthetic-cue`` (a border frame far from most discs decides which
discs are the target).

- :class:`ContextPlan` / :func:`plan_for`: the sizes per mode.
- :func:`make_model`: ``"U-Net"`` or ``"SE U-Net"`` (the one :class:`course_lib.models.unet.UNet`, given a
  unit ``DoubleConv -> SEBlock``); the same initial convolution weights for both arms of a seed.
- :func:`receptive_field_px`: how far an output pixel of the plain model can see.
- :func:`compare_context`: every arm with every seed through :func:`course_lib.engine.fit`; validation
  scores plus ``wrong_kind``, the fraction of distractor-disc pixels predicted as target.

:func:`budget_text` (from :mod:`sweep`) names a sweep's training budget for :func:`course_lib.stats.compare`'s
verdict line.

Where it need not: a local task, thin vessels in synthetic fundus patches, with chapter 06's factory as a
plain U-Net and as an RSE-U-Net (:class:`VesselPlan`, :func:`vessel_plan_for`, :func:`compare_vessels`).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn as nn
from torch.utils.data import Dataset

from course_lib import config, engine, inspect_model
from course_lib.blocks.conv import DoubleConv
from course_lib.blocks.se import SEBlock
from course_lib.data import load as load_dataset
from course_lib.protocols.sweep import ArmResult, CosineLR, budget_text, run_sweep

__all__ = ["ARMS", "VESSEL_ARMS", "ContextPlan", "VesselPlan", "budget_text", "compare_context",
           "compare_vessels", "distance_to_border", "frame_present", "load_task", "load_vessels",
           "make_model", "make_vessel_model", "plan_for", "receptive_field_px", "vessel_plan_for",
           "wrong_kind_by_distance", "wrong_kind_rate"]

ARMS = ("U-Net", "SE U-Net")


@dataclass(frozen=True)
class ContextPlan:
    """One mode's sizes: a U-Net of ``len(widths)`` levels on ``size``-px ``synthetic-cue`` images."""

    n_train: int
    n_val: int
    size: int
    widths: tuple[int, ...]
    epochs: int
    steps_per_epoch: int
    batch_size: int
    lr: float = 3e-3
    reduction: int = 4
    seeds: tuple[int, ...] = (0, 1, 2)


PLANS = {
    "smoke": ContextPlan(n_train=8, n_val=16, size=64, widths=(4, 8, 16), epochs=1, steps_per_epoch=2,
                         batch_size=4, seeds=(0, 1)),
    "quick": ContextPlan(n_train=512, n_val=48, size=96, widths=(16, 32, 64), epochs=4, steps_per_epoch=40,
                         batch_size=8),
    "full": ContextPlan(n_train=2048, n_val=256, size=128, widths=(32, 64, 128), epochs=20,
                        steps_per_epoch=100, batch_size=16),
}


def plan_for(mode: str | None = None, **overrides: Any) -> ContextPlan:
    """The plan of ``mode`` (default: the current mode), with ``overrides`` applied."""
    return replace(PLANS[mode or config.get_mode()], **overrides)


def load_task(plan: ContextPlan) -> tuple[Dataset, Dataset]:
    """``(train, val)`` splits of ``synthetic-cue`` at the plan's size (distinct images)."""
    return (load_dataset("synthetic-cue", "train", n=plan.n_train, size=plan.size),
            load_dataset("synthetic-cue", "val", n=plan.n_val, size=plan.size))


def make_model(arm: str, plan: ContextPlan, seed: int = 0, in_channels: int = 1) -> nn.Module:
    """The plan's U-Net; ``"SE U-Net"`` adds ``SEBlock(out, plan.reduction)`` after every double conv."""
    from course_lib.models.unet import UNet

    if arm not in ARMS:
        raise ValueError(f"Unknown arm {arm!r}; choose one of {', '.join(ARMS)}.")

    def se_unit(c_in: int, c_out: int) -> nn.Module:
        return nn.Sequential(DoubleConv(c_in, c_out), SEBlock(c_out, plan.reduction))

    config.seed_everything(seed)
    return UNet(in_channels, 1, plan.widths, block=se_unit if arm == "SE U-Net" else None)


def receptive_field_px(plan: ContextPlan) -> int:
    """The side of the square of input pixels that can influence one output pixel of the plain U-Net
    (the theoretical receptive field: each 3x3 conv adds 2 px times the level's stride, each pool adds the
    level's stride)."""
    levels = len(plan.widths)
    field = 1
    for level in range(levels):  # encoder and bottleneck: two convs per level, a pool before each deeper one
        stride = 2**level
        field += (stride // 2 if level else 0) + 2 * 2 * stride
    for level in range(levels - 2, -1, -1):  # decoder: two convs per level
        field += 2 * 2 * 2**level
    return field


def frame_present(sample: dict[str, torch.Tensor]) -> bool:
    """Whether a ``synthetic-cue`` sample carries the frame, read from its labels: the target discs are
    then the bright ones (brighter on average than the distractors)."""
    image, target, other = sample["image"][0], sample["mask"][0] > 0.5, sample["distractor"][0] > 0.5
    if not target.any() or not other.any():
        raise ValueError("frame_present needs a sample with both target and distractor discs.")
    return bool(image[target].mean() > image[other].mean())


@torch.no_grad()
def wrong_kind_rate(prob: torch.Tensor, distractor: torch.Tensor, threshold: float = 0.5) -> float:
    """The fraction of distractor-disc pixels whose probability is at least ``threshold``."""
    chosen = (prob >= threshold) & (distractor > 0.5)
    return float(chosen.sum() / distractor.gt(0.5).sum().clamp(min=1))


def distance_to_border(height: int, width: int) -> torch.Tensor:
    """``height x width`` map of each pixel's distance in pixels to the nearest image edge (0 on the edge)."""
    rows = torch.arange(height).view(-1, 1)
    cols = torch.arange(width).view(1, -1)
    return torch.minimum(torch.minimum(rows, height - 1 - rows), torch.minimum(cols, width - 1 - cols))


@torch.no_grad()
def wrong_kind_by_distance(prob: torch.Tensor, distractor: torch.Tensor, edges: Sequence[int],
                           threshold: float = 0.5) -> list[float]:
    """:func:`wrong_kind_rate` pooled over all images, per band of distance to the image border (where
    the cue frame is): band ``k`` holds the pixels with ``edges[k] <= distance < edges[k + 1]``. A band
    without distractor pixels gives NaN."""
    if len(edges) < 2 or any(b <= a for a, b in itertools.pairwise(edges)):
        raise ValueError(f"edges must be at least two increasing distances, got {tuple(edges)}.")
    distance = distance_to_border(*prob.shape[-2:])
    chosen, other = (prob >= threshold) & (distractor > 0.5), distractor > 0.5
    rates = []
    for low, high in itertools.pairwise(edges):
        band = (distance >= low) & (distance < high)
        n = (other & band).sum()
        rates.append(float((chosen & band).sum() / n) if n > 0 else float("nan"))
    return rates


def compare_context(plan: ContextPlan, arms: Sequence[str] = ARMS, seeds: Sequence[int] | None = None,
                    keep_seed: int | None = 0, progress: bool = True,
                    build: Callable[[str, ContextPlan, int], nn.Module] | None = None,
                    distance_edges: Sequence[int] | None = None, desc: str = "SE x seeds") -> list[ArmResult]:
    """Train every arm with every seed (one progress bar); scores of the final weights on the validation
    images, with ``scores["wrong_kind"]`` from :func:`wrong_kind_rate`. ``build(arm, plan, seed)`` makes
    each model (default :func:`make_model`); with ``distance_edges``, ``extras["wrong_kind_by_distance"]``
    holds :func:`wrong_kind_by_distance` for every run."""
    build = make_model if build is None else build
    for arm in arms:  # fail on a misspelt arm before any training
        build(arm, plan, 0)
    train, val = load_task(plan)
    images = torch.stack([val[i]["image"] for i in range(len(val))])
    distractor = torch.stack([val[i]["distractor"] for i in range(len(val))])

    def train_arm(arm: str, seed: int) -> ArmResult:
        model = build(arm, plan, seed)
        start = time.perf_counter()
        history = engine.fit(model, train, val, epochs=plan.epochs, batch_size=plan.batch_size, lr=plan.lr,
                             loss="bce_dice", max_steps_per_epoch=plan.steps_per_epoch, seed=seed,
                             callbacks=[CosineLR(plan.lr)], progress=False)
        seconds = time.perf_counter() - start
        scores = engine.evaluate(model, val)
        prob = engine.predict(model, images)
        scores["wrong_kind"] = wrong_kind_rate(prob, distractor)
        extras = {} if distance_edges is None else {
            "wrong_kind_by_distance": wrong_kind_by_distance(prob, distractor, distance_edges)}
        return ArmResult(arm=arm, seed=seed, scores=scores, parameters=inspect_model.parameter_count(model),
                         seconds=seconds, history=history, model=model, prob=prob, extras=extras)

    return run_sweep(arms, plan.seeds if seeds is None else seeds, train_arm, keep_seed=keep_seed,
                     progress=progress, desc=desc)


# ---------------------------------------------------------------- the local task: vessels

VESSEL_ARMS = ("plain U-Net", "RSE-U-Net")


@dataclass(frozen=True)
class VesselPlan:
    """Random ``patch``-px patches (half centred on a vessel) of ``n_images`` synthetic fundus images;
    validation on ``n_val`` whole images inside the FOV."""

    size: int
    patch: int
    n_images: int
    n_val: int
    patches_per_image: int
    epochs: int
    batch_size: int
    widths: tuple[int, ...]
    block_size: tuple[int, ...]
    max_steps: int | None = None
    lr: float = 3e-3
    reduction: int = 4
    seeds: tuple[int, ...] = (0, 1, 2)


VESSEL_PLANS = {
    "smoke": VesselPlan(size=64, patch=32, n_images=2, n_val=2, patches_per_image=4, epochs=1,
                        batch_size=4, widths=(4, 8, 16, 32), block_size=(3, 3, 1, 1), max_steps=2,
                        seeds=(0, 1)),
    "quick": VesselPlan(size=192, patch=64, n_images=12, n_val=4, patches_per_image=16, epochs=8,
                        batch_size=8, widths=(8, 16, 32, 64), block_size=(5, 3, 3, 1)),
    "full": VesselPlan(size=384, patch=96, n_images=40, n_val=10, patches_per_image=16, epochs=30,
                       batch_size=16, widths=(16, 32, 64, 128), block_size=(7, 5, 3, 1)),
}


def vessel_plan_for(mode: str | None = None, **overrides: Any) -> VesselPlan:
    """The vessel plan of ``mode`` (default: the current mode), with ``overrides`` applied."""
    return replace(VESSEL_PLANS[mode or config.get_mode()], **overrides)


def load_vessels(plan: VesselPlan, seed: int = 0) -> tuple[Dataset, Dataset, Dataset]:
    """``(images, train_patches, val)``: the training images, their random patches (flipped, half centred
    on a vessel pixel, drawn with ``seed``) and the whole validation images."""
    from course_lib.data import transforms

    images = load_dataset("synthetic-vessels", "train", n=plan.n_images, size=plan.size)
    val = load_dataset("synthetic-vessels", "val", n=plan.n_val, size=plan.size)
    patches = transforms.RandomPatches(images, patch_size=plan.patch,
                                       patches_per_image=plan.patches_per_image, foreground_fraction=0.5,
                                       transform=transforms.RandomFlip(), seed=seed)
    return images, patches, val


def make_vessel_model(arm: str, plan: VesselPlan, seed: int = 0) -> nn.Module:
    """Chapter 06's factory without DAC: every unit an RSE block (``"RSE-U-Net"``) or a double conv."""
    from course_lib.models import create_model

    if arm not in VESSEL_ARMS:
        raise ValueError(f"Unknown arm {arm!r}; choose one of {', '.join(VESSEL_ARMS)}.")
    config.seed_everything(seed)
    return create_model("dacrse_unet", in_channels=3, out_channels=1, widths=plan.widths, dac=False,
                        rse=arm == "RSE-U-Net", reduction=plan.reduction, keep_prob=0.9,
                        block_size=plan.block_size)


def compare_vessels(plan: VesselPlan, arms: Sequence[str] = VESSEL_ARMS, seeds: Sequence[int] | None = None,
                    keep_seed: int | None = 0, progress: bool = True) -> list[ArmResult]:
    """Train every arm with every seed (the seed also draws the patches; both arms of a seed see the same
    ones); scores of the final weights on the whole validation images, inside the FOV."""
    def train_arm(arm: str, seed: int) -> ArmResult:
        _, patches, val = load_vessels(plan, seed)
        model = make_vessel_model(arm, plan, seed)
        start = time.perf_counter()
        history = engine.fit(model, patches, val, epochs=plan.epochs, batch_size=plan.batch_size,
                             lr=plan.lr, loss="bce_dice", max_steps_per_epoch=plan.max_steps, seed=seed,
                             callbacks=[CosineLR(plan.lr)], progress=False)
        seconds = time.perf_counter() - start
        scores = engine.evaluate(model, val)
        scores["best_val_dice"] = max(history["val_dice"])
        return ArmResult(arm=arm, seed=seed, scores=scores, parameters=inspect_model.parameter_count(model),
                         seconds=seconds, history=history, model=model)

    return run_sweep(arms, plan.seeds if seeds is None else seeds, train_arm, keep_seed=keep_seed,
                     progress=progress, desc="vessels x seeds")
