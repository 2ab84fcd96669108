"""Chapter 07 figures: attention maps over training, the gated U-Net and the unrolled recurrent block,
drawn from the models themselves, and the arms' scores with their spread over seeds."""

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
from course_lib.viz._style import (
    ARM_COLOURS,
    HEAT_CMAP,
    OKABE_ITO,
    PALETTE,
    arm_colours,
    arrow,
    figure_and_axes,
    image_axis,
    new_figure,
    styled,
)

__all__ = ["attention_overlay", "draw_gated_unet", "draw_recurrent_unrolled", "plot_arm_scores",
           "plot_attention_grid", "plot_norm_modes"]

_GATE_NAMES = {"AttentionGate": "gate (same)", "GridAttentionGate": "gate (grid)",
               "OpenGridGate": "W only (α = 1)"}


def attention_overlay(ax: Axes, image: Any, alpha: Any, mask: Any | None = None, title: str | None = None,
                      vmax: float = 1.0):
    """The image in grey with the attention coefficients on top (``HEAT_CMAP``, 0..``vmax``, partly
    transparent, stretched over the image when the gate is coarser) and the lesion outlines in sky blue.
    Returns the attention artist (for a colourbar)."""
    img = as_image(image)
    a = as_map(alpha, "alpha")
    h, w = img.shape[:2]
    ax.imshow(img, cmap="gray")
    # a coarse gate's map covers the whole image: each coefficient drawn over the pixels it gates
    artist = ax.imshow(a, cmap=HEAT_CMAP, vmin=0, vmax=vmax, alpha=0.6, extent=(-0.5, w - 0.5, h - 0.5, -0.5))
    if mask is not None:
        ax.contour(as_map(mask, "mask"), levels=[0.5], colors=[PALETTE["fn"]], linewidths=1.2)
    image_axis(ax, title)
    return artist


@styled
def plot_attention_grid(maps: Sequence[Sequence[torch.Tensor]], epochs: Sequence[int], image: Any,
                        mask: Any | None = None, index: int = 0, rows: Sequence[int] | None = None,
                        level_names: Sequence[str] | None = None) -> Figure:
    """Attention over training: one row per recorded epoch (``rows``: indices into ``maps``, default up
    to five spread over training), one column per gate (finest level first), for image ``index``."""
    if not maps:
        raise ValueError("plot_attention_grid: no attention maps recorded (train a gated model with an "
                         "AttentionRecorder callback).")
    if rows is None:
        rows = sorted(set(np.linspace(0, len(maps) - 1, min(5, len(maps))).round().astype(int).tolist()))
    levels = len(maps[0])
    names = level_names or [f"gate {k} ({maps[0][k].shape[-2]} px)" for k in range(levels)]
    fig, axes = new_figure(len(rows), levels, panel=(2.9, 2.9))
    artist = None
    for r, e in enumerate(rows):
        for k in range(levels):
            ax = axes[r][k]
            artist = attention_overlay(ax, image, maps[e][k][index], mask,
                                       title=names[k] if r == 0 else None)
            if k == 0:
                ax.set_ylabel(f"epoch {epochs[e]}", fontsize=13)
                ax.yaxis.set_visible(True)
                ax.set_yticks([])
    cb = fig.colorbar(artist, ax=[a for row in axes for a in row], shrink=0.6, pad=0.02)
    cb.set_label("attention coefficient α")
    cb.outline.set_visible(False)
    return fig


@styled
def plot_arm_scores(results: Sequence[Any],
                    keys: Sequence[str] = ("dice", "recall", "fp_per_image", "froc"),
                    labels: Mapping[str, str] | None = None) -> Figure:
    """One panel per score: the mean over seeds as a bar, each seed as a dot, +-1 std as an error bar.

    ``results``: :class:`course_lib.protocols.lesions.ArmResult` objects (``arm``, ``seed``, ``scores``).
    """
    labels = {"dice": "Dice", "iou": "IoU", "recall": "lesion recall",
              "fp_per_image": "false positives / image",
              "recall_at_1fp": "recall at ≤ 1 FP / image", "recall_at_4fp": "recall at ≤ 4 FP / image",
              "froc": "FROC: mean recall, 1/8-8 FP / image",
              **(labels or {})}
    arms = list(dict.fromkeys(r.arm for r in results))
    fig, axes = new_figure(1, len(keys), panel=(4.2, 4.4))
    colours = arm_colours(len(arms))
    for ax, key in zip(axes[0], keys, strict=True):
        for i, arm in enumerate(arms):
            values = np.array([r.scores[key] for r in results if r.arm == arm], dtype=float)
            mean, std = float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
            ax.bar(i, mean, 0.7, color=colours[i % len(colours)], alpha=0.35)
            ax.errorbar(i, mean, yerr=std, color="black", capsize=5, lw=1.6)
            ax.plot(np.full(len(values), i) + np.linspace(-0.15, 0.15, len(values)), values, "o",
                    color=colours[i % len(colours)], markersize=6)
        ax.set_xticks(range(len(arms)), arms, rotation=30, ha="right")
        ax.set_title(labels.get(key, key))
        ax.grid(axis="x", visible=False)
    fig.suptitle("mean (bar) ± std (line) over seeds; dots: single seeds", fontsize=13, fontweight="normal")
    return fig


def plot_norm_modes(results: Sequence[Any]) -> Figure:
    """Validation Dice after each epoch in eval mode (solid) and with batch statistics (dashed), one colour
    per seed: the runs of :func:`course_lib.protocols.lesions.norm_mode_runs` (``recorder``: NormModeDice)."""
    fig, axes = new_figure(1, 1, panel=(7.2, 3.6))
    ax = axes[0][0]
    for i, run in enumerate(results):
        curve, colour = run.recorder, ARM_COLOURS[i % len(ARM_COLOURS)]
        ax.plot(curve.epochs, curve.batch_dice, "--o", color=colour,
                label=f"seed {run.seed}: batch statistics")
        ax.plot(curve.epochs, curve.eval_dice, "-s", color=colour, label=f"seed {run.seed}: eval mode")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation Dice")
    ax.set_ylim(-0.02, 1.0)
    ax.legend(fontsize=10, ncols=2, loc="upper left")
    ax.set_title(f"{results[0].arm}: the same weights, two ways to normalise")
    return fig


def _box(ax: Axes, x: float, y: float, w: float, h: float, text: str, colour: str,
         fontsize: int = 11) -> None:
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                fc=colour, ec="black", lw=1.0))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], colour: str = "black",
           style: str = "-|>", lw: float = 1.4, rad: float = 0.0) -> None:
    arrow(ax, start, end, colour, lw=lw, style=style, rad=rad)


def _stage_shapes(model: nn.Module, size: int) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """Output shapes of each encoder stage and decoder step for one ``size`` x ``size`` input."""
    enc, dec, hooks = [], [], []
    for modules, shapes in ((model.encoder, enc), (model.decoder, dec)):
        hooks += [m.register_forward_hook(lambda _m, _i, o, shapes=shapes: shapes.append(tuple(o.shape[1:])))
                  for m in modules]
    first = next(model.parameters())
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, _in_channels(model), size, size, dtype=first.dtype, device=first.device))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return enc, dec


def _in_channels(model: nn.Module) -> int:
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    return conv.in_channels


@styled
def draw_gated_unet(model: nn.Module, size: int = 128) -> Figure:
    """The U-shaped diagram of an :class:`~course_lib.models.attention_unet.AttentionUNet` (or R2U-Net),
    read from the model: each stage's channels x size from a forward pass at ``size`` px, each skip's gate
    (its class) and where its gating signal comes from (the upsampled features or the coarser level)."""
    enc, dec = _stage_shapes(model, size)
    depth = len(enc) - 1
    unit = type(model.encoder[0]).__name__
    fig, ax = figure_and_axes(None, size=(12.0, 6.2))
    ax.set_xlim(-0.8, 2 * depth + 0.8)
    ax.set_ylim(-depth - 0.9, 1.0)
    ax.axis("off")
    colours = {"enc": "#DCEBF7", "dec": "#FBE3C8", "gate": OKABE_ITO["yellow"]}
    for level, shape in enumerate(enc):
        x, y = level, -level
        _box(ax, x, y, 0.9, 0.5, f"{shape[0]} x {shape[1]}²", colours["enc"])
        if level < depth:
            _arrow(ax, (x + 0.1, y - 0.28), (x + 0.9, y - 0.72), colour="#555555")
    for k, (step, shape) in enumerate(zip(model.decoder, dec, strict=True)):
        level = depth - 1 - k
        x, y = 2 * depth - level, -level
        _box(ax, x, y, 0.9, 0.5, f"{shape[0]} x {shape[1]}²", colours["dec"])
        _arrow(ax, (x - 0.9, y - 0.72), (x - 0.1, y - 0.28), colour="#555555")
        gate = getattr(step, "gate", None)
        skip_start, skip_end = (level + 0.5, y), (x - 0.5, y)
        if gate is None:
            _arrow(ax, skip_start, skip_end, colour=OKABE_ITO["blue"], lw=2)
            continue
        gx = (skip_start[0] + skip_end[0]) / 2
        _arrow(ax, skip_start, (gx - 0.35, y), colour=OKABE_ITO["blue"], lw=2)
        _box(ax, gx, y, 0.7, 0.36, "α ⊙", colours["gate"], fontsize=12)
        _arrow(ax, (gx + 0.35, y), skip_end, colour=OKABE_ITO["blue"], lw=2)
        source = (x - 1 - 0.2, y - 1 + 0.25)  # top edge of the coarser decoder box (or the bottleneck)
        _arrow(ax, source, (gx + 0.1, y - 0.18), colour=OKABE_ITO["vermillion"], lw=1.4, style="-|>",
               rad=-0.2)
        ax.text((source[0] + gx) / 2 + 0.05, y - 0.55, "g" if gate.coarse_gating else "g = up(·)",
                color=OKABE_ITO["vermillion"], fontsize=11, ha="center")
    gate_kinds = {type(getattr(s, "gate", None)).__name__ for s in model.decoder} - {"NoneType"}
    gate_text = ", ".join(_GATE_NAMES.get(g, g) for g in sorted(gate_kinds)) or "no gates"
    params = sum(p.numel() for p in model.parameters())
    ax.set_title(f"{type(model).__name__}: unit {unit}, {gate_text}, {params:,} parameters "
                 f"(boxes: channels x size at a {size}-px input)", fontsize=13)
    handles = [FancyBboxPatch((0, 0), 1, 1, fc=colours["enc"], ec="black", label="encoder stage"),
               FancyBboxPatch((0, 0), 1, 1, fc=colours["dec"], ec="black", label="decoder step"),
               FancyBboxPatch((0, 0), 1, 1, fc=colours["gate"], ec="black", label="attention gate")]
    from matplotlib.lines import Line2D

    handles += [Line2D([], [], color=OKABE_ITO["blue"], lw=2, label="skip x"),
                Line2D([], [], color=OKABE_ITO["vermillion"], lw=1.4,
                       label="gating signal g (grid: coarse; same: after the up-conv)")]
    ax.legend(handles=handles, loc="lower right", fontsize=11, ncol=1)
    return fig


@styled
def draw_recurrent_unrolled(block: nn.Module) -> Figure:
    """A :class:`~course_lib.blocks.recurrent.RecurrentConv` unrolled over its ``t`` steps: the SAME
    conv (one set of weights, its parameter count printed) applied ``t + 1`` times, ``x`` re-injected."""
    t = int(block.t)
    conv = block.conv
    n_params = sum(p.numel() for p in conv.parameters())
    fig, ax = figure_and_axes(None, size=(2.6 * (t + 2) + 1.0, 3.6))
    ax.set_xlim(-0.7, 2 * (t + 1) + 0.6)
    ax.set_ylim(-1.6, 1.3)
    ax.axis("off")
    _box(ax, 0, 0, 0.9, 0.55, "x", "#EEEEEE", fontsize=13)
    for step in range(t + 1):
        cx = 2 * step + 1.5
        if step == 0:
            _arrow(ax, (0.45, 0), (cx - 0.55, 0))
        else:
            _box(ax, cx - 1, 0, 0.45, 0.45, "+", "#FFFFFF", fontsize=14)
            _arrow(ax, (cx - 1.45, 0), (cx - 1.23, 0))
            _arrow(ax, (0.2, -0.3), (cx - 1, -0.23), colour=OKABE_ITO["blue"], rad=0.25)
            _arrow(ax, (cx - 0.77, 0), (cx - 0.55, 0))
        _box(ax, cx, 0, 1.1, 0.6, "conv\n(shared)", OKABE_ITO["yellow"], fontsize=11)
        ax.text(cx, 0.55, f"step {step}", ha="center", fontsize=11)
        end = cx + 0.55
        _arrow(ax, (end, 0), (end + 0.45 if step < t else end + 0.3, 0))
    ax.text(2 * (t + 1) + 0.35, 0, "x₁", fontsize=13, va="center")
    ax.set_title(f"RecurrentConv, t = {t}: one conv ({n_params:,} parameters) applied t + 1 = {t + 1} times; "
                 "x re-injected (blue)", fontsize=12)
    return fig
