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


def _unit_summary(unit: nn.Module) -> tuple[str, ...]:
    """The lines of a U-Net level's unit: its kind and channels, then its settings (one a line)."""
    convs = [m for m in unit.modules() if isinstance(m, nn.Conv2d)]
    cin, cout = convs[0].in_channels, convs[0].out_channels
    if isinstance(unit, RSEBlock):
        drops = [m for m in unit.modules() if isinstance(m, DropBlock2d)]
        drop = f"DropBlock {drops[0].block_size}" if drops else "no DropBlock"
        return f"RSE {cin}→{cout}", f"SE {unit.se.channels}→{unit.se.hidden}→{unit.se.channels}", drop
    if isinstance(unit, DoubleConv):
        return f"double conv {cin}→{cout}", "(conv 3x3-BN-ReLU) x2"
    return (f"{type(unit).__name__} {cin}→{cout}",)


def _dac_field(block: DACBlock) -> int:
    """The DAC block's receptive field: the widest of its branches' (measured by the RF arithmetic)."""
    return max(analytic(block.branch(b))[-1].rf for b in range(4))


# ------------------------------------------------------------------------- layout

# Jupyter shows a figure at figsize x dpi pixels and a browser draws 96 pixels per inch, so a label of
# ``f`` points appears at f * dpi / 96 points: at the course's 80 dpi, 14 pt labels appear at 11.7 pt
# (the old 10.5 pt ones at 8.75 pt). These figures lay out their boxes in inches (one data unit is one
# inch), so text and boxes keep their proportions.
LABEL_PT = 14.0
_LINE = LABEL_PT * 1.25 / 72  # one text line's height in inches


def _height(text: str) -> float:
    """A box's height (inches) for ``text``: its lines plus a margin."""
    return 0.3 + _LINE * (text.count("\n") + 1)


def _label(ax: Axes, x: float, y: float, text: str, colour: str, width: float,
           height: float | None = None) -> tuple[float, float]:
    """A box with ``text`` at :data:`LABEL_PT`; returns its (top, bottom) edge."""
    height = _height(text) if height is None else height
    box(ax, x, y, text, colour, width=width, height=height, fontsize=LABEL_PT)
    return y + height / 2, y - height / 2


def _stack(ax: Axes, x: float, rows: Sequence[str], top: float, colour: str, width: float,
           gap: float = 0.32) -> tuple[float, float]:
    """Boxes of ``rows`` top-down at ``x`` from ``top`` (the first box's top edge), joined by arrows;
    returns the (top, bottom) edge of the last box."""
    edge, last = top, (top, top)
    for k, row in enumerate(rows):
        h = _height(row)
        last = _label(ax, x, edge - h / 2, row, colour, width, h)
        if k:
            arrow(ax, (x, edge + gap), (x, edge))
        edge = last[1] - gap
    return last


def _finish(ax: Axes, xlim: tuple[float, float], ylim: tuple[float, float], title: str,
            own: bool) -> None:
    """Limits, no axis, the title; a figure made here gets one inch per data unit (plus the title)."""
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    image_axis(ax, title)
    if own:
        title_lines = title.count("\n") + 1
        ax.figure.set_size_inches(xlim[1] - xlim[0] + 0.1, ylim[1] - ylim[0] + 0.2 + 0.3 * title_lines)


# ------------------------------------------------------------------------- SE and RSE

@styled
def draw_se_block(block: SEBlock, ax: Axes | None = None) -> Figure:
    """The SE block from its layers: squeeze (global average pool), excitation (FC C→h, ReLU, FC h→C,
    sigmoid) and the channel-wise scaling of the input, with C, h and r read from ``block``."""
    own = ax is None
    fig, ax = figure_and_axes(ax)
    c, hidden = block.excitation[0].in_features, block.excitation[0].out_features
    width = 3.0
    rows = [f"input x: {c} × H × W", layer_label(block.squeeze) + f"\n→ {c} × 1 × 1",
            *layer_rows(block.excitation)]
    rows[-1] += f" → s:\n{c} weights in (0, 1)"
    first = _height(rows[0])
    _, bottom = _stack(ax, 0, rows[1:], -first - 0.32, ATTENTION, width)
    _label(ax, 0, -first / 2, rows[0], SIDE, width)
    arrow(ax, (0, -first), (0, -first - 0.32))
    out = bottom - 0.45 - _height("x") / 2
    _label(ax, 0, out, "x · s  (per channel)", "#FFFFFF", width)
    arrow(ax, (0, bottom), (0, out + _height("x") / 2))
    bulge = 0.15 * (-first / 2 - out)  # how far the arc3 curve below (rad 0.3) swings out to the right
    arrow(ax, (width / 2, -first / 2), (width / 2, out), OKABE_ITO["blue"], rad=-0.3)  # x to the scaling
    ax.text(width / 2 + bulge + 0.1, (out - first / 2) / 2, "x", color=OKABE_ITO["blue"],
            fontsize=LABEL_PT + 2, ha="left", va="center")
    _finish(ax, (-width / 2 - 0.7, width / 2 + bulge + 0.6), (out - _height("x") / 2 - 0.15, 0.15),
            f"SE block: C = {c}, hidden {hidden} (r = {block.reduction})", own)
    return fig


@styled
def draw_rse_block(block: RSEBlock, ax: Axes | None = None) -> Figure:
    """The residual SE unit from its layers: the pre-activation residual branch (BN + ReLU, conv,
    DropBlock, twice), its SE block, the shortcut (identity or 1x1 conv) and the addition."""
    own = ax is None
    fig, ax = figure_and_axes(ax)
    convs = [m for m in block.residual.modules() if isinstance(m, nn.Conv2d)]
    cin, cout = convs[0].in_channels, convs[-1].out_channels
    left, right, width = -1.8, 2.2, 3.0  # the residual branch's and the shortcut's columns
    in_top, in_bottom = _label(ax, 0.6, 0, f"input x: {cin} channels", SIDE, 3.0)
    rows = [*layer_rows(block.residual), f"SE {block.se.channels}→{block.se.hidden}→{block.se.channels}"
            f" (r = {block.se.reduction})"]
    branch_top = in_bottom - 0.75
    # the SE row in its own colour: stack all but the last, then the SE box below them
    _, bottom = _stack(ax, left, rows[:-1], branch_top, BRANCH, width)
    se_top = bottom - 0.32
    _, se_bottom = _label(ax, left, se_top - _height(rows[-1]) / 2, rows[-1], ATTENTION, width)
    arrow(ax, (left, bottom), (left, se_top))
    arrow(ax, (0.0, in_bottom), (left + 0.6, branch_top))
    shortcut = layer_rows(block.shortcut)
    mid = (branch_top + se_bottom) / 2 + 0.5 * len(shortcut) * (_height("x") + 0.32)
    _, last = _stack(ax, right, shortcut, mid, SIDE, 2.4)
    arrow(ax, (1.4, in_bottom), (right, mid))
    plus = se_bottom - 0.85
    plus_top, plus_bottom = _label(ax, 0.2, plus, f"+  → {cout} channels", "#FFFFFF", 2.6)
    arrow(ax, (left, se_bottom), (-0.4, plus_top))
    arrow(ax, (right, last), (0.8, plus_top))
    ax.text(left - width / 2, branch_top + 0.1, "residual branch F(x)", ha="left", va="bottom",
            fontsize=LABEL_PT)
    ax.text(right + 0.1, mid + 0.1, "shortcut", ha="left", va="bottom", fontsize=LABEL_PT)
    _finish(ax, (left - width / 2 - 0.15, right + 1.45), (plus_bottom - 0.15, in_top + 0.15),
            f"RSE unit: {cin} → {cout} channels", own)
    return fig


# ------------------------------------------------------------------------- DAC

@styled
def draw_dac_block(block: DACBlock, ax: Axes | None = None) -> Figure:
    """CE-Net's DAC block from its branches (``block.branch(b)``): each branch's convolutions with their
    kernels, dilations and channels, its receptive field (measured by the RF arithmetic), the ReLU on
    each branch, and the sum with the input. With shared weights, boxes of one colour are one conv."""
    own = ax is None
    fig, ax = figure_and_axes(ax)
    xs, width, gap = (-4.65, -1.55, 1.55, 4.65), 2.3, 0.3
    in_top, in_bottom = _label(ax, 0, 0, f"input x: {block.channels} channels", SIDE, 3.2)
    branch_top = in_bottom - 0.6
    ends = []
    for b, x in enumerate(xs):
        branch = block.branch(b)
        convs = [m for m in branch if isinstance(m, nn.Conv2d)]
        arrow(ax, (0, in_bottom), (x, branch_top), "#666666", lw=1.0)
        edge = branch_top
        for k, conv in enumerate(convs):
            colour = _DILATION_COLOURS.get(_dilation(conv), BRANCH) if _kernel(conv) > 1 else "#E4E4E4"
            text = layer_label(conv).replace(", ", "\n")
            _, bottom = _label(ax, x, edge - _height(text) / 2, text, colour, width)
            if k:
                arrow(ax, (x, edge + gap), (x, edge))
            edge = bottom - gap
        _, bottom = _label(ax, x, edge - _height("ReLU") / 2, "ReLU", "#FFFFFF", 1.4)
        arrow(ax, (x, edge + gap), (x, edge))
        ax.text(x, bottom - 0.1, f"branch {b + 1}: RF {analytic(branch)[-1].rf}", ha="center", va="top",
                fontsize=LABEL_PT, fontweight="bold")
        ends.append((x, bottom - 0.45))
    total_y = min(y for _, y in ends) - 0.8
    total = "x + Σ ReLU(branch)"
    for x, y in ends:
        arrow(ax, (x, y), (0.3 * x, total_y + _height(total) / 2), "#666666", lw=1.0)
    _label(ax, 0, total_y, total, CONTEXT, 3.0)
    # the identity term goes round the branches on the right
    side = xs[-1] + width / 2 + 0.45
    ax.plot([1.6, side, side], [0, 0, total_y], color=OKABE_ITO["blue"], lw=1.6)
    arrow(ax, (side, total_y), (1.5, total_y), OKABE_ITO["blue"], lw=1.6, shrink=0.0)
    ax.text(side + 0.12, (branch_top + total_y) / 2, "identity", color=OKABE_ITO["blue"], fontsize=LABEL_PT,
            rotation=90, ha="left", va="center")
    shared = ("shared convs (same colour: same weights)" if block.shared else
              "every branch has its own weights")
    _finish(ax, (xs[0] - width / 2 - 0.15, side + 0.6), (total_y - _height(total) / 2 - 0.15, in_top + 0.15),
            f"DAC block, {block.channels} channels, receptive field {_dac_field(block)}\n{shared}", own)
    return fig


# ------------------------------------------------------------------------- DACRSE-UNet

@styled
def draw_dacrse_unet(model: nn.Module, size: int | None = None, ax: Axes | None = None) -> Figure:
    """DACRSE-UNet (or its ablation models) as a U, read from ``model``'s stem, encoder, bottleneck,
    decoder and head: each level's unit and channels (RSE with its SE and DropBlock settings, or a double
    conv), the max-pools, the 2x2 up-convs, the skip concatenations, the DAC block at the bottom with
    its receptive field in input pixels, and the head. Each level is labelled on the left with its map
    side for a ``size`` x ``size`` input (``size``), else with its scale (1/2, 1/4 ...)."""
    own = ax is None
    fig, ax = figure_and_axes(ax)
    depth = len(model.decoder)
    width, height, gap_y, right = 2.7, 0.3 + 3 * _LINE, 1.75, 10.5  # inches; right: the decoder's x

    def unit_box(x: float, level: int, unit: nn.Module) -> tuple[float, float]:
        _label(ax, x, -level * gap_y, "\n".join(_unit_summary(unit)), BRANCH, width, height)
        return x, -level * gap_y

    for level in range(depth + 1):  # each level's map side (or scale) on the left
        scale = "full size" if level == 0 else f"1/{2 ** level} size"
        ax.text(-width / 2 - 0.2, -level * gap_y, f"{-(-size // 2 ** level)}² px" if size else scale,
                ha="right", va="center", fontsize=LABEL_PT, color="#444444")
    encoder = [unit_box(0.0, 0, model.encoder[0])]
    encoder += [unit_box(0.0, i, model.encoder[i][1]) for i in range(1, depth)]
    dac = next((m for m in model.bottleneck.modules() if isinstance(m, DACBlock)), None)
    bottom_unit = model.bottleneck[1][0] if dac is not None else model.bottleneck[1]
    bottom = unit_box(right / 3 if dac is not None else right / 2, depth, bottom_unit)
    for i in range(1, depth + 1):  # the max-pools down the left
        down = model.encoder[i][0] if i < depth else model.bottleneck[0]
        start, end = encoder[i - 1], encoder[i] if i < depth else bottom
        last = i == depth  # into the bottleneck: a curve to its left edge
        arrow(ax, (start[0], start[1] - height / 2), (end[0] - (width / 2 if last else 0), end[1] +
              (0 if last else height / 2)), "#666666", lw=1.6, rad=0.25 if last else 0.0)
        ax.text(-0.12, start[1] - gap_y / 2 - (0.1 if last else 0), layer_label(down), ha="right",
                va="center", fontsize=LABEL_PT)
    if dac is not None:
        field = _dac_field(dac)
        dx = 2 * right / 3
        _label(ax, dx, bottom[1], f"DAC {dac.channels} ch\nRF {field} at 1/{2 ** depth}\n= "
               f"{(field - 1) * 2 ** depth} more input px", CONTEXT, width, height)
        arrow(ax, (bottom[0] + width / 2, bottom[1]), (dx - width / 2, bottom[1]), "#666666", lw=1.6)
        bottom = (dx, bottom[1])
    for i in reversed(range(depth)):  # up-convs and units up the right, skips across
        step = model.decoder[i]
        x, y = unit_box(right, i, step.block)
        below = bottom if i == depth - 1 else (right, -(i + 1) * gap_y)
        first = i == depth - 1  # from the bottom: a curve up from the bottleneck's right edge
        start = (below[0] + width / 2, below[1]) if first else (below[0], below[1] + height / 2)
        arrow(ax, start, (x, y - height / 2), OKABE_ITO["orange"], lw=1.6, rad=0.25 if first else 0.0)
        ax.text(right + 0.12, y - gap_y / 2 - (0.1 if first else 0), layer_label(step.up).replace(", ", "\n"),
                ha="left", va="center", fontsize=LABEL_PT, color="#8A5A00")
        ex, ey = encoder[i]
        arrow(ax, (ex + width / 2, ey), (x - width / 2, y), SKIP, lw=2.0)
        ax.text((ex + x) / 2, ey + 0.08, "copy and concatenate", ha="center", va="bottom", fontsize=LABEL_PT,
                color="#1F6E9C")
    stem = [] if isinstance(model.stem, nn.Identity) else [layer_label(model.stem)]
    top_y = height / 2 + 0.55 + _height("x\nx") / 2
    start = " →\n".join([f"input, {model.in_channels} ch", *stem])
    _label(ax, 0.0, top_y, start, SIDE, width + 0.3, _height("x\nx"))
    arrow(ax, (0.0, top_y - _height("x\nx") / 2), (0.0, height / 2))
    logits = f"{model.out_channels} logit" + ("s" if model.out_channels > 1 else "")
    head = " → ".join([*layer_rows(model.head), logits]).replace("ReLU → ", "ReLU →\n", 1)
    _label(ax, right, top_y, head, SIDE, width + 0.3, _height("x\nx"))
    arrow(ax, (right, height / 2), (right, top_y - _height("x\nx") / 2))
    has_rse = isinstance(bottom_unit, RSEBlock)
    name = ("DACRSE-UNet" if dac is not None and has_rse else "RSE-U-Net" if has_rse else
            "U-Net with DAC" if dac is not None else "U-Net")
    widths = "-".join(str(w) for w in getattr(model, "widths", ()))
    title = f"{name}, widths {widths}: {depth} max-pools" + (", DAC at the bottom" if dac is not None else "")
    _finish(ax, (-width / 2 - 1.4, right + width / 2 + 0.35),
            (-depth * gap_y - height / 2 - 0.15, top_y + _height("x\nx") / 2 + 0.15), title, own)
    return fig
