"""Segmentation metrics: Dice, IoU, accuracy, sensitivity, specificity, precision, F1, ROC/AUC, MAE, F-beta.

Salient-object detection (U^2-Net) is scored per image instead: :func:`salient_pr_curve` and
:func:`salient_scores` follow the benchmark convention (below).

Every function takes foreground *probabilities* (apply ``torch.sigmoid`` to a model's logits first) and
a binary target, as torch tensors or NumPy arrays of the same shape (for example ``N x 1 x H x W``).

Conventions (the same everywhere in the course):

- **Pooled pixels.** All pixels of all images are counted together (one confusion matrix for the whole
  batch/dataset), which is how retinal-vessel papers report DRIVE. A per-image average is a different
  number: call the function once per image if you want that.
- **Threshold.** A pixel is predicted foreground when ``prob >= threshold`` (the rule sklearn's
  ``roc_curve`` uses, so thresholds returned by :func:`roc_curve` and :func:`max_f_beta` mean the same).
- **Target.** Values in ``[0, 1]``; a pixel is foreground when ``target > 0.5``.
- **Field of view.** With ``fov`` given, only pixels where ``fov > 0.5`` count (standard on DRIVE,
  whose black corners would otherwise inflate accuracy and specificity).
- **Undefined ratios.** A ratio whose denominator is 0 is ``nan`` (e.g. specificity when every pixel is
  foreground: there are no negatives to be specific about; AUC when only one class is present), except
  Dice, IoU and F1, which are ``1.0`` when the target and the prediction are both empty (a perfect
  "nothing here" answer).
- **F1 is Dice.** For binary masks ``F1 = 2TP / (2TP + FP + FN) = Dice``; both names are reported
  because papers use both.

Common bug (course bug 6): sensitivity is ``TP / (TP + FN)`` (how much of the vessel we found); the
formula ``TP / (TP + FP)`` is *precision* (how much of what we marked is vessel).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata

__all__ = [
    "SCORE_NAMES", "confusion_counts", "mae", "max_f_beta", "roc_auc", "roc_curve", "salient_image_curves",
    "salient_pr_curve", "salient_scores", "salient_summary", "scores_from_counts", "segmentation_scores",
]

SCORE_NAMES = ("dice", "iou", "accuracy", "sensitivity", "specificity", "precision", "f1", "auc")

ArrayLike = torch.Tensor | np.ndarray


def _to_numpy(x: ArrayLike, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64 if x.dtype == torch.float64 else torch.float32).numpy()
    try:
        x = np.asarray(x)
    except ValueError as err:
        if "inhomogeneous" not in str(err):
            raise
        raise ValueError(f"{name} holds images of different sizes, which cannot form one array. Score each "
                         "image on its own (e.g. cl.metrics.salient_image_curves(prob[None], target[None]) "
                         "per image, then concatenate the curves and call cl.metrics.salient_summary), or "
                         "resize them to one size first.") from None
    if x.dtype == bool:
        x = x.astype(np.float32)
    if not np.issubdtype(x.dtype, np.number):
        raise TypeError(f"{name} must be a tensor or a numeric array, got dtype {x.dtype}.")
    return x


def _same_shape(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape or np.squeeze(a).shape == np.squeeze(b).shape


def _flatten_inputs(
    prob: ArrayLike, target: ArrayLike, fov: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Check the inputs and return the FOV-selected probabilities and boolean labels as 1-D arrays."""
    p, t = _to_numpy(prob, "prob"), _to_numpy(target, "target")
    if not _same_shape(p, t):
        hint = ""
        if p.ndim == 4 and p.shape[1] == 2:
            hint = (" For 2-channel (softmax) outputs pass the foreground channel: "
                    "torch.softmax(logits, 1)[:, 1:].")
        raise ValueError(f"prob has shape {tuple(p.shape)} but target has shape {tuple(t.shape)}; "
                         f"they must match pixel for pixel.{hint}")
    if p.size == 0:
        raise ValueError("prob and target are empty: there are no pixels to score.")
    if np.isnan(p).any():
        raise ValueError("prob contains NaN values; check the model output (a NaN loss during training?) "
                         "and the images it was given (NaN pixels give NaN probabilities).")
    if not np.isfinite(t).all():
        raise ValueError(f"target contains NaN or infinite values ({int((~np.isfinite(t)).sum())} pixels); "
                         "they would count as background. Masks must hold 0 and 1: fix the labels.")
    if p.min() < 0 or p.max() > 1:
        eight_bit = p.min() >= 0 and 16 < p.max() <= 255 and np.array_equal(p, np.round(p))
        hint = ("They look like an 8-bit map (whole numbers 0..255, e.g. a saved PNG): divide by 255."
                if eight_bit else "They look like logits: apply torch.sigmoid(logits) first "
                "(or torch.softmax(logits, 1)[:, 1:] for a 2-channel output).")
        raise ValueError(f"prob must hold probabilities in [0, 1] but ranges over "
                         f"[{p.min():.3g}, {p.max():.3g}]. {hint}")
    if t.min() < 0 or t.max() > 1:
        raise ValueError(f"target must be a mask with values in [0, 1] but ranges over [{t.min():.3g}, "
                         f"{t.max():.3g}]. Divide 0..255 masks by 255.")
    f = None if fov is None else _to_numpy(fov, "fov")
    if f is not None and not np.isfinite(f).all():
        raise ValueError("fov contains NaN or infinite values; a field-of-view mask holds 0 and 1.")
    if f is not None and not _same_shape(f, p):
        raise ValueError(f"fov has shape {tuple(f.shape)} but prob has {tuple(p.shape)}; "
                         "pass one field-of-view mask per image, the same size as the image.")
    p, t = p.reshape(-1), t.reshape(-1) > 0.5
    if f is not None:
        keep = f.reshape(-1) > 0.5
        if not keep.any():
            raise ValueError("The field-of-view mask is empty (no pixel > 0.5), so there is nothing to "
                             "score. Check that fov is a 0/1 mask of the image, or pass fov=None.")
        p, t = p[keep], t[keep]
    return p, t


def confusion_counts(
    prob: ArrayLike, target: ArrayLike, fov: ArrayLike | None = None, threshold: float = 0.5
) -> dict[str, int]:
    """Pooled ``tp, fp, tn, fn`` pixel counts at ``prob >= threshold`` (inside the FOV if given)."""
    return _counts(*_flatten_inputs(prob, target, fov), threshold)


def _counts(p: np.ndarray, t: np.ndarray, threshold: float) -> dict[str, int]:
    pred = p >= threshold
    tp = int(np.count_nonzero(pred & t))
    fp = int(np.count_nonzero(pred & ~t))
    fn = int(np.count_nonzero(~pred & t))
    return {"tp": tp, "fp": fp, "tn": int(t.size - tp - fp - fn), "fn": fn}


def _ratio(num: float, den: float, empty: float = float("nan")) -> float:
    return float(num / den) if den > 0 else empty


def scores_from_counts(tp: int, fp: int, tn: int, fn: int) -> dict[str, float]:
    """Threshold metrics from confusion counts (no AUC); see the module docstring for 0/0 conventions."""
    dice = _ratio(2 * tp, 2 * tp + fp + fn, empty=1.0)
    return {
        "dice": dice,
        "iou": _ratio(tp, tp + fp + fn, empty=1.0),
        "accuracy": _ratio(tp + tn, tp + fp + tn + fn),
        "sensitivity": _ratio(tp, tp + fn),      # recall, true-positive rate
        "specificity": _ratio(tn, tn + fp),      # true-negative rate
        "precision": _ratio(tp, tp + fp),        # NOT sensitivity (course bug 6)
        "f1": dice,
    }


def _auc(p: np.ndarray, t: np.ndarray) -> float:
    """Mann-Whitney AUC: P(score of a random positive > a random negative), ties counting 1/2."""
    n_pos = int(np.count_nonzero(t))
    n_neg = t.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(p)  # average ranks for ties, 1-based
    rank_sum = ranks[t].sum(dtype=np.float64)
    return float((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_auc(prob: ArrayLike, target: ArrayLike, fov: ArrayLike | None = None) -> float:
    """Exact area under the ROC curve (``nan`` when only one class is present)."""
    return _auc(*_flatten_inputs(prob, target, fov))


def segmentation_scores(
    prob: ArrayLike, target: ArrayLike, fov: ArrayLike | None = None, threshold: float = 0.5
) -> dict[str, float]:
    """All course metrics as python floats: dice, iou, accuracy, sensitivity, specificity, precision, f1, auc.

    ``prob``: foreground probabilities; ``target``: 0/1 mask of the same shape; ``fov``: optional 0/1
    field-of-view mask (only pixels inside count). Pixels are pooled over the batch.
    """
    p, t = _flatten_inputs(prob, target, fov)
    scores = scores_from_counts(**_counts(p, t, threshold))
    scores["auc"] = _auc(p, t)
    return scores


def _cumulative_counts(p: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True/false positives when thresholding at each distinct score, highest threshold first."""
    order = np.argsort(p, kind="stable")[::-1]
    p, t = p[order], t[order]
    last_of_each = np.r_[np.flatnonzero(np.diff(p)), p.size - 1]
    tps = np.cumsum(t, dtype=np.int64)[last_of_each]
    fps = last_of_each + 1 - tps
    return tps, fps, p[last_of_each]


def roc_curve(
    prob: ArrayLike, target: ArrayLike, fov: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve ``(fpr, tpr, thresholds)``, one point per distinct probability (highest first).

    Matches ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``: the first point is
    ``(0, 0)`` at threshold ``inf``. With only one class present the undefined rate is ``nan``.
    """
    p, t = _flatten_inputs(prob, target, fov)
    tps, fps, thresholds = _cumulative_counts(p, t)
    tps, fps = np.r_[0, tps], np.r_[0, fps]
    with np.errstate(invalid="ignore", divide="ignore"):
        fpr = fps / fps[-1] if fps[-1] > 0 else np.full(fps.shape, np.nan)
        tpr = tps / tps[-1] if tps[-1] > 0 else np.full(tps.shape, np.nan)
    return fpr, tpr, np.r_[np.inf, thresholds]


def mae(prob: ArrayLike, target: ArrayLike) -> float:
    """Mean absolute error between the probability map and the (possibly soft) target, pooled."""
    p, t = _to_numpy(prob, "prob"), _to_numpy(target, "target")
    _flatten_inputs(p, t)  # same checks as everywhere (shape, ranges)
    return float(np.abs(p.astype(np.float64) - t.reshape(p.shape)).mean())


def _check_beta2(beta2: float) -> None:
    number = isinstance(beta2, (int, float)) and not isinstance(beta2, bool)
    if not number or not math.isfinite(beta2) or beta2 <= 0:
        raise ValueError(f"beta2 is beta squared, a positive number (0.3 in the salient-object papers: "
                         f"precision weighs more than recall); got {beta2!r}.")


def max_f_beta(
    prob: ArrayLike, target: ArrayLike, beta2: float = 0.3, fov: ArrayLike | None = None
) -> tuple[float, float]:
    """Best ``F_beta = (1 + b2) P R / (b2 P + R)`` over all thresholds; returns ``(best_f, threshold)``.

    ``beta2 = 0.3`` weights precision more than recall (the salient-object convention of U^2-Net).
    Every distinct probability is tried as a threshold (exact, no 256-level binning); pixels pooled.
    Returns ``(0.0, nan)`` when the target has no foreground.
    """
    _check_beta2(beta2)
    p, t = _flatten_inputs(prob, target, fov)
    tps, fps, thresholds = _cumulative_counts(p, t)
    n_pos = int(np.count_nonzero(t))
    if n_pos == 0:
        return 0.0, float("nan")
    precision = tps / (tps + fps)
    recall = tps / n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.nan_to_num((1 + beta2) * precision * recall / (beta2 * precision + recall))
    best = int(np.argmax(f))
    return float(f[best]), float(thresholds[best])


# -- salient-object detection (per image, then averaged) ---------------------------------------------

SALIENT_THRESHOLDS = np.arange(256) / 255.0


def _per_image(prob: ArrayLike, target: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Check the inputs; return probabilities and boolean targets as ``N x pixels`` arrays."""
    p, t = _to_numpy(prob, "prob"), _to_numpy(target, "target")
    _flatten_inputs(p, t)  # the usual checks (shape, ranges, NaN)
    if p.ndim < 3:
        raise ValueError(f"Salient-object scores are per image: pass a batch N x H x W or N x 1 x H x W, got "
                         f"shape {tuple(p.shape)} (add a batch axis with prob[None] for one image).")
    n = p.shape[0]
    return p.reshape(n, -1), t.reshape(n, -1) > 0.5


def salient_image_curves(prob: ArrayLike, target: ArrayLike) -> dict[str, np.ndarray]:
    """Per image: ``precision`` and ``recall`` (N x 256) at the thresholds ``k / 255`` (a pixel is salient
    when ``prob >= k / 255``) and ``mae`` (N). Precision is 0 where an image predicts nothing, recall 0 for
    an image without a salient pixel. Concatenate the results of several batches to score a dataset that
    does not fit in memory, then call :func:`salient_summary`."""
    p, t = _per_image(prob, target)
    bins = np.searchsorted(SALIENT_THRESHOLDS, p, side="right") - 1  # largest k with k/255 <= p
    n, k = p.shape[0], len(SALIENT_THRESHOLDS)
    precision, recall = np.zeros((n, k)), np.zeros((n, k))
    for i in range(n):
        # pixels with bin >= k are predicted salient at threshold k: reverse cumulative histograms
        tp = np.bincount(bins[i][t[i]], minlength=k)[::-1].cumsum()[::-1]
        fp = np.bincount(bins[i][~t[i]], minlength=k)[::-1].cumsum()[::-1]
        predicted = tp + fp
        precision[i] = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
        recall[i] = tp / t[i].sum() if t[i].any() else 0.0
    return {"precision": precision, "recall": recall, "mae": np.abs(p.astype(np.float64) - t).mean(1)}


def salient_summary(curves: dict[str, np.ndarray], beta2: float = 0.3) -> dict[str, Any]:
    """From per-image curves (:func:`salient_image_curves`): the dataset's PR curve (precision and recall
    averaged over images, ``f_beta`` from the averages, ``thresholds``) and its scores ``mae``, ``max_f``
    and ``threshold`` (NaN when no threshold gives a positive F-beta, e.g. no salient pixel anywhere, as
    in :func:`max_f_beta`)."""
    _check_beta2(beta2)
    P, R = curves["precision"].mean(0), curves["recall"].mean(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.nan_to_num((1 + beta2) * P * R / (beta2 * P + R))
    best = int(np.argmax(f))
    return {"thresholds": SALIENT_THRESHOLDS.copy(), "precision": P, "recall": R, "f_beta": f,
            "mae": float(curves["mae"].mean()), "max_f": float(f[best]),
            "threshold": float(SALIENT_THRESHOLDS[best]) if f[best] > 0 else float("nan")}


def salient_pr_curve(prob: ArrayLike, target: ArrayLike, beta2: float = 0.3) -> dict[str, np.ndarray]:
    """The salient-object precision-recall curve: at each of the 256 thresholds ``k / 255``, precision and
    recall are computed **per image** and averaged over the images; ``f_beta = (1 + b2) P R / (b2 P + R)``
    is then computed from the averages. Returns ``{"thresholds", "precision", "recall", "f_beta"}``
    (arrays of 256); see :func:`salient_image_curves` for the conventions."""
    summary = salient_summary(salient_image_curves(prob, target), beta2)
    return {k: summary[k] for k in ("thresholds", "precision", "recall", "f_beta")}


def salient_scores(prob: ArrayLike, target: ArrayLike, beta2: float = 0.3) -> dict[str, float]:
    """``mae`` (mean over images of each image's mean |prob - target|), ``max_f`` (the best F-beta of
    :func:`salient_pr_curve`, beta^2 = 0.3) and ``threshold`` (where it is reached): the numbers of the
    U^2-Net paper's tables, computed at the resolution given (the paper resizes back to each image's own
    size first)."""
    summary = salient_summary(salient_image_curves(prob, target), beta2)
    return {k: summary[k] for k in ("mae", "max_f", "threshold")}
