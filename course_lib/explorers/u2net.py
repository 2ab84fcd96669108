"""Chapter 09 explorers: what one RSU-L block sees (footprint and effective receptive field over L), and
U^2-Net's seven outputs as training goes.

:func:`rsu_figure` and :func:`side_output_figure` run with their defaults (headless, CI);
:func:`rsu_explorer` and :func:`side_output_explorer` add sliders.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as w
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from course_lib.blocks.rsu import RSU
from course_lib.config import seed_everything
from course_lib.data import load as load_dataset
from course_lib.explorers._checks import check_index
from course_lib.receptive_field import effective_receptive_field, erf_summary, footprint
from course_lib.viz._arrays import as_image, as_map
from course_lib.viz._style import (
    OKABE_ITO,
    PROB_CMAP,
    SCREEN_WIDTH,
    image_axis,
    legend_below,
    new_figure,
    styled,
)
from course_lib.viz.receptive_field import plot_receptive_field
from course_lib.widgets import dropdown, int_slider, make_interact

__all__ = ["rsu_explorer", "rsu_figure", "side_output_explorer", "side_output_figure"]


def _scene(size: int) -> torch.Tensor:
    return load_dataset("synthetic-salient", "val", n=1, size=size, seed=3)[0]["image"]


class _InnerU(torch.nn.Module):
    """An RSU without its residual path: ``U(x_in)`` only, to see how far the inner U reaches."""

    def __init__(self, block: RSU) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x) - self.block.conv_in(x)


PATHS = ("whole block", "inner U only")


def rsu_figure(height: int = 5, dilated: bool = False, path: str = "whole block", size: int = 128,
               erf: bool = True, image: torch.Tensor | None = None) -> Figure:
    """The footprint (exact) and effective receptive field (random weights, on ``image``) of the centre
    output pixel of one RSU-L (``dilated``: RSU-LF) with 3 -> 64 channels, M = 16, on a ``size`` px scene.
    ``path="inner U only"`` measures ``U(x_in)`` without the residual ``x_in``."""
    if path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}, got {path!r}.")
    seed_everything(0)
    block = RSU(height, 3, 16, 64, dilated=dilated).eval()
    model = block if path == "whole block" else _InnerU(block).eval()
    image = _scene(size) if image is None else image
    mask = footprint(model, tuple(image.shape))
    heat = effective_receptive_field(model, image) if erf else None
    rows, cols = np.nonzero(mask.numpy().any(1))[0], np.nonzero(mask.numpy().any(0))[0]
    side = f"{rows[-1] - rows[0] + 1} x {cols[-1] - cols[0] + 1}"
    extra = "" if heat is None else f"\n90 % of the ERF in {erf_summary(heat)['area90']:,.0f} px"
    kind = f"RSU-{height}" + ("F" if dilated else "") + (" (inner U only)" if path != "whole block" else "")
    return plot_receptive_field(image, mask, None, heat, point=(size // 2, size // 2),
                                title=f"{kind}: footprint {side} px{extra}")


def rsu_explorer(size: int = 128) -> w.interactive:
    """Sliders over the height L (2..7), the dilated variant and the path measured for :func:`rsu_figure`."""
    image = _scene(size)

    def show(height: int = 5, dilated: bool = False, path: str = PATHS[0]) -> Figure:
        return rsu_figure(height, dilated, path, size, image=image)

    return make_interact(show, height=int_slider(2, 7, value=5, description="height L"),
                         dilated=w.Checkbox(value=False, description="RSU-LF (dilated, no pooling)"),
                         path=dropdown(PATHS, value=PATHS[0], description="measure"))


#: colour, line style and marker per output (fused d0, d1 .. d6): neighbours differ in all three
_OUTPUT_STYLES = (("black", "-", None), (OKABE_ITO["blue"], "-", "o"), (OKABE_ITO["orange"], "--", "s"),
                  (OKABE_ITO["bluish_green"], "-.", "^"), (OKABE_ITO["vermillion"], ":", "D"),
                  (OKABE_ITO["reddish_purple"], "-", "v"), (OKABE_ITO["sky_blue"], "--", "P"))


@styled
def side_output_figure(maps: Sequence[Sequence[torch.Tensor]], epochs: Sequence[int], images: torch.Tensor,
                       masks: torch.Tensor, epoch: int | None = None, output: int = 0, image: int = 0
                       ) -> Figure:
    """One recorded output (0: fused d0, 1..6: side outputs d1..d6) on one image after one recorded epoch
    (index into ``epochs``; default the last), beside the image, and every output's MAE on the recorded
    images over the epochs (this output and epoch marked). ``maps``/``epochs``: a SideOutputRecorder's."""
    if not maps:
        raise ValueError("side_output_figure: nothing was recorded; train with a SideOutputRecorder as an "
                         "engine callback first.")
    e = len(maps) - 1 if epoch is None else check_index("epoch (an index into the recorded epochs)", epoch,
                                                        len(maps), negative=True)
    check_index("output (0 = fused d0, 1..6 = side outputs)", output, len(maps[e]))
    check_index("image", image, len(images))
    # the image and the chosen output side by side, every output's curve under them across the width
    fig, axes = new_figure(2, 2, panel=(SCREEN_WIDTH / 2, 3.3), height_ratios=(1.15, 0.85))
    ax_img, ax_out = axes[0]
    for ax in axes[1]:
        ax.remove()
    ax_mae = fig.add_subplot(axes[0][0].get_gridspec()[1, :])
    ax_img.imshow(as_image(images[image]))
    ax_img.contour(as_map(masks[image], "mask"), levels=[0.5], colors=[OKABE_ITO["yellow"]], linewidths=2)
    image_axis(ax_img, f"image {image} + mask outline")
    name = "fused d0" if output == 0 else f"side d{output}"
    shown = ax_out.imshow(maps[e][output][image, 0].numpy(), cmap=PROB_CMAP, vmin=0, vmax=1)
    fig.colorbar(shown, ax=ax_out, shrink=0.85, label="probability")
    image_axis(ax_out, f"{name}, epoch {epochs[e]}")
    target = masks.float()
    for k in range(len(maps[0])):
        mae = [float((m[k] - target).abs().mean()) for m in maps]
        colour, style, marker = _OUTPUT_STYLES[k % len(_OUTPUT_STYLES)]
        ax_mae.plot(epochs, mae, color=colour, ls=style, marker=marker, ms=7 if k == output else 5,
                    lw=3.4 if k == output else 1.8, alpha=1.0 if k in (0, output) else 0.8,
                    label="fused d0" if k == 0 else f"d{k}", zorder=3 if k == output else 2)
    ax_mae.axvline(epochs[e], color="#888888", ls=":")
    ax_mae.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax_mae.set_xlabel("epoch")
    ax_mae.set_ylabel("MAE")
    legend_below(ax_mae, ncol=len(maps[0]), handlelength=2.4, columnspacing=1.0)
    ax_mae.set_title("every output's MAE on the recorded images over training", fontsize=13, loc="left")
    return fig


def side_output_explorer(maps: Sequence[Sequence[torch.Tensor]], epochs: Sequence[int], images: torch.Tensor,
                         masks: torch.Tensor) -> w.interactive:
    """Sliders over the recorded epoch, the output (fused d0, d1..d6) and the image for
    :func:`side_output_figure`."""
    if not maps:
        raise ValueError("side_output_explorer: nothing was recorded; train with a SideOutputRecorder as an "
                         "engine callback first.")
    names = ["fused d0"] + [f"d{k}" for k in range(1, len(maps[0]))]

    def show(epoch: int = len(maps) - 1, output: str = names[0], image: int = 0) -> Figure:
        return side_output_figure(maps, epochs, images, masks, epoch, names.index(output), image)

    return make_interact(show, epoch=int_slider(0, len(maps) - 1, value=len(maps) - 1,
                                                description="recorded epoch #"),
                         output=dropdown(names, value=names[0], description="output"),
                         image=int_slider(0, len(images) - 1, description="image"))
