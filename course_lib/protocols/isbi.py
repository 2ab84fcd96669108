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
- :func:`evaluate_cells`: full-image predictions by overlap-tile, then the Rand error and merged pairs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import Dataset

from course_lib import config, engine, instance_metrics
from course_lib.data import load as load_dataset
from course_lib.data import transforms as T
from course_lib.data.tiling import overlap_tile_predict
from course_lib.data.weight_map import add_weight_map
from course_lib.metrics import segmentation_scores
from course_lib.training.history import History

__all__ = ["CellImages", "RunResult", "evaluate_cells", "load_cell_images", "make_model", "train",
           "training_patches"]

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
    """Scores of one model on the held-out images (see :func:`evaluate_cells`)."""

    pixel: dict[str, float]
    cells: dict[str, float]
    per_threshold: dict[float, float] = field(default_factory=dict)
    probs: list[torch.Tensor] = field(default_factory=list)
    seconds: float = 0.0

    def best_rand_error(self) -> tuple[float, float]:
        """(threshold, Rand error) of the best threshold, as the ISBI challenge scored boundary maps."""
        threshold = min(self.per_threshold, key=self.per_threshold.get)
        return threshold, self.per_threshold[threshold]


def evaluate_cells(
    model: nn.Module,
    images: Dataset,
    threshold: float = 0.5,
    thresholds: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    max_gap: int = 4,
    min_size: int = 16,
    tile_output: int = 512,
) -> RunResult:
    """Membrane probabilities of every full image (overlap-tile: exact for a valid network), then cells
    (:func:`~course_lib.instance_metrics.cells_from_probability`) and their scores at ``threshold``.

    ``cells`` pools the images: mean Rand error (and its merge/split parts), total touching pairs,
    merged pairs and merged cells, and ``merged_pair_fraction``; ``per_threshold`` is the mean Rand error at
    each of ``thresholds``; ``pixel`` the membrane Dice etc. (pooled pixels, threshold 0.5). Under a
    ``COURSE_MAX_STEPS`` rehearsal only the first couple of images are scored.
    """
    start = time.perf_counter()
    probs, masks, per_image = [], [], []
    per_threshold: dict[float, list[float]] = {t: [] for t in thresholds}
    limit = config.eval_limit()
    for i in range(len(images) if limit is None else min(limit, len(images))):
        sample = images[i]
        logits = overlap_tile_predict(model, sample["image"], tile_output=tile_output)
        prob = torch.softmax(logits, 0)[1:2] if logits.shape[0] == 2 else torch.sigmoid(logits)
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
                     time.perf_counter() - start)
