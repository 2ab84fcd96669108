"""Chapter 03's regulariser comparison: a U-Net that really overfits a tiny training set, trained with
no regulariser, or Dropout, SpatialDropout or DropBlock after the double convolution of the deep levels
(maps of a quarter of the input side and smaller, encoder, bottleneck and decoder), plus DropBlock after
every level, with several seeds.

- :class:`OverfitPlan` / :func:`plan_for`: the sizes per mode (quick: two 128-px training images of hard
  synthetic membranes, 240 optimizer steps, 3 seeds).
- :func:`load_task`: the training images (repeated so that an epoch has ``steps_per_epoch`` steps) and
  the validation images.
- :func:`make_model`: the U-Net with one of :data:`ARMS` inserted (the same initial weights per seed).
- :func:`compare_regularizers`: every arm with every seed through :func:`course_lib.engine.fit`; scores of
  the final weights on the training and validation images, both in evaluation mode.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch.nn as nn
from torch.utils.data import Dataset

from course_lib import config, engine, inspect_model
from course_lib.blocks.dropblock import DropBlock2d, LinearKeepProbSchedule
from course_lib.data import load as load_dataset
from course_lib.protocols.sweep import ArmResult, run_sweep

__all__ = ["ARMS", "EXTRA_ARMS", "OverfitPlan", "Repeated", "compare_regularizers", "load_task", "make_model",
           "plan_for"]

ARMS = ("none", "Dropout", "SpatialDropout", "DropBlock", "DropBlock, all levels")
#: Block size as the variable (chapter 03's bounded attempt): the DropBlock arm with 5x5 blocks.
EXTRA_ARMS = ("DropBlock 5x5",)


@dataclass(frozen=True)
class OverfitPlan:
    """One mode's sizes. ``rate`` is every regulariser's drop fraction (DropBlock: ``1 - keep_prob``, reached
    by a linear schedule over the first ``ramp_epochs``); ``difficulty`` is the generator's preset. The
    regularisers sit at levels ``from_level`` and deeper (DropBlock with ``block_size``), except the arm
    ``"DropBlock, all levels"``: every level, blocks of ``all_levels_block``."""

    n_train: int
    n_val: int
    size: int
    difficulty: float
    base_width: int
    epochs: int
    steps_per_epoch: int
    batch_size: int
    lr: float = 2e-3
    rate: float = 0.1
    block_size: int = 3
    from_level: int = 2
    all_levels_block: int = 7
    regularize: tuple[str, ...] = ("encoder", "bottleneck", "decoder")
    seeds: tuple[int, ...] = (0, 1, 2)

    @property
    def widths(self) -> tuple[int, ...]:
        return tuple(self.base_width * 2**i for i in range(5))

    @property
    def ramp_epochs(self) -> int:
        return max(1, self.epochs // 2)

    @property
    def steps(self) -> int:
        return self.epochs * self.steps_per_epoch


PLANS = {
    "smoke": OverfitPlan(n_train=2, n_val=2, size=96, difficulty=0.9, base_width=4, epochs=2,
                         steps_per_epoch=1, batch_size=2, seeds=(0, 1)),
    "quick": OverfitPlan(n_train=2, n_val=12, size=128, difficulty=0.9, base_width=8, epochs=10,
                         steps_per_epoch=24, batch_size=2),
    "full": OverfitPlan(n_train=4, n_val=32, size=256, difficulty=0.9, base_width=16, epochs=20,
                        steps_per_epoch=50, batch_size=4),
}


def plan_for(mode: str | None = None, **overrides: Any) -> OverfitPlan:
    """The plan of ``mode`` (default: the current mode), with ``overrides`` applied."""
    return replace(PLANS[mode or config.get_mode()], **overrides)


class Repeated(Dataset):
    """``dataset`` seen ``times`` times per epoch (no augmentation: the same images again)."""

    def __init__(self, dataset: Dataset, times: int) -> None:
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}.")
        self.dataset, self.times = dataset, times

    def __len__(self) -> int:
        return len(self.dataset) * self.times

    def __getitem__(self, index: int) -> Any:
        return self.dataset[index % len(self.dataset)]


def load_task(plan: OverfitPlan) -> tuple[Dataset, Dataset, Dataset]:
    """``(train_images, train_epoch, val_images)``: the training images, the same repeated to fill one
    epoch of ``steps_per_epoch`` batches, and the validation images (other images of the same generator)."""
    train = load_dataset("synthetic-membranes", "train", n=plan.n_train, size=plan.size,
                         difficulty=plan.difficulty)
    val = load_dataset("synthetic-membranes", "val", n=plan.n_val, size=plan.size, difficulty=plan.difficulty)
    times = -(-plan.steps_per_epoch * plan.batch_size // plan.n_train)
    return train, Repeated(train, times), val


def regularizer_factory(arm: str, plan: OverfitPlan) -> Callable[[int, int], nn.Module] | None:
    """The ``regularizer=`` factory of ``arm`` for :class:`course_lib.models.unet.UNet`: the arm's layer at
    levels ``plan.from_level`` and deeper, ``nn.Identity`` above them (``"DropBlock, all levels"``: every
    level)."""

    def deep(make: Callable[[], nn.Module]) -> Callable[[int, int], nn.Module]:
        return lambda level, channels: make() if level >= plan.from_level else nn.Identity()

    factories = {
        "none": None,
        "Dropout": deep(lambda: nn.Dropout(plan.rate)),
        "SpatialDropout": deep(lambda: nn.Dropout2d(plan.rate)),
        "DropBlock": deep(lambda: DropBlock2d(1 - plan.rate, plan.block_size)),
        "DropBlock, all levels": lambda level, channels: DropBlock2d(1 - plan.rate, plan.all_levels_block),
        "DropBlock 5x5": deep(lambda: DropBlock2d(1 - plan.rate, 5)),
    }
    if arm not in factories:
        raise ValueError(f"Unknown arm {arm!r}; choose one of {', '.join(ARMS + EXTRA_ARMS)}.")
    return factories[arm]


def make_model(arm: str, plan: OverfitPlan, seed: int = 0) -> nn.Module:
    """The U-Net of ``plan`` with ``arm``'s layer after the double conv of its levels; the same initial
    weights for every arm of a seed (the regularisers have no parameters)."""
    from course_lib.models import create_model

    factory = regularizer_factory(arm, plan)
    config.seed_everything(seed)
    return create_model("unet", in_channels=1, out_channels=1, widths=plan.widths, regularizer=factory,
                        regularize=plan.regularize)


def compare_regularizers(plan: OverfitPlan, arms: Sequence[str] = ARMS, seeds: Sequence[int] | None = None,
                         keep_seed: int | None = 0, progress: bool = True) -> list[ArmResult]:
    """Train every arm with every seed (one progress bar). Each result's ``scores`` are the validation
    scores of the final weights plus ``train_dice`` (the training images, also in evaluation mode, so
    comparable), ``gap`` (train Dice minus validation Dice), ``val_loss`` (the last epoch's) and
    ``best_val_dice`` (the best epoch's); ``extras["train"]`` holds all training-image scores."""
    train, train_epoch, val = load_task(plan)

    def train_arm(arm: str, seed: int) -> ArmResult:
        model = make_model(arm, plan, seed)
        callbacks = ([LinearKeepProbSchedule(model, start=1.0, end=1 - plan.rate, steps=plan.ramp_epochs)]
                     if arm.startswith("DropBlock") else [])
        start = time.perf_counter()
        history = engine.fit(model, train_epoch, val, epochs=plan.epochs, batch_size=plan.batch_size,
                             lr=plan.lr, loss="bce_dice", max_steps_per_epoch=plan.steps_per_epoch, seed=seed,
                             callbacks=callbacks, progress=False)
        seconds = time.perf_counter() - start
        scores = engine.evaluate(model, val)
        train_scores = engine.evaluate(model, train)
        scores.update(train_dice=train_scores["dice"], gap=train_scores["dice"] - scores["dice"],
                      val_loss=history["val_loss"][-1], best_val_dice=max(history["val_dice"]))
        return ArmResult(arm=arm, seed=seed, scores=scores, parameters=inspect_model.parameter_count(model),
                         seconds=seconds, history=history, model=model, extras={"train": train_scores})

    return run_sweep(arms, plan.seeds if seeds is None else seeds, train_arm, keep_seed=keep_seed,
                     progress=progress, desc="regularisers x seeds")
