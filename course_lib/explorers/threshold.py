"""Chapter 06 explorer: one threshold moves the ROC operating point, the F1 / sensitivity / specificity
readout and the prediction overlay together.

    table = cl.explorers.threshold_table(prob, masks, fovs)        # once: the pooled FOV ROC
    cl.explorers.threshold_explorer(prob, masks, fovs, rgb)        # the widget (threshold, image)
    cl.explorers.threshold_figure(prob, masks, fovs, rgb)          # the same figure at 0.5, headless

AUC does not depend on the threshold; Se, Sp and F1 do, and so does what the overlay shows. Every
number is exact at its threshold (a pixel is vessel when ``prob >= threshold``, as in ``cl.metrics``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ipywidgets as w
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from course_lib.metrics import roc_auc, roc_curve
from course_lib.viz._style import OKABE_ITO, PALETTE, SCREEN_WIDTH, legend_below, new_figure, styled
from course_lib.viz.curves import plot_roc
from course_lib.viz.images import overlay
from course_lib.widgets import float_slider, int_slider, make_interact

__all__ = ["ThresholdTable", "threshold_explorer", "threshold_figure", "threshold_table"]

_RANGE = (0.05, 0.95)  # the slider's thresholds; the ROC panel's limits show every point in this range
_CURVE_THRESHOLDS = np.linspace(0.01, 0.99, 99)


@dataclass(frozen=True)
class ThresholdTable:
    """The pooled FOV ROC curve of a set of images: ``fpr``, ``tpr`` at each distinct probability in
    ``thresholds`` (highest first), the vessel and background pixel counts, and the AUC."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    positives: int
    negatives: int
    auc: float

    def scores(self, threshold: float) -> dict[str, float]:
        """Sensitivity, specificity, precision, F1 and accuracy at ``prob >= threshold`` (exact)."""
        k = int(np.searchsorted(-self.thresholds, -threshold, side="right")) - 1  # smallest score >= t
        tp, fp = self.tpr[k] * self.positives, self.fpr[k] * self.negatives
        fn, tn = self.positives - tp, self.negatives - fp
        return {"sensitivity": float(self.tpr[k]), "specificity": float(1 - self.fpr[k]),
                "precision": float(tp / (tp + fp)) if tp + fp > 0 else float("nan"),
                "f1": float(2 * tp / (2 * tp + fp + fn)) if tp + fp + fn > 0 else 1.0,
                "accuracy": float((tp + tn) / (self.positives + self.negatives)),
                "fpr": float(self.fpr[k])}


def threshold_table(prob: Any, target: Any, fov: Any | None = None) -> ThresholdTable:
    """The :class:`ThresholdTable` of probabilities ``prob`` against ``target`` (N x 1 x H x W), pooled
    over the pixels inside ``fov``."""
    fpr, tpr, thresholds = roc_curve(prob, target, fov)
    inside = torch.as_tensor(fov) > 0.5 if fov is not None else torch.ones_like(torch.as_tensor(target)) > 0
    vessels = torch.as_tensor(target) > 0.5
    positives = int((vessels & inside).sum())
    return ThresholdTable(fpr, tpr, thresholds, positives, int(inside.sum()) - positives,
                          roc_auc(prob, target, fov))


@styled
def threshold_figure(prob: Any, target: Any, fov: Any | None, images: Any, threshold: float = 0.5,
                     image: int = 0, crop: tuple[slice, slice] | None = None,
                     table: ThresholdTable | None = None) -> Figure:
    """Three panels at ``threshold``: the ROC curve with this operating point (and the one at 0.5), F1, Se
    and Sp over all thresholds with this one marked and read out, and image ``image``'s prediction
    (TP white, FP orange, FN blue; ``crop`` = (rows, cols) zooms in). ``images`` are the RGB (or grey)
    pictures, N x C x H x W; ``table`` (from :func:`threshold_table`) saves recomputing the ROC."""
    table = table if table is not None else threshold_table(prob, target, fov)
    at, half = table.scores(threshold), table.scores(0.5)
    fig, axes = new_figure(1, 3, panel=(SCREEN_WIDTH / 3, 4.3), width_ratios=(1.0, 1.0, 1.0))
    ax_roc, ax_curves, ax_image = axes[0]

    low, high = table.scores(_RANGE[0]), table.scores(_RANGE[1])
    limits = (0.0, min(1.0, 1.15 * low["fpr"] + 0.01), max(0.0, high["sensitivity"] - 0.05), 1.0)
    plot_roc(table.fpr, table.tpr, auc=table.auc, ax=ax_roc, limits=limits, legend=False,
             title=f"ROC, AUC {table.auc:.4f}")
    ax_roc.set_xlabel("false positive rate")
    ax_roc.set_ylabel("sensitivity (TPR)")
    ax_roc.xaxis.set_major_locator(MaxNLocator(4))
    if abs(threshold - 0.5) > 1e-9:
        ax_roc.plot([half["fpr"]], [half["sensitivity"]], "o", ms=10, mfc="none", mec="#555555", mew=1.8)
        _label_inside(ax_roc, (half["fpr"], half["sensitivity"]), "0.50", color="#555555", below=True)
    ax_roc.plot([at["fpr"]], [at["sensitivity"]], "o", ms=11, color=OKABE_ITO["vermillion"], mec="black")
    _label_inside(ax_roc, (at["fpr"], at["sensitivity"]), f"threshold {threshold:.2f}",
                  color=OKABE_ITO["vermillion"], fontweight="bold")

    curves = [table.scores(float(t)) for t in _CURVE_THRESHOLDS]
    for key, name, colour in (("f1", "F1", OKABE_ITO["vermillion"]), ("sensitivity", "Se", OKABE_ITO["blue"]),
                              ("specificity", "Sp", OKABE_ITO["bluish_green"])):
        ax_curves.plot(_CURVE_THRESHOLDS, [c[key] for c in curves], color=colour, label=name)
        ax_curves.plot([threshold], [at[key]], "o", color=colour, mec="black", ms=9)
    ax_curves.axvline(threshold, color="#555555", lw=1.2, ls="--")
    ax_curves.set_xlim(0, 1)
    ax_curves.set_ylim(0, 1.02)
    ax_curves.set_xlabel("threshold t")
    ax_curves.set_title(f"F1 {at['f1']:.3f}  Se {at['sensitivity']:.3f}  Sp {at['specificity']:.3f}",
                        fontsize=13)
    legend_below(ax_curves, ncol=3, handlelength=1.4)

    prob_t, target_t = torch.as_tensor(prob), torch.as_tensor(target)
    fov_t = None if fov is None else torch.as_tensor(fov)
    j = min(int(image), len(prob_t) - 1)
    rows, cols = crop if crop is not None else (slice(None), slice(None))
    part = (slice(None), rows, cols)
    overlay(torch.as_tensor(images)[j][part], prob_t[j][part], target_t[j][part],
            None if fov_t is None else fov_t[j][part], threshold=threshold, ax=ax_image,
            title=f"image {j}, t = {threshold:.2f}")
    fig.suptitle(f"one threshold t for all pixels (vessel when prob ≥ t):\n"
                 f"AUC {table.auc:.4f} does not move, Se / Sp / F1 do", fontsize=14, fontweight="normal",
                 color=PALETTE["ours"])
    return fig


def _label_inside(ax: Axes, point: tuple[float, float], text: str, below: bool = False, **style: Any) -> None:
    """Label a point of the ROC panel on the side that keeps the label inside the axes (a low threshold
    moves the point to the right edge of the zoomed panel, a high one to its bottom)."""
    fx, fy = ax.transLimits.transform(point)
    right = fx < 0.55
    dy = -16 if below or fy > 0.85 else 8
    ax.annotate(text, point, xytext=(12 if right else -12, dy), textcoords="offset points",
                ha="left" if right else "right", va="top" if dy < 0 else "bottom", fontsize=12,
                annotation_clip=False, **style)


def threshold_explorer(prob: Any, target: Any, fov: Any | None, images: Any, threshold: float = 0.5,
                       crop: tuple[slice, slice] | None = None,
                       table: ThresholdTable | None = None) -> w.interactive:
    """Sliders for the threshold and the image over :func:`threshold_figure` (the ROC is computed once,
    or taken from ``table``)."""
    table = table if table is not None else threshold_table(prob, target, fov)

    def show(threshold: float = threshold, image: int = 0):
        return threshold_figure(prob, target, fov, images, threshold, image, crop=crop, table=table)

    return make_interact(show, threshold=float_slider(*_RANGE, step=0.01, description="threshold"),
                         image=int_slider(0, len(prob) - 1, description="image"))
