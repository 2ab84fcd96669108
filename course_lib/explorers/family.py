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
from matplotlib.patches import Patch

from course_lib.explorers._checks import check_index
from course_lib.metrics import segmentation_scores
from course_lib.viz._style import OKABE_ITO, SCREEN_WIDTH, image_axis, new_figure, styled
from course_lib.viz.images import _legend_handles, overlay
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


_ONLY_A, _ONLY_B, _AGREE = OKABE_ITO["bluish_green"], OKABE_ITO["reddish_purple"], "#1E1E1E"


@styled
def comparison_figure(rgb: torch.Tensor, masks: torch.Tensor, fovs: torch.Tensor | None,
                      probs: Mapping[str, torch.Tensor], a: str | None = None, b: str | None = None,
                      image: int = 0, zoom: str = "whole image") -> Figure:
    """Models ``a`` and ``b`` (keys of ``probs``, default the first two) on image ``image``: each one's
    prediction (TP white, FP orange, FN blue, Dice in the title) and where they disagree: pixels only
    ``a`` gets right (green), pixels only ``b`` gets right (purple); a key under the panels says which
    colour means what, and the title says so when ``a`` and ``b`` are the same model."""
    names = list(probs)
    a = names[0] if a is None else a
    b = names[1 if len(names) > 1 else 0] if b is None else b
    for name in (a, b):
        if name not in probs:
            raise ValueError(f"No predictions for {name!r}; choose from {', '.join(names)}.")
    check_index("image", image, len(masks))
    rows, cols = _window(tuple(masks.shape[-2:]), zoom)
    fov = None if fovs is None else fovs[image, 0][rows, cols]
    target = masks[image, 0][rows, cols]
    # three pictures in a row; under them two keys: the overlays' colours, and the disagreement map's
    fig, axes = new_figure(2, 3, panel=(SCREEN_WIDTH / 3, 2.45), height_ratios=(1.0, 0.28))
    key_overlay = fig.add_subplot(axes[1][0].get_gridspec()[1, :2])
    key_disagree = axes[1][2]
    for ax in axes[1][:2]:
        ax.remove()
    correct = {}
    for ax, name in zip(axes[0][:2], (a, b), strict=True):
        prob = probs[name][image, 0][rows, cols]
        dice = segmentation_scores(prob, target, fov)["dice"]
        overlay(rgb[image][:, rows, cols], prob, target, fov, ax=ax, legend=False,
                title=f"{'A' if ax is axes[0][0] else 'B'}: {name}\nDice {dice:.3f}")
        correct[name] = ((prob >= 0.5) == (target >= 0.5)).numpy()
    inside = np.ones(target.shape, bool) if fov is None else fov.numpy() > 0.5
    disagreement = np.zeros(target.shape, int)
    disagreement[correct[a] & ~correct[b] & inside] = 1
    disagreement[~correct[a] & correct[b] & inside] = 2
    # colours of their own: orange and blue already mean false alarm and miss in the overlays
    colours = ListedColormap([_AGREE, _ONLY_A, _ONLY_B])
    axes[0][2].imshow(disagreement, cmap=colours, vmin=0, vmax=2, interpolation="nearest")
    n_a, n_b = int((disagreement == 1).sum()), int((disagreement == 2).sum())
    image_axis(axes[0][2], "where they disagree\n" + ("A = B: the same model" if a == b else
                                                      f"{n_a + n_b:,} px"))
    for ax in (key_overlay, key_disagree):
        ax.set_axis_off()
    key_overlay.legend(handles=_legend_handles(fov is not None), loc="upper center", ncol=2,
                       title="A and B: prediction against the label", borderaxespad=0.0)
    agree = "both right or both wrong" + ("\nor outside the FOV" if fov is not None else "")
    keys = ((_ONLY_A, f"only A right: {n_a:,} px"), (_ONLY_B, f"only B right: {n_b:,} px"), (_AGREE, agree))
    key_disagree.legend(handles=[Patch(facecolor=c, edgecolor="#555555", label=text) for c, text in keys],
                        loc="upper center", borderaxespad=0.0, title="where they disagree")
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
