"""Chapter 04 explorers: the parameter cost of SE over the reduction r, and a trained model's SE weights.

Both drawing functions run with their defaults (headless, CI); the explorers add sliders.
"""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as w
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from course_lib.blocks.se import se_parameter_count
from course_lib.viz._style import OKABE_ITO, PALETTE, SCREEN_WIDTH, image_axis, new_figure, styled
from course_lib.viz.se import se_weight_heatmap
from course_lib.widgets import int_slider, make_interact

__all__ = ["reduction_explorer", "se_cost_figure", "se_layer_explorer", "se_layer_figure"]

_REDUCTIONS = (1, 2, 4, 8, 16, 32, 64)


@styled
def se_cost_figure(channels: int = 64, reduction: int = 16) -> Figure:
    """SE parameters against r for ``channels`` (exact count and the paper's 2C^2/r), r marked.

    The title compares the block with one 3x3 convolution C -> C (9 C^2 weights) it would follow.
    """
    if channels < 1 or reduction < 1:
        raise ValueError(f"channels and reduction must be positive, got {channels} and {reduction}.")
    rs = np.array([r for r in _REDUCTIONS if r <= max(channels, reduction)] + [reduction])
    rs = np.unique(rs)
    exact = np.array([se_parameter_count(channels, int(r)) for r in rs])
    fig, axes = new_figure(1, 2, panel=(SCREEN_WIDTH / 2, 4.2))
    ax = axes[0][0]
    ax.loglog(rs, exact, "o-", color=OKABE_ITO["blue"], label="exact (weights + biases)")
    ax.loglog(rs, 2 * channels**2 / rs, "--", color=OKABE_ITO["orange"], label="2 C² / r")
    n = se_parameter_count(channels, reduction)
    ax.loglog([reduction], [n], "o", ms=14, mfc="none", mec=OKABE_ITO["vermillion"], mew=2.5)
    ax.set_xlabel("reduction r")
    ax.set_ylabel("parameters")
    ax.set_title(f"SE on C = {channels} channels")
    # plain numbers on both log axes (1, 2, 4 ... and 100, 1,000 ...), not 10^k with small exponents
    ax.set_xticks(rs, [str(int(r)) for r in rs])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.legend(loc="upper right")
    hidden = max(channels // reduction, 1)
    conv = 9 * channels**2
    ax = axes[0][1]
    ax.barh([0, 1], [conv, n], color=[PALETTE["reference"], OKABE_ITO["vermillion"]])
    ax.set_yticks([0, 1], ["3x3 conv C->C", f"SE, r={reduction}"])
    ax.set_xlabel("parameters")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.set_title(f"SE: C -> {hidden} -> C, {n:,} parameters\n= {100 * n / conv:.1f}% of a 3x3 conv C -> C",
                 fontsize=13)
    return fig


def reduction_explorer(channels: int = 64, reduction: int = 16) -> w.interactive:
    """Sliders over C and r for :func:`se_cost_figure`."""

    def show(channels: int = channels, reduction: int = reduction):
        return se_cost_figure(channels, reduction)

    options = sorted({*_REDUCTIONS, reduction})
    return make_interact(show, channels=int_slider(4, 512, step=4, description="channels C"),
                         reduction=w.SelectionSlider(options=options, value=reduction,
                                                     description="reduction r"))


@styled
def se_layer_figure(weights: Mapping[str, torch.Tensor], images: torch.Tensor,
                    masks: torch.Tensor | None = None, layer: int = 0, image: int = 0,
                    label: str = "foreground") -> Figure:
    """One SE layer of a trained model: the chosen image, the channel x image heatmap, its weights.

    ``weights``: ``{layer name: (N, C)}`` as from :func:`course_lib.blocks.se_weights` on ``images``
    (N x C x H x W); ``masks`` (N x 1 x H x W) adds the label's outline and its foreground fraction,
    named ``label`` in the title ("12% target").
    """
    names = list(weights)
    if not names:
        raise ValueError("se_layer_figure: weights is empty; record them with "
                         "cl.blocks.se_weights(model, images).")
    name = names[min(layer, len(names) - 1)]
    w_layer = weights[name]
    if len(w_layer) != len(images):
        raise ValueError(f"{len(w_layer)} weight rows for {len(images)} images: record the weights on the "
                         "same images you pass here.")
    image = min(image, len(images) - 1)
    # the image and the heatmap side by side, this image's weights under them across the width
    fig, axes = new_figure(2, 2, panel=(SCREEN_WIDTH / 2, 3.2), width_ratios=(1.0, 1.7),
                           height_ratios=(1.15, 0.85))
    for ax in axes[1]:
        ax.remove()
    ax = axes[0][0]
    shown = images[image].permute(1, 2, 0).squeeze(-1).clamp(0, 1).cpu().numpy()
    ax.imshow(shown, cmap="gray")
    title = f"image {image}"
    if masks is not None:
        ax.contour(masks[image, 0].cpu().numpy(), levels=[0.5], colors=[OKABE_ITO["yellow"]], linewidths=0.8)
        title += f"\n{100 * float(masks[image].mean()):.0f}% {label}"
    image_axis(ax, title)
    se_weight_heatmap(w_layer, ax=axes[0][1], title=f"{name}: {w_layer.shape[1]} channels", highlight=image)
    ax = fig.add_subplot(axes[0][0].get_gridspec()[1, :])
    channels = np.arange(w_layer.shape[1])
    ax.bar(channels, w_layer[image].numpy(), color=OKABE_ITO["blue"], label=f"image {image}")
    ax.plot(channels, w_layer.mean(0).numpy(), "_", ms=10, mew=2.5, color=OKABE_ITO["vermillion"],
            label="mean over images")
    ax.set_ylim(0, 1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("channel")
    ax.set_ylabel("SE weight")
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, borderaxespad=0.2)
    ax.set_title(f"spread over images: {float(w_layer.std(0).mean()):.3f}", fontsize=13, loc="left")
    return fig


def se_layer_explorer(weights: Mapping[str, torch.Tensor], images: torch.Tensor,
                      masks: torch.Tensor | None = None, label: str = "foreground") -> w.interactive:
    """Sliders over the SE layer and the image for :func:`se_layer_figure`."""

    def show(layer: int = 0, image: int = 0):
        return se_layer_figure(weights, images, masks, layer=layer, image=image, label=label)

    return make_interact(show, layer=int_slider(0, max(len(weights) - 1, 0), description="SE layer"),
                         image=int_slider(0, len(images) - 1, description="image"))
