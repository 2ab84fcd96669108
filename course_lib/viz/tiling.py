"""Chapter 02 figures: the overlap-tile layout, seams of tiled predictions, and the U-Net weight map."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from course_lib import sizes
from course_lib.viz._arrays import as_map, to_numpy
from course_lib.viz._style import HEAT_CMAP, OKABE_ITO, PROB_CMAP, image_axis, new_figure, styled
from course_lib.viz.images import _instance_cmap

__all__ = ["plot_instances", "plot_overlap_tile", "plot_seams", "plot_weight_map"]


@styled
def plot_overlap_tile(image: Any, tile_output: int, margin: int, tile: tuple[int, int] = (0, 1)) -> Figure:
    """The paper's Fig. 2: the image mirrored by ``margin`` px, one tile's input (yellow) and the output
    area it predicts (blue); the dashed line is the image border. ``tile`` = (row, column) of the tile."""
    img = as_map(image, "image")
    padded = sizes.mirror_pad(torch.as_tensor(img, dtype=torch.float32), *(margin,) * 4).numpy()
    fig, axes = new_figure(1, 1, panel=(6.4, 6.4))
    ax = axes[0][0]
    ax.imshow(padded, cmap="gray")
    h, w = img.shape
    ax.add_patch(Rectangle((margin - 0.5, margin - 0.5), w, h, fill=False, edgecolor="white", linestyle="--",
                           linewidth=1.8))
    y0, x0 = margin + tile[0] * tile_output, margin + tile[1] * tile_output
    ax.add_patch(Rectangle((x0 - margin - 0.5, y0 - margin - 0.5), tile_output + 2 * margin,
                           tile_output + 2 * margin, fill=False, edgecolor=OKABE_ITO["yellow"], linewidth=3,
                           label="input tile (output + context)"))
    ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), tile_output, tile_output, facecolor=OKABE_ITO["blue"],
                           alpha=0.45, edgecolor=OKABE_ITO["blue"], linewidth=3, label="its output"))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=2)
    image_axis(ax, f"mirrored border of {margin} px; {tile_output}-px output tiles")
    return fig


def _grid(ax: Any, shape: tuple[int, int], tile: int) -> None:
    for y in range(tile, shape[0], tile):
        ax.axhline(y - 0.5, color=OKABE_ITO["sky_blue"], linewidth=0.8, linestyle=":")
    for x in range(tile, shape[1], tile):
        ax.axvline(x - 0.5, color=OKABE_ITO["sky_blue"], linewidth=0.8, linestyle=":")


@styled
def plot_seams(whole: Any, tiled: Mapping[str, Any], tile: int, zoom: int | None = None,
               floor: float = 1e-4, title: str | None = None, references: Mapping[str, Any] | None = None,
               whole_title: str = "whole image, one pass") -> Figure:
    """Top: the whole-image probability and each tiled one; bottom: ``|tiled - reference|`` on one
    logarithmic colour scale (differences below ``floor`` drawn at ``floor``), tile borders dotted.

    The reference of every tiled map is ``whole`` unless ``references`` gives one for its name (e.g. the
    one-pass prediction of another network). ``zoom`` shows only the top-left ``zoom`` x ``zoom`` pixels.
    """
    ref = as_map(whole, "whole")
    maps = {name: as_map(p, name) for name, p in tiled.items()}
    refs = {name: as_map((references or {}).get(name, ref), f"reference of {name}") for name in maps}
    s = (slice(0, zoom), slice(0, zoom)) if zoom else (slice(None), slice(None))
    diffs = {name: np.abs(p - refs[name])[s] for name, p in maps.items()}
    vmax = max(max(float(d.max()) for d in diffs.values()), 10 * floor)
    norm = LogNorm(vmin=floor, vmax=vmax)
    fig, axes = new_figure(2, len(maps) + 1, panel=(3.8, 3.8))
    prob = axes[0][0].imshow(ref[s], cmap=PROB_CMAP, vmin=0, vmax=1)
    image_axis(axes[0][0], whole_title)
    image_axis(axes[1][0])
    axes[1][0].text(0.5, 0.5, f"|tiled - one pass|\nlog scale,\n{floor:.0e} to {vmax:.2g}", ha="center",
                    va="center", fontsize=14, transform=axes[1][0].transAxes)
    for col, (name, p) in enumerate(maps.items(), start=1):
        axes[0][col].imshow(p[s], cmap=PROB_CMAP, vmin=0, vmax=1)
        image_axis(axes[0][col], name)
        shown = axes[1][col].imshow(np.maximum(diffs[name], floor), cmap=HEAT_CMAP, norm=norm,
                                    interpolation="nearest")
        _grid(axes[1][col], diffs[name].shape, tile)
        image_axis(axes[1][col], f"max {diffs[name].max():.2g}")
    fig.colorbar(prob, ax=axes[0][-1], shrink=0.85, label="probability")
    fig.colorbar(shown, ax=axes[1][-1], shrink=0.85, label="|difference|")
    if title:
        fig.suptitle(title)
    return fig


@styled
def plot_weight_map(image: Any, instances: Any, weight: Any,
                    zoom: tuple[int, int, int] | None = None) -> Figure:
    """Image, instances (one colour per cell), the weight map, and a zoom ``(top, left, size)`` of it."""
    img, w = as_map(image, "image"), as_map(weight, "weight")
    labels = to_numpy(instances).squeeze().astype(np.int64)
    n = 4 if zoom else 3
    fig, axes = new_figure(1, n, panel=(4.2, 4.2))
    axes[0][0].imshow(img, cmap="gray")
    image_axis(axes[0][0], "image")
    axes[0][1].imshow(labels, cmap=_instance_cmap(int(labels.max())), interpolation="nearest")
    image_axis(axes[0][1], f"{int(labels.max())} cells (instances)")
    shown = axes[0][2].imshow(w, cmap=HEAT_CMAP, vmin=0, vmax=float(w.max()))
    image_axis(axes[0][2], f"w(x), max {w.max():.1f}")
    if zoom:
        top, left, size = zoom
        axes[0][2].add_patch(Rectangle((left - 0.5, top - 0.5), size, size, fill=False,
                                       edgecolor=OKABE_ITO["sky_blue"], linewidth=2))
        axes[0][3].imshow(w[top:top + size, left:left + size], cmap=HEAT_CMAP, vmin=0, vmax=float(w.max()))
        image_axis(axes[0][3], "zoom: ridges between cells")
    fig.colorbar(shown, ax=axes[0][-1], shrink=0.85)
    return fig


@styled
def plot_instances(image: Any, panels: Mapping[str, Any], box: tuple[int, int, int] | None = None) -> Figure:
    """The image and instance maps side by side (one random colour per cell, 0 black), all cropped to
    ``box = (top, left, size)`` if given. ``panels`` maps titles to instance maps."""
    sl = (slice(box[0], box[0] + box[2]), slice(box[1], box[1] + box[2])) if box else (slice(None),) * 2
    fig, axes = new_figure(1, len(panels) + 1, panel=(4.0, 4.0))
    axes[0][0].imshow(as_map(image, "image")[sl], cmap="gray")
    image_axis(axes[0][0], "image")
    for ax, (title, labels) in zip(axes[0][1:], panels.items(), strict=True):
        a = to_numpy(labels).squeeze().astype(np.int64)
        ax.imshow(a[sl], cmap=_instance_cmap(int(a.max())), vmin=0, vmax=max(int(a.max()), 1),
                  interpolation="nearest")
        image_axis(ax, title)
    return fig
