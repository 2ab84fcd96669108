"""Chapter 09 figures: U^2-Net's two-level nesting drawn from the model, the side outputs over training,
and salient-object precision-recall curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from course_lib.viz._arrays import as_image, as_map
from course_lib.viz._style import OKABE_ITO, PROB_CMAP, arrow, figure_and_axes, image_axis, new_figure, styled

__all__ = ["draw_u2net", "plot_pr_curves", "plot_side_outputs"]


def _stage_facts(model: nn.Module, name: str) -> tuple[str, int, int]:
    """("RSU-7" or "RSU-4F", input channels, output channels) of one stage, read from its layers."""
    block = model.stages[name]
    conv = block.conv_in[0]
    kind = f"RSU-{block.height}" + ("F" if block.dilated else "")
    return kind, conv.in_channels, conv.out_channels


def _mini_u(ax: Axes, x: float, y: float, w: float, h: float, height: int, dilated: bool,
            colour: str) -> None:
    """The inner U of an RSU-L: L levels going down and up (a flat line with dilations for RSU-LF)."""
    if dilated:
        xs = np.linspace(x - w / 2, x + w / 2, 2 * height - 1)
        ax.plot(xs, np.full_like(xs, y), "-o", color=colour, lw=1.6, ms=3.2)
        return
    depth = np.r_[np.arange(height - 1), height - 1, np.arange(height - 2, -1, -1)]  # e_1..e_L, d_{L-1}..d_1
    xs = np.linspace(x - w / 2, x + w / 2, len(depth))
    ys = y + h / 2 - depth * h / max(height - 1, 1)
    ax.plot(xs, ys, "-o", color=colour, lw=1.6, ms=3.2)


def _arrow(ax: Axes, a: tuple[float, float], b: tuple[float, float], colour: str, rad: float = 0.0,
           lw: float = 1.6) -> None:
    arrow(ax, a, b, colour, lw=lw, rad=rad)


@styled
def draw_u2net(model: nn.Module, size: int = 320, ax: Axes | None = None) -> Figure:
    """U^2-Net as the paper draws it, from ``model.stages`` (En_1..En_N down the left, De_{N-1}..De_1 up the
    right, each box showing its RSU-L's own inner U), with the side outputs S1..SN and the fuse.

    Each box reads its block's height L, whether it is dilated (RSU-LF) and its channels from the layers;
    the feature size is ``size / 2^(k-1)`` for an input of ``size`` px."""
    n = model.n_stages
    box_w, box_h, gap = 2.5, 1.5, 1.9
    span_x, span_y = 2 * (n - 1) * gap + box_w + 5.0, (n - 1) * 1.8 + box_h + 1.2
    fig, ax = figure_and_axes(ax, size=(15.0, 15.0 * span_y / span_x + 0.6))
    colours = {"En": OKABE_ITO["blue"], "De": OKABE_ITO["bluish_green"]}

    def place(part: str, k: int) -> tuple[float, float]:
        # encoder down the left, decoder mirrored on the right; the bottom stage sits in the middle
        x = (k - 1) * 1.35 if part == "En" else (2 * (n - 1) - (k - 1)) * 1.35 + 0.0
        return x * gap / 1.35, -(k - 1) * 1.8

    def draw_stage(part: str, k: int) -> tuple[float, float]:
        name = f"{part}_{k}"
        kind, c_in, c_out = _stage_facts(model, name)
        x, y = place(part, k)
        colour = colours[part]
        ax.add_patch(FancyBboxPatch((x - box_w / 2, y - box_h / 2), box_w, box_h, boxstyle="round,pad=0.05",
                                    fc="white", ec=colour, lw=2.2))
        block = model.stages[name]
        _mini_u(ax, x, y - 0.02, box_w * 0.6, box_h * 0.34, block.height, block.dilated, colour)
        ax.text(x, y + box_h / 2 - 0.2, f"{name.replace('_', '')}: {kind}", ha="center", va="center",
                fontsize=11.5, weight="bold", color=colour)
        side = max(1, -(-size // 2 ** (k - 1)))
        ax.text(x, y - box_h / 2 + 0.16, f"{c_in}→{c_out} ch, {side}²", ha="center", va="center",
                fontsize=10.5)
        return x, y

    enc = {k: draw_stage("En", k) for k in range(1, n + 1)}
    dec = {k: draw_stage("De", k) for k in range(1, n)}
    grey, orange, blue = "#666666", OKABE_ITO["orange"], OKABE_ITO["sky_blue"]
    for k in range(1, n):
        (xa, ya), (xb, yb) = enc[k], enc[k + 1]
        _arrow(ax, (xa + 0.3, ya - box_h / 2), (xb - 0.3, yb + box_h / 2), grey)  # max-pool down
        ax.plot([enc[k][0] + box_w / 2, dec[k][0] - box_w / 2], [ya, ya], color=blue, lw=1.6, ls="--")
        _arrow(ax, (dec[k][0] - box_w / 2 - 0.4, ya), (dec[k][0] - box_w / 2, ya), blue)  # skip concat
        below = enc[n] if k == n - 1 else dec[k + 1]
        _arrow(ax, (below[0] + 0.3, below[1] + box_h / 2), (dec[k][0] + 0.1, ya - box_h / 2), orange)
    # side outputs: S1..S_{n-1} from De_1..De_{n-1}, S_n from En_n; all upsampled to the input size, fused
    fuse_x, fuse_y = dec[1][0] + box_w / 2 + 2.6, enc[n][1]
    sources = [dec[k] for k in range(1, n)] + [enc[n]]
    for m, (x, y) in enumerate(sources, start=1):
        sx = x + box_w / 2 + 0.55 if m < n else x + box_w / 2 + 0.5
        _arrow(ax, (x + box_w / 2, y), (sx, y), OKABE_ITO["vermillion"])
        ax.text(sx + 0.08, y, f"S{m}", ha="left", va="center", fontsize=11, color=OKABE_ITO["vermillion"],
                weight="bold")
        _arrow(ax, (sx + 0.45, y), (fuse_x - 0.45, fuse_y), OKABE_ITO["vermillion"], lw=0.9, rad=-0.05)
    ax.add_patch(FancyBboxPatch((fuse_x - 0.45, fuse_y - 0.45), 0.9 + 1.4, 0.9, boxstyle="round,pad=0.05",
                                fc="#FFF4E6", ec=OKABE_ITO["vermillion"], lw=2))
    ax.text(fuse_x + 0.7, fuse_y, "fuse: 1x1 conv\n→ d0", ha="center", va="center", fontsize=11)
    ax.text(enc[1][0] - box_w / 2, 0.95, "grey: 2x2 max-pool   orange: bilinear upsample   "
            "blue dashed: concatenated skip   red: side outputs (3x3 conv, upsampled to the input)",
            fontsize=11, ha="left", va="bottom")
    ax.set_xlim(enc[1][0] - box_w / 2 - 0.3, fuse_x + 2.2)
    ax.set_ylim(enc[n][1] - box_h, 1.5)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"{type(model).__name__}: {sum(p.numel() for p in model.parameters()):,} parameters; "
                 "every box is a residual U-block with its own inner U", fontsize=14)
    return fig


@styled
def plot_side_outputs(maps: Sequence[Sequence[torch.Tensor]], epochs: Sequence[int], image: Any, mask: Any,
                      index: int = 0, names: Sequence[str] | None = None, max_rows: int = 4) -> Figure:
    """Probabilities of every output (columns: fused d0, d1..d6) on one image (``index``) at several
    recorded epochs (rows, at most ``max_rows`` spread over the recording), beside the image and its mask.
    ``maps[e][k]`` is the N x 1 x H x W probability of output ``k`` after epoch ``epochs[e]``."""
    if not maps:
        raise ValueError("plot_side_outputs: nothing was recorded (give the SideOutputRecorder's maps).")
    rows = sorted(set(np.linspace(0, len(maps) - 1, min(max_rows, len(maps))).round().astype(int)))
    k = len(maps[0])
    names = list(names) if names is not None else ["fused d0"] + [f"d{m}" for m in range(1, k)]
    fig, axes = new_figure(len(rows), k + 1, panel=(2.3, 2.3), max_width=19.0)
    shown = None
    for r, e in enumerate(rows):
        ax = axes[r][0]
        ax.imshow(as_image(image))
        ax.contour(as_map(mask, "mask"), levels=[0.5], colors=[OKABE_ITO["yellow"]], linewidths=1.5)
        image_axis(ax, "image + mask" if r == 0 else None)
        ax.set_ylabel(f"epoch {epochs[e]}", fontsize=13)
        ax.yaxis.set_visible(True)
        ax.set_yticks([])
        for m in range(k):
            ax = axes[r][m + 1]
            shown = ax.imshow(maps[e][m][index, 0].numpy(), cmap=PROB_CMAP, vmin=0, vmax=1)
            image_axis(ax, names[m] if r == 0 else None)
    fig.colorbar(shown, ax=[row[-1] for row in axes], shrink=0.8, label="probability")
    return fig


@styled
def plot_pr_curves(curves: Mapping[str, Sequence[Mapping[str, np.ndarray]]], ax: Axes | None = None
                   ) -> Figure:
    """Salient-object precision-recall curves, one line per arm (the mean over its seeds' curves, with the
    seeds' range shaded), the max F-beta point of each marked. ``curves[arm]`` is a list of
    :func:`course_lib.metrics.salient_pr_curve` results, one per seed."""
    fig, ax = figure_and_axes(ax, size=(6.5, 5.2))
    for arm, runs in curves.items():
        P = np.stack([c["precision"] for c in runs])
        R = np.stack([c["recall"] for c in runs])
        F = np.stack([c["f_beta"] for c in runs])
        line, = ax.plot(R.mean(0), P.mean(0), label=f"{arm} (max F {F.max(1).mean():.3f})")
        if len(runs) > 1:
            ax.fill_between(R.mean(0), P.min(0), P.max(0), color=line.get_color(), alpha=0.18, lw=0)
        best = int(np.argmax(F.mean(0)))
        ax.plot(R.mean(0)[best], P.mean(0)[best], "o", color=line.get_color(), ms=9, mec="black")
    ax.set_xlabel("recall (mean over images)")
    ax.set_ylabel("precision (mean over images)")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower left")
    ax.set_title("precision-recall over 256 thresholds; dot: max F-beta")
    return fig
