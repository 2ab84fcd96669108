"""Chapter 10's leaderboard: every 2D model of the course trained the same way on the same task, then
measured for accuracy and for cost.

- :data:`LEADERBOARD`: the models, by registry name; :func:`model_config` gives each one's widths in a
  plan (scaled down together in quick mode, the papers' widths in full mode).
- :func:`plan_for` / :class:`LeaderboardPlan`: budget per mode. The task is chapter 06's retinal-vessel
  segmentation (DRIVE when it is in the data folder, else ``synthetic-vessels``): thin structures, where
  pixels are scarce and context matters.
- :func:`train_leaderboard`: every model x seed with one protocol (same patches per seed, steps, Adam,
  per-step cosine decay, BCE with logits summed over a model's outputs, DropBlock ramp where a model has
  it), scored on whole held-out images inside the field of view.
- :func:`measure_costs`: parameters, multiply-adds per image, inference images/s and peak memory, each
  model in a fresh process (:func:`course_lib.benchmark.measure_isolated`).
- :func:`leaderboard_rows` and :func:`pareto_front`: the table and the models no other model beats on
  both accuracy and cost.
- :func:`compare_to_unet` and :func:`verdict_summary`: every model against the U-Net on paired seeds,
  Bonferroni-corrected for the number of models (:mod:`course_lib.stats`): the one table of verdicts the
  chapter's prose follows. :func:`relative_costs`: each cost as a multiple of the U-Net's.

``benchmarks/bench_leaderboard.py`` runs the same code from the command line.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from course_lib import config, engine, stats
from course_lib.benchmark import measure_many_isolated
from course_lib.inspect_model import count_macs, parameter_count
from course_lib.models import create_model
from course_lib.protocols import drive, sweep
from course_lib.protocols.sweep import ArmResult, run_sweep
from course_lib.recipes import drive_recipe

__all__ = [
    "BASELINE_CFG",
    "LABELS",
    "LEADERBOARD",
    "LeaderboardPlan",
    "budget",
    "compare_to_unet",
    "label",
    "leaderboard_rows",
    "load_task",
    "make_model",
    "measure_costs",
    "model_config",
    "parameter_counts",
    "pareto_front",
    "plan_for",
    "relative_costs",
    "steps_for_time",
    "summarise",
    "train_leaderboard",
    "verdict_summary",
]

#: The course's 2D models, in the order of the chapters that introduce them.
LEADERBOARD = ("unet", "res_unet", "dense_unet", "inception_unet", "dacrse_unet", "attention_unet", "r2unet",
               "r2attunet", "unetpp", "u2netp")

LABELS = {"unet": "U-Net", "res_unet": "ResUNet", "dense_unet": "Dense U-Net",
          "inception_unet": "Inception U-Net", "dacrse_unet": "DACRSE-UNet",
          "attention_unet": "AttU-Net (grid)", "r2unet": "R2U-Net",
          "r2attunet": "R2AttU-Net", "unetpp": "UNet++", "u2netp": "U2NETP"}


@dataclass(frozen=True)
class LeaderboardPlan:
    """What scales with the mode. ``base``: the first width of every 5-level model (widths ``base * 2**k``;
    DACRSE-UNet has 4 levels and starts at the same base); ``None`` means each paper's own widths.
    Training: ``steps`` optimizer steps of ``batch_size`` random ``patch_size`` patches (split into
    ``epochs``), Adam from ``lr`` with a per-step cosine decay. ``seconds``: when set, every model gets the
    same training *time* instead: its steps are ``seconds`` over its own step time, measured before
    training (:func:`steps_for_time`), and ``steps`` is unused. ``measure_size``: the square image the
    inference speed and memory are measured on. ``u2net``: which U^2-Net ("u2netp" or "u2net")."""

    base: int | None
    patch_size: int
    batch_size: int
    steps: int
    epochs: int
    lr: float
    seeds: tuple[int, ...]
    measure_size: int
    u2net: str = "u2netp"
    synthetic_size: int = 256
    seconds: float | None = None


_PLANS = {
    "smoke": LeaderboardPlan(base=4, patch_size=32, batch_size=2, steps=2, epochs=1, lr=3e-3, seeds=(0, 1),
                             measure_size=64, synthetic_size=96),
    "quick": LeaderboardPlan(base=8, patch_size=48, batch_size=8, steps=60, epochs=3, lr=3e-3,
                             seeds=(0, 1, 2), measure_size=256, seconds=8.0),
    "full": LeaderboardPlan(base=None, patch_size=96, batch_size=8, steps=1500, epochs=5, lr=1e-3,
                            seeds=(0, 1, 2), measure_size=512, u2net="u2net", synthetic_size=512),
}


def plan_for(mode: str | None = None, **overrides: Any) -> LeaderboardPlan:
    """The chapter's plan for ``mode`` (default: the current mode), with fields overridden."""
    return replace(_PLANS[config.check_mode(mode or config.get_mode())], **overrides)


# The papers' widths (full mode). The U-Net family of chapter 10 keeps the course U-Net's 32-512.
_PAPER_WIDTHS = {"attention_unet": (64, 128, 256, 512, 1024), "r2unet": (64, 128, 256, 512, 1024),
                 "r2attunet": (64, 128, 256, 512, 1024), "dacrse_unet": (32, 64, 128, 256)}


def model_config(name: str, plan: LeaderboardPlan, in_channels: int = 3) -> dict[str, Any]:
    """``create_model`` arguments of ``name`` in ``plan`` (JSON-friendly, for :func:`measure_isolated`).
    U^2-Net has no width setting: the plan picks U2NETP or U2NET instead."""
    if name not in LEADERBOARD:
        raise ValueError(f"{name!r} is not on the leaderboard; choose from {', '.join(LEADERBOARD)}.")
    cfg: dict[str, Any] = {"in_channels": in_channels, "out_channels": 1}
    if name == "u2netp":
        return cfg
    levels = 4 if name == "dacrse_unet" else 5
    if plan.base is None:
        widths = _PAPER_WIDTHS.get(name, (32, 64, 128, 256, 512))
    else:
        widths = tuple(plan.base * 2**k for k in range(levels))
    cfg["widths"] = list(widths)
    if name == "unetpp":
        cfg["deep_supervision"] = True
    if name == "dacrse_unet":  # SE reduction 16 leaves narrow layers a single hidden unit (chapter 04)
        cfg.update(reduction=16 if plan.base is None else 4, block_size=[7, 5, 3, 2])
    if name == "attention_unet":  # the paper's grid gate (chapter 07), not the same-resolution one
        cfg["gate"] = "grid"
    if name in ("r2unet", "r2attunet"):
        cfg["step_norm"] = True  # chapter 07: the reference's shared BatchNorm breaks eval mode
    return cfg


def _registry_name(name: str, plan: LeaderboardPlan) -> str:
    return plan.u2net if name == "u2netp" else name


def label(name: str, plan: LeaderboardPlan) -> str:
    """The display name of ``name`` in ``plan`` (U2NET in full mode)."""
    return plan.u2net.upper() if name == "u2netp" else LABELS[name]


def make_model(name: str, plan: LeaderboardPlan, in_channels: int = 3, seed: int = 0) -> nn.Module:
    """Model ``name`` with the plan's widths, initialised from ``seed``."""
    config.seed_everything(seed)
    return create_model(_registry_name(name, plan), **model_config(name, plan, in_channels))


def parameter_counts(plan: LeaderboardPlan, models: Sequence[str] = LEADERBOARD, in_channels: int = 3
                     ) -> dict[str, int]:
    """Each model's parameters in ``plan``, counted on the ``meta`` device (no weights are made)."""
    with torch.device("meta"):
        return {name: parameter_count(create_model(_registry_name(name, plan), **model_config(name, plan,
                                                                                              in_channels)))
                for name in models}


def load_task(plan: LeaderboardPlan, seed: int = 0, real: bool | None = None, verbose: bool = True
              ) -> tuple[drive.VesselData, drive.VesselData]:
    """Chapter 06's vessel images: DRIVE (a seeded 16 / 4 split of its training images, with or without
    the official test labels) when ``real`` is not False and DRIVE is in the data folder, else
    ``synthetic-vessels`` at ``plan.synthetic_size`` px. RGB with flattened illumination."""
    train, test = drive.load_vessel_data(preprocessing="rgb_flat", seed=seed, force_synthetic=real is False,
                                         synthetic_size=plan.synthetic_size, verbose=verbose)
    return train, _limited(test)


def _limited(data: drive.VesselData) -> drive.VesselData:
    """A rehearsal scores the first couple of images, their central 128 px (inside the field of view)."""
    limit = config.eval_limit()
    if limit is None:
        return data
    data = data.subset(range(min(limit, len(data))), data.split)
    (h, w), side = data.images.shape[-2:], 128
    crop = (slice(None), slice(None), slice(max(0, (h - side) // 2), max(0, (h - side) // 2) + side),
            slice(max(0, (w - side) // 2), max(0, (w - side) // 2) + side))
    return drive.VesselData(data.images[crop], data.masks[crop], data.fovs[crop], data.rgb[crop], data.ids,
                            data.source, data.split, data.preprocessing)


def _recipe(plan: LeaderboardPlan, name: str, steps: int | None = None) -> Any:
    cfg = model_config(name, plan)
    total = plan.steps if steps is None else steps
    return drive_recipe(protocol="patches", preprocessing="rgb_flat", widths=tuple(cfg.get("widths", (8,))),
                        epochs=plan.epochs, batch_size=plan.batch_size, lr=plan.lr,
                        patch_size=plan.patch_size, steps_per_epoch=max(1, total // plan.epochs),
                        keep_prob=0.9)


def steps_for_time(train: drive.VesselData, plan: LeaderboardPlan, models: Sequence[str] = LEADERBOARD,
                   device: str | torch.device | None = None, seed: int = 0) -> dict[str, dict[str, float]]:
    """Per model: the optimizer steps that fill ``plan.seconds`` of training (``steps``, a multiple of
    ``plan.epochs``, at least one per epoch) from its step time on one batch of the training patches
    (``step_seconds``: :func:`course_lib.engine.time_training_step`, median after a warm-up). Without
    ``plan.seconds`` every model gets ``plan.steps``."""
    if plan.seconds is None:
        return {name: {"steps": plan.steps, "step_seconds": float("nan")} for name in models}
    probe = drive.VesselPatches(train, plan.batch_size, plan.patch_size, seed=seed)
    images = torch.stack([probe[i]["image"] for i in range(len(probe))])
    masks = torch.stack([probe[i]["mask"] for i in range(len(probe))])
    out = {}
    for name in models:
        model = make_model(name, plan, train.images.shape[1], seed)
        step = engine.time_training_step(model, images, masks, lr=plan.lr, steps=6, channels_last=True,
                                         device=device)
        per_epoch = max(1, int(plan.seconds / step) // plan.epochs)
        out[name] = {"steps": per_epoch * plan.epochs, "step_seconds": step}
    return out


def train_leaderboard(train: drive.VesselData, test: drive.VesselData, plan: LeaderboardPlan,
                      models: Sequence[str] = LEADERBOARD, seeds: Sequence[int] | None = None,
                      keep_seed: int | None = 0, device: str | torch.device | None = None,
                      progress: bool = True, steps: Mapping[str, int] | None = None) -> list[ArmResult]:
    """Train every model with every seed on the same patches (chapter 06's patch protocol through
    :func:`course_lib.protocols.drive.fit_vessel_model`) and score it on ``test``'s whole images inside
    the FOV. ``steps``: each model's optimizer steps (e.g. from :func:`steps_for_time`; default
    ``plan.steps`` for all). Results carry ``extras["train_step_s"]`` (median training step). The
    ``keep_seed`` runs keep their model and probability maps (for the comparison explorer)."""
    in_channels = train.images.shape[1]
    steps = dict(steps or {})
    if unknown := set(steps) - set(models):
        raise ValueError(f"steps names models that are not trained: {sorted(unknown)}.")

    def run(name: str, seed: int) -> ArmResult:
        model = make_model(name, plan, in_channels, seed)
        start = time.perf_counter()
        history = drive.fit_vessel_model(model, train, None, _recipe(plan, name, steps.get(name)), seed=seed,
                                         progress=False, device=device)
        seconds = time.perf_counter() - start
        scores, prob = drive.evaluate_images(model, test)
        step = float(np.median(history["step_seconds"]))
        return ArmResult(name, seed, scores, parameter_count(model), seconds, history, model, None, prob,
                         {"train_step_s": step})

    return run_sweep(tuple(models), plan.seeds if seeds is None else seeds, run, keep_seed, progress,
                     desc="models x seeds")


def summarise(results: Sequence[ArmResult], keys: Sequence[str] = ("dice", "iou", "auc", "sensitivity")
              ) -> dict[str, dict[str, Any]]:
    """:func:`course_lib.protocols.sweep.summarise` with the leaderboard's scores."""
    return sweep.summarise(results, keys)


#: The smallest model measured the same way: its peak is the framework's own memory (libraries, thread
#: workspaces), subtracted so that ``model_mb`` is what the model itself adds.
BASELINE_CFG = {"widths": [1, 2]}


def measure_costs(plan: LeaderboardPlan, models: Sequence[str] = LEADERBOARD, in_channels: int = 3,
                  device: str | None = None, steps: int = 5) -> dict[str, dict[str, Any]]:
    """Per model: ``params``, ``gmacs`` (per ``measure_size``^2 image), ``ms_per_image`` and
    ``images_per_s`` (inference at batch 1, median of ``steps`` passes), ``peak_mb`` (the inference
    process's peak above its resident size before the model was built) and ``model_mb`` (``peak_mb``
    minus that of a 2-level U-Net of widths 1-2, the framework's own share on a CPU). Each model is
    measured alone (:func:`course_lib.benchmark.measure_many_isolated`)."""
    common = {"size": plan.measure_size, "batch": 1, "steps": steps, "device": device, "channels_last": True,
              "inference": True, "macs": False}
    jobs, out = [], {}
    for name in models:
        cfg = model_config(name, plan, in_channels)
        with torch.device("meta"):  # shapes only: no weights to initialise for the count
            model = create_model(_registry_name(name, plan), **cfg)
        out[name] = {"params": parameter_count(model),
                     "gmacs": count_macs(model, (1, in_channels, plan.measure_size, plan.measure_size)) / 1e9}
        jobs.append({"name": _registry_name(name, plan), "cfg": cfg, **common})
    baseline = {"name": "unet", "cfg": {"in_channels": in_channels, "out_channels": 1, **BASELINE_CFG},
                **common}
    rows = measure_many_isolated([baseline, *jobs])
    for name, row in zip(models, rows[1:], strict=True):
        out[name].update(ms_per_image=1000 * row["step_s"], images_per_s=row["images_per_s"],
                         peak_mb=row["peak_mb"], model_mb=max(0.0, row["peak_mb"] - rows[0]["peak_mb"]),
                         size=row["size"], device=row["device"])
    return out


def leaderboard_rows(summary: Mapping[str, Mapping[str, Any]], costs: Mapping[str, Mapping[str, Any]],
                     plan: LeaderboardPlan) -> list[dict[str, Any]]:
    """One row per model (best Dice first): accuracy (mean, std over seeds) beside every cost."""
    rows = []
    for name, row in summary.items():
        cost = costs.get(name, {})
        rows.append({"model": label(name, plan), "name": name, "params": row["parameters"],
                     "gmacs": cost.get("gmacs"), "train_step_s": row["step_seconds"],
                     "images_per_s": cost.get("images_per_s"), "ms_per_image": cost.get("ms_per_image"),
                     "peak_mb": cost.get("peak_mb"), "model_mb": cost.get("model_mb"), "dice": row["dice"],
                     "iou": row["iou"], "auc": row["auc"], "seeds": len(row["seeds"])})
    return sorted(rows, key=lambda r: -r["dice"][0])


def pareto_front(cost: Sequence[float], score: Sequence[float]) -> list[int]:
    """Indices of the points no other point beats: none has lower-or-equal cost and a higher-or-equal score
    with at least one strictly better. Sorted by cost."""
    cost, score = np.asarray(cost, float), np.asarray(score, float)
    if cost.shape != score.shape:
        raise ValueError(f"cost and score need one value per model, got {cost.shape} and {score.shape}.")
    front = []
    for i in range(len(cost)):
        dominated = np.any((cost <= cost[i]) & (score >= score[i]) & ((cost < cost[i]) | (score > score[i])))
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: cost[i])


def budget(plan: LeaderboardPlan) -> str:
    """What one run trains, as a verdict line names it: ``"60 steps of 8 patches"``, or with an equal
    time budget ``"8 s of CPU training per run (batches of 8 patches)"``."""
    if plan.seconds is not None:
        return f"{plan.seconds:g} s of training per run (batches of {plan.batch_size} patches)"
    return f"{plan.steps} steps of {plan.batch_size} patches"


def compare_to_unet(results: Sequence[ArmResult], plan: LeaderboardPlan, key: str = "dice",
                    metric: str = "Dice", show: bool = True) -> list[stats.Comparison]:
    """Every model against the U-Net on paired seeds (same seed = same patches), each interval
    Bonferroni-corrected for the number of models (:func:`course_lib.stats.compare_to_baseline`); prints
    the correction and one verdict line per model (``show``). Arms are named by :func:`label`."""
    labelled = [replace(r, arm=label(r.arm, plan)) for r in results]
    return stats.compare_to_baseline(labelled, label("unet", plan), key, metric=metric, budget=budget(plan),
                                     show=show)


def verdict_summary(comparisons: Sequence[stats.Comparison]) -> str:
    """The verdicts of :func:`compare_to_unet` grouped (better / worse / no difference detected), with
    each model's per-seed differences: the lines the chapter's prose quotes."""
    if not comparisons:
        return "no comparisons"
    baseline = comparisons[0].b
    groups: dict[str, list[str]] = {f"better than {baseline}": [], f"worse than {baseline}": []}
    undecided: dict[str, list[str]] = {}
    for c in comparisons:
        if c.finding:
            groups[f"{'better' if c.verdict.endswith('better') else 'worse'} than {baseline}"].append(c.a)
        else:
            undecided.setdefault(c.verdict, []).append(c.a)
    lines = [f"{group}: {', '.join(arms) or 'none'}" for group, arms in groups.items()]
    lines += [f"{verdict}: {', '.join(arms)}" for verdict, arms in undecided.items()]
    width = max(len(c.a) for c in comparisons)
    lines.append(f"\n{comparisons[0].metric} minus {baseline}, per seed:")
    lines += [f"  {c.a:<{width}}  {c.per_seed_text()}" for c in comparisons]
    return "\n".join(lines)


def relative_costs(rows: Sequence[Mapping[str, Any]], reference: str = "U-Net",
                   keys: Sequence[str] = ("params", "gmacs", "train_step_s", "ms_per_image")
                   ) -> dict[str, dict[str, float]]:
    """Each model's costs (:func:`leaderboard_rows`) as multiples of the ``reference`` model's."""
    by_model = {r["model"]: r for r in rows}
    if reference not in by_model:
        raise KeyError(f"No row for {reference!r}; the rows are {', '.join(by_model)}.")
    ref = by_model[reference]
    return {name: {k: float(row[k]) / float(ref[k]) for k in keys if row.get(k) is not None and ref.get(k)}
            for name, row in by_model.items()}
