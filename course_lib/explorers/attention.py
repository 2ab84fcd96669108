"""Chapter 07 explorer: a gate's attention map at any recorded epoch, and how much of it falls on lesions.

:func:`attention_figure` runs with its defaults (headless, CI); :func:`attention_explorer` adds sliders
over the recorded epoch, the gate level and the image.
"""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as w
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from course_lib.explorers._checks import check_index
from course_lib.protocols.lesions import REGIONS, AttentionRecorder, attention_by_region
from course_lib.viz._style import (
    OKABE_ITO,
    PALETTE,
    SCREEN_WIDTH,
    image_axis,
    legend_below,
    new_figure,
    styled,
)
from course_lib.viz.attention import attention_overlay
from course_lib.widgets import dropdown, int_slider, make_interact

__all__ = ["attention_explorer", "attention_figure"]


@styled
def attention_figure(recorder: AttentionRecorder, masks: torch.Tensor, lookalikes: torch.Tensor | None = None,
                     epoch: int = -1, level: int = 0, image: int = 0, name: str | None = None) -> Figure:
    """Image ``image`` with its lesions outlined, gate ``level``'s coefficients over it after recorded
    epoch index ``epoch``, and that gate's mean attention on lesions, look-alikes and elsewhere across
    training. ``name``: the model's name, in the figure's title."""
    if not recorder.maps:
        raise ValueError("attention_figure: the recorder is empty; train with it as an engine callback "
                         "first.")
    e = check_index("epoch (an index into the recorded epochs)", epoch, len(recorder.maps), negative=True)
    check_index("level (a gate, 0 = the finest)", level, len(recorder.maps[e]))
    check_index("image", image, len(recorder.images))
    images = recorder.images
    fig, axes = new_figure(1, 3, panel=(SCREEN_WIDTH / 3, 4.7), width_ratios=(1.1, 1.3, 1.0))
    ax_img, ax_att, ax_curve = axes[0]
    ax_img.imshow(images[image, 0].cpu().numpy(), cmap="gray")
    ax_img.contour(masks[image, 0].cpu().numpy(), levels=[0.5], colors=[PALETTE["fn"]], linewidths=1.2)
    image_axis(ax_img, f"image {image}\nlesions outlined")
    alpha = recorder.maps[e][level][image]
    artist = attention_overlay(ax_att, images[image], alpha, masks[image],
                               title=f"attention α\nof gate {level}")
    cb = fig.colorbar(artist, ax=ax_att, shrink=0.8, pad=0.02)
    cb.set_label("α")
    cb.outline.set_visible(False)
    means = attention_by_region(recorder, masks, lookalikes)
    styles = (("o-", OKABE_ITO["vermillion"]), ("^-.", OKABE_ITO["orange"]), ("s--", OKABE_ITO["blue"]))
    for r, (region, (style, colour)) in enumerate(zip(REGIONS, styles, strict=True)):
        if not np.isnan(means[:, level, r]).all():
            ax_curve.plot(recorder.epochs, means[:, level, r], style, color=colour, label=region)
    ax_curve.axvline(recorder.epochs[e], color="#888888", lw=1)
    ax_curve.set_ylim(0, 1)
    ax_curve.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax_curve.set_xlabel("epoch")
    ax_curve.set_ylabel(f"mean α of gate {level}")
    legend_below(ax_curve, ncol=2, handlelength=1.5, columnspacing=0.8)
    ax_curve.set_title(f"lesions {means[e, level, 0]:.2f}\nelsewhere {means[e, level, 2]:.2f}", fontsize=13)
    fig.suptitle(f"{name}: gate {level} after epoch {recorder.epochs[e]}" if name else
                 f"gate {level} after epoch {recorder.epochs[e]}", fontsize=15)
    return fig


def attention_explorer(recorders: AttentionRecorder | Mapping[str, AttentionRecorder], masks: torch.Tensor,
                       lookalikes: torch.Tensor | None = None) -> w.interactive:
    """Sliders over the recorded epoch, the gate level (0 = finest) and the image; a menu over the
    models when ``recorders`` maps names to recorders (all recorded on the same images and epochs)."""
    if isinstance(recorders, AttentionRecorder):
        recorders = {"model": recorders}
    if not recorders:
        raise ValueError("attention_explorer: no recorders given.")
    names = list(recorders)
    first = recorders[names[0]]
    n_epochs, n_levels = len(first.maps), len(first.maps[0]) if first.maps else 1

    def show(model: str = names[0], epoch: int = n_epochs - 1, level: int = 0, image: int = 0) -> Figure:
        return attention_figure(recorders[model], masks, lookalikes, epoch=epoch, level=level, image=image,
                                name=model)

    return make_interact(show, model=dropdown(names, description="model"),
                         epoch=int_slider(0, max(n_epochs - 1, 0), value=n_epochs - 1, description="epoch #"),
                         level=int_slider(0, max(n_levels - 1, 0), description="gate level"),
                         image=int_slider(0, len(first.images) - 1, description="image"))


