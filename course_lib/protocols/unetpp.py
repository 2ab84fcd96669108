"""Chapter 08's protocol: UNet++ against U-Net and a wide U-Net, inference modes and pruning, measured.

- :func:`plan_for` / :class:`EMPlan`: patch size, widths, budget and seeds per mode.
- :func:`matched_wide_widths`: U-Net widths scaled up until it has at least UNet++'s parameters (the
  paper's "wide U-Net": 35-70-140-280-560 against UNet++'s 32-512).
- :func:`compare_models`: every arm x seed on random patches of the EM images (ISBI 2012 when present,
  :func:`course_lib.protocols.isbi.load_cell_images`), same steps, optimizer and schedule; Dice and IoU of
  the final output on the whole held-out images. UNet++ trains with deep supervision, the four heads
  weighted equally; ``"UNet++ (last head only)"`` weights only the final head, as the official PyTorch
  port does.

- :func:`predict`: ``"accurate"`` mode averages the probabilities of all deep-supervision heads
  X^{0,1..D}; ``"fast"`` mode runs the network pruned to level L and uses the one head on X^{0,L}
  (Zhou et al. 2018, Sec. 3, "model pruning").
- :func:`measure_pruning`: for L1..LD and the accurate mode, on the given images: the parameters that
  actually run, the inference time per image on the current device (median of repeats, after a warm-up)
  and Dice/IoU.
- Every UNet++ run of :func:`compare_models` also scores its pruned networks and its accurate mode
  (``dice_L1`` .. ``dice_L{D-1}``, ``dice_accurate``; ``dice`` is the full network), so that
  :func:`compare_levels` can compare each with the full network over the seeds
  (:func:`course_lib.stats.compare`, Bonferroni over the levels), and keeps its heads' initial weights
  (``extras["initial_heads"]``) for :func:`heads_as_initialised`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn as nn
from torch.utils.data import Dataset, Subset

from course_lib import config, engine, stats
from course_lib.data import transforms as T
from course_lib.metrics import segmentation_scores
from course_lib.models import create_model
from course_lib.protocols.sweep import ArmResult, CosineLR, budget_text, run_sweep

__all__ = [
    "ARMS",
    "DEPTH_ARMS",
    "EXTRA_ARMS",
    "MODES",
    "EMPlan",
    "budget_text",
    "compare_levels",
    "compare_models",
    "heads_as_initialised",
    "level_scores",
    "make_arm_model",
    "matched_wide_widths",
    "measure_pruning",
    "plan_for",
    "predict",
    "pruned_keys",
]

#: The comparison's arms; "UNet++ (last head only)" is the official port's loss (trained on its own), and
#: the shallower U-Nets (the first ``d + 1`` widths: ``d`` poolings) ask which depth the task needs.
ARMS = ("U-Net", "wide U-Net", "UNet++")
DEPTH_ARMS = ("U-Net (depth 1)", "U-Net (depth 2)", "U-Net (depth 3)")
EXTRA_ARMS = ("UNet++ (last head only)", *DEPTH_ARMS)


@dataclass(frozen=True)
class EMPlan:
    """What scales with the mode: ``steps`` optimizer steps of ``batch_size`` random ``patch``-px patches
    per run, split into ``epochs``; Adam with a cosine decay from ``lr``; BatchNorm in every arm."""

    patch: int
    widths: tuple[int, ...]
    steps: int
    epochs: int
    batch_size: int
    lr: float
    seeds: tuple[int, ...]


_PLANS = {
    "smoke": EMPlan(patch=32, widths=(4, 8, 16, 32, 64), steps=4, epochs=2, batch_size=2, lr=3e-3,
                    seeds=(0, 1)),
    "quick": EMPlan(patch=96, widths=(8, 16, 32, 64, 128), steps=160, epochs=4, batch_size=4, lr=3e-3,
                    seeds=(0, 1, 2)),
    "full": EMPlan(patch=256, widths=(32, 64, 128, 256, 512), steps=3000, epochs=10, batch_size=8, lr=1e-3,
                   seeds=(0, 1, 2)),
}


def plan_for(mode: str | None = None, **overrides: Any) -> EMPlan:
    """The chapter's plan for ``mode`` (default: the current mode), with fields overridden."""
    return replace(_PLANS[config.check_mode(mode or config.get_mode())], **overrides)


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def matched_wide_widths(widths: tuple[int, ...], in_channels: int = 1, batch_norm: bool = True
                        ) -> tuple[int, ...]:
    """The narrowest ``round(w * k / 32)`` (k = 32, 33, ...) U-Net widths with at least as many parameters
    as UNet++ with deep supervision at ``widths``; (35, 70, 140, 280, 560) for the paper's 32-512."""
    target = _count(create_model("unetpp", in_channels=in_channels, widths=widths, batch_norm=batch_norm,
                                 deep_supervision=True))
    for k in range(32, 97):
        wide = tuple(max(1, round(w * k / 32)) for w in widths)
        unet = create_model("unet", in_channels=in_channels, widths=wide, batch_norm=batch_norm)
        if _count(unet) >= target:
            return wide
    raise ValueError(f"No U-Net up to 3x wider than {widths} reaches UNet++'s {target:,} parameters.")


def make_arm_model(arm: str, widths: tuple[int, ...], in_channels: int = 1, seed: int = 0) -> nn.Module:
    """The arm's model (from :data:`ARMS` or :data:`EXTRA_ARMS`) at ``widths``, initialised from ``seed``."""
    if arm not in ARMS + EXTRA_ARMS:
        raise ValueError(f"Unknown arm {arm!r}; choose from {', '.join(ARMS + EXTRA_ARMS)}.")
    wide = matched_wide_widths(tuple(widths), in_channels) if arm == "wide U-Net" else None
    config.seed_everything(seed)
    if arm.startswith("UNet++"):
        return create_model("unetpp", in_channels=in_channels, out_channels=1, widths=tuple(widths),
                            deep_supervision=True)
    if arm in DEPTH_ARMS:
        depth = int(arm.removeprefix("U-Net (depth ").rstrip(")"))
        if depth >= len(widths) - 1:
            raise ValueError(f"{arm} needs widths deeper than {tuple(widths)}.")
        widths = tuple(widths)[:depth + 1]
    return create_model("unet", in_channels=in_channels, out_channels=1, widths=wide or tuple(widths))


def deep_supervision_weights(arm: str, depth: int) -> list[float] | None:
    """Loss weights of the heads, final output first: equal (1/depth each) for UNet++, only the final
    head for "UNet++ (last head only)", None for single-output arms."""
    if arm == "UNet++":
        return [1.0 / depth] * depth
    if arm == "UNet++ (last head only)":
        return [1.0] + [0.0] * (depth - 1)
    return None


def compare_models(train: Dataset, val: Dataset, plan: EMPlan, arms: tuple[str, ...] = ARMS,
                   seeds: tuple[int, ...] | None = None, keep_seed: int | None = None,
                   device: str | torch.device | None = None, progress: bool = True) -> list[ArmResult]:
    """Train every arm with every seed on the same random patches of ``train`` (half flipped), score the
    final output on the whole ``val`` images (at most ``eval_limit()`` in a rehearsal): Dice and IoU.
    A ``COURSE_MAX_STEPS`` rehearsal trains the first seed only."""
    limit = config.eval_limit()
    if limit is not None and len(val) > limit:
        val = Subset(val, range(limit))
    images = torch.stack([val[i]["image"] for i in range(len(val))])
    masks = torch.stack([val[i]["mask"] for i in range(len(val))])
    per_epoch = max(1, plan.steps // plan.epochs)
    per_image = max(1, -(-plan.steps * plan.batch_size // (plan.epochs * len(train))))
    depth = len(plan.widths) - 1

    def run(arm: str, seed: int) -> ArmResult:
        model = make_arm_model(arm, plan.widths, images.shape[1], seed)
        extras = {}
        if arm.startswith("UNet++"):
            extras["initial_heads"] = {k: v.detach().clone() for k, v in model.heads.state_dict().items()}
        patches = T.RandomPatches(train, patch_size=plan.patch, patches_per_image=per_image,
                                  transform=T.RandomFlip(), seed=seed)
        start = time.perf_counter()
        history = engine.fit(model, patches, None, epochs=plan.epochs, batch_size=plan.batch_size, lr=plan.lr,
                             loss="bce_dice", deep_supervision_weights=deep_supervision_weights(arm, depth),
                             seed=seed, device=device, progress=False, max_steps_per_epoch=per_epoch,
                             callbacks=[CosineLR(plan.lr)], channels_last=True)
        seconds = time.perf_counter() - start
        prob = engine.predict(model, images, batch_size=2)
        scores = segmentation_scores(prob, masks)
        scored = {"dice": scores["dice"], "iou": scores["iou"]}
        if arm.startswith("UNet++"):  # the pruned networks and the accurate mode, for every seed
            extras["heads_unchanged"] = _heads_unchanged(model, extras["initial_heads"])
            for key, mode, level in _pruned_runs(model.depth):
                pruned = predict(model, images, mode, level, batch_size=2)
                scored[key] = segmentation_scores(pruned, masks)["dice"]
        return ArmResult(arm, seed, scored, _count(model), seconds, history, model, None, prob, extras)

    return run_sweep(arms, plan.seeds if seeds is None else seeds, run, keep_seed, progress)

MODES = ("fast", "accurate")


def _pruned_runs(depth: int) -> list[tuple[str, str, int | None]]:
    """(score key, mode, level) of the pruned networks L1..L{depth-1} and of the accurate mode."""
    return [(f"dice_L{L}", "fast", L) for L in range(1, depth)] + [("dice_accurate", "accurate", None)]


def pruned_keys(results: Sequence[ArmResult], arm: str = "UNet++") -> list[str]:
    """The pruned-network score keys that every run of ``arm`` has (``dice_L1``, ..., ``dice_accurate``)."""
    runs = [r for r in results if r.arm == arm]
    if not runs:
        raise KeyError(f"No run of arm {arm!r}; the sweep has {sorted({r.arm for r in results})}.")
    return [k for k in runs[0].scores if k.startswith("dice_") and all(k in r.scores for r in runs)]


def level_scores(results: Sequence[ArmResult], arm: str = "UNet++") -> dict[str, list[float]]:
    """Dice of every pruned network of ``arm``'s runs, seed by seed (seed order): ``{"L1": [...], ...,
    "L{D}": [...] (the full network), "accurate": [...]}``."""
    runs = sorted((r for r in results if r.arm == arm), key=lambda r: r.seed)
    keys = pruned_keys(results, arm)
    levels = [k for k in keys if k.startswith("dice_L")]
    out = {k.removeprefix("dice_"): [r.scores[k] for r in runs] for k in levels}
    out[f"L{len(levels) + 1}"] = [r.scores["dice"] for r in runs]
    if "dice_accurate" in keys:
        out["accurate"] = [r.scores["dice_accurate"] for r in runs]
    return out


def compare_levels(results: Sequence[ArmResult], arm: str = "UNet++", budget: str | None = None,
                   show: bool = True) -> list[stats.Comparison]:
    """Each pruned network of ``arm`` (and its accurate mode) against its full network, paired by seed:
    Dice per seed, then one :func:`course_lib.stats.compare` line each, Bonferroni over their number."""
    keys = pruned_keys(results, arm)
    if not keys:
        raise ValueError(f"The runs of {arm!r} carry no pruned-network scores (train them with "
                         "compare_models).")
    full_name = f"L{sum(k.startswith('dice_L') for k in keys) + 1} (full network)"
    names = {k: ("accurate mode" if k == "dice_accurate" else k.removeprefix("dice_")) for k in keys}
    full = stats.paired_scores(results, arm, "dice")
    if show:
        seeds = sorted(full)
        width = max(len(n) for n in [*names.values(), full_name])
        print(f"{arm} Dice per seed {' / '.join(map(str, seeds))}:")
        per_key = {**{names[k]: stats.paired_scores(results, arm, k) for k in keys}, full_name: full}
        for name, scores in per_key.items():
            print(f"  {name:<{width}}  " + " / ".join(f"{scores[s]:.3f}" for s in seeds))
        m = len(keys)
        if m > 1:
            print(f"{m} comparisons against the full network: each interval at {100 * (1 - 0.05 / m):.4g} % "
                  f"(Bonferroni), so that all {m} hold together with 95 % confidence.")
    return [stats.compare(stats.paired_scores(results, arm, k), full, names=(names[k], full_name),
                          metric=f"{arm} Dice", budget=budget, comparisons=len(keys), show=show)
            for k in keys]


def _heads_unchanged(model: nn.Module, initial: dict[str, torch.Tensor]) -> dict[str, bool]:
    current = {k: v.detach().cpu() for k, v in model.heads.state_dict().items()}
    heads = dict.fromkeys(k.split(".")[0] for k in current)
    return {h: all(torch.equal(current[k], initial[k].cpu()) for k in current if k.split(".")[0] == h)
            for h in heads}


def heads_as_initialised(result: ArmResult) -> dict[str, bool]:
    """For a UNet++ run of :func:`compare_models` (any seed): per deep-supervision head, whether its
    weights are still exactly those it was initialised with (no gradient ever reached it)."""
    if "heads_unchanged" in result.extras:
        return dict(result.extras["heads_unchanged"])
    if result.model is None or "initial_heads" not in result.extras:
        raise ValueError("heads_as_initialised needs a UNet++ run of compare_models (its heads are checked "
                         "after training) or a run that kept its model.")
    return _heads_unchanged(result.model, result.extras["initial_heads"])


def _check_model(model: nn.Module) -> None:
    if not (hasattr(model, "nodes_for_level") and hasattr(model, "heads")):
        raise TypeError(f"{type(model).__name__} is not a UNet++ (cl.create_model('unetpp', ...)).")


@torch.inference_mode()
def predict(model: nn.Module, images: torch.Tensor, mode: str = "fast", level: int | None = None,
            batch_size: int = 4) -> torch.Tensor:
    """Foreground probabilities N x 1 x H x W (CPU) of a UNet++ in eval mode (its mode is restored).

    ``mode="fast"``: the head on X^{0,L} of the network pruned to ``level`` (None: the deepest head).
    ``mode="accurate"``: the mean of all heads' probabilities (deep supervision needed; ``level`` unused).
    """
    _check_model(model)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
    if mode == "accurate" and not model.deep_supervision:
        raise ValueError("The accurate mode averages the deep-supervision heads: build the model with "
                         "deep_supervision=True (and train it so).")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        out = []
        for chunk in images.split(batch_size):
            chunk = chunk.to(device)
            if mode == "accurate":
                heads = model(chunk, prune_level=None)
                probs = torch.stack([torch.sigmoid(o.float()) for o in heads]).mean(0)
            else:
                level_used = model.depth if level is None else level
                probs = torch.sigmoid(model(chunk, prune_level=level_used).float())
            out.append(probs.cpu())
    finally:
        model.train(was_training)
    return torch.cat(out)


def _seconds_per_image(model: nn.Module, images: torch.Tensor, mode: str, level: int | None, repeats: int,
                       batch_size: int) -> float:
    predict(model, images[:batch_size], mode, level, batch_size)  # warm-up: allocation, kernel choice
    times = []
    for _ in range(repeats):
        start = time.perf_counter()  # predict() returns CPU tensors, so GPU work has finished by the end
        predict(model, images, mode, level, batch_size)
        times.append(time.perf_counter() - start)
    return statistics.median(times) / len(images)


def measure_pruning(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, repeats: int = 5,
                    batch_size: int = 4, threshold: float = 0.5) -> list[dict[str, Any]]:
    """One row per pruned network L1..LD (``fast`` mode) and one for the ``accurate`` mode: ``name``,
    ``level``, ``mode``, ``parameters`` (that run), ``ms_per_image`` (median of ``repeats`` passes over
    ``images``), ``dice`` and ``iou`` against ``masks``. A ``COURSE_MAX_STEPS`` rehearsal times the
    scoring pass over a couple of images instead (no warm-up, no repeats)."""
    _check_model(model)
    if not model.deep_supervision:
        raise ValueError("Pruning needs a model trained with deep supervision (deep_supervision=True).")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}.")
    limit = config.eval_limit()
    if limit is not None:  # a COURSE_MAX_STEPS rehearsal: a couple of images, the scoring pass timed
        images, masks = images[:limit], masks[:limit]
    runs: list[tuple[str, str, int | None]] = [(f"L{L}", "fast", L) for L in range(1, model.depth + 1)]
    runs.append(("accurate", "accurate", None))
    rows = []
    for name, mode, level in runs:
        start = time.perf_counter()
        prob = predict(model, images, mode, level, batch_size)
        scores = segmentation_scores(prob, masks, threshold=threshold)
        if limit is None:
            seconds = _seconds_per_image(model, images, mode, level, repeats, batch_size)
        else:  # the rehearsal proves the path: no warm-up, no repeats
            seconds = (time.perf_counter() - start) / len(images)
        rows.append({"name": name, "level": level, "mode": mode, "parameters": model.parameters_used(level),
                     "ms_per_image": 1000 * seconds, "dice": scores["dice"], "iou": scores["iou"]})
    return rows
