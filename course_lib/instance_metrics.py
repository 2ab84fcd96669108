"""How well a segmentation separates touching cells: instance metrics for membrane/cell images.

A pixel score (Dice on membranes) barely moves when a one-pixel gap between two cells is missed, yet
that gap decides whether the two cells come out as one. These metrics score the *cells*:

- :func:`cells_from_probability` turns a predicted membrane (or cell) probability into cells: connected
  components of the interior, tiny fragments dropped, every membrane pixel then given to its nearest
  cell (so each pixel belongs to a cell, as in the ISBI 2012 evaluation of boundary maps).
- :func:`adapted_rand_error` is the ISBI 2012 challenge's **foreground-restricted Rand error**
  (Arganda-Carreras et al. 2015): ``1 - F`` of the Rand precision and recall, counted over pixel pairs
  inside ground-truth cells (ground-truth label 0 is ignored), from the Rand *merge* score (1 = no
  merges) and *split* score (1 = no splits). The U-Net paper reports 0.0382 on the ISBI test set.
- :func:`touching_pairs` and :func:`separation_scores`: the pairs of ground-truth cells that touch
  (at most ``max_gap`` px of membrane apart) and how many of them the prediction merged, with the
  number of merged cells: the counts the weight map is meant to lower.

Instance maps are integer arrays ``H x W`` (or ``1 x H x W``), 0 = background/membrane, 1..K = cells;
NumPy or torch. Everything is vectorised with NumPy/SciPy.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from scipy import ndimage

from course_lib.data.weight_map import as_numpy_2d

__all__ = ["RandError", "adapted_rand_error", "cells_from_probability", "home_segments",
           "separation_scores", "touching_pairs"]


def _labels(array: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    a, _ = as_numpy_2d(array, f"{name} (a label image)")
    if a.dtype.kind == "f" and not np.all(a == np.round(a)):
        raise ValueError(f"{name} must hold integer labels (0 = background, 1..K = cells), got fractional "
                         "values; turn a probability map into cells with cells_from_probability first.")
    a = a.astype(np.int64)
    if a.size and a.min() < 0:
        raise ValueError(f"{name} must be >= 0 (0 = background, 1..K = cells).")
    return a


def _pair(pred: np.ndarray | torch.Tensor, true: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    p, t = _labels(pred, "pred"), _labels(true, "true")
    if p.shape != t.shape:
        raise ValueError(f"pred and true differ in shape: {p.shape} vs {t.shape}.")
    return p, t


def _contingency(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Non-zero entries of the contingency table: (true label, pred label, pixel count) per pair."""
    keys = true.ravel() * (int(pred.max()) + 1) + pred.ravel()
    unique, counts = np.unique(keys, return_counts=True)
    return unique // (int(pred.max()) + 1), unique % (int(pred.max()) + 1), counts


class RandError(NamedTuple):
    """Foreground-restricted Rand error ``1 - F`` and its two parts: ``merge_score`` (the Rand precision:
    of the pixel pairs in one predicted segment, the fraction in one true cell; low when cells are merged)
    and ``split_score`` (the Rand recall: low when cells are split)."""

    error: float
    merge_score: float
    split_score: float


def adapted_rand_error(pred: np.ndarray | torch.Tensor, true: np.ndarray | torch.Tensor) -> RandError:
    """The ISBI 2012 Rand error of a predicted instance map against the ground truth.

    Over the pixels inside ground-truth cells (``true > 0``), with ``n_ij`` the pixels of true cell i
    in predicted segment j, ``a_i``, ``b_j`` the row and column sums, and ``C(n) = n (n - 1) / 2``
    counting pixel pairs:

        merge = sum C(n_ij) / sum C(b_j),   split = sum C(n_ij) / sum C(a_i),
        error = 1 - 2 merge split / (merge + split)

    (Arganda-Carreras et al. 2015, eqs. for V_merge and V_split). scikit-image's ``adapted_rand_error``
    returns the same error with the two parts in the order (split, merge).

    Predicted label 0 counts as one more segment (give every pixel a cell, see
    :func:`cells_from_probability`). Perfect agreement gives 0; an empty ground truth raises.
    """
    p, t = _pair(pred, true)
    inside = t > 0
    if not inside.any():
        raise ValueError("The ground truth has no cells (all 0): the Rand error is undefined.")
    rows, cols, n_ij = _contingency(p[inside], t[inside])
    a = np.bincount(rows, weights=n_ij)  # pixels per true cell
    b = np.bincount(cols, weights=n_ij)  # pixels per predicted segment

    def pairs(n: np.ndarray) -> float:
        n = n.astype(np.float64)
        return float(n @ n - n.sum()) / 2

    both, same_true, same_pred = pairs(n_ij), pairs(a), pairs(b)
    merge = both / same_pred if same_pred else 1.0
    split = both / same_true if same_true else 1.0
    f = 2 * merge * split / (merge + split) if merge + split else 0.0
    return RandError(1.0 - f, merge, split)


def cells_from_probability(
    prob: np.ndarray | torch.Tensor,
    threshold: float = 0.5,
    membrane: bool = True,
    min_size: int = 16,
    expand: bool = True,
) -> np.ndarray:
    """Cells (int64 HxW, 1..K) from a probability map: components of the interior, 4-connected.

    ``membrane=True``: ``prob`` is the membrane probability and the interior is ``prob < threshold``
    (``False``: ``prob`` is the cell probability, interior ``prob >= threshold``). Components smaller than
    ``min_size`` px are dropped; with ``expand`` every remaining pixel joins its nearest cell.
    """
    a = prob.detach().float().cpu().numpy() if isinstance(prob, torch.Tensor) else np.asarray(prob, float)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2:
        raise ValueError(f"prob must be HxW or 1xHxW, got shape {a.shape}.")
    interior = a < threshold if membrane else a >= threshold
    labels, n = ndimage.label(interior)
    if n and min_size > 1:
        sizes = np.bincount(labels.ravel())
        keep = sizes >= min_size
        keep[0] = False
        relabel = np.zeros(n + 1, np.int64)
        relabel[keep] = np.arange(1, int(keep.sum()) + 1)
        labels = relabel[labels]
    labels = labels.astype(np.int64)
    if expand and labels.max() > 0 and (labels == 0).any():
        _, (iy, ix) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
        labels = labels[iy, ix]
    return labels


def touching_pairs(true: np.ndarray | torch.Tensor, max_gap: int = 2) -> np.ndarray:
    """Pairs ``(i, j)``, ``i < j``, of cells at most ``max_gap`` background pixels apart (int64 Kx2).

    Two cells touch if their pixels come within Chebyshev distance ``max_gap + 1`` (a membrane of at most
    ``max_gap`` px between them); neighbouring ISBI cells are separated by membranes 1-3 px wide.
    """
    t = _labels(true, "true")
    if max_gap < 0:
        raise ValueError(f"max_gap must be >= 0, got {max_gap}.")
    r = max_gap + 1
    padded = np.pad(t, r)
    h, w = t.shape
    found = []
    for dy in range(r + 1):
        for dx in range(-r, r + 1):
            if dy == 0 and dx <= 0:
                continue  # each offset once (the opposite one gives the same pairs)
            other = padded[r + dy:r + dy + h, r + dx:r + dx + w]
            hit = (t > 0) & (other > 0) & (t != other)
            if hit.any():
                found.append(np.stack([t[hit], other[hit]], axis=1))
    if not found:
        return np.zeros((0, 2), np.int64)
    pairs = np.sort(np.concatenate(found), axis=1)
    return np.unique(pairs, axis=0)


def home_segments(pred: np.ndarray | torch.Tensor, true: np.ndarray | torch.Tensor) -> np.ndarray:
    """For each true cell k (index k; index 0 unused, -1 for absent ids), the predicted label that
    covers most of its pixels."""
    p, t = _pair(pred, true)
    inside = t > 0
    home = np.full(int(t.max()) + 1, -1, np.int64)
    if not inside.any():
        return home
    rows, cols, counts = _contingency(p[inside], t[inside])
    order = np.lexsort((-counts, rows))  # per true cell, the largest overlap first
    rows, cols = rows[order], cols[order]
    first = np.r_[True, rows[1:] != rows[:-1]]
    home[rows[first]] = cols[first]
    return home


def separation_scores(
    pred: np.ndarray | torch.Tensor, true: np.ndarray | torch.Tensor, max_gap: int = 2
) -> dict[str, float]:
    """Instance scores of one image: the Rand error and how many touching cells were merged.

    Returns ``rand_error``, ``rand_merge_score``, ``rand_split_score``, ``cells`` (true), ``segments``
    (predicted, label 0 excluded), ``touching_pairs``, ``merged_pairs`` (touching true cells whose largest
    overlap is the same predicted segment, or background) and ``merged_cells`` (true cells that share
    their predicted segment with another true cell).
    """
    p, t = _pair(pred, true)
    rand = adapted_rand_error(p, t)
    home = home_segments(p, t)
    pairs = touching_pairs(t, max_gap)
    hi, hj = home[pairs[:, 0]], home[pairs[:, 1]]
    merged_pairs = int(((hi == hj) | (hi == 0)).sum())
    present = home[1:][home[1:] >= 0]
    owners = np.bincount(present[present > 0]) if (present > 0).any() else np.zeros(1, np.int64)
    merged_cells = int((owners[owners > 1]).sum())
    return {"rand_error": rand.error, "rand_merge_score": rand.merge_score,
            "rand_split_score": rand.split_score,
            "cells": len(present), "segments": len(np.unique(p[p > 0])),
            "touching_pairs": len(pairs), "merged_pairs": merged_pairs, "merged_cells": merged_cells}
