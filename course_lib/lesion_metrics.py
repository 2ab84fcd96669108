"""Lesion-level detection scores: did the model find each lesion, and what else did it mark?

Dice over pixels is dominated by the large lesions; a model that misses every small one loses little
Dice. Radiologists count lesions. For each image:

- the ground-truth lesions and the predicted regions are the connected components (8-connectivity) of
  the mask and of ``prob >= threshold``;
- a lesion is **detected** when a predicted region overlaps it with an intersection over union of at
  least ``min_iou`` (default 0.1: the region must be about the lesion, not a flood over half the organ);
- a predicted region that detects no lesion this way is a **false positive**.

:func:`lesion_detection` sums over a batch: lesion recall = detected / lesions, and false positives per
image. :func:`froc` repeats it over thresholds (the free-response ROC of lesion detection), and
:func:`recall_at_fp` reads the recall a model reaches at a given number of false positives per image,
which compares detectors at the same false-alarm rate instead of at one arbitrary threshold.
:func:`froc_score` averages that recall over 1/8, 1/4, ..., 8 false positives per image, the usual
one-number summary of a FROC curve in lesion detection (e.g. the LUNA16 challenge's CPM), which does not
fall off a cliff when one model's false alarms sit just above a single chosen rate.
Inputs are NumPy arrays or tensors, ``H x W``, ``1 x H x W`` or ``N x 1 x H x W``.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from scipy import ndimage

__all__ = ["FINE_THRESHOLDS", "FROC_RATES", "froc", "froc_score", "lesion_detection", "recall_at_fp"]

#: The false-positive rates per image that :func:`froc_score` averages over.
FROC_RATES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
#: Thresholds for a FROC curve that reaches low false-alarm rates: 0.05-0.95 and confident ones above.
FINE_THRESHOLDS = np.concatenate([np.round(np.arange(0.05, 0.951, 0.05), 2),
                                  [0.97, 0.98, 0.99, 0.995, 0.998, 0.999]])

_EIGHT = np.ones((3, 3), dtype=bool)


def _as_batch(x: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if a.ndim == 2:
        a = a[None]
    elif a.ndim == 4:
        if a.shape[1] != 1:
            raise ValueError(f"{name}: expected one channel (N x 1 x H x W), got shape {a.shape}.")
        a = a[:, 0]
    elif a.ndim != 3:
        raise ValueError(f"{name}: expected H x W, 1 x H x W or N x 1 x H x W, got shape {a.shape}.")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return a


def _region_iou(pred_labels: np.ndarray, n_pred: int, true_labels: np.ndarray, n_true: int) -> np.ndarray:
    """IoU of every predicted region (rows) with every lesion (columns)."""
    joint = np.zeros((n_pred + 1, n_true + 1), np.int64)
    np.add.at(joint, (pred_labels.ravel(), true_labels.ravel()), 1)
    area_p, area_t = joint.sum(1), joint.sum(0)
    inter = joint[1:, 1:]
    union = area_p[1:, None] + area_t[None, 1:] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def lesion_detection(prob: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor,
                     threshold: float = 0.5, min_size: int = 1, min_iou: float = 0.1) -> dict[str, float]:
    """Lesion recall and false positives per image of ``prob`` against the binary ``target``.

    Returns ``lesions`` (ground-truth components), ``detected``, ``recall`` (NaN without lesions),
    ``false_positives`` (predicted components that detect no lesion), ``images`` and ``fp_per_image``.
    Predicted components smaller than ``min_size`` pixels are ignored; a region detects a lesion when
    their IoU is at least ``min_iou``.
    """
    if not (isinstance(min_iou, Real) and 0 < min_iou <= 1):
        raise ValueError(f"min_iou must lie in (0, 1], got {min_iou!r}: with 0 any predicted region would "
                         "'detect' any lesion, even one it does not touch (default 0.1: real overlap).")
    if not (isinstance(threshold, Real) and 0 <= threshold <= 1):
        raise ValueError(f"threshold must lie in [0, 1] (a probability), got {threshold!r}.")
    if isinstance(min_size, bool) or not isinstance(min_size, Integral) or min_size < 1:
        raise ValueError(f"min_size counts pixels: a whole number >= 1, got {min_size!r}.")
    p, t = _as_batch(prob, "prob"), _as_batch(target, "target")
    if p.min(initial=0) < 0 or p.max(initial=0) > 1:
        raise ValueError(f"prob must hold probabilities in [0, 1] but ranges over [{p.min():.3g}, "
                         f"{p.max():.3g}]: these look like logits, apply torch.sigmoid(logits) first.")
    if p.shape != t.shape:
        raise ValueError(f"prob and target differ in shape: {p.shape} vs {t.shape}.")
    if not np.isin(t, (0, 1)).all():
        raise ValueError("target must be a binary mask (0 = background, 1 = lesion).")
    lesions = detected = false_positives = 0
    for pred_image, true_image in zip(p >= threshold, t > 0.5, strict=True):
        true_labels, n_true = ndimage.label(true_image, _EIGHT)
        pred_labels, n_pred = ndimage.label(pred_image, _EIGHT)
        if min_size > 1 and n_pred:
            sizes = np.bincount(pred_labels.ravel(), minlength=n_pred + 1)
            small = sizes < min_size
            small[0] = False
            pred_labels[small[pred_labels]] = 0
        kept = np.unique(pred_labels[pred_labels > 0])
        hits = _region_iou(pred_labels, n_pred, true_labels, n_true)[kept - 1] >= min_iou
        lesions += n_true
        detected += int(hits.any(axis=0).sum())
        false_positives += int((~hits.any(axis=1)).sum())
    images = len(p)
    return {"lesions": lesions, "detected": detected,
            "recall": detected / lesions if lesions else float("nan"),
            "false_positives": false_positives, "images": images,
            "fp_per_image": false_positives / images if images else float("nan")}


def froc(prob: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor,
         thresholds: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Lesion recall and false positives per image at each threshold (default: 0.05, 0.10, ..., 0.95).

    Returns ``thresholds``, ``recall`` and ``fp_per_image`` arrays (recall falls and false positives fall
    as the threshold rises)."""
    if thresholds is None:
        thresholds = np.round(np.arange(0.05, 0.951, 0.05), 2)
    else:
        thresholds = np.atleast_1d(np.asarray(thresholds, dtype=float))
        if thresholds.ndim != 1 or thresholds.size == 0:
            raise ValueError(f"thresholds must be a list of probabilities, got {thresholds!r}.")
    rows = [lesion_detection(prob, target, float(t)) for t in thresholds]
    return {"thresholds": thresholds, "recall": np.array([r["recall"] for r in rows]),
            "fp_per_image": np.array([r["fp_per_image"] for r in rows])}


def recall_at_fp(curve: dict[str, np.ndarray], fp_per_image: float) -> float:
    """The best lesion recall of a :func:`froc` curve among thresholds with at most ``fp_per_image``
    false positives per image (0 when no threshold is that strict)."""
    if not isinstance(curve, dict) or not {"recall", "fp_per_image"} <= set(curve):
        raise TypeError("recall_at_fp reads a curve from cl.lesion_metrics.froc(prob, target) (a dict with "
                        f"'recall' and 'fp_per_image'), got {type(curve).__name__}.")
    ok = curve["fp_per_image"] <= fp_per_image
    return float(np.max(curve["recall"][ok])) if ok.any() else 0.0


def froc_score(curve: dict[str, np.ndarray], rates: tuple[float, ...] = FROC_RATES) -> float:
    """The mean of :func:`recall_at_fp` over ``rates`` false positives per image (default 1/8 to 8): the
    average sensitivity along the FROC curve, a step-function reading (no interpolation between
    thresholds; compute the curve with :data:`FINE_THRESHOLDS` so the low rates are reached)."""
    if not rates or any(not isinstance(r, Real) or r < 0 for r in rates):
        raise ValueError(f"rates are false positives per image, non-negative numbers; got {rates!r}.")
    return float(np.mean([recall_at_fp(curve, float(r)) for r in rates]))
