"""Chapter 09's protocol: U^2-Net against U-Nets of the same parameters and of the same compute, on
salient-object scenes.

- :func:`plan_for` / :class:`SalientPlan`: model (U2NETP in quick mode, U2NET in full), image size,
  budget and seeds per mode.
- :func:`matched_unet_widths`: the U-Net (widths k, 2k, 4k, 8k, 16k) closest to a model in parameters or
  in multiply-adds per image. U^2-Net has the parameters of a small U-Net and the compute of a big one,
  so "a U-Net of comparable cost" has two answers; the chapter trains both.
- :func:`load_salient_data`: ``synthetic-salient`` scenes, or in full mode DUTS-TR for training and
  DUTS-TE / ECSSD for evaluation when they are in the data folder (resized to the plan's size).
- :class:`SideOutputRecorder`: an engine callback keeping the seven outputs' probabilities on fixed
  images before training and after each epoch.
- :func:`compare_arms`: every arm x seed on the same images, steps, optimizer and schedule (BCE with
  logits, summed over U^2-Net's seven outputs); MAE and max F-beta (beta^2 = 0.3) of the final output.
- :func:`block_verdicts` and :func:`model_verdicts`: the paired-seed comparisons (:mod:`course_lib.stats`)
  whose printed verdict lines the chapter quotes.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import ConcatDataset, Dataset, Subset

from course_lib import config, engine, stats
from course_lib.blocks.rsu import RSU, ResidualREBN, rebnconv
from course_lib.data import load as load_dataset
from course_lib.data import transforms as T
from course_lib.data.real.common import DatasetNotFoundError
from course_lib.inspect_model import count_macs, parameter_count
from course_lib.metrics import (
    salient_image_curves,
    salient_summary,
    segmentation_scores,
)
from course_lib.models import create_model
from course_lib.protocols import sweep
from course_lib.protocols.sweep import ArmResult, CosineLR, EpochRecorder, run_sweep

__all__ = [
    "BLOCK_ARMS",
    "EpochScores",
    "SalientData",
    "SalientPlan",
    "SideOutputRecorder",
    "arms_for",
    "block_verdicts",
    "budget",
    "compare_arms",
    "compare_blocks",
    "evaluate",
    "load_salient_data",
    "make_arm_model",
    "make_block_model",
    "matched_unet_widths",
    "median_seed",
    "model_verdicts",
    "plan_for",
    "summarise",
]

@dataclass(frozen=True)
class SalientPlan:
    """What scales with the mode: ``steps`` optimizer steps of ``batch_size`` images of ``size`` px per
    run, split into ``epochs`` (side outputs are recorded after each); Adam with a cosine decay from
    ``lr``. ``model`` is the U^2-Net configuration ("u2netp" or "u2net")."""

    model: str
    size: int
    n_train: int
    n_val: int
    steps: int
    epochs: int
    batch_size: int
    lr: float
    seeds: tuple[int, ...]
    difficulty: float = 0.8
    block_steps: int = 0  # the block comparison's steps (same batch, lr and epochs)
    crop: int | None = None  # real data: resize to ``size``, then random crops of ``crop`` (the paper's 288)
    arms: tuple[str, ...] = ("same parameters", "same MACs", "u2net")


_PLANS = {
    "smoke": SalientPlan(model="u2netp", size=64, n_train=8, n_val=4, steps=4, epochs=2, batch_size=2,
                         lr=3e-3, seeds=(0, 1), block_steps=4, arms=("same parameters", "u2net")),
    "quick": SalientPlan(model="u2netp", size=64, n_train=600, n_val=24, steps=120, epochs=5, batch_size=8,
                         lr=3e-3, seeds=(0, 1, 2), block_steps=100, arms=("same parameters", "u2net")),
    "full": SalientPlan(model="u2net", size=320, n_train=2000, n_val=100, steps=2000, epochs=10, batch_size=8,
                        lr=1e-3, seeds=(0, 1, 2), block_steps=1000, crop=288),
}


def plan_for(mode: str | None = None, **overrides: Any) -> SalientPlan:
    """The chapter's plan for ``mode`` (default: the current mode), with fields overridden."""
    return replace(_PLANS[config.check_mode(mode or config.get_mode())], **overrides)


def _unet(base: int, in_channels: int = 3) -> nn.Module:
    return create_model("unet", in_channels=in_channels, out_channels=1,
                        widths=tuple(base * 2**k for k in range(5)))


def matched_unet_widths(model: nn.Module, by: str = "parameters", size: int = 320, in_channels: int = 3
                        ) -> tuple[int, ...]:
    """Widths ``(k, 2k, 4k, 8k, 16k)`` of the course U-Net closest to ``model`` in ``by``:
    ``"parameters"`` or ``"macs"`` (multiply-adds for one ``size`` x ``size`` image). Closest means the
    smallest ratio either way; U2NETP gives k = 12 by parameters and k = 33 by MACs."""
    if by not in ("parameters", "macs"):
        raise ValueError(f"by must be 'parameters' or 'macs', got {by!r}.")
    shape = (1, in_channels, size, size)

    def cost(m: nn.Module) -> float:
        return parameter_count(m) if by == "parameters" else count_macs(m, shape)

    target = cost(model)
    # parameters and MACs of this U-Net are exact quadratics in k (every width is a multiple of k):
    # fit through k = 1, 2, 3, then pick the integer k whose cost is closest in ratio
    y1, y2, y3 = (cost(_unet(k, in_channels)) for k in (1, 2, 3))
    a = (y3 - 2 * y2 + y1) / 2
    b = y2 - y1 - 3 * a
    c = y1 - a - b

    def gap(k: int) -> float:
        return abs(math.log((a * k * k + b * k + c) / target))

    best = min(range(1, 257), key=gap)
    return tuple(best * 2**i for i in range(5))


def _label(model_name: str) -> str:
    return model_name.upper()


def arms_for(plan: SalientPlan) -> dict[str, tuple[str, Any]]:
    """Arm label -> (kind, detail): the U^2-Net of the plan and the U-Nets matched to it."""
    out: dict[str, tuple[str, Any]] = {}
    reference = create_model(plan.model)
    for arm in plan.arms:
        if arm == "u2net":
            out[_label(plan.model)] = ("u2net", plan.model)
        elif arm in ("same parameters", "same MACs"):
            by = "parameters" if arm == "same parameters" else "macs"
            widths = matched_unet_widths(reference, by, plan.crop or plan.size)
            out[f"U-Net, {arm}"] = ("unet", widths)
        else:
            raise ValueError(f"Unknown arm {arm!r}; use 'same parameters', 'same MACs' or 'u2net'.")
    return out


def make_arm_model(arm: str, plan: SalientPlan, seed: int = 0, arms: dict | None = None) -> nn.Module:
    """The model of ``arm`` (a label of :func:`arms_for`), initialised from ``seed``."""
    arms = arms if arms is not None else arms_for(plan)
    if arm not in arms:
        raise ValueError(f"Unknown arm {arm!r}; choose from {', '.join(arms)}.")
    kind, detail = arms[arm]
    config.seed_everything(seed)
    if kind == "u2net":
        return create_model(detail, in_channels=3, out_channels=1)
    return create_model("unet", in_channels=3, out_channels=1, widths=detail)


#: The block comparison: one block at full resolution (no outer U), about 70k parameters each.
BLOCK_ARMS = ("RSU-7", "2 residual blocks", "dilated residual stack")
#: the dilations of the stack's three residual blocks: a 67-px footprint, beyond the 64-px quick scenes
STACK_DILATIONS = ((1, 2), (4, 8), (16, 1))


def make_block_model(arm: str, seed: int = 0) -> nn.Module:
    """A single-resolution network for the block comparison: ``"RSU-7"`` (3 -> 64 channels, M = 16,
    67,265 parameters), ``"2 residual blocks"`` (a REBNCONV stem to 44 channels and two
    :class:`ResidualREBN`, 71,589; footprint 11 px) or ``"dilated residual stack"`` (a stem to 36 channels
    and three dilated ResidualREBN, :data:`STACK_DILATIONS`, 71,749; footprint 67 px), each followed by a
    1x1 head. Nothing pools outside the block, so whatever context a pixel gets, the block provides."""
    config.seed_everything(seed)
    if arm == "RSU-7":
        return nn.Sequential(RSU(7, 3, 16, 64), nn.Conv2d(64, 1, 1))
    if arm == "2 residual blocks":
        return nn.Sequential(rebnconv(3, 44), ResidualREBN(44), ResidualREBN(44), nn.Conv2d(44, 1, 1))
    if arm == "dilated residual stack":
        return nn.Sequential(rebnconv(3, 36), *(ResidualREBN(36, d) for d in STACK_DILATIONS),
                             nn.Conv2d(36, 1, 1))
    raise ValueError(f"Unknown block arm {arm!r}; choose from {', '.join(BLOCK_ARMS)}.")


@dataclass
class SalientData:
    """Training images, validation images, extra evaluation sets (name -> dataset) and where they came
    from (``source``: "synthetic-salient" or "DUTS")."""

    train: Dataset
    val: Dataset
    plan: SalientPlan
    source: str
    evaluation: dict[str, Dataset] = field(default_factory=dict)

    def batch(self, dataset: Dataset | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """All images and masks of ``dataset`` (default: the validation set) as two tensors."""
        dataset = self.val if dataset is None else dataset
        samples = [dataset[i] for i in range(len(dataset))]
        return torch.stack([s["image"] for s in samples]), torch.stack([s["mask"] for s in samples])


def _limited(dataset: Dataset) -> Dataset:
    limit = config.eval_limit()
    return Subset(dataset, range(limit)) if limit is not None and len(dataset) > limit else dataset


def _real_data(plan: SalientPlan, seed: int) -> SalientData | None:
    resize = T.Resize(plan.size)
    try:
        augment = T.Compose([resize, T.RandomCrop(plan.crop or plan.size), T.RandomFlip()])
        train = load_dataset("duts", "train", transform=augment, seed=seed)
        val = load_dataset("duts", "val", transform=resize, seed=seed)
    except DatasetNotFoundError:
        return None
    evaluation = {}
    with contextlib.suppress(DatasetNotFoundError):
        evaluation["DUTS-TE"] = _limited(load_dataset("duts", "test", transform=resize))
    with contextlib.suppress(DatasetNotFoundError):  # the paper evaluates on all 1,000 ECSSD images
        ecssd = [load_dataset("ecssd", split, transform=resize, n_test=1) for split in ("trainval", "test")]
        evaluation["ECSSD"] = _limited(ConcatDataset(ecssd))
    return SalientData(train, _limited(Subset(val, range(min(len(val), plan.n_val)))), plan, "DUTS",
                       evaluation)


def load_salient_data(plan: SalientPlan, seed: int = 0, real: bool | None = None) -> SalientData:
    """``synthetic-salient`` scenes at ``plan.size`` px (``plan.n_train`` training, ``plan.n_val``
    validation images), or DUTS when ``real`` (default: in full mode) and DUTS is in the data folder.
    Validation and evaluation sets are limited to ``eval_limit()`` images in a rehearsal."""
    use_real = config.get_mode() == "full" if real is None else real
    if use_real and (data := _real_data(plan, seed)) is not None:
        print(f"DUTS-TR from the data folder: {len(data.train)} training images, resized to {plan.size} px "
              f"(crops of {plan.crop or plan.size}); evaluation on "
              f"{', '.join(data.evaluation) or 'DUTS val'}.")
        return data
    if use_real:
        print("DUTS is not in the data folder (cl.data.download('duts') fetches it, a few hundred MB): using "
              f"synthetic-salient scenes at {plan.size} px instead.")
    train = load_dataset("synthetic-salient", "train", n=plan.n_train, size=plan.size, seed=seed,
                         difficulty=plan.difficulty)
    val = load_dataset("synthetic-salient", "val", n=plan.n_val, size=plan.size, seed=seed,
                       difficulty=plan.difficulty)
    flipped = T.Augmented(train, T.RandomFlip(), seed=seed)
    return SalientData(flipped, _limited(val), plan, "synthetic-salient")


class SideOutputRecorder(EpochRecorder):
    """Engine callback: the probabilities of all outputs on fixed ``images`` before training and after
    each epoch. ``maps[e]`` is a list (fused d0 first, then d1..d6) of N x 1 x H x W tensors after epoch
    ``epochs[e]`` (0: the initial weights)."""

    def capture(self, model: nn.Module, outputs: Any) -> list[torch.Tensor]:
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return [torch.sigmoid(o.float()).cpu() for o in outputs]


def score(model: nn.Module, images: torch.Tensor, masks: torch.Tensor
          ) -> tuple[dict[str, float], torch.Tensor, dict[str, np.ndarray]]:
    """The final output's MAE, max F-beta (and its threshold) and Dice at 0.5; its probabilities; and its
    precision-recall curve (:func:`course_lib.metrics.salient_summary`)."""
    prob = engine.predict(model, images, batch_size=4)
    summary = salient_summary(salient_image_curves(prob, masks))
    scores = {k: summary[k] for k in ("mae", "max_f", "threshold")}
    scores["dice"] = segmentation_scores(prob, masks)["dice"]
    curve = {k: summary[k] for k in ("thresholds", "precision", "recall", "f_beta")}
    return scores, prob, curve


@torch.inference_mode()
def evaluate(model: nn.Module, dataset: Dataset, batch_size: int = 16) -> dict[str, Any]:
    """Salient-object scores of the final output on a whole ``dataset`` (e.g. DUTS-TE's 5,019 images),
    batch by batch so that it never holds the dataset in memory: :func:`course_lib.metrics.salient_summary`
    (``mae``, ``max_f``, ``threshold`` and the PR curve) plus ``images``."""
    parts: list[dict[str, Any]] = []
    for start in range(0, len(dataset), batch_size):
        samples = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        images = torch.stack([s["image"] for s in samples])
        masks = torch.stack([s["mask"] for s in samples])
        parts.append(salient_image_curves(engine.predict(model, images, batch_size=batch_size), masks))
    if not parts:
        raise ValueError("evaluate: the dataset is empty.")
    curves = {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
    return {**salient_summary(curves), "images": len(curves["mae"])}


class EpochScores:
    """Engine callback: the validation max F-beta after every epoch, beside the training seconds spent so
    far (``seconds``: the epochs' wall-clock time, this scoring excluded) and the optimizer ``steps``."""

    def __init__(self, images: torch.Tensor, masks: torch.Tensor) -> None:
        self.images, self.masks = images, masks
        self.seconds: list[float] = []
        self.steps: list[int] = []
        self.max_f: list[float] = []

    def on_epoch_end(self, ctx: engine.EpochContext) -> None:
        prob = engine.predict(ctx.model, self.images, batch_size=4)
        self.max_f.append(salient_summary(salient_image_curves(prob, self.masks))["max_f"])
        self.seconds.append(float(sum(r["seconds"] for r in ctx.history.records)))
        self.steps.append(int(sum(r["steps"] for r in ctx.history.records)))


def _run(arm: str, seed: int, model: nn.Module, data: SalientData, steps: int,
         recorder: SideOutputRecorder | None, device: str | torch.device | None,
         images: torch.Tensor, masks: torch.Tensor, shown: int = 3) -> ArmResult:
    """Train ``model`` for ``steps`` steps (Adam with a cosine decay, BCE with logits on every output,
    channels-last) and score it on ``images``. ``extras``: the precision-recall curve, the max F-beta
    after every epoch against the training time (``epoch_scores``) and the probabilities of the first
    ``shown`` images (``shown_prob``, kept for every seed so that a figure can show the median one)."""
    plan = data.plan
    per_epoch = EpochScores(images, masks)
    start = time.perf_counter()
    history = engine.fit(model, data.train, None, epochs=plan.epochs, batch_size=plan.batch_size, lr=plan.lr,
                         loss="bce", seed=seed, device=device, progress=False,
                         max_steps_per_epoch=max(1, steps // plan.epochs),
                         callbacks=[CosineLR(plan.lr), per_epoch, *([recorder] if recorder else [])],
                         channels_last=True)
    seconds = time.perf_counter() - start
    scores, prob, curve = score(model, images, masks)
    return ArmResult(arm, seed, scores, parameter_count(model), seconds, history, model, recorder, prob,
                     {"pr_curve": curve, "epoch_scores": per_epoch, "shown_prob": prob[:shown].clone()})


def median_seed(results: Sequence[ArmResult], arm: str, key: str = "max_f") -> int:
    """The seed whose run of ``arm`` has the median ``key`` score (the lower median for an even count):
    the typical run, for a figure."""
    runs = sorted((r for r in results if r.arm == arm), key=lambda r: r.scores[key])
    if not runs:
        raise KeyError(f"No run of arm {arm!r}.")
    return runs[(len(runs) - 1) // 2].seed


def compare_arms(data: SalientData, seeds: Sequence[int] | None = None,
                 record_images: torch.Tensor | None = None, keep_seed: int | None = None,
                 device: str | torch.device | None = None, progress: bool = True,
                 arms: Sequence[str] | None = None) -> list[ArmResult]:
    """Train every arm with every seed (same images and flips per seed, ``plan.steps`` steps, Adam with a
    cosine decay, BCE with logits on every output; channels-last) and score the final output on the
    validation images (``extras["pr_curve"]``: every run's precision-recall curve). ``record_images``:
    the U^2-Net arm records its seven outputs on them. A
    ``COURSE_MAX_STEPS`` rehearsal trains the first seed only."""
    plan = data.plan
    table = arms_for(plan)
    chosen = tuple(table) if arms is None else tuple(arms)
    images, masks = data.batch()

    def train(arm: str, seed: int) -> ArmResult:
        records = record_images is not None and table[arm][0] == "u2net"
        recorder = SideOutputRecorder(record_images) if records else None
        return _run(arm, seed, make_arm_model(arm, plan, seed, table), data, plan.steps, recorder, device,
                    images, masks)

    return run_sweep(chosen, plan.seeds if seeds is None else seeds, train, keep_seed, progress)


def compare_blocks(data: SalientData, seeds: Sequence[int] | None = None, keep_seed: int | None = None,
                   device: str | torch.device | None = None, progress: bool = True) -> list[ArmResult]:
    """The block comparison: each of :data:`BLOCK_ARMS` as a single-resolution network
    (:func:`make_block_model`), trained like :func:`compare_arms` for ``plan.block_steps`` steps."""
    plan = data.plan
    images, masks = data.batch()

    def train(arm: str, seed: int) -> ArmResult:
        model = make_block_model(arm, seed)
        return _run(arm, seed, model, data, plan.block_steps, None, device, images, masks)

    return run_sweep(BLOCK_ARMS, plan.seeds if seeds is None else seeds, train, keep_seed, progress,
                     desc="blocks x seeds")


def summarise(results: Sequence[ArmResult], keys: Sequence[str] = ("mae", "max_f", "dice")
              ) -> dict[str, dict[str, Any]]:
    """:func:`course_lib.protocols.sweep.summarise` with the salient-object scores."""
    return sweep.summarise(results, keys)


#: the scores the verdicts compare: key -> (name in the verdict line, higher is better)
VERDICT_METRICS = {"max_f": ("max F-beta", True), "mae": ("MAE", False)}


def budget(plan: SalientPlan, steps: int | None = None) -> str:
    """What one run trains, as a verdict line names it: ``"120 steps of 8 images"``."""
    return f"{plan.steps if steps is None else steps} steps of {plan.batch_size} images"


def block_verdicts(results: Sequence[ArmResult], plan: SalientPlan, show: bool = True
                   ) -> list[stats.Comparison]:
    """RSU-7 against every other block of :func:`compare_blocks` that was trained, paired by seed, on max
    F-beta and on MAE, Bonferroni over the blocks it is compared with; prints one verdict line each
    (``show``)."""
    trained = {r.arm for r in results}
    a, others = BLOCK_ARMS[0], [arm for arm in BLOCK_ARMS[1:] if arm in trained]
    return [stats.compare_arms(results, a, b, key, metric=metric, higher_is_better=higher,
                               budget=budget(plan, plan.block_steps), comparisons=len(others), show=show)
            for key, (metric, higher) in VERDICT_METRICS.items() for b in others]


def model_verdicts(results: Sequence[ArmResult], plan: SalientPlan, show: bool = True
                   ) -> list[stats.Comparison]:
    """The U^2-Net arm against every U-Net arm of :func:`compare_arms`, paired by seed, on max F-beta and
    on MAE. With several U-Nets (full mode: same parameters, same MACs) each metric's comparisons are
    Bonferroni-corrected for their number. Prints one verdict line each (``show``)."""
    u2 = _label(plan.model)
    arms = list(dict.fromkeys(r.arm for r in results))
    if u2 not in arms:
        raise ValueError(f"No {u2} runs among the results (arms: {', '.join(arms)}).")
    unets = [arm for arm in arms if arm != u2]
    return [stats.compare_arms(results, u2, unet, key, metric=metric, higher_is_better=higher,
                               comparisons=len(unets), budget=budget(plan), show=show)
            for key, (metric, higher) in VERDICT_METRICS.items() for unet in unets]
