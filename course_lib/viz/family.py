"""Chapter 10's figures: the accuracy-versus-cost plane with its Pareto front, the units of the family
drawn from the modules themselves, and the 3D U-Net's sparse labels and predictions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from course_lib.blocks.conv import center_crop_to
from course_lib.blocks.dense import DenseBlock
from course_lib.blocks.inception import InceptionBlock, InceptionModule
from course_lib.blocks.residual import ResidualUnit
from course_lib.protocols.leaderboard import pareto_front
from course_lib.viz._style import OKABE_ITO, PROB_CMAP, arrow, image_axis, new_figure, styled
from course_lib.viz._style import box as _box
from course_lib.viz.architecture import draw_column as _column
from course_lib.viz.architecture import layer_label as _layer_text
from course_lib.viz.architecture import leaf_layers as _flat
from course_lib.viz.images import overlay

__all__ = ["COST_LABELS", "draw_units", "plot_pareto", "plot_sparse_labels", "plot_volume_predictions"]

COST_LABELS = {"gmacs": "GMACs per image", "ms_per_image": "inference ms / image (CPU)",
               "train_step_s": "training step (s)", "params": "parameters",
               "model_mb": "inference memory (MB)"}


def _label_points(ax: Axes, x: np.ndarray, y: np.ndarray, labels: Sequence[str], colours: Sequence[str],
                  bold: Sequence[bool], height: float = 15.0) -> None:
    """Write each label to the right of its point, moved down (in points) until no two labels overlap."""
    fig = ax.figure
    fig.canvas.draw()  # the axes limits and transforms are final only after a draw
    to_points = 72.0 / fig.dpi
    xy = ax.transData.transform(np.column_stack([x, y])) * to_points
    placed: list[tuple[float, float, float]] = []  # (left, right, baseline) of placed labels, in points
    for i in np.argsort(-xy[:, 1]):
        left, width = xy[i, 0] + 8, 7.0 * len(labels[i])
        top = xy[i, 1] + 4
        while any(left < right and start < left + width and abs(top - base) < height
                  for start, right, base in placed):
            top -= height / 2
        placed.append((left, left + width, top))
        ax.annotate(labels[i], (x[i], y[i]), xytext=(8, top - xy[i, 1]), textcoords="offset points",
                    fontsize=11, color=colours[i], fontweight="bold" if bold[i] else "normal", va="center",
                    arrowprops={"arrowstyle": "-", "color": colours[i], "lw": 0.6, "alpha": 0.6}
                    if abs(top - xy[i, 1] - 4) > height else None)


@styled
def plot_pareto(rows: Sequence[Mapping[str, Any]], costs: Sequence[str] = ("gmacs", "ms_per_image"),
                score: str = "dice", title: str | None = None) -> Figure:
    """One panel per cost: every model's mean ``score`` (± std over seeds) against the cost (log scale),
    the Pareto front (no model is both cheaper and better) drawn as a line, its members in colour."""
    fig, axes = new_figure(1, len(costs), panel=(6.6, 5.6))
    for ax, cost in zip(axes[0], costs, strict=True):
        usable = [r for r in rows if r.get(cost) is not None]
        x = np.array([float(r[cost]) for r in usable])
        y = np.array([r[score][0] for r in usable])
        err = np.array([r[score][1] for r in usable])
        front = pareto_front(x, y)
        colours = [OKABE_ITO["vermillion"] if i in front else "#6E6E6E" for i in range(len(usable))]
        for i in range(len(usable)):
            ax.errorbar(x[i], y[i], yerr=err[i], fmt="o", color=colours[i], markersize=9 if i in front else 7,
                        capsize=4, lw=1.4, zorder=3)
        ax.plot(x[front], y[front], "-", color=OKABE_ITO["vermillion"], lw=2, alpha=0.6, zorder=2,
                label="Pareto front")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(COST_LABELS.get(cost, cost) + " (log)")
        ax.set_ylabel(f"{score.capitalize()} (mean ± std over seeds)")
        ax.legend(loc="lower right")
        ax.set_xlim(x.min() / 1.6, x.max() * 3.0)  # room for the labels on the right
        ax.margins(y=0.12)
        _label_points(ax, x, y, [r["model"] for r in usable], colours,
                      [i in front for i in range(len(usable))])
    if title:
        fig.suptitle(title, fontsize=14, fontweight="normal")
    return fig


# ------------------------------------------------------------------------- units drawn from the modules

def _draw_residual(ax: Axes, unit: ResidualUnit) -> None:
    layers, shortcut = _flat(unit.residual), _flat(unit.shortcut)
    bottom = _column(ax, -1.6, layers, 0, "#DCEAF7")
    top = (bottom - 0.8 * (len(shortcut) - 1)) / 2 + 0.8 * (len(shortcut) - 1) / 2
    last = _column(ax, 2.2, shortcut, top, "#F3E3C3")
    _box(ax, 0.3, bottom - 0.9, "+", "#FFFFFF", width=0.6, height=0.5)
    arrow(ax, (-1.6, bottom - 0.31), (0.0, bottom - 0.9))
    arrow(ax, (2.2, last - 0.31), (0.6, bottom - 0.9))
    ax.text(-1.6, 0.5, "residual branch F(x)", ha="center", fontsize=11)
    ax.text(2.2, top + 0.5, "shortcut", ha="center", fontsize=11)


def _draw_dense(ax: Axes, block: DenseBlock) -> None:
    step = 0.9
    for k, layer in enumerate(block.layers):
        y = -k * step
        _box(ax, 0, y, _layer_text(layer), "#DCEAF7", width=2.8)
        for j in range(k):  # every earlier output feeds this layer (dense connectivity)
            arrow(ax, (-1.4, -j * step), (-1.4, y), OKABE_ITO["orange"], rad=0.5, lw=1.0, alpha=0.7)
    y = -len(block.layers) * step
    _box(ax, 0, y, _layer_text(block.transition) + " (transition)", "#F3E3C3", width=3.4)
    for k in range(len(block.layers)):
        arrow(ax, (1.4, -k * step), (1.7, y + 0.2), OKABE_ITO["orange"], rad=-0.3, lw=1.0, alpha=0.7)
    ax.text(0, 0.55, f"growth {block.growth}: each layer sees the input and all earlier layers", ha="center",
            fontsize=11)


def _draw_inception(ax: Axes, module: InceptionModule) -> None:
    xs = (-4.2, -1.4, 1.4, 4.2)
    for x, branch in zip(xs, module.branches, strict=True):
        bottom = _column(ax, x, _flat(branch), 0, "#DCEAF7", step=1.0)
        arrow(ax, (x, bottom - 0.31), (0, -3.2))
    _box(ax, 0, -3.5, "concatenate: 4 x out/4 channels", "#F3E3C3", width=4.6)
    ax.text(0, 0.55, "1x1 | 3x3 | 5x5 (two 3x3) | pool: several scales at once", ha="center", fontsize=11)


@styled
def draw_units(units: Mapping[str, nn.Module]) -> Figure:
    """Each unit of ``units`` (title -> module: a :class:`ResidualUnit`, :class:`DenseBlock`,
    :class:`InceptionModule`/:class:`InceptionBlock` or a double conv) drawn from its own layers."""
    ncols = 2 if len(units) > 2 else len(units)
    nrows = -(-len(units) // ncols)
    fig, axes = new_figure(nrows, ncols, panel=(7.6, 5.4))
    flat = [ax for row in axes for ax in row]
    for ax in flat[len(units):]:
        ax.set_visible(False)
    for ax, (title, unit) in zip(flat, units.items(), strict=False):
        if isinstance(unit, ResidualUnit):
            _draw_residual(ax, unit)
        elif isinstance(unit, DenseBlock):
            _draw_dense(ax, unit)
        elif isinstance(unit, (InceptionModule, InceptionBlock)):
            _draw_inception(ax, unit[0] if isinstance(unit, InceptionBlock) else unit)
            title += " (1 of 2 modules)" if isinstance(unit, InceptionBlock) else ""
        else:
            _column(ax, 0, _flat(unit), 0, "#DCEAF7")
        ax.set_xlim(-5.6, 5.6)
        ax.set_ylim(-5.4, 1.0)
        image_axis(ax, title)
    return fig


# ------------------------------------------------------------------------- 3D U-Net

def _slice(volume: Any, z: int) -> np.ndarray:
    v = volume.detach().cpu().numpy() if isinstance(volume, torch.Tensor) else np.asarray(volume)
    return v.reshape(v.shape[-3:])[z]


@styled
def plot_sparse_labels(dense: Mapping[str, torch.Tensor], sparse: Mapping[str, torch.Tensor],
                       background: Mapping[str, torch.Tensor], z: int) -> Figure:
    """One training volume at slice ``z``: the image, the dense labels, what the sparse annotator labelled
    (unlabelled voxels hatched grey) and the mask the "as background" arm trains on."""
    fig, axes = new_figure(1, 4, panel=(4.0, 4.3))
    image, mask = _slice(dense["image"], z), _slice(dense["mask"], z)
    weight = _slice(sparse["weight"], z)
    panels = [(f"image (slice z = {z})", image, "gray"), ("dense labels", mask, "gray")]
    for ax, (title, data, cmap) in zip(axes[0][:2], panels, strict=True):
        ax.imshow(data, cmap=cmap, vmin=0, vmax=1)
        image_axis(ax, title)
    seen = np.stack([mask * weight + 0.45 * (1 - weight)] * 3, -1)  # grey where nobody labelled
    axes[0][2].imshow(seen)
    image_axis(axes[0][2], f"sparse: {weight.mean():.0%} of this slice labelled")
    axes[0][3].imshow(_slice(background["mask"], z), cmap="gray", vmin=0, vmax=1)
    image_axis(axes[0][3], "unlabelled = background")
    fig.suptitle("white: tube, black: labelled background, grey: not annotated (weight 0)", fontsize=13,
                 fontweight="normal")
    return fig


@styled
def plot_volume_predictions(image: torch.Tensor, mask: torch.Tensor, probs: Mapping[str, torch.Tensor],
                            z: int | None = None) -> Figure:
    """Per labelling arm, on slice ``z`` (default: the middle) of a validation volume: its prediction (TP
    white, FP orange, FN blue) and, below, its probability (colour bar 0-1). ``mask`` and ``probs`` cover the
    centre of ``image`` that a valid network predicts."""
    mask = torch.as_tensor(mask).detach().cpu().reshape(mask.shape[-3:])
    z = mask.shape[0] // 2 if z is None else z
    image = torch.as_tensor(image).detach().cpu().reshape(image.shape[-3:])
    crop = center_crop_to(image, tuple(mask.shape))
    fig, axes = new_figure(2, len(probs) + 1, panel=(3.9, 3.9))
    axes[0][0].imshow(crop[z].numpy(), cmap="gray")
    image_axis(axes[0][0], f"input, slice z = {z}")
    axes[1][0].imshow(mask[z].numpy(), cmap="gray", vmin=0, vmax=1)
    image_axis(axes[1][0], "true tubes")
    for k, (arm, prob) in enumerate(probs.items(), start=1):
        prob = torch.as_tensor(prob).detach().cpu().reshape(prob.shape[-3:])
        overlay(crop[z], prob[z], mask[z], ax=axes[0][k], legend=False, title=arm)
        shown = axes[1][k].imshow(prob[z].numpy(), cmap=PROB_CMAP, vmin=0, vmax=1)
        image_axis(axes[1][k], "probability")
    fig.colorbar(shown, ax=axes[1][-1], fraction=0.046, pad=0.04, label="probability")
    return fig
