"""Chapter 04 figures and probes: SE channel weights of a trained model, and common bug 2 measured.

Bug 2 (from the course's source material): an RSE unit written as ``shortcut(x) + se(r) * r``, although
``se(r)`` already returns ``r * weights``, computes ``r**2 * weights``: every feature loses its sign and
grows quadratically. :func:`propagation_stats` measures what that does to a stack of RSE units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from course_lib.blocks.se import RSEBlock, SEBlock
from course_lib.viz._style import HEAT_CMAP, OKABE_ITO, figure_and_axes, new_figure, styled

__all__ = [
    "group_separation",
    "plot_propagation",
    "plot_se_by_group",
    "propagation_stats",
    "rse_forward",
    "scale_response",
    "se_times_x",
    "se_weight_heatmap",
]


def se_times_x(se: SEBlock, x: torch.Tensor) -> torch.Tensor:
    """Common bug 2 on its own: ``se(x) * x``, which equals ``x**2 * weights`` (never negative)."""
    return se(x) * x


def rse_forward(block: RSEBlock, x: torch.Tensor, bug: bool = False) -> torch.Tensor:
    """The RSE unit's output; ``bug=True`` applies SE as ``se(r) * r`` (common bug 2)."""
    if not bug:
        return block(x)
    residual = block.residual(x)
    return block.shortcut(x) + se_times_x(block.se, residual)


def propagation_stats(blocks: Sequence[RSEBlock], x: torch.Tensor,
                      bug: bool = False) -> dict[str, list[float]]:
    """Push ``x`` through ``blocks`` in order and measure, per depth d (one value per block):

    ``mean`` and ``std`` of the unit's output, ``negative_fraction`` of the SE branch's outputs that are
    negative, and ``grad_norm``: the norm of d(mean of output_d) / dx at the input.
    """
    x = x.detach().clone().requires_grad_(True)
    stats: dict[str, list[float]] = {"mean": [], "std": [], "negative_fraction": [], "grad_norm": []}
    outputs, h = [], x
    for block in blocks:
        residual = block.residual(h)
        scaled = se_times_x(block.se, residual) if bug else block.se(residual)
        h = block.shortcut(h) + scaled
        outputs.append(h)
        stats["mean"].append(float(h.detach().mean()))
        stats["std"].append(float(h.detach().std()))
        stats["negative_fraction"].append(float((scaled.detach() < 0).float().mean()))
    stats["grad_norm"] = [float(torch.autograd.grad(out.mean(), x, retain_graph=True)[0].norm())
                          for out in outputs]
    return stats


def scale_response(se: SEBlock, x: torch.Tensor, scales: Sequence[float]) -> dict[str, list[float]]:
    """Mean ``|output|`` of ``se(a x)`` (correct) and ``se(a x) * (a x)`` (bug 2) for each scale ``a``."""
    with torch.no_grad():
        return {"scale": [float(a) for a in scales],
                "correct": [float(se(a * x).abs().mean()) for a in scales],
                "bug": [float(se_times_x(se, a * x).abs().mean()) for a in scales]}


@styled
def plot_propagation(response: Mapping[str, Sequence[float]], correct: Mapping[str, Sequence[float]],
                     buggy: Mapping[str, Sequence[float]]) -> Figure:
    """Bug 2 in three panels: SE output against input scale (:func:`scale_response`), then the mean
    activation and the negative fraction per depth (:func:`propagation_stats`)."""
    fig, axes = new_figure(1, 3, panel=(5.0, 4.0))
    blue, red = OKABE_ITO["blue"], OKABE_ITO["vermillion"]
    ax = axes[0][0]
    ax.loglog(response["scale"], response["correct"], "o-", color=blue, label="se(r)   slope 1")
    ax.loglog(response["scale"], response["bug"], "s--", color=red, label="se(r) * r   slope 2")
    ax.set_xlabel("scale a of the input r")
    ax.set_title("mean |output|")
    ax.legend(fontsize=11)
    depth = np.arange(1, len(correct["mean"]) + 1)
    for ax, key, title in ((axes[0][1], "mean", "mean activation after unit d"),
                           (axes[0][2], "negative_fraction", "negative SE-branch outputs")):
        ax.plot(depth, correct[key], "o-", color=blue, label="correct")
        ax.plot(depth, buggy[key], "s--", color=red, label="bug 2")
        ax.set_xlabel("depth d (RSE units)")
        ax.set_title(title)
        ax.set_xticks(depth)
    axes[0][1].legend(fontsize=11)
    return fig


@styled
def se_weight_heatmap(weights: torch.Tensor | np.ndarray, ax: Axes | None = None, title: str | None = None,
                      image_labels: Sequence[str] | None = None, highlight: int | None = None,
                      groups: Mapping[str, int] | None = None, max_ticks: int = 12) -> Figure:
    """Channel x image heatmap of SE weights ``(N images, C channels)``.

    The colour range is the weights' own (1st to 99th percentile), so that a layer whose gates all sit near
    one value still shows how they vary; the colourbar says which range. ``groups`` (name -> count, images
    sorted by group) draws a divider and a name over each group; at most ``max_ticks`` labels per axis.
    """
    w = np.asarray(weights.detach().cpu() if isinstance(weights, torch.Tensor) else weights, dtype=float)
    if w.ndim != 2:
        raise ValueError(f"se_weight_heatmap expects (images, channels) weights, got shape {w.shape}.")
    if groups is not None and sum(groups.values()) != w.shape[0]:
        raise ValueError(f"groups count {sum(groups.values())} images, the weights have {w.shape[0]}.")
    fig, ax = figure_and_axes(ax, size=(min(11.0, max(5.0, 0.12 * w.shape[0] + 3)), 4.8))
    low, high = np.percentile(w, [1, 99])
    if high - low < 1e-3:
        low, high = low - 5e-4, high + 5e-4
    artist = ax.imshow(w.T, cmap=HEAT_CMAP, vmin=low, vmax=high, aspect="auto", interpolation="nearest")
    ax.grid(False)
    ax.set_xlabel("image")
    ax.set_ylabel("channel")
    step = max(1, -(-w.shape[0] // max_ticks))
    ticks = list(range(0, w.shape[0], step))
    labels = [image_labels[i] for i in ticks] if image_labels is not None else [str(i) for i in ticks]
    ax.set_xticks(ticks, labels, rotation=90 if image_labels is not None else 0)
    ax.set_yticks(range(0, w.shape[1], max(1, -(-w.shape[1] // max_ticks))))
    if groups is not None:
        start = 0
        for name, count in groups.items():
            if start:
                ax.axvline(start - 0.5, color="white", lw=3)
            ax.text(start + count / 2 - 0.5, -0.6, name, ha="center", va="bottom", fontsize=11)
            start += count
    if highlight is not None:
        ax.axvline(highlight - 0.5, color=OKABE_ITO["sky_blue"], lw=2)
        ax.axvline(highlight + 0.5, color=OKABE_ITO["sky_blue"], lw=2)
    if title:
        ax.set_title(title, pad=22 if groups is not None else None)
    fig.colorbar(artist, ax=ax, shrink=0.85, pad=0.02, label=f"SE weight ({low:.2f}-{high:.2f})")
    return fig


def group_separation(weights: Mapping[str, torch.Tensor],
                     groups: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """Per layer: mean over channels of ``|mean_a - mean_b| / pooled std`` between two image groups.

    ``groups`` maps two names to boolean (N,) masks or index tensors. 0 means the layer gates every
    image alike; values near or above 1 mean the two groups get visibly different channel weights.
    """
    if len(groups) != 2:
        raise ValueError(f"group_separation compares exactly two groups, got {list(groups)}.")
    a, b = groups.values()
    out = {}
    for name, w in weights.items():
        wa, wb = w[a], w[b]
        if len(wa) < 2 or len(wb) < 2:
            raise ValueError(f"each group needs at least 2 images, got {len(wa)} and {len(wb)}.")
        pooled = torch.sqrt((wa.var(0) + wb.var(0)) / 2).clamp_min(1e-4)
        out[name] = float(((wa.mean(0) - wb.mean(0)).abs() / pooled).mean())
    return out


@styled
def plot_se_by_group(weights: Mapping[str, torch.Tensor], groups: Mapping[str, torch.Tensor]) -> Figure:
    """One panel per SE layer: mean weight per channel for each image group (+- 1 std).

    The layout of Hu et al. 2018, Fig. 6 (SE activations per class at increasing depth).
    """
    names = list(weights)
    ncols = min(4, len(names))
    nrows = -(-len(names) // ncols)
    fig, axes = new_figure(nrows, ncols, panel=(4.2, 3.0), sharey=True)
    colours = (OKABE_ITO["vermillion"], OKABE_ITO["blue"], OKABE_ITO["bluish_green"])
    for k, ax in enumerate(a for row in axes for a in row):
        if k >= len(names):
            ax.set_visible(False)
            continue
        w = weights[names[k]]
        channels = np.arange(w.shape[1])
        for colour, (label, index) in zip(colours, groups.items(), strict=False):
            mean, std = w[index].mean(0).numpy(), w[index].std(0).numpy()
            ax.plot(channels, mean, color=colour, lw=1.8, label=label)
            ax.fill_between(channels, mean - std, mean + std, color=colour, alpha=0.2, lw=0)
        ax.set_title(names[k].replace(".se", ""), fontsize=12)
        ax.set_ylim(0, 1)
        ax.set_xlabel("channel", fontsize=11)
    axes[0][0].set_ylabel("SE weight")
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="outside lower center", ncols=len(groups))
    return fig
