"""Chapter 08 explorer: pick a pruning level and see the sub-network that runs, its prediction and its
place on the speed/accuracy curve.

:func:`pruning_figure` runs with its defaults (headless, CI); :func:`pruning_explorer` adds sliders over
the level and the image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as w
import matplotlib.pyplot as plt
import torch
import torch.nn as nn
from matplotlib.figure import Figure

from course_lib.explorers._checks import check_index
from course_lib.metrics import segmentation_scores
from course_lib.protocols.unetpp import predict
from course_lib.viz._style import SCREEN_WIDTH, styled
from course_lib.viz.images import overlay
from course_lib.viz.unetpp import draw_nested_grid, plot_pruning_tradeoff
from course_lib.widgets import int_slider, make_interact

__all__ = ["pruning_explorer", "pruning_figure"]


@styled
def pruning_figure(model: nn.Module, rows: Sequence[Mapping[str, Any]], images: torch.Tensor,
                   masks: torch.Tensor, level: int | None = None, image: int = 0) -> Figure:
    """UNet++ pruned to ``level`` (default: the deepest): the nodes that run, its prediction on image
    ``image`` (TP white, FP orange, FN blue) and the measured rows of
    :func:`course_lib.protocols.unetpp.measure_pruning` with this level marked."""
    if not hasattr(model, "prune") or not getattr(model, "deep_supervision", False):
        raise TypeError(f"pruning_figure shows a UNet++ pruned at inference, which needs one trained with "
                        f"deep supervision (cl.create_model('unetpp', deep_supervision=True)); got "
                        f"{type(model).__name__}.")
    level = model.depth if level is None else level
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= model.depth:
        raise ValueError(f"level must be a whole number in 1..{model.depth}, got {level!r}.")
    check_index("image", image, len(images))
    # the grid on the left, the prediction above the measured curve on the right
    fig = plt.figure(figsize=(SCREEN_WIDTH, 6.6), layout="constrained")
    grid = fig.add_gridspec(2, 2, width_ratios=(1.35, 1.0), height_ratios=(1.15, 1.0))
    ax_grid = fig.add_subplot(grid[:, 0])
    ax_pred = fig.add_subplot(grid[0, 1])
    ax_curve = fig.add_subplot(grid[1, 1])
    draw_nested_grid(model, level=level, ax=ax_grid, channels=False)
    prob = predict(model, images[image:image + 1], "fast", level)
    dice = segmentation_scores(prob, masks[image:image + 1])["dice"]
    overlay(images[image], prob[0], masks[image], ax=ax_pred, legend=False,
            title=f"L{level}, image {image}: Dice {dice:.3f}")
    plot_pruning_tradeoff(rows, ax=ax_curve, highlight=f"L{level}")
    ax_curve.set_title("measured on the held-out images", fontsize=13)
    return fig


def pruning_explorer(model: nn.Module, rows: Sequence[Mapping[str, Any]], images: torch.Tensor,
                     masks: torch.Tensor) -> w.interactive:
    """Sliders over the pruning level L (1..depth) and the image for :func:`pruning_figure`."""

    def show(level: int = model.depth, image: int = 0) -> Figure:
        return pruning_figure(model, rows, images, masks, level=level, image=image)

    return make_interact(show, level=int_slider(1, model.depth, value=model.depth, description="level L"),
                         image=int_slider(0, len(images) - 1, description="image"))
