"""Architecture figures drawn from the modules themselves: SE, RSE, DAC and DACRSE-UNet.

Every label is read from the module passed in (layer types, channels, kernel sizes, dilations, DropBlock
settings, receptive fields), so a figure cannot drift from the code: change a width or a dilation and
the figure changes with it. The generic helpers (:func:`layer_label`, :func:`leaf_layers`,
:func:`draw_column`) also draw chapter 10's units.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from course_lib.blocks.conv import ConvNormAct, DoubleConv
from course_lib.blocks.dac import DACBlock
from course_lib.blocks.dropblock import DropBlock2d
from course_lib.blocks.se import RSEBlock, SEBlock
from course_lib.receptive_field import analytic
from course_lib.viz._style import OKABE_ITO, arrow, box, figure_and_axes, image_axis, styled

__all__ = ["draw_dac_block", "draw_dacrse_unet", "draw_rse_block", "draw_se_block"]

BRANCH = "#DCEAF7"  # the main path's layers
SIDE = "#F3E3C3"  # shortcuts, transitions, the head
ATTENTION = "#F6D5E5"  # squeeze-and-excitation
CONTEXT = "#F9D9C4"  # the DAC block
SKIP = OKABE_ITO["sky_blue"]
# DAC convolutions by dilation (one colour per shared convolution of CE-Net's block)
_DILATION_COLOURS = {1: "#DCEAF7", 3: "#CDE8D8", 5: "#F7E7A6"}


# ------------------------------------------------------------------------- reading the modules

def _kernel(layer: nn.Module) -> int:
    k = layer.kernel_size
    return k if isinstance(k, int) else k[0]


def _dilation(layer: nn.Conv2d) -> int:
    d = layer.dilation
    return d if isinstance(d, int) else d[0]


def layer_label(layer: nn.Module) -> str:
    """A short name of one layer, read from it: "conv 3x3, 8→16", "conv 3x3 d=3, 8→8", "BN", "ReLU",
    "DropBlock 7x7, keep 0.9", "FC 64→4", "up-conv 2x2, 64→32", "max-pool 2x2" ..."""
    if isinstance(layer, ConvNormAct):
        conv = layer[0]
        extras = ["BN" if isinstance(m, nn.BatchNorm2d) else "ReLU" for m in list(layer)[1:]]
        return layer_label(conv) + ("\n" + " + ".join(extras) if extras else "")
    if isinstance(layer, nn.ConvTranspose2d):
        k = _kernel(layer)
        return f"up-conv {k}x{k}, {layer.in_channels}→{layer.out_channels}"
    if isinstance(layer, nn.Conv2d):
        k, d = _kernel(layer), _dilation(layer)
        return f"conv {k}x{k}" + (f" d={d}" if d != 1 else "") + f", {layer.in_channels}→{layer.out_channels}"
    if isinstance(layer, nn.Linear):
        return f"FC {layer.in_features}→{layer.out_features}"
    if isinstance(layer, DropBlock2d):
        return f"DropBlock {layer.block_size}x{layer.block_size}, keep {layer.keep_prob:g}"
    if isinstance(layer, nn.MaxPool2d):
        return f"max-pool {_kernel(layer)}x{_kernel(layer)}"
    if isinstance(layer, nn.AdaptiveAvgPool2d):
        return "global average pool"
    simple = {nn.BatchNorm2d: "BN", nn.ReLU: "ReLU", nn.Sigmoid: "sigmoid", nn.Identity: "identity"}
    return next((text for kind, text in simple.items() if isinstance(layer, kind)), type(layer).__name__)


def leaf_layers(module: nn.Module) -> list[nn.Module]:
    """The leaf layers of a chain of Sequentials, keeping conv-BN-ReLU units whole."""
    if isinstance(module, ConvNormAct) or not isinstance(module, nn.Sequential):
        return [module]
    return [leaf for child in module for leaf in leaf_layers(child)]


def layer_rows(module: nn.Module) -> list[str]:
    """The labels of ``module``'s leaf layers, a BN directly followed by a ReLU merged into one row."""
    layers, rows, k = leaf_layers(module), [], 0
    while k < len(layers):
        pair = layers[k:k + 2]
        if len(pair) == 2 and isinstance(pair[0], nn.BatchNorm2d) and isinstance(pair[1], nn.ReLU):
            rows.append("BN + ReLU")
            k += 2
        else:
            rows.append(layer_label(layers[k]))
            k += 1
    return rows


def draw_column(ax: Axes, x: float, layers: Sequence[nn.Module | str], top: float, colour: str,
                step: float = 0.8, width: float = 2.5) -> float:
    """Draw ``layers`` (modules or labels) top-down at ``x``, joined by arrows; returns the last box's y."""
    y = top
    for k, layer in enumerate(layers):
        box(ax, x, y, layer if isinstance(layer, str) else layer_label(layer), colour, width=width)
        if k:
            arrow(ax, (x, y + step - 0.31), (x, y + 0.31))
        y -= step
    return y + step


def _unit_summary(unit: nn.Module) -> tuple[str, str]:
    """(first line, second line) of a U-Net level's unit: its kind and channels, then its settings."""
    convs = [m for m in unit.modules() if isinstance(m, nn.Conv2d)]
    cin, cout = convs[0].in_channels, convs[0].out_channels
    if isinstance(unit, RSEBlock):
        drops = [m for m in unit.modules() if isinstance(m, DropBlock2d)]
        drop = f"DropBlock {drops[0].block_size}" if drops else "no DropBlock"
        return f"RSE {cin}→{cout}", f"SE {unit.se.channels}→{unit.se.hidden}→{unit.se.channels}, {drop}"
    if isinstance(unit, DoubleConv):
        return f"double conv {cin}→{cout}", "(conv 3x3-BN-ReLU) x2"
    return f"{type(unit).__name__} {cin}→{cout}", ""


def _dac_field(block: DACBlock) -> int:
    """The DAC block's receptive field: the widest of its branches' (measured by the RF arithmetic)."""
    return max(analytic(block.branch(b))[-1].rf for b in range(4))


# ------------------------------------------------------------------------- SE and RSE

def _finish(ax: Axes, xlim: tuple[float, float], ylim: tuple[float, float], title: str) -> None:
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    image_axis(ax, title)


@styled
def draw_se_block(block: SEBlock, ax: Axes | None = None) -> Figure:
    """The SE block from its layers: squeeze (global average pool), excitation (FC C→h, ReLU, FC h→C,
    sigmoid) and the channel-wise scaling of the input, with C, h and r read from ``block``."""
    fig, ax = figure_and_axes(ax, size=(5.6, 6.6))
    c, hidden = block.excitation[0].in_features, block.excitation[0].out_features
    box(ax, 0, 0.9, f"input x: {c} × H × W", SIDE, width=3.0)
    rows = [layer_label(block.squeeze) + f"\n→ {c} × 1 × 1", *layer_rows(block.excitation)]
    rows[-1] += f" → s: {c} weights in (0, 1)"
    arrow(ax, (0, 0.59), (0, 0.31))
    bottom = draw_column(ax, 0, rows, 0, ATTENTION, width=3.0)
    box(ax, 0, bottom - 1.0, "x · s  (per channel)", "#FFFFFF", width=2.4)
    arrow(ax, (0, bottom - 0.31), (0, bottom - 0.69))
    arrow(ax, (1.5, 0.9), (1.2, bottom - 1.0), OKABE_ITO["blue"], rad=-0.45)  # x goes round to the scaling
    ax.text(2.05, (bottom - 0.1) / 2, "x", color=OKABE_ITO["blue"], fontsize=12, ha="center")
    _finish(ax, (-2.4, 2.6), (bottom - 1.5, 1.4),
            f"SE block: C = {c}, hidden {hidden} (r = {block.reduction})")
    return fig


@styled
def draw_rse_block(block: RSEBlock, ax: Axes | None = None) -> Figure:
    """The residual SE unit from its layers: the pre-activation residual branch (BN + ReLU, conv,
    DropBlock, twice), its SE block, the shortcut (identity or 1x1 conv) and the addition."""
    fig, ax = figure_and_axes(ax, size=(7.8, 7.4))
    convs = [m for m in block.residual.modules() if isinstance(m, nn.Conv2d)]
    cin, cout = convs[0].in_channels, convs[-1].out_channels
    box(ax, 0.3, 1.0, f"input x: {cin} channels", SIDE, width=3.0)
    rows = layer_rows(block.residual)
    arrow(ax, (0.0, 0.69), (-1.3, 0.31))
    bottom = draw_column(ax, -1.6, rows, 0, BRANCH, width=3.1)
    se_y = bottom - 0.9
    box(ax, -1.6, se_y, f"SE {block.se.channels}→{block.se.hidden}→{block.se.channels}"
        f" (r = {block.se.reduction})", ATTENTION, width=3.1)
    arrow(ax, (-1.6, bottom - 0.31), (-1.6, se_y + 0.31))
    shortcut = layer_rows(block.shortcut)
    last = draw_column(ax, 2.2, shortcut, (se_y + 0.8 * (len(shortcut) - 1)) / 2 + 0.3, SIDE, width=2.6)
    arrow(ax, (0.6, 0.69), (2.0, last + 0.31))
    plus = se_y - 1.0
    box(ax, 0.3, plus, f"+  → {cout} channels", "#FFFFFF", width=2.2, height=0.5)
    arrow(ax, (-1.6, se_y - 0.31), (-0.2, plus + 0.25))
    arrow(ax, (2.2, last - 0.31), (0.8, plus + 0.25))
    ax.text(-1.6, 0.55, "residual branch F(x)", ha="center", fontsize=11)
    ax.text(2.2, last + 0.5, "shortcut", ha="center", fontsize=11)
    _finish(ax, (-3.4, 3.8), (plus - 0.6, 1.5), f"RSE unit: {cin} → {cout} channels")
    return fig


# ------------------------------------------------------------------------- DAC

@styled
def draw_dac_block(block: DACBlock, ax: Axes | None = None) -> Figure:
    """CE-Net's DAC block from its branches (``block.branch(b)``): each branch's convolutions with their
    kernels, dilations and channels, its receptive field (measured by the RF arithmetic), the ReLU on
    each branch, and the sum with the input. With shared weights, boxes of one colour are one conv."""
    fig, ax = figure_and_axes(ax, size=(13.0, 6.8))
    xs, step = (-4.8, -1.6, 1.6, 4.8), 0.95
    box(ax, 0, 1.2, f"input x: {block.channels} channels", SIDE, width=3.2)
    ends = []
    for b, x in enumerate(xs):
        branch = block.branch(b)
        convs = [m for m in branch if isinstance(m, nn.Conv2d)]
        arrow(ax, (0, 0.89), (x, 0.36), "#666666", lw=1.0)
        y = 0.0
        for k, conv in enumerate(convs):
            colour = _DILATION_COLOURS.get(_dilation(conv), BRANCH) if _kernel(conv) > 1 else "#E4E4E4"
            box(ax, x, y, layer_label(conv).replace(", ", "\n"), colour, width=2.7, height=0.72)
            if k:
                arrow(ax, (x, y + step - 0.37), (x, y + 0.37))
            y -= step
        box(ax, x, y, "ReLU", "#FFFFFF", width=1.4, height=0.5)
        arrow(ax, (x, y + step - 0.37), (x, y + 0.26))
        ax.text(x, y - 0.5, f"branch {b + 1}: RF {analytic(branch)[-1].rf}", ha="center", va="center",
                fontsize=11, fontweight="bold")
        ends.append((x, y - 0.75))
    total_y = min(y for _, y in ends) - 1.0
    for x, y in ends:
        arrow(ax, (x, y), (0.35 * x, total_y + 0.3), "#666666", lw=1.0)
    box(ax, 0, total_y, "x + Σ ReLU(branch)", CONTEXT, width=3.0, height=0.6)
    # the identity term goes round the branches on the right
    ax.plot([1.6, 6.7, 6.7], [1.2, 1.2, total_y], color=OKABE_ITO["blue"], lw=1.6)
    arrow(ax, (6.7, total_y), (1.5, total_y), OKABE_ITO["blue"], lw=1.6, shrink=0.0)
    ax.text(6.85, (1.2 + total_y) / 2, "identity", color=OKABE_ITO["blue"], fontsize=11, rotation=90,
            ha="left", va="center")
    shared = ("shared convs (same colour: same weights)" if block.shared else
              "every branch has its own weights")
    _finish(ax, (-6.6, 7.8), (total_y - 0.6, 1.7),
            f"DAC block, {block.channels} channels, receptive field {_dac_field(block)}: {shared}")
    return fig


# ------------------------------------------------------------------------- DACRSE-UNet

@styled
def draw_dacrse_unet(model: nn.Module, size: int | None = None, ax: Axes | None = None) -> Figure:
    """DACRSE-UNet (or its ablation models) as a U, read from ``model``'s stem, encoder, bottleneck,
    decoder and head: each level's unit and channels (RSE with its SE and DropBlock settings, or a double
    conv), the max-pools, the 2x2 up-convs, the skip concatenations, the DAC block at the bottom with
    its receptive field in input pixels, and the head. ``size``: label each level with its map side for
    a ``size`` x ``size`` input."""
    depth = len(model.decoder)
    width, height, gap_y, right = 3.7, 1.0, 1.65, 12.8
    fig, ax = figure_and_axes(ax, size=(16.0, 1.05 * (depth * gap_y + height + 2.4)))

    def level_text(level: int) -> str:
        return f" ({-(-size // 2 ** level)}² px)" if size else f" (1/{2 ** level})" if level else ""

    def unit_box(x: float, level: int, unit: nn.Module) -> tuple[float, float]:
        first, second = _unit_summary(unit)
        box(ax, x, -level * gap_y, f"{first}{level_text(level)}\n{second}", BRANCH, width=width,
            height=height)
        return x, -level * gap_y

    encoder = [unit_box(0.0, 0, model.encoder[0])]
    encoder += [unit_box(0.0, i, model.encoder[i][1]) for i in range(1, depth)]
    dac = next((m for m in model.bottleneck.modules() if isinstance(m, DACBlock)), None)
    bottom_unit = model.bottleneck[1][0] if dac is not None else model.bottleneck[1]
    bottom = unit_box(right / 3 if dac is not None else right / 2, depth, bottom_unit)
    for i in range(1, depth + 1):  # the max-pools down the left
        down = model.encoder[i][0] if i < depth else model.bottleneck[0]
        start, end = encoder[i - 1], encoder[i] if i < depth else bottom
        arrow(ax, (start[0], start[1] - height / 2), (end[0] - (width / 2 if i == depth else 0), end[1] +
              (0 if i == depth else height / 2)), "#666666", lw=1.6, rad=0.25 if i == depth else 0.0)
        ax.text(-width / 2 + 0.05, (start[1] + end[1]) / 2 + (0.2 if i == depth else 0), layer_label(down),
                ha="right", va="center", fontsize=10.5)
    if dac is not None:
        field = _dac_field(dac)
        dx = 2 * right / 3
        box(ax, dx, bottom[1], f"DAC {dac.channels} ch: RF {field} at 1/{2 ** depth}\n= "
            f"{(field - 1) * 2 ** depth} more input pixels", CONTEXT, width=width, height=height)
        arrow(ax, (bottom[0] + width / 2, bottom[1]), (dx - width / 2, bottom[1]), "#666666", lw=1.6)
        bottom = (dx, bottom[1])
    for i in reversed(range(depth)):  # up-convs and units up the right, skips across
        step = model.decoder[i]
        x, y = unit_box(right, i, step.block)
        below = bottom if i == depth - 1 else (right, -(i + 1) * gap_y)
        first = i == depth - 1  # from the bottom: a curve up from the bottleneck's right edge
        start = (below[0] + width / 2, below[1]) if first else (below[0], below[1] + height / 2)
        arrow(ax, start, (x, y - height / 2), OKABE_ITO["orange"], lw=1.6, rad=0.25 if first else 0.0)
        ax.text(right + width / 2 + 0.05, y - gap_y / 2 - (0.2 if first else 0), layer_label(step.up),
                ha="left", va="center", fontsize=10.5, color="#8A5A00")
        ex, ey = encoder[i]
        arrow(ax, (ex + width / 2, ey), (x - width / 2, y), SKIP, lw=2.0)
        ax.text((ex + x) / 2, ey + 0.08, "copy and concatenate", ha="center", va="bottom", fontsize=10.5,
                color="#1F6E9C")
    stem = [] if isinstance(model.stem, nn.Identity) else [layer_label(model.stem)]
    box(ax, 0.0, 1.3, " → ".join([f"input, {model.in_channels} ch", *stem]), SIDE, width=width + 0.6,
        height=0.55)
    arrow(ax, (0.0, 1.02), (0.0, height / 2))
    logits = f"{model.out_channels} logit" + ("s" if model.out_channels > 1 else "")
    head = " → ".join([*layer_rows(model.head), logits])
    box(ax, right, 1.3, head, SIDE, width=width + 1.9, height=0.55)
    arrow(ax, (right, height / 2), (right, 1.02))
    has_rse = isinstance(bottom_unit, RSEBlock)
    name = ("DACRSE-UNet" if dac is not None and has_rse else "RSE-U-Net" if has_rse else
            "U-Net with DAC" if dac is not None else "U-Net")
    widths = "-".join(str(w) for w in getattr(model, "widths", ()))
    title = f"{name}, widths {widths}: {depth} max-pools" + (", DAC at the bottom" if dac is not None else "")
    _finish(ax, (-width / 2 - 1.5, right + width / 2 + 1.7), (-depth * gap_y - height / 2 - 0.3, 1.75), title)
    return fig
