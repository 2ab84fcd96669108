"""The DRIVE protocol of chapter 06 (DACRSE-UNet on retinal vessels): data, training sets, evaluation.

Two ways to train, one way to evaluate:

- **Paper protocol** (full mode, GPU): whole RGB images zero-padded to 592x592, random rotation,
  colour jitter, Gaussian noise and flips (:func:`paper_transform`), BCE with logits, Adam 1e-4,
  batch 8, 50 epochs (:func:`paper_training_set` repeats every image with fresh augmentation).
- **Patch protocol** (quick mode, CPU): each image's colour channels divided by their smooth
  background and standardised inside the FOV (:func:`flatten_illumination`; :func:`standardise_rgb`
  alone is ``"rgb_norm"``), and random ``64 x 64`` patches, most of them centred on a vessel pixel,
  with flips and 90-degree rotations (:class:`VesselPatches`). Small patches give many independent,
  vessel-rich gradient samples per second, which is what a CPU can afford. The classic green channel
  with local contrast normalisation (:func:`vessel_contrast`, CLAHE-like) is another choice
  (``PREPROCESSING``); on DRIVE it scored lower in the course's runs.
- **Cross-validation**: :func:`cross_validation_fold` holds out other groups of images, because the
  scores on 4 held-out images depend a lot on which 4 they are.
- **Evaluation** always on whole images, pooled over the pixels inside the field of view (FOV):
  :func:`evaluate_images` gives Acc, Se, Sp, F1, AUC and the probability maps.

:func:`load_vessel_data` gives the training and validation images of DRIVE (always the seeded
``train``/``val`` split of the official training set, so validation never looks at the test split) and
falls back to ``synthetic-vessels`` with a banner when DRIVE is absent. :func:`load_test_split` gives the
official test images when their labels are present, to be scored once, after training.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import Dataset

from course_lib import config, engine, sizes
from course_lib.blocks.dropblock import DropBlock2d, LinearKeepProbSchedule
from course_lib.data.preprocessing import (
    PREPROCESSING,
    flatten_illumination,
    preprocessing_channels,
    standardise_rgb,
    vessel_contrast,
)
from course_lib.data.real.common import DatasetLayoutError, DatasetNotFoundError
from course_lib.data.registry import data_root, load, shown_path
from course_lib.data.transforms import (
    ColorJitter,
    Compose,
    GaussianNoise,
    PadTo,
    RandomFlip,
    RandomRotation,
    make_generator,
)
from course_lib.metrics import roc_curve, segmentation_scores
from course_lib.models.registry import create_model

__all__ = [
    "PREPROCESSING",
    "PUBLISHED_DRIVE",
    "VesselData",
    "VesselPatches",
    "cross_validation_fold",
    "evaluate_images",
    "fit_vessel_model",
    "flatten_illumination",
    "fov_roc",
    "load_test_split",
    "load_vessel_data",
    "make_vessel_model",
    "paper_training_set",
    "paper_transform",
    "predict_images",
    "preprocessing_channels",
    "published_table",
    "standardise_rgb",
    "training_set",
    "vessel_contrast",
]

PAPER_PAD = 592  # 584 x 565 -> 592 x 592: a multiple of 2**3 for the three max-pools

# DRIVE test split, inside the FOV; the U-Net row as tabulated by the R2U-Net paper (Alom et al. 2018).
PUBLISHED_DRIVE: dict[str, dict[str, float]] = {
    "U-Net (Alom et al. 2018, table)": {"auc": 0.9755, "accuracy": 0.9531, "f1": 0.8142},
    "R2U-Net (Alom et al. 2018)": {"auc": 0.9784},
    "CE-Net (Gu et al. 2019)": {"auc": 0.9779},
    "retina-unet, 48x48 patches (orobix)": {"auc": 0.9790},
    "2nd human observer": {"accuracy": 0.9473},
}


# ----------------------------------------------------------------------------- data


@dataclass
class VesselData:
    """Whole images of one split as tensors, plus where they came from.

    ``images`` N x C x H x W (float), ``masks`` and ``fovs`` N x 1 x H x W in {0, 1}; ``rgb`` keeps the
    raw RGB images in [0, 1] for figures (N x 3 x H x W). ``source`` is ``"drive"`` or
    ``"synthetic-vessels"``; ``split`` says which images these are.
    """

    images: torch.Tensor
    masks: torch.Tensor
    fovs: torch.Tensor
    rgb: torch.Tensor
    ids: list[str]
    source: str
    split: str
    preprocessing: str = "rgb"
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, indices: Sequence[int], split: str) -> VesselData:
        """The images at ``indices`` (in that order), labelled ``split``."""
        idx = list(indices)
        return VesselData(self.images[idx], self.masks[idx], self.fovs[idx], self.rgb[idx],
                          [self.ids[i] for i in idx], self.source, split, self.preprocessing)

    def samples(self) -> list[dict[str, torch.Tensor]]:
        """The course's sample dicts (for ``cl.engine``'s validation or ``cl.viz``)."""
        return [{"image": i, "mask": m, "fov": f} for i, m, f in zip(self.images, self.masks, self.fovs,
                                                                      strict=True)]


def _stack(dataset: Dataset, preprocessing: str) -> tuple[torch.Tensor, ...]:
    preprocessing_channels(preprocessing)  # validates the name before any image is read
    samples = [dataset[i] for i in range(len(dataset))]
    rgb = torch.stack([s["image"] for s in samples])
    masks = torch.stack([s["mask"] for s in samples])
    fovs = torch.stack([s["fov"] if "fov" in s else torch.ones_like(s["mask"]) for s in samples])
    prepare = PREPROCESSING[preprocessing][1]
    images = torch.stack([prepare(r, f) for r, f in zip(rgb, fovs, strict=True)])
    return images, masks, fovs, rgb


def load_vessel_data(
    root: str | os.PathLike | None = None,
    *,
    preprocessing: str = "rgb_norm",
    val_fraction: float = 0.2,
    seed: int = 0,
    synthetic_size: int | tuple[int, int] = 256,
    synthetic_n: tuple[int, int] = (16, 4),
    force_synthetic: bool = False,
    verbose: bool = True,
) -> tuple[VesselData, VesselData]:
    """``(train, val)`` images for the chapter, DRIVE when present, else synthetic vessels.

    On DRIVE the model trains on a seeded 80 % of the 20 official training images and is validated on
    the held-out rest (``val_fraction``), whether or not the official test labels are present: the test
    split is never watched during training. :func:`load_test_split` gives it, to score once at the end.
    The returned objects say which images they hold in ``split``. ``synthetic_n`` = (train, val).
    """
    if not force_synthetic:
        try:
            train_set = load("drive", split="train", root=root, val_fraction=val_fraction, seed=seed)
            val_set = load("drive", split="val", root=root, val_fraction=val_fraction, seed=seed)
            splits = (f"DRIVE training images ({len(train_set)} of {len(train_set) + len(val_set)})",
                      f"held-out DRIVE TRAINING images ({len(val_set)}, never trained on; "
                      "not the official test split)")
            data = [VesselData(*_stack(ds, preprocessing), ids=ds.ids, source="drive", split=name,
                               preprocessing=preprocessing) for ds, name in zip((train_set, val_set), splits,
                                                                               strict=True)]
            if verbose:
                test = ("the official test labels are present: load_test_split gives the test images, to "
                        "score once, after training" if _has_test_labels(root) else
                        "no official test labels (DRIVE/test/1st_manual): the held-out training images are "
                        "the only evaluation")
                print(f"DRIVE found: training on {splits[0]}, validating on {splits[1]};\n{test}.")
            return data[0], data[1]
        except DatasetNotFoundError as err:
            reason = _reason(err, root)
    else:
        reason = "force_synthetic=True"
    if verbose:
        print("=" * 78 + "\nSYNTHETIC DATA: DRIVE is not available (" + reason + ").\n"
              "The chapter runs on 'synthetic-vessels'; its numbers are NOT comparable with the DRIVE\n"
              "results in the table. Get DRIVE with cl.data.download('drive') (it explains how) and set\n"
              "COURSE_DATA_DIR to the folder holding DRIVE/.\n" + "=" * 78)
    out = []
    for split, n in zip(("train", "test"), synthetic_n, strict=True):
        ds = load("synthetic-vessels", split=split, n=n, size=synthetic_size, seed=seed)
        out.append(VesselData(*_stack(ds, preprocessing), ids=[f"synthetic-{split}-{i}" for i in range(n)],
                              source="synthetic-vessels", split=f"synthetic {split} images ({n})",
                              preprocessing=preprocessing))
    return out[0], out[1]


def _reason(err: Exception, root: str | os.PathLike | None) -> str:
    """The first line of a loader's error, with the data folder as chapters print it (no machine paths)."""
    base = data_root(root)
    return str(err).splitlines()[0].replace(str(base), shown_path(base))


def _has_test_labels(root: str | os.PathLike | None) -> bool:
    try:
        load("drive", split="test", root=root)
    except (DatasetNotFoundError, DatasetLayoutError):
        return False
    return True


def load_test_split(root: str | os.PathLike | None = None, *, preprocessing: str = "rgb_norm",
                    verbose: bool = True) -> VesselData | None:
    """DRIVE's 20 official test images with their labels, or ``None`` when DRIVE or its test labels
    (``DRIVE/test/1st_manual``) are absent. Score them once, after training: they take no part in
    training or validation. Under a ``COURSE_MAX_STEPS`` rehearsal only the first couple are kept."""
    try:
        test_set = load("drive", split="test", root=root)
    except (DatasetNotFoundError, DatasetLayoutError) as err:
        if verbose:
            print(f"No labelled DRIVE test split ({_reason(err, root)}).")
        return None
    data = VesselData(*_stack(test_set, preprocessing), ids=test_set.ids, source="drive",
                      split=f"DRIVE official test images ({len(test_set)})", preprocessing=preprocessing)
    limit = config.eval_limit()
    if limit is not None and len(data) > limit:
        data = data.subset(range(limit), f"{data.split}; rehearsal: first {limit} only")
    if verbose:
        print(f"{data.split}: scored once, after training.")
    return data


def cross_validation_fold(train: VesselData, test: VesselData, fold: int, folds: int = 5,
                          seed: int = 1) -> tuple[VesselData, VesselData]:
    """Fold ``fold`` of a ``folds``-fold cross-validation over ``train`` + ``test``, as ``(train, test)``.

    Fold 0 is the given split unchanged (the chapter's held-out images); folds 1 to ``folds - 1`` hold
    out disjoint, seeded groups of ``len(test)`` images from ``train`` and train on the rest, the given
    test images included. Over all folds every image is held out exactly once, so the spread between
    folds shows how much the choice of held-out images alone moves the scores. Under a
    ``COURSE_MAX_STEPS`` rehearsal the test split keeps only its first couple of images.
    """
    train, test = _split_fold(train, test, fold, folds, seed)
    limit = config.eval_limit()
    if limit is not None and len(test) > limit:
        test = test.subset(range(limit), f"{test.split}; rehearsal: first {limit} only")
    return train, test


def _split_fold(train: VesselData, test: VesselData, fold: int, folds: int, seed: int
                ) -> tuple[VesselData, VesselData]:
    if not 0 <= fold < folds:
        raise ValueError(f"fold must be in 0..{folds - 1}, got {fold}.")
    if fold == 0:
        return train, test
    if len(train) != (folds - 1) * len(test):
        raise ValueError(f"{folds} folds need {folds - 1} x {len(test)} = {(folds - 1) * len(test)} training "
                         f"images beside the {len(test)} held-out images, got {len(train)}.")
    order = random.Random(seed).sample(range(len(train)), len(train))
    held = sorted(order[(fold - 1) * len(test) : fold * len(test)])
    rest = [i for i in range(len(train)) if i not in held]
    kept = train.subset(rest, train.split)
    kind = "DRIVE TRAINING images" if train.source == "drive" else f"{train.source} images"
    joined = VesselData(torch.cat([kept.images, test.images]), torch.cat([kept.masks, test.masks]),
                        torch.cat([kept.fovs, test.fovs]), torch.cat([kept.rgb, test.rgb]),
                        kept.ids + test.ids, train.source,
                        f"{kind} ({len(rest) + len(test)}; cross-validation fold {fold} of {folds})",
                        train.preprocessing)
    held_split = (f"held-out {kind} ({len(held)}, never trained on; cross-validation fold {fold} of {folds}"
                  + ("; not the official test split)" if train.source == "drive" else ")"))
    return joined, train.subset(held, held_split)


# ----------------------------------------------------------------------------- training sets


class VesselPatches(Dataset):
    """``length`` random patches from whole images; patch ``i`` of epoch ``e`` depends on (seed, e, i).

    A patch is centred on a random vessel pixel with probability ``vessel_fraction`` (thin vessels are
    only ~12 % of the FOV and are what the metrics punish), else on a random FOV pixel; it is then
    flipped and rotated by a multiple of 90 degrees at random (exact, no interpolation).
    Samples hold ``image``, ``mask`` and ``fov`` patches.
    """

    def __init__(self, data: VesselData, length: int, patch_size: int = 48, vessel_fraction: float = 0.5,
                 augment: bool = True, seed: int = 0) -> None:
        if length < 1 or patch_size < 1:
            raise ValueError(f"length and patch_size must be positive, got {length} and {patch_size}.")
        if not 0.0 <= vessel_fraction <= 1.0:
            raise ValueError(f"vessel_fraction must be in [0, 1], got {vessel_fraction}.")
        self.length, self.patch_size, self.vessel_fraction = int(length), int(patch_size), vessel_fraction
        self.augment, self.seed, self.epoch = augment, int(seed), 0
        half = self.patch_size // 2
        pad = (half, half, half, half)  # zero padding: a patch centred near the border still fits
        self.stack = F.pad(torch.cat([data.images, data.masks, data.fovs], dim=1), pad)
        self.channels = data.images.shape[1]
        self.vessel_pixels = [m[0].nonzero() for m in data.masks > 0.5]
        self.fov_pixels = [f[0].nonzero() for f in data.fovs > 0.5]
        if any(len(v) == 0 for v in self.fov_pixels):
            raise ValueError("An image has an empty field of view; check the FOV masks.")

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(f"patch index {index} out of range for {self.length} patches.")
        g = make_generator(self.seed, self.epoch, index)
        r = torch.rand(4, generator=g)
        image = int(torch.randint(len(self.stack), (), generator=g))
        pool = self.vessel_pixels[image] if r[0] < self.vessel_fraction else self.fov_pixels[image]
        if len(pool) == 0:
            pool = self.fov_pixels[image]
        y, x = pool[int(torch.randint(len(pool), (), generator=g))].tolist()
        p = self.patch_size
        patch = self.stack[image, :, y : y + p, x : x + p]  # padded coords: centre (y + half, x + half)
        if self.augment:
            if r[1] < 0.5:
                patch = patch.flip(-1)
            patch = torch.rot90(patch, int(r[2] * 4), dims=(-2, -1))
        c = self.channels
        return {"image": patch[:c].contiguous(), "mask": patch[c : c + 1].contiguous(),
                "fov": patch[c + 1 :].contiguous()}


def paper_transform(size: int = PAPER_PAD, seed: int | None = None) -> Compose:
    """The paper's augmentation: zero-pad to ``size``, rotate 0-360, colour jitter, Gaussian noise, flips."""
    return Compose([PadTo(size), RandomRotation((0.0, 360.0)), ColorJitter(0.2, 0.2, 0.2),
                    GaussianNoise((0.0, 0.03)), RandomFlip()], seed=seed)


class _AugmentedImages(Dataset):
    def __init__(self, data: VesselData, repeats: int, transform: Callable, seed: int) -> None:
        self.data, self.repeats, self.transform, self.seed, self.epoch = data, repeats, transform, seed, 0

    def __len__(self) -> int:
        return len(self.data) * self.repeats

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        i = index % len(self.data)
        sample = {"image": self.data.images[i], "mask": self.data.masks[i], "fov": self.data.fovs[i]}
        out = self.transform(sample, generator=make_generator(self.seed, self.epoch, index))
        out.pop("crop_box", None)
        return out


def paper_training_set(data: VesselData, repeats: int = 1, size: int = PAPER_PAD, seed: int = 0) -> Dataset:
    """Whole images with :func:`paper_transform`; each epoch shows every image ``repeats`` times."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}.")
    return _AugmentedImages(data, repeats, paper_transform(size), seed)


# ----------------------------------------------------------------------------- models and training


def make_vessel_model(recipe: Any, variant: str = "dacrse_unet", **overrides: Any) -> nn.Module:
    """``variant`` ("unet", "rse_unet" or "dacrse_unet") with the recipe's widths, input channels and
    DropBlock settings; the three differ only in their units (DoubleConv or RSE) and the DAC block."""
    flags = {"unet": {"rse": False, "dac": False}, "rse_unet": {"dac": False}, "dacrse_unet": {}}
    if variant not in flags:
        raise ValueError(f"variant must be one of {', '.join(flags)}, got {variant!r}.")
    cfg = {"in_channels": recipe.in_channels, "widths": recipe.widths, "keep_prob": recipe.keep_prob,
           "block_size": recipe.block_size, "reduction": recipe.reduction, **flags[variant], **overrides}
    return create_model("dacrse_unet", **cfg)


class _StepSchedule:
    """After every optimizer step: cosine learning-rate decay (patch protocol) and DropBlock's linear
    keep_prob schedule (1 -> keep_prob over the first half of training). As an engine callback it
    re-derives its position from the epoch number, so a resumed run continues the same curves."""

    def __init__(self, model: nn.Module, total_steps: int, steps_per_epoch: int, cosine: bool,
                 keep_prob: float) -> None:
        self.total, self.per_epoch, self.cosine, self.count = max(1, total_steps), steps_per_epoch, cosine, 0
        self.optimizer: torch.optim.Optimizer | None = None
        self.base_lr: list[float] = []
        has_dropblock = any(isinstance(m, DropBlock2d) for m in model.modules())
        self.keep = (LinearKeepProbSchedule(model, 1.0, keep_prob, max(1, total_steps // 2))
                     if has_dropblock and keep_prob < 1 else None)

    def attach(self, optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
        self.optimizer, self.base_lr = optimizer, [group["lr"] for group in optimizer.param_groups]
        optimizer.register_step_post_hook(lambda *_: self._move(self.count + 1))
        return optimizer

    def _move(self, count: int) -> None:
        self.count = count
        if self.cosine and self.optimizer is not None:
            # a Python float: a numpy one in the optimizer's state would make checkpoints unloadable
            # with torch.load(weights_only=True)
            factor = 0.5 * (1 + math.cos(math.pi * min(count / self.total, 1.0)))
            for group, lr in zip(self.optimizer.param_groups, self.base_lr, strict=True):
                group["lr"] = lr * factor
        if self.keep is not None:
            self.keep.set_count(count)

    def on_epoch_start(self, ctx: engine.EpochContext) -> None:
        self._move((ctx.epoch - 1) * self.per_epoch)


def training_set(train: VesselData, recipe: Any, seed: int = 0) -> tuple[Dataset, int]:
    """What :func:`fit_vessel_model` trains on, and its optimizer steps per epoch: random patches
    (``"patches"``) or whole images padded to 592 with the paper's augmentation (``"paper"``)."""
    if recipe.protocol == "patches":
        data = VesselPatches(train, recipe.steps_per_epoch * recipe.batch_size, recipe.patch_size,
                             recipe.vessel_fraction, seed=seed)
        return data, recipe.steps_per_epoch
    if recipe.protocol == "paper":
        data = paper_training_set(train, recipe.repeats, seed=seed)
        return data, -(-len(data) // recipe.batch_size)
    raise ValueError(f"Unknown protocol {recipe.protocol!r}; use 'patches' or 'paper'.")


def fit_vessel_model(model: nn.Module, train: VesselData, val: VesselData | None, recipe: Any, *,
                     epochs: int | None = None, seed: int = 0, progress: bool = True,
                     device: str | torch.device | None = None,
                     out_dir: str | os.PathLike | None = None,
                     callbacks: Sequence[Callable] = ()) -> engine.History:
    """Train ``model`` with the recipe's protocol through :func:`course_lib.engine.fit`; returns its History.

    Patch protocol: ``steps_per_epoch * batch_size`` fresh :class:`VesselPatches` per epoch, Adam with a
    per-step cosine decay of the learning rate. Paper protocol: whole images padded to 592 with
    :func:`paper_transform`, constant Adam learning rate. Both: BCE with logits, DropBlock's keep_prob
    ramped from 1 to ``recipe.keep_prob``. ``val`` (whole images) is scored every epoch for the learning
    curves only: the returned model is the last one, never picked on ``val``. With ``out_dir`` the engine
    checkpoints every epoch there and a rerun resumes from ``last.pt`` (schedules included).
    ``callbacks`` go to the engine after the recipe's own schedule. The model is moved to the
    channels-last (NHWC) memory format, which oneDNN and cuDNN convolve faster.
    """
    epochs = recipe.epochs if epochs is None else int(epochs)
    data, per_epoch = training_set(train, recipe, seed)
    schedule = _StepSchedule(model, epochs * per_epoch, per_epoch, cosine=recipe.protocol == "patches",
                             keep_prob=recipe.keep_prob)
    return engine.fit(model, data, None if val is None else val.samples(), epochs=epochs,
                      batch_size=recipe.batch_size, lr=recipe.lr, loss="bce",
                      optimizer=lambda params: schedule.attach(torch.optim.Adam(params, lr=recipe.lr)),
                      metric="auc", seed=seed, progress=progress, device=device, out_dir=out_dir,
                      callbacks=[schedule, *callbacks], channels_last=True)


# ----------------------------------------------------------------------------- evaluation


@torch.inference_mode()
def predict_images(model: nn.Module, images: torch.Tensor, batch_size: int = 2,
                   device: str | torch.device | None = None, flips: bool = False) -> torch.Tensor:
    """Vessel probabilities N x 1 x H x W (CPU) for whole images, in eval mode (mode restored after).

    ``flips=True`` averages the probabilities over the four flips of each image (test-time
    augmentation; 4x the inference time). A model that rejects the images' size (no ``pad_input``) gets
    them mirror-padded to its next valid size; the probabilities are cropped back."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    height, width = images.shape[-2:]
    images = _pad_for(model, images)
    variants = ((), (-1,), (-2,), (-2, -1)) if flips else ((),)
    try:
        out = []
        for chunk in images.split(batch_size):
            chunk = chunk.to(device)
            probs = [torch.sigmoid(_final(model(chunk.flip(d) if d else chunk)).float()) for d in variants]
            out.append(torch.stack([p.flip(d) if d else p for p, d in zip(probs, variants, strict=True)])
                       .mean(0).cpu())
    finally:
        model.train(was_training)
    return torch.cat(out)[..., :height, :width]


def _final(outputs: Any) -> torch.Tensor:
    """The final output of a model (the first of a multi-output model's list: UNet++, U^2-Net)."""
    return outputs[0] if isinstance(outputs, (list, tuple)) else outputs


def _pad_for(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Mirror-pad ``images`` (bottom and right) to the next multiple of ``2**model.depth`` when the model
    rejects their size (models without ``pad_input``, e.g. Attention U-Net on DRIVE's 565 x 584)."""
    check = getattr(model, "check_input_size", None)
    depth = getattr(model, "depth", None)
    if check is None or depth is None:
        return images
    try:
        check(*images.shape[-2:])
        return images
    except ValueError:
        m = 2 ** depth
        h, w = images.shape[-2:]
        return sizes.mirror_pad(images, 0, -h % m, 0, -w % m)


def evaluate_images(model: nn.Module, data: VesselData, threshold: float = 0.5, batch_size: int = 2,
                    flips: bool = False) -> tuple[dict[str, float], torch.Tensor]:
    """FOV-masked scores pooled over ``data``'s whole images, and the probability maps."""
    prob = predict_images(model, data.images, batch_size, flips=flips)
    return segmentation_scores(prob, data.masks, data.fovs, threshold=threshold), prob


def fov_roc(prob: torch.Tensor, data: VesselData, max_points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """The FOV ROC curve ``(fpr, tpr)`` thinned to about ``max_points`` points for plotting."""
    fpr, tpr, _ = roc_curve(prob, data.masks, data.fovs)
    keep = np.unique(np.r_[np.linspace(0, len(fpr) - 1, max_points).astype(int), len(fpr) - 1])
    return fpr[keep], tpr[keep]


def published_table(ours: Mapping[str, float], label: str, keys: Sequence[str] = ("auc", "accuracy", "f1",
                    "sensitivity", "specificity")) -> str:
    """A text table: the published DRIVE results (test split) and ``ours`` (say in ``label`` which split)."""
    rows = [*PUBLISHED_DRIVE.items(), (label, dict(ours))]
    width = max(len(name) for name, _ in rows) + 2
    lines = ["".ljust(width) + "".join(k[:11].rjust(12) for k in keys)]
    for name, scores in rows:
        cells = "".join((f"{scores[k]:.4f}" if k in scores else "-").rjust(12) for k in keys)
        lines.append(name.ljust(width) + cells)
    return "\n".join(lines)
