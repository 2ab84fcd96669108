"""Size explorer (chapter 02): which inputs a U-Net takes, and what each layer makes of them.

Drag the input size: the figure follows it through every layer of the valid-convolution U-Net (the
paper's, 3x3 convs lose 2 px) and the padded one (sizes kept), marks where an odd size meets a max-pool,
shows the output inside the input (the border the valid network cannot predict) and highlights the
valid sizes (``188 + 16k`` valid, ``16k`` padded, for depth 4) on a number line.

``size_figure()`` draws one state (runs headless); ``size_explorer()`` is the slider widget.
"""

from __future__ import annotations

import textwrap

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from course_lib import sizes
from course_lib.viz._style import OKABE_ITO, SCREEN_WIDTH, new_figure, styled
from course_lib.widgets import int_slider, make_interact

__all__ = ["size_explorer", "size_figure"]

_VALID, _PADDED, _MARK = OKABE_ITO["blue"], OKABE_ITO["orange"], OKABE_ITO["vermillion"]


def _short(name: str) -> str:
    """``encoder.1 conv2`` -> ``e1 c2``; ``decoder.0 up`` -> ``d0 up``; ``bottleneck conv1`` -> ``b c1``."""
    name = name.replace("encoder.", "e").replace("decoder.", "d").replace("bottleneck", "b")
    return name.replace("conv", "c").replace("concat", "cat")


def _summary(input_size: int, depth: int, padded: bool) -> str:
    rows, error = sizes.walk_sizes(input_size, padded, depth)
    kind = "padded" if padded else "valid"
    if error is None:
        return f"{kind}: {input_size} -> {rows[-1].size}"
    below, above = sizes.nearest_valid_sizes(input_size, depth, padded)
    near = f"{above}" if below is None else f"{below} or {above}"
    return f"{kind}: {input_size} fails ({error}); try {near}"


@styled
def size_figure(input_size: int = 572, depth: int = 4) -> Figure:
    """Per-layer side lengths of the valid and the padded U-Net for ``input_size``, the lost border,
    and the valid sizes around it."""
    if input_size < 1:
        raise ValueError(f"input_size must be positive, got {input_size}.")
    # the layers across the whole width (one tick per layer), below them the valid sizes and the box
    fig, axes = new_figure(2, 2, panel=(SCREEN_WIDTH / 2, 3.3),
                           gridspec_kw={"width_ratios": [2.1, 1], "height_ratios": [1.45, 1]})
    ax_line, ax_box = axes[1]
    gs = ax_box.get_gridspec()
    for ax in axes[0]:
        ax.remove()
    ax_layers = fig.add_subplot(gs[0, :])

    walks = {padded: sizes.walk_sizes(input_size, padded, depth) for padded in (False, True)}
    full = sizes.walk_sizes(sizes.smallest_valid_input(depth, True), True, depth)[0]  # every layer's name
    names = [r.name for r in full]
    styles = ((False, _VALID, "valid 3x3 convs (paper)"), (True, _PADDED, "padded 3x3 convs"))
    for padded, colour, label in styles:
        rows, error = walks[padded]
        xs = range(len(rows))
        ax_layers.plot(xs, [r.size for r in rows], "o-", color=colour, label=label, markersize=4)
        if error is not None:
            ax_layers.plot(len(rows), rows[-1].size / 2, "X", color=_MARK, markersize=13)
            # in the empty right half (the walk stopped in the encoder), one line each, arrows to the X
            ax_layers.annotate(f"{'padded' if padded else 'valid'} fails here (see below)",
                               (len(rows), rows[-1].size / 2), xytext=(0.56, 0.72 if padded else 0.52),
                               textcoords="axes fraction", color=_MARK, fontsize=12, va="center",
                               arrowprops={"arrowstyle": "->", "color": _MARK, "lw": 1.2, "shrinkB": 8})
    ax_layers.set_xticks(range(len(names)), [_short(n) for n in names], rotation=90)
    ax_layers.set_xlim(-0.7, len(names) - 0.3)
    ax_layers.set_ylabel("side length (px)")
    ax_layers.set_ylim(bottom=0)
    ax_layers.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, borderaxespad=0.2)
    ax_layers.set_title(f"input {input_size} px, depth {depth}", loc="left")

    # the output inside the input: the border the valid network cannot predict
    ax_box.set_aspect("equal")
    ax_box.add_patch(Rectangle((0, 0), input_size, input_size, facecolor="#E6E6E6", edgecolor="black"))
    rows, error = walks[False]
    if error is None:
        out = rows[-1].size
        m = (input_size - out) / 2
        ax_box.add_patch(Rectangle((m, m), out, out, facecolor=_VALID, alpha=0.7, edgecolor=_VALID))
        text = (f"valid output {out}x{out}\n{m:.0f} px lost per side\n"
                f"{100 * out**2 / input_size**2:.0f}% of the input area")
    else:
        text = "no output:\nthe valid U-Net\ncannot take this size"
    ax_box.text(input_size / 2, -0.06 * input_size, text, ha="center", va="top", fontsize=12)
    ax_box.set_xlim(-0.05 * input_size, 1.05 * input_size)
    ax_box.set_ylim(-0.55 * input_size, 1.05 * input_size)
    ax_box.set_axis_off()
    ax_box.set_title("input (grey), output (blue)", fontsize=12)

    # the valid sizes around the input
    low = max(1, input_size - 120)
    high = input_size + 120
    for padded, colour, y in ((False, _VALID, 1.0), (True, _PADDED, 0.0)):
        valid = sizes.valid_input_sizes(depth, high, low, padded)
        ax_line.vlines(valid, y - 0.35, y + 0.35, color=colour, linewidth=2)
    ax_line.axvline(input_size, color=_MARK, linewidth=2.5)
    first = sizes.smallest_valid_input(depth)
    ax_line.set_yticks([0, 1], [f"padded: {2**depth}k", f"valid: {first} + {2**depth}k"])
    ax_line.set_ylim(-0.6, 1.6)
    ax_line.set_xlim(low, high)
    ax_line.set_xlabel("input side length (px)")
    ax_line.grid(False)
    summary = [textwrap.fill(_summary(input_size, depth, padded), 64, subsequent_indent="    ")
               for padded in (False, True)]
    ax_line.set_title("\n".join(summary),
                      fontsize=12, fontweight="normal", loc="left")
    return fig


def size_explorer(depth: int = 4):
    """Sliders for the input size (100-1100 px, every integer, so invalid sizes show where they break)
    and the depth (2-5); the figure is :func:`size_figure`."""

    def show(input_size: int = 572, depth: int = depth) -> Figure:
        return size_figure(input_size, depth)

    return make_interact(show, input_size=int_slider(100, 1100, description="input size"),
                         depth=int_slider(2, 5, description="depth"))
