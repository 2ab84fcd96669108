"""Seed comparisons shared by the chapter protocols: every arm trained with every seed under one budget,
one progress bar for the whole sweep, results with mean and spread.

- :func:`sweep_seeds`: the seeds a comparison trains (only the first under a ``COURSE_MAX_STEPS``
  rehearsal, which proves the path, not the spread).
- :func:`run_sweep`: calls ``train(arm, seed)`` for every seed and arm (seed-major, so an interrupted
  sweep has whole seeds) and collects :class:`ArmResult` objects.
- :func:`summarise`: per arm, the mean and sample standard deviation of each score over the seeds.
- :func:`budget_text`: the budget the runs trained, as a verdict line of :mod:`course_lib.stats` names it.
- :class:`CosineLR`: an engine callback decaying the learning rate with a cosine over the epochs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from tqdm.auto import tqdm

from course_lib import config, engine
from course_lib.training.history import History

__all__ = ["ArmResult", "CosineLR", "EpochRecorder", "budget_text", "run_sweep", "summarise", "sweep_seeds"]


@dataclass
class ArmResult:
    """One trained run: its scores on the validation images and what it cost. ``model`` and ``prob``
    (validation probabilities) are kept for one seed only; ``recorder`` is whatever the run recorded
    during training (e.g. attention maps); ``extras`` anything small kept for every seed (e.g. a
    precision-recall curve)."""

    arm: str
    seed: int
    scores: dict[str, float]
    parameters: int
    seconds: float
    history: History
    model: nn.Module | None = None
    recorder: Any = None
    prob: torch.Tensor | None = field(default=None, repr=False)
    extras: dict[str, Any] = field(default_factory=dict, repr=False)


class CosineLR:
    """Engine callback: learning rate of epoch ``e`` (1-based) ``lr (1 + cos(pi (e - 1) / epochs)) / 2``."""

    def __init__(self, lr: float) -> None:
        self.lr = lr

    def on_epoch_start(self, ctx: engine.EpochContext) -> None:
        for group in ctx.optimizer.param_groups:
            group["lr"] = self.lr * (1 + math.cos(math.pi * (ctx.epoch - 1) / ctx.epochs)) / 2


class EpochRecorder:
    """Engine callback: maps computed on fixed ``images`` before training and after each epoch (the model
    in eval mode, its mode restored). Subclasses say what to keep in :meth:`capture`. ``maps[e]`` is that
    list of tensors after epoch ``epochs[e]`` (0: the initial weights)."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images
        self.maps: list[list[torch.Tensor]] = []
        self.epochs: list[int] = []

    def capture(self, model: nn.Module, outputs: Any) -> list[torch.Tensor]:
        raise NotImplementedError

    @torch.no_grad()
    def record(self, model: nn.Module, epoch: int) -> None:
        was_training = model.training
        model.eval()
        try:
            outputs = model(self.images.to(next(model.parameters()).device))
        finally:
            model.train(was_training)
        self.maps.append(self.capture(model, outputs))
        self.epochs.append(epoch)

    def on_epoch_start(self, ctx: engine.EpochContext) -> None:
        if not self.maps:
            self.record(ctx.model, ctx.epoch - 1)

    def on_epoch_end(self, ctx: engine.EpochContext) -> None:
        self.record(ctx.model, ctx.epoch)


def sweep_seeds(seeds: Sequence[int]) -> tuple[int, ...]:
    """``seeds``, or only the first under a ``COURSE_MAX_STEPS`` rehearsal."""
    seeds = tuple(seeds)
    if not seeds:
        raise ValueError("A seed comparison needs at least one seed.")
    return seeds[:1] if config.max_steps() is not None else seeds


def run_sweep(arms: Sequence[str], seeds: Sequence[int], train: Callable[[str, int], ArmResult],
              keep_seed: int | None = None, progress: bool = True, desc: str = "arms x seeds",
              ) -> list[ArmResult]:
    """``train(arm, seed) -> ArmResult`` for every seed and arm, one progress bar for all of them. Runs
    of seeds other than ``keep_seed`` drop their ``model`` and ``prob`` (memory)."""
    runs = [(arm, seed) for seed in sweep_seeds(seeds) for arm in arms]
    results = []
    bar = tqdm(runs, desc=desc, disable=not progress)
    for arm, seed in bar:
        bar.set_postfix(arm=arm, seed=seed)
        result = train(arm, seed)
        if seed != keep_seed:
            result.model, result.prob = None, None
        results.append(result)
        bar.set_postfix(arm=arm, seed=seed, dice=f"{result.scores.get('dice', float('nan')):.3f}")
    bar.close()
    return results


def summarise(results: Sequence[ArmResult], keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per arm: ``{key: (mean, sample std over seeds)}`` plus ``parameters``, ``seconds`` (mean per run),
    ``step_seconds`` (mean training step) and ``seeds``."""
    out: dict[str, dict[str, Any]] = {}
    for arm in dict.fromkeys(r.arm for r in results):
        runs = [r for r in results if r.arm == arm]
        row: dict[str, Any] = {}
        for k in keys:
            values = [r.scores[k] for r in runs]
            row[k] = (float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0)
        row.update(parameters=runs[0].parameters, seconds=float(np.mean([r.seconds for r in runs])),
                   step_seconds=float(np.mean([np.mean(r.history["step_seconds"]) for r in runs])),
                   seeds=[r.seed for r in runs])
        out[arm] = row
    return out


def budget_text(results: Sequence[ArmResult], batch_size: int, unit: str = "images") -> str:
    """The training budget of a sweep's runs as a verdict line names it, e.g. ``"160 steps of 8 images"``,
    from the optimizer steps the runs' histories recorded (a range when they differ)."""
    steps = sorted({int(r.history.optimizer_steps) for r in results})
    if not steps:
        raise ValueError("budget_text needs at least one run.")
    count = str(steps[0]) if len(steps) == 1 else f"{steps[0]}-{steps[-1]}"
    return f"{count} steps of {batch_size} {unit}"
