"""Chapter 07's protocol: U-Net, Attention U-Nets and recurrent residual U-Nets on small lesions.

Every arm is built from the one :class:`~course_lib.models.attention_unet.AttentionUNet` skeleton
(same widths, nearest-upsample up-convs, same head), so the arms differ only in what the chapter
teaches: the gates on the skips (``same`` or ``grid``) and the recurrent residual units.

- :func:`plan_for`: sizes, budget and seeds per mode (:class:`LesionPlan`).
- :func:`load_lesion_data`: ``synthetic-lesions`` training images (cut into random patches, half of them
  centred on a lesion) and whole validation images.
- :class:`AttentionRecorder`: an engine callback that keeps every gate's coefficients on fixed images
  before training and after each epoch.
- :func:`compare_arms`: every arm x seed with the same data, steps, optimizer and schedule, one progress
  bar for the sweep; Dice/IoU and lesion-level detection (:mod:`course_lib.lesion_metrics`) on the
  validation images. :func:`summarise` gives mean and spread per arm.
- :data:`COMPARED_SCORES`: the scores on which every arm is compared with the U-Net, paired by seed
  (:func:`course_lib.stats.compare_to_baseline`); :func:`format_per_seed` prints the seeds' values behind
  those comparisons; :func:`budget_text` names the budget for the verdict lines.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import Dataset, Subset

from course_lib import config, engine
from course_lib.data import load as load_dataset
from course_lib.data import transforms as T
from course_lib.lesion_metrics import FINE_THRESHOLDS, froc, froc_score, lesion_detection, recall_at_fp
from course_lib.metrics import segmentation_scores
from course_lib.models import create_model
from course_lib.protocols import sweep
from course_lib.protocols.sweep import ArmResult, CosineLR, EpochRecorder, budget_text, run_sweep

__all__ = [
    "ARMS",
    "COMPARED_SCORES",
    "EXTRA_ARMS",
    "ArmResult",
    "AttentionRecorder",
    "LesionData",
    "LesionPlan",
    "NormModeDice",
    "attention_by_region",
    "border_frame",
    "budget_text",
    "compare_arms",
    "format_per_seed",
    "format_summary",
    "load_lesion_data",
    "make_arm_model",
    "median_gain_image",
    "norm_mode_runs",
    "per_image_dice",
    "plan_for",
    "step_statistics",
    "summarise",
    "train_arm",
]

#: arm name -> (registry name, configuration); all share the AttentionUNet skeleton.
ARMS: dict[str, tuple[str, dict[str, Any]]] = {
    "U-Net": ("attention_unet", {"attention": False}),
    "AttU-Net (same)": ("attention_unet", {"gate": "same"}),
    "AttU-Net (grid)": ("attention_unet", {"gate": "grid"}),
    "AttU-Net (grid, α=1)": ("attention_unet", {"gate": "grid-open"}),
    "R2U-Net": ("r2unet", {"t": 2, "step_norm": True}),
    "R2AttU-Net": ("r2attunet", {"t": 2, "step_norm": True}),
}
#: Arms outside the main comparison (trained on their own in the chapter).
EXTRA_ARMS: dict[str, tuple[str, dict[str, Any]]] = {
    "R2U-Net (shared BN)": ("r2unet", {"t": 2}),
}
#: The scores every arm is compared on against the U-Net: (key, name in the verdict line, higher is
#: better, digits printed). False positives per image are multiples of 1 / (validation images).
#: ``froc``: lesion recall averaged over 1/8 to 8 false positives per image (FROC sensitivity).
COMPARED_SCORES: tuple[tuple[str, str, bool, int], ...] = (
    ("dice", "Dice", True, 3),
    ("recall", "lesion recall", True, 3),
    ("fp_per_image", "FP per image", False, 2),
    ("froc", "FROC sensitivity (1/8-8 FP per image)", True, 3),
)
#: The recurrent arms use one BatchNorm per unrolled step: the reference's shared BatchNorm averages
#: the statistics of the t + 1 steps, and the model then fails in eval mode (chapter 07, section 5).


@dataclass(frozen=True)
class LesionPlan:
    """What scales with the mode. ``steps`` optimizer steps of ``batch_size`` patches per run, split into
    ``epochs`` (attention maps are recorded after each); Adam with a cosine decay from ``lr``."""

    size: int
    patch: int
    n_train: int
    n_val: int
    widths: tuple[int, ...]
    steps: int
    epochs: int
    batch_size: int
    lr: float
    seeds: tuple[int, ...]
    difficulty: float = 0.5


_PLANS = {
    "smoke": LesionPlan(size=64, patch=32, n_train=4, n_val=2, widths=(4, 8, 16, 32), steps=4, epochs=2,
                        batch_size=4, lr=3e-3, seeds=(0, 1)),
    "quick": LesionPlan(size=128, patch=64, n_train=24, n_val=8, widths=(8, 16, 32, 64), steps=240,
                        epochs=6, batch_size=4, lr=3e-3, seeds=(0, 1, 2)),
    "full": LesionPlan(size=256, patch=128, n_train=200, n_val=40, widths=(64, 128, 256, 512, 1024),
                       steps=1000, epochs=8, batch_size=8, lr=1e-3, seeds=(0, 1, 2)),
}


def plan_for(mode: str | None = None, **overrides: Any) -> LesionPlan:
    """The chapter's plan for ``mode`` (default: the current mode), with fields overridden."""
    from dataclasses import replace

    return replace(_PLANS[config.check_mode(mode or config.get_mode())], **overrides)


@dataclass
class LesionData:
    """Training images and whole validation images (``val``: at most ``eval_limit()`` in a rehearsal)."""

    train: Dataset
    val: Dataset
    plan: LesionPlan

    def val_batch(self, key: str | None = None) -> tuple[torch.Tensor, ...]:
        """All validation images and masks as two N x 1 x H x W tensors; ``key`` (e.g. ``"lookalike"``)
        adds that entry as a third."""
        samples = [self.val[i] for i in range(len(self.val))]
        keys = ("image", "mask") + ((key,) if key else ())
        return tuple(torch.stack([s[k] for s in samples]) for k in keys)

    def patches(self, seed: int) -> Dataset:
        """The training patches a run with ``seed`` sees (half centred on a lesion pixel, random flips)."""
        p = self.plan
        per_image = max(1, math.ceil(p.steps * p.batch_size / (p.epochs * len(self.train))))
        return T.RandomPatches(self.train, patch_size=p.patch, patches_per_image=per_image,
                               foreground_fraction=0.5, transform=T.RandomFlip(), seed=seed)


def load_lesion_data(plan: LesionPlan, seed: int = 0) -> LesionData:
    """``synthetic-lesions`` at ``plan.size`` px: ``plan.n_train`` training and ``plan.n_val`` validation
    images (the validation images limited to ``eval_limit()`` in a rehearsal)."""
    train = load_dataset("synthetic-lesions", "train", n=plan.n_train, size=plan.size, seed=seed,
                         difficulty=plan.difficulty)
    val = load_dataset("synthetic-lesions", "val", n=plan.n_val, size=plan.size, seed=seed,
                       difficulty=plan.difficulty)
    limit = config.eval_limit()
    if limit is not None and len(val) > limit:
        val = Subset(val, range(limit))
    return LesionData(train, val, plan)


def make_arm_model(arm: str, widths: Sequence[int], in_channels: int = 1, seed: int = 0) -> nn.Module:
    """The arm's model (from :data:`ARMS` or :data:`EXTRA_ARMS`) at ``widths``, initialised from ``seed``."""
    known = {**ARMS, **EXTRA_ARMS}
    if arm not in known:
        raise ValueError(f"Unknown arm {arm!r}; choose from {', '.join(known)}.")
    name, cfg = known[arm]
    config.seed_everything(seed)
    return create_model(name, in_channels=in_channels, out_channels=1, widths=tuple(widths), **cfg)


class AttentionRecorder(EpochRecorder):
    """Engine callback: every gate's coefficients on fixed ``images`` before training and after each epoch.

    ``maps[e][k]`` is the N x 1 x H x W map of gate ``k`` (0 = the finest level, next to the output)
    after epoch ``e`` (``e = 0``: the initial weights); ``epochs[e]`` is that epoch's number.
    """

    def capture(self, model: nn.Module, outputs: Any) -> list[torch.Tensor]:
        if not hasattr(model, "attention_maps"):
            raise TypeError(f"{type(model).__name__} has no attention_maps(); record an Attention U-Net.")
        return [m.float().cpu() for m in reversed(model.attention_maps())]


REGIONS = ("lesions", "look-alikes", "elsewhere")


def attention_by_region(recorder: AttentionRecorder, masks: torch.Tensor,
                        lookalikes: torch.Tensor | None = None) -> np.ndarray:
    """Mean attention on the lesions, on the look-alike blobs and elsewhere (:data:`REGIONS`): an array
    ``epochs x gates x 3`` over the recorded images (NaN for a region with no pixels).

    A coarse gate's map is compared at the mask's size (each coefficient repeated over its pixels)."""
    lesion = masks.bool()
    fake = lookalikes.bool() & ~lesion if lookalikes is not None else torch.zeros_like(lesion)
    regions = (lesion, fake, ~(lesion | fake))
    out = np.full((len(recorder.maps), len(recorder.maps[0]) if recorder.maps else 0, 3), np.nan)
    for e, level_maps in enumerate(recorder.maps):
        for k, alpha in enumerate(level_maps):
            alpha = torch.nn.functional.interpolate(alpha, size=masks.shape[-2:], mode="nearest")
            for r, region in enumerate(regions):
                if region.any():
                    out[e, k, r] = float(alpha[region].mean())
    return out


@torch.no_grad()
def border_frame(model: nn.Module, images: torch.Tensor, pad: int = 16) -> list[dict[str, float]]:
    """Is a frame along the border of an attention map the image or the zero padding? Per gate (finest
    first): the mean coefficient on the map's outermost ring (``edge``) and the ring inside it (``inside``);
    then the same after padding ``images`` by ``pad`` px of their corner value (air): on those same pixels
    (``edge_padded``, now interior) and on the new outermost ring (``new_edge``). A frame that moves to the
    new border comes from the padding; one that stays is in the image. ``pad``: a multiple of 2^depth."""
    was_training = model.training
    model.eval()
    try:
        model(images)
        plain = list(reversed(model.attention_maps()))
        background = float(images[..., :2, :2].mean())
        model(torch.nn.functional.pad(images, (pad,) * 4, value=background))
        padded = list(reversed(model.attention_maps()))
    finally:
        model.train(was_training)

    def ring(alpha: torch.Tensor, k: int) -> float:  # pixels exactly k from the map's border
        h, w = alpha.shape[-2:]
        i, j = torch.arange(h)[:, None], torch.arange(w)[None, :]
        distance = torch.minimum(torch.minimum(i, h - 1 - i), torch.minimum(j, w - 1 - j))
        return float(alpha[..., distance == k].mean())

    rows = []
    for alpha, alpha_padded in zip(plain, padded, strict=True):
        p = pad * alpha.shape[-1] // images.shape[-1]
        moved = alpha_padded[..., p:alpha_padded.shape[-2] - p, p:alpha_padded.shape[-1] - p]
        rows.append({"size": alpha.shape[-1], "edge": ring(alpha, 0), "inside": ring(alpha, 1),
                     "edge_padded": ring(moved, 0), "new_edge": ring(alpha_padded, 0)})
    return rows


@torch.no_grad()
def step_statistics(layer: nn.Module, x: torch.Tensor) -> dict[str, np.ndarray]:
    """For a shared-BatchNorm :class:`~course_lib.blocks.recurrent.RecurrentConv`: the per-channel mean
    of the BatchNorm's input at each unrolled step on ``x`` (``steps``: (t + 1) x C), and the running mean
    it normalises with in eval mode (``running``: C)."""
    conv, norm = layer.conv[0], layer.conv[1]
    means, x1 = [], None
    for _ in range(layer.t + 1):
        z = conv(x if x1 is None else x + x1)
        means.append(z.mean(dim=(0, 2, 3)).cpu().numpy())
        x1 = torch.relu(torch.nn.functional.batch_norm(z, None, None, norm.weight, norm.bias, training=True))
    return {"steps": np.stack(means), "running": norm.running_mean.cpu().numpy().copy()}


def _score(model: nn.Module, data: LesionData) -> tuple[dict[str, float], torch.Tensor]:
    images, masks = data.val_batch()
    prob = engine.predict(model, images)
    scores = segmentation_scores(prob, masks)
    detection = lesion_detection(prob, masks)
    curve = froc(prob, masks, FINE_THRESHOLDS)
    return {"dice": scores["dice"], "iou": scores["iou"], "recall": detection["recall"],
            "fp_per_image": detection["fp_per_image"], "lesions": detection["lesions"],
            "recall_at_1fp": recall_at_fp(curve, 1.0), "recall_at_4fp": recall_at_fp(curve, 4.0),
            "froc": froc_score(curve)}, prob


def train_arm(data: LesionData, arm: str, seed: int, record_images: torch.Tensor | None = None,
              device: str | torch.device | None = None, callbacks: Sequence[Any] = (),
              steps: int | None = None) -> ArmResult:
    """One run of the chapter's protocol: ``arm`` from ``seed`` on the seed's patches (Adam + cosine decay,
    BCE + Dice, channels-last), scored on the validation images. ``steps`` overrides the plan's budget
    (same steps per epoch, more epochs); ``callbacks`` are added to the engine's."""
    plan = data.plan
    per_epoch = max(1, plan.steps // plan.epochs)
    epochs = plan.epochs if steps is None else max(1, steps // per_epoch)
    model = make_arm_model(arm, plan.widths, seed=seed)
    recorder = None
    extra: list[Any] = [CosineLR(plan.lr), *callbacks]
    if record_images is not None and getattr(model, "attention", False) and model.gate_variant != "grid-open":
        recorder = AttentionRecorder(record_images)
        extra.append(recorder)
    start = time.perf_counter()
    history = engine.fit(model, data.patches(seed), None, epochs=epochs, batch_size=plan.batch_size,
                         lr=plan.lr, loss="bce_dice", seed=seed, device=device, progress=False,
                         max_steps_per_epoch=per_epoch, callbacks=extra, channels_last=True)
    seconds = time.perf_counter() - start
    scores, prob = _score(model, data)
    return ArmResult(arm, seed, scores, sum(p.numel() for p in model.parameters()), seconds, history,
                     model, recorder, prob)


def compare_arms(data: LesionData, arms: Sequence[str] = tuple(ARMS), seeds: Sequence[int] | None = None,
                 record_images: torch.Tensor | None = None, keep_seed: int | None = None,
                 device: str | torch.device | None = None, progress: bool = True) -> list[ArmResult]:
    """Train every arm with every seed (:func:`train_arm`: same patches per seed, same steps, Adam + cosine
    decay, BCE + Dice; channels-last memory format, 10-15 % faster on a CPU here).

    ``record_images``: gated arms record their attention maps on them (an :class:`AttentionRecorder`).
    ``keep_seed``: the runs of that seed keep their model and validation probabilities (for figures).
    A ``COURSE_MAX_STEPS`` rehearsal trains the first seed only.
    """
    def train(arm: str, seed: int) -> ArmResult:
        return train_arm(data, arm, seed, record_images, device)

    plan = data.plan
    return run_sweep(arms, plan.seeds if seeds is None else seeds, train, keep_seed, progress)


class NormModeDice:
    """Engine callback: validation Dice after every epoch twice, in eval mode (BatchNorm's running
    statistics) and with each batch's own statistics (a copy of the model in training mode, so the
    running statistics are left alone). ``epochs``, ``eval_dice`` and ``batch_dice`` are parallel lists."""

    def __init__(self, images: torch.Tensor, masks: torch.Tensor) -> None:
        self.images, self.masks = images, masks
        self.epochs: list[int] = []
        self.eval_dice: list[float] = []
        self.batch_dice: list[float] = []

    @torch.no_grad()
    def on_epoch_end(self, ctx: engine.EpochContext) -> None:
        model = ctx.model
        images = self.images.to(next(model.parameters()).device)
        was_training = model.training
        model.eval()
        try:
            eval_prob = torch.sigmoid(model(images)).cpu()
        finally:
            model.train(was_training)
        batch_prob = torch.sigmoid(copy.deepcopy(model).train()(images)).cpu()
        self.epochs.append(ctx.epoch)
        self.eval_dice.append(segmentation_scores(eval_prob, self.masks)["dice"])
        self.batch_dice.append(segmentation_scores(batch_prob, self.masks)["dice"])


def norm_mode_runs(data: LesionData, arm: str = "R2U-Net (shared BN)", seeds: Sequence[int] | None = None,
                   steps: int | None = None, keep_seed: int | None = None,
                   progress: bool = True) -> list[ArmResult]:
    """``arm`` trained with every seed (``steps`` optimizer steps, default the plan's), each run's
    validation Dice in eval mode and with batch statistics after every epoch (``recorder``: a
    :class:`NormModeDice`); ``scores["dice_batch_stats"]`` is the last epoch's batch-statistics Dice."""
    images, masks = data.val_batch()

    def train(name: str, seed: int) -> ArmResult:
        curve = NormModeDice(images, masks)
        result = train_arm(data, name, seed, callbacks=[curve], steps=steps)
        result.scores["dice_batch_stats"] = curve.batch_dice[-1]
        result.recorder = curve
        return result

    plan = data.plan
    return run_sweep([arm], plan.seeds if seeds is None else seeds, train, keep_seed, progress)


def per_image_dice(prob: torch.Tensor, masks: torch.Tensor) -> np.ndarray:
    """Dice of each image of a batch (N x 1 x H x W probabilities, thresholded at 0.5)."""
    return np.array([segmentation_scores(p[None], m[None])["dice"] for p, m in zip(prob, masks, strict=True)])


def median_gain_image(prob_a: torch.Tensor, prob_b: torch.Tensor,
                      masks: torch.Tensor) -> tuple[int, np.ndarray]:
    """The image on which model A's per-image Dice gain over model B is the median one (the lower median
    for an even count), and all the gains: a rule that picks a typical image, not a flattering one."""
    gains = per_image_dice(prob_a, masks) - per_image_dice(prob_b, masks)
    order = np.argsort(gains, kind="stable")
    return int(order[(len(gains) - 1) // 2]), gains


def summarise(results: Sequence[ArmResult],
              keys: Sequence[str] = ("dice", "iou", "recall", "fp_per_image", "froc"),
              ) -> dict[str, dict[str, Any]]:
    """:func:`course_lib.protocols.sweep.summarise` with the lesion scores."""
    return sweep.summarise(results, keys)


def format_summary(summary: Mapping[str, Mapping[str, Any]]) -> str:
    """The summary as a fixed-width table: mean +- std over seeds."""
    head = (f"{'arm':<20} {'params':>8} {'s/step':>7} {'Dice':>13} {'IoU':>13} {'lesion recall':>14} "
            f"{'FP / image':>11} {'FROC':>13}")
    lines = [head]
    for arm, row in summary.items():
        cells = [f"{row[k][0]:.3f} ± {row[k][1]:.3f}" for k in ("dice", "iou", "recall", "froc")]
        fp = row["fp_per_image"]
        lines.append(f"{arm:<20} {row['parameters']:>8,} {row['step_seconds']:>7.3f} {cells[0]:>13} "
                     f"{cells[1]:>13} {cells[2]:>14} {fp[0]:>5.1f} ± {fp[1]:<3.1f} {cells[3]:>13}")
    return "\n".join(lines)


def format_per_seed(results: Sequence[ArmResult], key: str = "dice", digits: int = 3) -> str:
    """One line per arm: its ``key`` score for each seed, in seed order (the pairs behind a comparison)."""
    arms = list(dict.fromkeys(r.arm for r in results))
    width = max(len(a) for a in arms)
    lines = []
    for arm in arms:
        runs = sorted((r for r in results if r.arm == arm), key=lambda r: r.seed)
        lines.append(f"  {arm:<{width}}  " + " / ".join(f"{r.scores[key]:.{digits}f}" for r in runs))
    return "\n".join(lines)
