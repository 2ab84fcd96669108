"""Chapter 10 explorer: pick two models of the leaderboard and compare their predictions and errors on the
same held-out image.

:func:`comparison_figure` runs with its defaults (headless, CI); :func:`comparison_explorer` adds
drop-downs for the two models and the zoom, and a slider over the images.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ipywidgets as w
import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from course_lib.metrics import segmentation_scores
from course_lib.viz._style import OKABE_ITO, image_axis, new_figure, styled
from course_lib.viz.images import overlay
from course_lib.widgets import dropdown, int_slider, make_interact

__all__ = ["ZOOMS", "comparison_explorer", "comparison_figure"]

#: zoom name -> (top, left, size) as fractions of the image: where thin vessels and the disc are
ZOOMS = {"whole image": None, "centre": (0.3, 0.3, 0.4), "upper left": (0.15, 0.15, 0.35)}


def _window(shape: tuple[int, int], zoom: str) -> tuple[slice, slice]:
    if zoom not in ZOOMS:
        raise ValueError(f"Unknown zoom {zoom!r}; choose from {', '.join(ZOOMS)}.")
    if ZOOMS[zoom] is None:
        return slice(None), slice(None)
    top, left, size = ZOOMS[zoom]
    h, w_ = shape
    side = int(size * min(h, w_))
    return slice(int(top * h), int(top * h) + side), slice(int(left * w_), int(left * w_) + side)


@styled
def comparison_figure(rgb: torch.Tensor, masks: torch.Tensor, fovs: torch.Tensor | None,
                      probs: Mapping[str, torch.Tensor], a: str | None = None, b: str | None = None,
                      image: int = 0, zoom: str = "whole image") -> Figure:
    """Models ``a`` and ``b`` (keys of ``probs``, default the first two) on image ``image``: each one's
    prediction (TP white, FP orange, FN blue, Dice in the title) and where they disagree: pixels only
    ``a`` gets right, pixels only ``b`` gets right."""
    names = list(probs)
    a = names[0] if a is None else a
    b = names[1 if len(names) > 1 else 0] if b is None else b
    for name in (a, b):
        if name not in probs:
            raise ValueError(f"No predictions for {name!r}; choose from {', '.join(names)}.")
    if not 0 <= image < len(masks):
        raise ValueError(f"image must be in 0..{len(masks) - 1}, got {image}.")
    rows, cols = _window(tuple(masks.shape[-2:]), zoom)
    fov = None if fovs is None else fovs[image, 0][rows, cols]
    target = masks[image, 0][rows, cols]
    fig, axes = new_figure(1, 3, panel=(5.4, 5.6))
    correct = {}
    for ax, name in zip(axes[0][:2], (a, b), strict=True):
        prob = probs[name][image, 0][rows, cols]
        dice = segmentation_scores(prob, target, fov)["dice"]
        overlay(rgb[image][:, rows, cols], prob, target, fov, ax=ax, legend=False,
                title=f"{name}: Dice {dice:.3f}")
        correct[name] = ((prob >= 0.5) == (target >= 0.5)).numpy()
    inside = np.ones(target.shape, bool) if fov is None else fov.numpy() > 0.5
    disagreement = np.zeros(target.shape, int)
    disagreement[correct[a] & ~correct[b] & inside] = 1
    disagreement[~correct[a] & correct[b] & inside] = 2
    colours = ListedColormap(["#1E1E1E", OKABE_ITO["blue"], OKABE_ITO["orange"]])
    axes[0][2].imshow(disagreement, cmap=colours, vmin=0, vmax=2, interpolation="nearest")
    image_axis(axes[0][2], "where they disagree")
    n_a, n_b = int((disagreement == 1).sum()), int((disagreement == 2).sum())
    axes[0][2].set_xlabel(f"blue: only {a} right ({n_a:,} px)\norange: only {b} right ({n_b:,} px)",
                          fontsize=12)
    return fig


def comparison_explorer(rgb: torch.Tensor, masks: torch.Tensor, fovs: torch.Tensor | None,
                        probs: Mapping[str, torch.Tensor], a: str | None = None, b: str | None = None
                        ) -> w.interactive:
    """Drop-downs for the two models and the zoom, a slider over the images, for :func:`comparison_figure`."""
    names = list(probs)
    a = names[0] if a is None else a
    b = names[1 if len(names) > 1 else 0] if b is None else b

    def show(a: str = a, b: str = b, image: int = 0, zoom: str = "whole image") -> Any:
        return comparison_figure(rgb, masks, fovs, probs, a, b, image, zoom)

    return make_interact(show, a=dropdown(names, a, "model A"), b=dropdown(names, b, "model B"),
                         image=int_slider(0, len(masks) - 1, description="image"),
                         zoom=dropdown(list(ZOOMS), "whole image", "zoom"))
