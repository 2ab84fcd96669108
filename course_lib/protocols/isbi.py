"""Chapter 02's protocol: the U-Net weight map on ISBI 2012, weighted against plain cross-entropy.

The same data, augmentation, initial weights and optimizer steps for both runs; only the loss differs:
pixel-weighted cross-entropy with the paper's ``w(x)`` (:func:`course_lib.data.weight_map.unet_weight_map`)
or plain cross-entropy. Cells are then judged on held-out full images by how well touching cells are
separated (:mod:`course_lib.instance_metrics`), not by pixel Dice alone.

- :func:`load_cell_images`: ISBI 2012 (``train``/``val``: 24/6 of the 30 labelled images) when it is in the
  data folder, else synthetic membranes (which have instances), with a banner saying which.
- :func:`training_patches`: weight maps computed once per *full* image (so cells cut by a patch border
  keep their true neighbours), then random patches with flips and the paper's elastic deformation
  (the weight map is warped with the image; instances and masks with nearest neighbour).
- :func:`make_model`: the padded U-Net or the original valid-convolution one, He-initialised, 2 classes.
- :func:`train`: :func:`course_lib.engine.fit` with ``"weighted_ce"`` or ``"bce"`` (softmax CE for 2 classes).
- :func:`choose_threshold`: the membrane threshold with the lowest Rand error on *training* images (the
  held-out images only score the model at that threshold, they never choose it).
- :func:`evaluate_cells`: full-image predictions by overlap-tile, then the Rand error and merged pairs.
- :func:`compare_arms`: the chapter's seed comparison (:data:`ARMS`: a padded U-Net with plain and with
  weighted cross-entropy, and a narrow valid U-Net trained on valid-size patches with the targets cropped to
  its output), each run scored on whole held-out images and, for the seams, on the same images predicted in
  tiles by overlap-tile with the network's own context margin (92 px valid, 0 px padded); the sizes per
  mode are a :class:`TilingPlan` (:func:`plan_for`).
- :func:`read_comparisons`: the questions of :data:`COMPARISONS`, each a paired comparison over the seeds
  (:func:`course_lib.stats.compare_arms`) with its printed verdict line; :func:`step_time_ratio`: what the
  valid network's step costs against the padded one's.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import Dataset

from course_lib import config, engine, instance_metrics, stats
from course_lib.data import load as load_dataset
from course_lib.data import transforms as T
from course_lib.data.tiling import overlap_tile_predict, seam_contrast
from course_lib.data.weight_map import add_weight_map
from course_lib.metrics import segmentation_scores
from course_lib.protocols.sweep import ArmResult, run_sweep
from course_lib.training.history import History

__all__ = ["ARMS", "COMPARISONS", "THRESHOLDS", "CellImages", "RunResult", "TilingPlan", "arm_setting",
           "choose_threshold", "compare_arms", "evaluate_cells", "load_cell_images", "make_model", "plan_for",
           "rand_error_by_threshold", "read_comparisons", "step_time_ratio", "train", "training_patches"]

#: Membrane thresholds the Rand error is scanned over.
THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

#: The chapter's arms: (network, loss). The weight map is judged by the first two, padding by the last two.
ARMS = ("padded, plain CE", "padded, weighted CE", "valid, weighted CE")

#: The chapter's comparisons, stated before training, by question: (score, arm A, arm B, names of A and B in
#: the verdict line, metric, higher is better). Each line answers its own question (a different metric or
#: pair of arms), so the intervals are not corrected for their number.
COMPARISONS: dict[str, tuple[tuple[str, str, str, tuple[str, str], str, bool], ...]] = {
    "Does the weight map separate touching cells? (padded U-Net, both arms)": (
        ("merged_pair_fraction", "padded, weighted CE", "padded, plain CE", ("weighted CE", "plain CE"),
         "merged-pair fraction", False),
        ("rand_error", "padded, weighted CE", "padded, plain CE", ("weighted CE", "plain CE"), "Rand error",
         False),
        ("dice", "padded, weighted CE", "padded, plain CE", ("weighted CE", "plain CE"), "membrane Dice",
         True),
    ),
    "What does the valid U-Net change? (weighted CE, both arms)": (
        ("seam_ratio", "valid, weighted CE", "padded, weighted CE", ("valid", "padded"), "seam ratio", False),
        ("rand_error", "valid, weighted CE", "padded, weighted CE", ("valid", "padded"), "Rand error", False),
        ("merged_pair_fraction", "valid, weighted CE", "padded, weighted CE", ("valid", "padded"),
         "merged-pair fraction", False),
        ("dice", "valid, weighted CE", "padded, weighted CE", ("valid", "padded"), "membrane Dice", True),
    ),
}

SYNTHETIC_BANNER = ("ISBI 2012 was not found under the data folder (COURSE_DATA_DIR or data/isbi2012); this "
                    "chapter uses the course's synthetic EM membranes instead. Their cells are instances, so "
                    "everything below runs; the numbers are not comparable with the paper's ISBI results. "
                    "To use the real data: cl.data.download('isbi2012') (you will be asked first).")


@dataclass
class CellImages:
    """Full labelled images (``image``, ``mask`` = membrane, ``instances``) for training and validation."""

    train: Dataset
    val: Dataset
    name: str
    real: bool
    banner: str = ""


def load_cell_images(n_train: int | None = None, n_val: int | None = None, size: int = 512,
                     root: str | None = None, seed: int = 0, verbose: bool = True) -> CellImages:
    """ISBI 2012 ``train``/``val`` when present (first ``n_train``/``n_val`` of them if given), else
    synthetic membranes of ``size`` px (``n_train`` default 24, ``n_val`` 6), with a printed banner."""
    try:
        train = load_dataset("isbi2012", "train", root=root, seed=seed)
        val = load_dataset("isbi2012", "val", root=root, seed=seed)
    except FileNotFoundError:
        train = load_dataset("synthetic-membranes", "train", n=n_train or 24, size=size, seed=seed)
        val = load_dataset("synthetic-membranes", "val", n=n_val or 6, size=size, seed=seed)
        data = CellImages(train, val, "synthetic-membranes", real=False, banner=SYNTHETIC_BANNER)
    else:
        if n_train is not None and n_train < len(train):
            train = torch.utils.data.Subset(train, range(n_train))
        if n_val is not None and n_val < len(val):
            val = torch.utils.data.Subset(val, range(n_val))
        data = CellImages(train, val, "isbi2012", real=True)
    if verbose:
        print(data.banner or f"ISBI 2012: {len(data.train)} training and {len(data.val)} held-out images "
                             "(512x512) from the data folder.")
    return data


def training_patches(
    images: Dataset,
    input_size: int,
    patches_per_image: int,
    elastic: bool = True,
    w0: float = 10.0,
    sigma: float = 5.0,
    seed: int = 0,
) -> Dataset:
    """Random ``input_size`` patches with ``"weight"`` (the U-Net map of the full image), flipped and
    (``elastic``) elastically deformed as in the paper (3x3 grid, 10 px standard deviation)."""
    steps: list[Any] = [T.RandomFlip()]
    if elastic:
        steps.append(T.ElasticDeformation(grid=3, sigma=10.0, padding_mode="reflection"))
    weighted = add_weight_map(images, w0=w0, sigma=sigma)
    return T.RandomPatches(weighted, patch_size=input_size, patches_per_image=patches_per_image,
                           transform=T.Compose(steps), seed=seed)


def make_model(kind: str = "padded", base_width: int = 8, batch_norm: bool = True,
               seed: int = 0) -> nn.Module:
    """A 2-class, He-initialised U-Net of depth 4: ``"padded"`` (the course's, any multiple of 16) or
    ``"valid"`` (the original: 188 + 16k in, 184 px less out). Seeded, so two calls are identical."""
    from course_lib.models import create_model

    if kind not in ("padded", "valid"):
        raise ValueError(f"kind must be 'padded' or 'valid', got {kind!r}.")
    config.seed_everything(seed)
    widths = tuple(base_width * 2**i for i in range(5))
    name = "unet" if kind == "padded" else "unet_original"
    return create_model(name, in_channels=1, out_channels=2, widths=widths, batch_norm=batch_norm, init="he")


def train(
    model: nn.Module,
    train_set: Dataset,
    val_set: Dataset | None,
    weighted: bool,
    epochs: int,
    batch_size: int = 4,
    lr: float = 1e-3,
    optimizer: str = "adam",
    max_steps_per_epoch: int | None = None,
    out_dir: str | None = None,
    seed: int = 0,
    progress: bool = True,
) -> History:
    """Fit with ``"weighted_ce"`` (the weight map) or plain ``"bce"``; everything else is shared."""
    return engine.fit(model, train_set, val_set, epochs=epochs, batch_size=batch_size, lr=lr,
                      loss="weighted_ce" if weighted else "bce", optimizer=optimizer, momentum=0.99,
                      max_steps_per_epoch=max_steps_per_epoch, out_dir=out_dir, seed=seed, progress=progress)


@dataclass
class RunResult:
    """Scores of one model on the held-out images (see :func:`evaluate_cells`); ``cells`` at ``threshold``."""

    pixel: dict[str, float]
    cells: dict[str, float]
    per_threshold: dict[float, float] = field(default_factory=dict)
    probs: list[torch.Tensor] = field(default_factory=list)
    seconds: float = 0.0
    threshold: float = 0.5


def _images(images: Dataset, n_images: int | None = None) -> range:
    """Indices of the first ``n_images`` of ``images`` (all if None), at most ``eval_limit()`` of them."""
    n = len(images) if n_images is None else min(n_images, len(images))
    limit = config.eval_limit()
    return range(n if limit is None else min(limit, n))


def _membrane_probability(model: nn.Module, image: torch.Tensor, tile_output: int) -> torch.Tensor:
    """1 x H x W membrane probability of a whole image (overlap-tile: exact for a valid network)."""
    logits = overlap_tile_predict(model, image, tile_output=tile_output)
    return torch.softmax(logits, 0)[1:2] if logits.shape[0] == 2 else torch.sigmoid(logits)


def rand_error_by_threshold(
    model: nn.Module,
    images: Dataset,
    thresholds: tuple[float, ...] = THRESHOLDS,
    n_images: int | None = None,
    min_size: int = 16,
    tile_output: int = 512,
) -> dict[float, float]:
    """Mean Rand error of the cells at each of ``thresholds`` over the first ``n_images`` of ``images``."""
    errors: dict[float, list[float]] = {t: [] for t in thresholds}
    for i in _images(images, n_images):
        sample = images[i]
        prob = _membrane_probability(model, sample["image"], tile_output)[0]
        true = sample["instances"][0].numpy()
        for t in thresholds:
            cells = instance_metrics.cells_from_probability(prob, t, min_size=min_size)
            errors[t].append(instance_metrics.adapted_rand_error(cells, true).error)
    return {t: float(np.mean(v)) for t, v in errors.items()}


def choose_threshold(
    model: nn.Module,
    train_images: Dataset,
    thresholds: tuple[float, ...] = THRESHOLDS,
    n_images: int | None = None,
    min_size: int = 16,
    tile_output: int = 512,
) -> tuple[float, dict[float, float]]:
    """The threshold with the lowest mean Rand error on (the first ``n_images``) *training* images, and
    the Rand error per threshold there. Choose it on training images, then score the held-out ones at it
    (:func:`evaluate_cells`): picking the best threshold on the images you report flatters the score."""
    curve = rand_error_by_threshold(model, train_images, thresholds, n_images, min_size, tile_output)
    return min(curve, key=curve.get), curve


def evaluate_cells(
    model: nn.Module,
    images: Dataset,
    threshold: float = 0.5,
    thresholds: tuple[float, ...] = (),
    max_gap: int = 4,
    min_size: int = 16,
    tile_output: int = 512,
) -> RunResult:
    """Membrane probabilities of every full image (overlap-tile: exact for a valid network), then cells
    (:func:`~course_lib.instance_metrics.cells_from_probability`) and their scores at ``threshold`` (chosen
    beforehand, e.g. by :func:`choose_threshold` on training images).

    ``cells`` pools the images: mean Rand error (and its merge/split parts), total touching pairs,
    merged pairs and merged cells, and ``merged_pair_fraction``; ``per_threshold`` is the mean Rand error at
    each of ``thresholds`` (for reading only, not for choosing); ``pixel`` the membrane Dice etc. (pooled
    pixels, threshold 0.5). Under a ``COURSE_MAX_STEPS`` rehearsal only the first couple of images are scored.
    """
    start = time.perf_counter()
    probs, masks, per_image = [], [], []
    per_threshold: dict[float, list[float]] = {t: [] for t in thresholds}
    for i in _images(images):
        sample = images[i]
        prob = _membrane_probability(model, sample["image"], tile_output)
        true = sample["instances"][0].numpy()
        cells = instance_metrics.cells_from_probability(prob[0], threshold, min_size=min_size)
        per_image.append(instance_metrics.separation_scores(cells, true, max_gap=max_gap))
        for t in thresholds:
            cells_t = instance_metrics.cells_from_probability(prob[0], t, min_size=min_size)
            per_threshold[t].append(instance_metrics.adapted_rand_error(cells_t, true).error)
        probs.append(prob)
        masks.append(sample["mask"])
    pooled = {key: float(np.sum([s[key] for s in per_image]))
              for key in ("cells", "segments", "touching_pairs", "merged_pairs", "merged_cells")}
    for key in ("rand_error", "rand_merge_score", "rand_split_score"):
        pooled[key] = float(np.mean([s[key] for s in per_image]))
    pooled["merged_pair_fraction"] = pooled["merged_pairs"] / max(1.0, pooled["touching_pairs"])
    pixel = segmentation_scores(torch.stack(probs), torch.stack(masks))
    return RunResult(pixel, pooled, {t: float(np.mean(v)) for t, v in per_threshold.items()}, probs,
                     time.perf_counter() - start, threshold)


# -- the chapter's seed comparison -----------------------------------------------------------------------

@dataclass(frozen=True)
class TilingPlan:
    """What scales with the mode. Every run: ``epochs`` x ``steps`` optimizer steps of ``batch_size``
    random patches (flips, elastic deformation), Adam at ``lr``, BatchNorm, He initialisation, widths
    ``base_width`` x (1, 2, 4, 8, 16). Patches are ``padded_size`` px for the padded U-Net and
    ``valid_size`` px (188 + 16k) for the valid one, whose loss sees the central ``valid_size - 184`` px.
    ``tile``: output tile of the tiled predictions the seams are measured on (the first ``seam_images``
    held-out images); the threshold is chosen on the first ``threshold_images`` training images."""

    padded_size: int
    valid_size: int
    base_width: int
    batch_size: int
    epochs: int
    steps: int
    lr: float
    seeds: tuple[int, ...]
    tile: int
    threshold_images: int
    seam_images: int

    def input_size(self, kind: str) -> int:
        """The training patch side of ``"padded"`` or ``"valid"``."""
        return self.padded_size if kind == "padded" else self.valid_size


_PLANS = {
    "smoke": TilingPlan(padded_size=64, valid_size=188, base_width=4, batch_size=2, epochs=1, steps=2,
                        lr=1e-3, seeds=(0, 1), tile=64, threshold_images=2, seam_images=1),
    "quick": TilingPlan(padded_size=128, valid_size=316, base_width=8, batch_size=4, epochs=6, steps=12,
                        lr=2e-3, seeds=(0, 1, 2, 3, 4), tile=128, threshold_images=4, seam_images=3),
    "full": TilingPlan(padded_size=384, valid_size=572, base_width=32, batch_size=4, epochs=20, steps=50,
                       lr=1e-3, seeds=(0, 1, 2), tile=128, threshold_images=24, seam_images=6),
}


def plan_for(mode: str | None = None, **overrides: Any) -> TilingPlan:
    """The chapter's plan for ``mode`` (default: the current mode), with fields overridden."""
    return replace(_PLANS[config.check_mode(mode or config.get_mode())], **overrides)


def arm_setting(arm: str) -> tuple[str, bool]:
    """(network kind, weighted loss) of an arm named ``"<padded|valid>, <plain|weighted> CE"``."""
    match = re.fullmatch(r"(padded|valid), (plain|weighted) CE", arm)
    if match is None:
        raise ValueError(f"Unknown arm {arm!r}; arms are named like {', '.join(ARMS)}.")
    return match.group(1), match.group(2) == "weighted"


def _slug(arm: str) -> str:
    return re.sub(r"[^a-z]+", "_", arm.lower()).strip("_")


def compare_arms(
    data: CellImages,
    plan: TilingPlan,
    arms: tuple[str, ...] = ARMS,
    seeds: tuple[int, ...] | None = None,
    keep_seed: int | None = None,
    out_dir: str | None = None,
    progress: bool = True,
) -> list[ArmResult]:
    """Train every arm with every seed (one progress bar for the sweep) and score it.

    Per run, in ``scores``: ``threshold`` (lowest Rand error on the first ``plan.threshold_images``
    training images), then on the whole held-out images (one pass each; overlap-tile for the valid
    network): ``rand_error`` and ``merged_pair_fraction`` at that threshold, ``rand_error_05`` at 0.5,
    ``dice`` (membrane, pixels, 0.5); and ``seam_ratio``: :func:`~course_lib.data.tiling.seam_contrast` of
    the first ``plan.seam_images`` of them predicted in ``plan.tile``-px output tiles by overlap-tile with
    the network's own margin (92 px valid: seamless by construction; 0 px padded: each tile alone),
    averaged over images. Validation during training: one random patch per held-out image and epoch.
    ``extras``: ``"cells"`` (:class:`RunResult`; its probabilities only for ``keep_seed``),
    ``"train_rand"`` (Rand error per threshold on the training images), ``"seam"`` (border and elsewhere
    gradients), ``"eval_seconds"``. ``out_dir``: checkpoints under ``out_dir/<arm>_seed<k>`` (resumable).
    """
    for arm in arms:
        arm_setting(arm)
    per_image = max(1, math.ceil(plan.steps * plan.batch_size / len(data.train)))

    def run(arm: str, seed: int) -> ArmResult:
        kind, weighted = arm_setting(arm)
        size = plan.input_size(kind)
        train_set = training_patches(data.train, size, per_image, elastic=True, seed=seed)
        val_set = T.RandomPatches(data.val, size, patches_per_image=1, seed=1)
        model = make_model(kind, plan.base_width, seed=seed)
        start = time.perf_counter()
        history = train(model, train_set, val_set, weighted=weighted, epochs=plan.epochs,
                        batch_size=plan.batch_size, lr=plan.lr, max_steps_per_epoch=plan.steps,
                        out_dir=None if out_dir is None else f"{out_dir}/{_slug(arm)}_seed{seed}", seed=seed,
                        progress=False)
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        threshold, train_rand = choose_threshold(model, data.train, n_images=plan.threshold_images)
        cells = evaluate_cells(model, data.val, threshold=threshold, thresholds=(0.5,))
        seams = [seam_contrast(_tiled_probability(model, data.val[i]["image"], plan.tile), plan.tile)
                 for i in _images(data.val, plan.seam_images)]
        seam = {"border": float(np.mean([s.border for s in seams])),
                "elsewhere": float(np.mean([s.elsewhere for s in seams]))}
        scores = {"threshold": threshold, "rand_error": cells.cells["rand_error"],
                  "rand_error_05": cells.per_threshold[0.5], "dice": cells.pixel["dice"],
                  "merged_pair_fraction": cells.cells["merged_pair_fraction"],
                  "seam_ratio": float(np.mean([s.ratio for s in seams]))}
        if seed != keep_seed:
            cells.probs = []
        extras = {"cells": cells, "train_rand": train_rand, "seam": seam,
                  "eval_seconds": time.perf_counter() - start}
        return ArmResult(arm, seed, scores, sum(p.numel() for p in model.parameters()), seconds, history,
                         model, extras=extras)

    return run_sweep(arms, plan.seeds if seeds is None else seeds, run, keep_seed, progress)


def _tiled_probability(model: nn.Module, image: torch.Tensor, tile: int) -> torch.Tensor:
    """Membrane probability of ``image`` predicted in ``tile``-px output tiles with the network's own
    context margin (the seams of :func:`compare_arms`)."""
    logits = overlap_tile_predict(model, image, tile_output=tile)
    return torch.softmax(logits, 0)[1] if logits.shape[0] == 2 else torch.sigmoid(logits)[0]


def read_comparisons(results: list[ArmResult], plan: TilingPlan, show: bool = True) -> list[stats.Comparison]:
    """Every comparison of :data:`COMPARISONS` on the seeds of ``results``, paired by seed, with a 95 %
    t-interval (:func:`course_lib.stats.compare_arms`) at the budget of ``plan``. Prints each question and its
    verdict lines unless ``show=False``; returns the comparisons in that order."""
    budget = f"{plan.epochs * plan.steps} steps of {plan.batch_size} patches"
    readings = []
    for question, comparisons in COMPARISONS.items():
        if show:
            print(f"\n{question}")
        for key, a, b, names, metric, higher in comparisons:
            readings.append(stats.compare_arms(results, a, b, key, names=names, metric=metric,
                                               higher_is_better=higher, budget=budget, show=show))
    return readings


def step_time_ratio(results: list[ArmResult], arm: str = "valid, weighted CE",
                    baseline: str = "padded, weighted CE") -> tuple[float, float, float]:
    """(seconds per training step of ``arm``, of ``baseline``, their ratio), each the mean over its runs."""
    def step(name: str) -> float:
        runs = [float(np.mean(r.history["step_seconds"])) for r in results if r.arm == name]
        if not runs:
            raise KeyError(f"No run of arm {name!r}; the results have {sorted({r.arm for r in results})}.")
        return float(np.mean(runs))

    a, b = step(arm), step(baseline)
    return a, b, a / b
