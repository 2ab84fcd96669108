"""Chapter 08 figures: the nested grid of UNet++ drawn from the model, and the pruning trade-off."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch.nn as nn
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from course_lib.viz._style import OKABE_ITO, arrow, figure_and_axes, styled

__all__ = ["draw_nested_grid", "plot_pruning_tradeoff"]

_NODE = re.compile(r"x_(\d+)_(\d+)")


def _node_channels(module: nn.Module) -> tuple[int, int]:
    """(input channels of the node's first 3x3 conv, output channels) read from its layers."""
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    return convs[0].in_channels, convs[-1].out_channels


_NODE_RADIUS = 24  # points: a node is a marker of fixed size, so that its label fits at any figure size
_LABEL_SIZE = 17.5  # points: X^{i,j}'s indices are drawn at 0.7 of it, 12 pt


def _arrow(ax: Axes, a: tuple[float, float], b: tuple[float, float], colour: str, lw: float, alpha: float,
           rad: float = 0.0) -> None:
    arrow(ax, a, b, colour, lw=lw, alpha=alpha, rad=rad, shrink=_NODE_RADIUS + 1, mutation_scale=11)


@styled
def draw_nested_grid(model: nn.Module, level: int | None = None, ax: Axes | None = None,
                     channels: bool = True) -> Figure:
    """The nodes X^{i,j} of a :class:`~course_lib.models.unetpp.UNetPlusPlus`, found by walking
    ``model.nodes``, with the down-sampling (grey), up-sampling (orange) and dense skip (blue)
    connections, and the deep-supervision heads. ``level``: highlight the sub-network UNet++ L_level
    computes (the rest is greyed out). ``channels``: label each node with its input -> output channels."""
    nodes = {}
    for name, module in model.nodes.items():
        i, j = map(int, _NODE.fullmatch(name).groups())
        nodes[i, j] = _node_channels(module)
    depth = max(i for i, _ in nodes)
    used = set(model.nodes_for_level(level))
    heads = model.heads_for_level(level)
    fig, ax = figure_and_axes(ax, size=(1.25 * (depth + 1) + 1.2, 1.25 * (depth + 1) + 2.0))

    def pos(i: int, j: int) -> tuple[float, float]:
        return (j + 0.5 * i, -i)  # each level down shifts right by half a column: the U-Net's V shape

    def alpha(*keys: tuple[int, int]) -> float:
        return 1.0 if all(k in used for k in keys) else 0.15

    for (i, j) in nodes:
        if j == 0 and i > 0:
            _arrow(ax, pos(i - 1, 0), pos(i, 0), "#666666", 1.6, alpha((i - 1, 0), (i, 0)))
        if j > 0:
            _arrow(ax, pos(i + 1, j - 1), pos(i, j), OKABE_ITO["orange"], 1.6, alpha((i + 1, j - 1), (i, j)))
            for k in range(j):
                rad = 0.0 if k == j - 1 else -0.35
                _arrow(ax, pos(i, k), pos(i, j), OKABE_ITO["blue"], 1.2, alpha((i, k), (i, j)), rad=rad)
    for (i, j), (c_in, c_out) in nodes.items():
        on = (i, j) in used
        x, y = pos(i, j)
        ax.scatter([x], [y], s=(2 * _NODE_RADIUS) ** 2, marker="o", zorder=3, linewidths=1.2,
                   color=OKABE_ITO["yellow"] if on else "#EEEEEE", edgecolors="black" if on else "#BBBBBB")
        ax.annotate(f"$X^{{{i},{j}}}$", (x, y), xytext=(0, 1), textcoords="offset points", ha="center",
                    va="center", fontsize=_LABEL_SIZE, zorder=4, color="black" if on else "#999999")
        if channels:
            ax.annotate(f"{c_in}→{c_out}", (x, y), xytext=(0, -_NODE_RADIUS - 2), textcoords="offset points",
                        ha="center", va="top", fontsize=12, zorder=4, color="#333333" if on else "#AAAAAA")
    for name in model.heads:
        j = int(name.split("_")[1])
        x, y = pos(0, j)
        on = name in heads
        ax.annotate("", xy=(x, y + 0.85), xytext=(x, y),
                    arrowprops={"arrowstyle": "-|>", "color": OKABE_ITO["vermillion"], "lw": 1.6,
                                "alpha": 1.0 if on else 0.2, "shrinkA": _NODE_RADIUS + 1, "shrinkB": 0})
        ax.text(x, y + 0.9, f"out {j}", ha="center", va="bottom", fontsize=12,
                color=OKABE_ITO["vermillion"] if on else "#BBBBBB")
    ax.set_xlim(-0.65, depth + 0.65)  # the nodes span x = 0 .. depth
    ax.set_ylim(-depth - (0.95 if channels else 0.65), 1.45)
    ax.set_aspect("equal")
    ax.axis("off")
    handles = [Line2D([], [], color="#666666", lw=1.6, label="down: max-pool + conv"),
               Line2D([], [], color=OKABE_ITO["orange"], lw=1.6, label="up: 2x2 transposed conv"),
               Line2D([], [], color=OKABE_ITO["blue"], lw=1.2, label="dense skip (concatenated)"),
               Line2D([], [], color=OKABE_ITO["vermillion"], lw=1.6, label="1x1 head (deep supervision)")]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, handlelength=1.5,
              columnspacing=1.0, borderaxespad=0.0)  # below the grid: off the nodes
    what = "the whole network" if level is None else f"UNet++ L{level}"
    ax.set_title(f"{what}: {len(used)} of {len(nodes)} nodes, {model.parameters_used(level):,} parameters",
                 fontsize=13)
    return fig


@styled
def plot_pruning_tradeoff(rows: Sequence[Mapping[str, Any]], metric: str = "dice", ax: Axes | None = None,
                          highlight: str | None = None) -> Figure:
    """Accuracy against inference time per image for the pruned networks (one point per row: ``name``,
    ``ms_per_image``, ``parameters`` and ``metric``); marker area grows with the parameters."""
    fig, ax = figure_and_axes(ax, size=(6.8, 4.6))
    ms = np.array([r["ms_per_image"] for r in rows], dtype=float)
    score = np.array([r[metric] for r in rows], dtype=float)
    params = np.array([r["parameters"] for r in rows], dtype=float)
    sizes = 60 + 540 * np.sqrt(params / params.max())
    ax.plot(ms, score, "-", color="#BBBBBB", lw=1.2, zorder=1)
    for k, (r, x, y, s) in enumerate(zip(rows, ms, score, sizes, strict=True)):
        colour = OKABE_ITO["vermillion"] if r["name"] == highlight else OKABE_ITO["blue"]
        ax.scatter([x], [y], s=s, color=colour, alpha=0.75, zorder=2, edgecolor="black", lw=0.6)
        # above or below the bubble (alternately), clear of its edge: neighbours (L4 and accurate have
        # the same network and nearly the same time) keep their labels apart and off each other's bubble
        up = k % 2 == 1
        gap = np.sqrt(s) / 2 + 3
        ax.annotate(f"{r['name']}: {r['parameters'] / 1e6:.2g}M", (x, y), xytext=(0, gap if up else -gap),
                    textcoords="offset points", fontsize=12, ha="center", va="bottom" if up else "top",
                    zorder=3)
    ax.set_xlabel("inference time per image (ms, median)")
    ax.set_ylabel({"dice": "Dice", "iou": "IoU"}.get(metric, metric))
    ax.margins(x=0.2, y=0.3)
    ax.set_title("pruned UNet++: accuracy against speed (marker area: parameters)", fontsize=13)
    return fig
