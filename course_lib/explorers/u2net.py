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

from course_lib.blocks.rsu import RSU
from course_lib.config import seed_everything
from course_lib.data import load as load_dataset
from course_lib.receptive_field import effective_receptive_field, erf_summary, footprint
from course_lib.viz._arrays import as_image, as_map
from course_lib.viz._style import OKABE_ITO, PROB_CMAP, image_axis, new_figure, styled
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
    extra = "" if heat is None else f"; 90 % of the ERF in {erf_summary(heat)['area90']:,.0f} px"
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


@styled
def side_output_figure(maps: Sequence[Sequence[torch.Tensor]], epochs: Sequence[int], images: torch.Tensor,
                       masks: torch.Tensor, epoch: int | None = None, output: int = 0, image: int = 0
                       ) -> Figure:
    """One recorded output (0: fused d0, 1..6: side outputs d1..d6) on one image after one recorded epoch
    (index into ``epochs``; default the last), beside the image, and every output's MAE on the recorded
    images over the epochs (this output and epoch marked). ``maps``/``epochs``: a SideOutputRecorder's."""
    e = len(maps) - 1 if epoch is None else epoch
    fig, axes = new_figure(1, 3, panel=(4.8, 4.4))
    ax_img, ax_out, ax_mae = axes[0]
    ax_img.imshow(as_image(images[image]))
    ax_img.contour(as_map(masks[image], "mask"), levels=[0.5], colors=[OKABE_ITO["yellow"]], linewidths=2)
    image_axis(ax_img, f"image {image} + mask outline")
    name = "fused d0" if output == 0 else f"side d{output}"
    shown = ax_out.imshow(maps[e][output][image, 0].numpy(), cmap=PROB_CMAP, vmin=0, vmax=1)
    fig.colorbar(shown, ax=ax_out, shrink=0.8, label="probability")
    image_axis(ax_out, f"{name}, epoch {epochs[e]}")
    target = masks.float()
    for k in range(len(maps[0])):
        mae = [float((m[k] - target).abs().mean()) for m in maps]
        label = "fused d0" if k == 0 else f"d{k}"
        ax_mae.plot(epochs, mae, lw=3.2 if k == output else 1.4, alpha=1.0 if k == output else 0.55,
                    color="black" if k == 0 else None, label=label)
    ax_mae.axvline(epochs[e], color="#888888", ls=":")
    ax_mae.set_xlabel("epoch")
    ax_mae.set_ylabel("MAE on the recorded images")
    ax_mae.legend(ncol=2, fontsize=10, loc="upper right")
    ax_mae.set_title("every output over training")
    return fig


def side_output_explorer(maps: Sequence[Sequence[torch.Tensor]], epochs: Sequence[int], images: torch.Tensor,
                         masks: torch.Tensor) -> w.interactive:
    """Sliders over the recorded epoch, the output (fused d0, d1..d6) and the image for
    :func:`side_output_figure`."""
    names = ["fused d0"] + [f"d{k}" for k in range(1, len(maps[0]))]

    def show(epoch: int = len(maps) - 1, output: str = names[0], image: int = 0) -> Figure:
        return side_output_figure(maps, epochs, images, masks, epoch, names.index(output), image)

    return make_interact(show, epoch=int_slider(0, len(maps) - 1, value=len(maps) - 1,
                                                description="recorded epoch #"),
                         output=dropdown(names, value=names[0], description="output"),
                         image=int_slider(0, len(images) - 1, description="image"))
