"""Chapter 10's 3D U-Net experiment: dense volumetric segmentation learned from sparse annotation
(Cicek et al. 2016), on ``synthetic-tubes3d`` volumes.

Three ways to label the same training volumes, each trained with the same steps and seeds:

- ``"dense"``: every voxel labelled (what an annotator would need days for);
- ``"sparse"``: only every ``every``-th slice along each axis labelled, weight 0 elsewhere, and the loss
  (:func:`course_lib.losses.masked_cross_entropy`) averages over the labelled voxels only: the paper's way;
- ``"sparse as background"``: the same slices, but the unlabelled voxels written into the mask as
  background: the mistake the weight map avoids.

Every arm is scored on densely labelled validation volumes (the centre the valid network predicts).
:func:`label_verdicts` compares the arms on paired seeds (:mod:`course_lib.stats`): sparse against dense
(does a zero weight on unlabelled voxels lose anything?) and sparse-as-background against sparse (what
the weight map is worth), in Dice and in sensitivity.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn as nn

from course_lib import config, engine, stats
from course_lib.data import load as load_dataset
from course_lib.data.synthetic.tubes3d import TubeVolumes
from course_lib.inspect_model import parameter_count
from course_lib.models import create_model
from course_lib.models.unet3d import valid_volume_sizes
from course_lib.protocols import sweep
from course_lib.protocols.sweep import ArmResult, CosineLR, run_sweep

__all__ = ["VERDICTS", "VOLUME_ARMS", "VolumePlan", "annotated_fraction", "budget", "compare_labels",
           "display_volume", "label_verdicts", "load_volumes", "make_unet3d", "plan_for", "summarise"]

#: arm -> how the training volumes are labelled (``annotate_every`` and ``unlabelled`` of the dataset)
VOLUME_ARMS: dict[str, dict[str, Any]] = {
    "dense": {"annotate_every": None},
    "sparse": {"unlabelled": "ignore"},
    "sparse as background": {"unlabelled": "background"},
}


@dataclass(frozen=True)
class VolumePlan:
    """What scales with the mode: ``size``^3 input volumes, a 3D U-Net of ``depth`` pools and first width
    ``base``; ``steps`` steps of ``batch_size`` volumes (in ``epochs``), Adam with a cosine decay from
    ``lr``; every ``every``-th slice per axis is labelled in the sparse arms."""

    size: int
    base: int
    depth: int
    n_train: int
    n_val: int
    steps: int
    epochs: int
    batch_size: int
    lr: float
    every: int
    seeds: tuple[int, ...]
    tubes: int = 10
    show_size: int = 0  # the larger validation volume the figures show (0: ``size``)


_PLANS = {
    "smoke": VolumePlan(size=48, base=2, depth=2, n_train=2, n_val=1, steps=2, epochs=1, batch_size=1,
                        lr=3e-3, every=8, seeds=(0, 1)),
    "quick": VolumePlan(size=52, base=8, depth=2, n_train=36, n_val=4, steps=54, epochs=3, batch_size=2,
                        lr=3e-3, every=8, seeds=(0, 1, 2), show_size=92),
    # the paper's network (depth 3, base 32) on its 132^3-class input; 132 -> 44 voxels per side
    "full": VolumePlan(size=132, base=32, depth=3, n_train=24, n_val=4, steps=600, epochs=6, batch_size=1,
                       lr=1e-3, every=8, seeds=(0, 1, 2), show_size=172),
}


def plan_for(mode: str | None = None, **overrides: Any) -> VolumePlan:
    """The experiment's plan for ``mode`` (default: the current mode), with fields overridden. A
    ``COURSE_MAX_STEPS`` rehearsal keeps the network but feeds it the smallest volume it takes (92³ for
    the paper's depth 3), and only 4 training volumes: it proves the path, and a 132³ step of the full
    network takes minutes on a CPU."""
    plan = replace(_PLANS[config.check_mode(mode or config.get_mode())], **overrides)
    if config.max_steps() is not None:
        smallest = valid_volume_sizes(plan.depth)[0]
        plan = replace(plan, size=min(plan.size, smallest), show_size=smallest, n_train=min(plan.n_train, 4),
                       n_val=1)
    return plan


def display_volume(plan: VolumePlan, seed: int = 1) -> dict[str, torch.Tensor]:
    """A validation volume of ``plan.show_size``³ voxels (the networks are fully convolutional, so the
    figures can show more than the training crops), with as many tubes per voxel as the training volumes."""
    size = plan.show_size or plan.size
    tubes = plan.tubes * max(1, round((size / plan.size) ** 2))  # a tube's length grows with the side
    return load_dataset("synthetic-tubes3d", "val", n=1, size=size, seed=seed, tubes=tubes)[0]


def make_unet3d(plan: VolumePlan, seed: int = 0) -> nn.Module:
    """The plan's 3D U-Net (1 input channel, 1 logit), initialised from ``seed``."""
    config.seed_everything(seed)
    return create_model("unet3d", in_channels=1, out_channels=1, base=plan.base, depth=plan.depth)


def load_volumes(plan: VolumePlan, arm: str, split: str = "train", seed: int = 0) -> TubeVolumes:
    """The ``split`` volumes labelled as ``arm`` says (validation volumes are always dense)."""
    if arm not in VOLUME_ARMS:
        raise ValueError(f"Unknown labelling {arm!r}; choose from {', '.join(VOLUME_ARMS)}.")
    labelling = {"annotate_every": plan.every, **VOLUME_ARMS[arm]} if split == "train" else {}
    n = plan.n_train if split == "train" else plan.n_val
    return load_dataset("synthetic-tubes3d", split, n=n, size=plan.size, seed=seed, tubes=plan.tubes,
                        **labelling)


def annotated_fraction(plan: VolumePlan, margin: int = 0, seed: int = 0) -> float:
    """The share of voxels an annotator labels in the sparse arms (inside ``margin`` of each face: the
    region a valid network predicts), over the plan's training volumes."""
    data = load_volumes(plan, "sparse", "train", seed)
    inner = slice(margin, plan.size - margin)
    shares = [data[i]["weight"][0, inner, inner, inner].mean() for i in range(len(data))]
    return float(torch.stack(shares).mean())


def compare_labels(plan: VolumePlan, arms: Sequence[str] = tuple(VOLUME_ARMS),
                   seeds: Sequence[int] | None = None, keep_seed: int | None = 0,
                   device: str | torch.device | None = None, progress: bool = True) -> list[ArmResult]:
    """Train the plan's 3D U-Net on each labelling with each seed (same volumes, steps, Adam with a cosine
    decay, :func:`~course_lib.losses.masked_cross_entropy`) and score it on dense validation volumes."""
    val = load_volumes(plan, "dense", "val")

    def run(arm: str, seed: int) -> ArmResult:
        model = make_unet3d(plan, seed)
        train = load_volumes(plan, arm, "train", seed)
        start = time.perf_counter()
        history = engine.fit(model, train, None, epochs=plan.epochs, batch_size=plan.batch_size, lr=plan.lr,
                             loss="masked_ce", seed=seed, device=device, progress=False,
                             max_steps_per_epoch=max(1, plan.steps // plan.epochs),
                             callbacks=[CosineLR(plan.lr)])
        seconds = time.perf_counter() - start
        scores = engine.evaluate(model, val, batch_size=plan.batch_size)
        prob = engine.predict(model, val, batch_size=plan.batch_size) if seed == keep_seed else None
        return ArmResult(arm, seed, scores, parameter_count(model), seconds, history, model, None, prob)

    return run_sweep(tuple(arms), plan.seeds if seeds is None else seeds, run, keep_seed, progress,
                     desc="labellings x seeds")


def summarise(results: Sequence[ArmResult], keys: Sequence[str] = ("dice", "sensitivity", "precision")
              ) -> dict[str, dict[str, Any]]:
    """:func:`course_lib.protocols.sweep.summarise` with the volume scores."""
    return sweep.summarise(results, keys)


#: The chapter's questions, as (arm A, arm B, score key, name in the verdict line): each states its own
#: expectation before training, so none is corrected for the others.
VERDICTS = (
    ("sparse", "dense", "dice", "Dice"),
    ("sparse as background", "sparse", "dice", "Dice"),
    ("sparse as background", "sparse", "sensitivity", "sensitivity"),
)


def budget(plan: VolumePlan) -> str:
    """What one run trains, as a verdict line names it: ``"54 steps of 2 volumes"``."""
    return f"{plan.steps} steps of {plan.batch_size} volumes"


def label_verdicts(results: Sequence[ArmResult], plan: VolumePlan, show: bool = True
                   ) -> list[stats.Comparison]:
    """The comparisons of :data:`VERDICTS` on paired seeds (:func:`course_lib.stats.compare_arms`); prints
    one verdict line each (``show``)."""
    return [stats.compare_arms(results, a, b, key, metric=metric, budget=budget(plan), show=show)
            for a, b, key, metric in VERDICTS]
