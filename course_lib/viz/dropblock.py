"""Figures of chapter 03 (DropBlock): a sampled block mask, drop rates against the target, the schedule.

Import as ``from course_lib.viz.dropblock import plot_block_mask, plot_drop_rates, plot_keep_prob_schedule``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from course_lib.viz._arrays import to_numpy
from course_lib.viz._style import OKABE_ITO, PALETTE, figure_and_axes, image_axis, styled

__all__ = ["plot_block_mask", "plot_drop_rates", "plot_keep_prob_schedule"]


@styled
def plot_block_mask(mask: Any, seeds: Any | None = None, block_size: int | None = None,
                    ax: Axes | None = None, title: str | None = None) -> Figure:
    """One channel's mask (H x W, 1 = kept, 0 = dropped) with its seeds drawn at the block centres.

    ``seeds`` (bool, ``(H - bs + 1) x (W - bs + 1)``, a block's top-left corner) and ``block_size`` also
    outline the region where block centres may fall (the paper's "valid seed region").
    """
    fig, ax = figure_and_axes(ax, size=(5.2, 5.2))
    m = to_numpy(mask).squeeze()
    if m.ndim != 2:
        raise ValueError(f"plot_block_mask needs one H x W mask, got shape {to_numpy(mask).shape}.")
    height, width = m.shape
    ax.imshow(m, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    if seeds is not None:
        if block_size is None:
            raise ValueError("plot_block_mask: pass block_size together with seeds.")
        s = to_numpy(seeds).squeeze().astype(bool).reshape(height - block_size + 1, width - block_size + 1)
        half = (block_size - 1) / 2  # centre offset of a block from its top-left corner
        ax.add_patch(Rectangle((half - 0.5, half - 0.5), width - block_size + 1, height - block_size + 1,
                               fill=False, lw=2.2, ls="--", edgecolor=PALETTE["footprint"],
                               label="valid centres"))
        rows, cols = np.nonzero(s)
        ax.plot(cols + half, rows + half, ls="none", marker="o", ms=5, color=PALETTE["point"],
                mec="white", mew=0.8, label=f"seeds ({len(rows)})")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, handlelength=1.2)
    ax.add_patch(Rectangle((-0.5, -0.5), width, height, fill=False, lw=1.5, edgecolor="#555555"))
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    image_axis(ax, title)
    return fig


@styled
def plot_drop_rates(rates: Sequence[Mapping[str, float]], ax: Axes | None = None,
                    title: str | None = None) -> Figure:
    """Measured (dots) and exact expected (line) drop rates against the target ``1 - keep_prob``.

    ``rates``: rows with ``block_size``, ``feat_size``, ``target``, ``expected`` and ``measured``
    (one figure line per ``(feat_size, target)``, block size on the x axis).
    """
    fig, ax = figure_and_axes(ax, size=(7.5, 4.8))
    rows = list(rates)
    if not rows:
        raise ValueError("plot_drop_rates: no rows to plot.")
    groups = sorted({(r["feat_size"], r["target"]) for r in rows})
    feats = sorted({r["feat_size"] for r in rows})
    colours = [OKABE_ITO[k] for k in ("blue", "vermillion", "bluish_green", "reddish_purple", "black")]
    targets = sorted({r["target"] for r in rows})
    for target in targets:
        ax.axhline(target, color="#888888", ls=":", lw=1.5, zorder=0)
    for feat, target in groups:
        sel = sorted((r for r in rows if (r["feat_size"], r["target"]) == (feat, target)),
                     key=lambda r: r["block_size"])
        x = [r["block_size"] for r in sel]
        colour = colours[feats.index(feat) % len(colours)]
        style = ("-", "--", "-.", ":")[targets.index(target) % 4]
        ax.plot(x, [r["expected"] for r in sel], color=colour, lw=2, ls=style,
                label=f"{feat}x{feat}, target {target:.0%}")
        ax.plot(x, [r["measured"] for r in sel], ls="none", marker="o", ms=7, color=colour, mec="white")
    ax.set_xlabel("block size")
    ax.set_ylabel("fraction of activations dropped")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_ylim(0, max(targets) * 1.25)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=min(3, len(groups)), fontsize=10)
    ax.set_title(title or "measured (dots) and expected (lines) vs target (dotted)")
    return fig


@styled
def plot_keep_prob_schedule(values: Sequence[float] | Mapping[str, Sequence[float]],
                            ax: Axes | None = None, xlabel: str = "epoch", first: int = 1,
                            title: str | None = None) -> Figure:
    """keep_prob per step or epoch (``values[i]`` at ``first + i``), one line per mapping entry."""
    fig, ax = figure_and_axes(ax, size=(7.0, 4.0))
    series = values if isinstance(values, Mapping) else {"keep_prob": values}
    for name, ys in series.items():
        ys = [float(v) for v in (ys.tolist() if isinstance(ys, torch.Tensor) else ys)]
        x = np.arange(first, first + len(ys))
        ax.plot(x, ys, marker="o" if len(ys) <= 40 else None, ms=5, label=name, drawstyle="steps-post"
                if name.startswith("as run") else "default")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("keep_prob")
    if len(series) > 1:
        ax.legend(loc="best")
    ax.set_title(title or "the linear keep_prob schedule")
    return fig
