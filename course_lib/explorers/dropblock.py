"""Chapter 03 explorer: DropBlock's mask and drop rate under sliders for keep_prob, block size, map size.

    cl.explorers.dropblock_explorer()      # the widget (sliders: keep_prob, block_size, feat_size, seed)
    cl.explorers.show_dropblock()          # the same figure with the defaults, headless
    cl.explorers.dropblock_rates(0.5, 9, 48)   # the numbers behind the figure

The figure: one channel's sampled mask with its seeds and the region where block centres may fall, a
few more channels, and the fraction dropped: the target ``1 - keep_prob``, the exact expectation
(overlapping blocks counted once), the rate measured on ``channels`` sampled channels, and a naive
``gamma = (1 - keep_prob) / bs^2`` with seeds anywhere, for comparison.
"""

from __future__ import annotations

import ipywidgets as w
import torch
from matplotlib.figure import Figure

from course_lib import widgets
from course_lib.blocks.dropblock import DropBlock2d, dropblock_gamma, expected_drop_rate, grow_blocks
from course_lib.viz._style import OKABE_ITO, SCREEN_WIDTH, image_axis, new_figure, styled
from course_lib.viz.dropblock import plot_block_mask

__all__ = ["dropblock_explorer", "dropblock_rates", "show_dropblock"]


def dropblock_rates(keep_prob: float, block_size: int, feat_size: int, channels: int = 256,
                    seed: int = 0) -> dict[str, float]:
    """gamma, target, exact expected and measured drop fractions (and the naive rule's) for one setting.

    ``block_size`` is clamped to ``feat_size`` as :class:`DropBlock2d` does; ``block_size_used`` says
    what was used. The measured rate comes from ``channels`` independent channels of one sampled mask.
    """
    if feat_size < 1 or channels < 1:
        raise ValueError(f"feat_size and channels must be positive, got {feat_size} and {channels}.")
    bs = min(int(block_size), int(feat_size))
    layer = DropBlock2d(keep_prob, block_size)
    generator = torch.Generator().manual_seed(seed)
    mask = layer.block_mask((1, channels, feat_size, feat_size), generator=generator)
    naive_gamma = (1 - keep_prob) / bs**2
    return {
        "gamma": dropblock_gamma(keep_prob, bs, feat_size),
        "block_size_used": bs,
        "target": 1.0 - keep_prob,
        "expected": expected_drop_rate(keep_prob, bs, feat_size),
        "measured": 1.0 - mask.mean().item(),
        "naive": expected_drop_rate(keep_prob, bs, feat_size, gamma=naive_gamma, valid_seeds=False),
    }


def _bars(ax, rates: dict[str, float]) -> None:
    names = ["target", "expected", "measured", "naive"]
    labels = ["target: 1 - keep_prob", "expected (overlaps)", "measured", "naive: (1-kp)/bs²"]
    colours = ["#9A9A9A", OKABE_ITO["sky_blue"], OKABE_ITO["blue"], OKABE_ITO["orange"]]
    values = [rates[n] for n in names]
    bars = ax.barh(range(4), values, color=colours, height=0.7)
    for bar, value in zip(bars, values, strict=True):
        ax.text(value, bar.get_y() + bar.get_height() / 2, f" {value:.1%}", ha="left", va="center",
                fontsize=12)
    ax.set_yticks(range(4), labels)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_xlim(0, max(0.12, max(values) * 1.25))
    ax.grid(axis="y", visible=False)
    ax.set_title("fraction dropped", loc="left")


@styled
def show_dropblock(keep_prob: float = 0.9, block_size: int = 7, feat_size: int = 32, seed: int = 0) -> Figure:
    """Draw one sampled DropBlock mask, eight more channels and the drop fractions (see the module doc)."""
    layer = DropBlock2d(keep_prob, block_size)
    bs = min(int(block_size), int(feat_size))
    generator = torch.Generator().manual_seed(seed)
    seeds = layer.sample_seeds((1, 9, feat_size, feat_size), generator=generator)
    mask = 1.0 - grow_blocks(seeds, bs)
    rates = dropblock_rates(keep_prob, block_size, feat_size, seed=seed)

    # the big panel shows the first channel that drew a seed (with ~2 seeds per channel, some draw none)
    with_seeds = [k for k in range(9) if bool(seeds[0, k].any())]
    shown = with_seeds[0] if with_seeds else 0

    # the two maps side by side, the drop fractions under them across the width
    fig, axes = new_figure(2, 2, panel=(SCREEN_WIDTH / 2, 3.3), gridspec_kw={"height_ratios": [1.65, 0.7]})
    ax_mask, ax_grid = axes[0]
    for ax in axes[1]:
        ax.remove()
    ax_bars = fig.add_subplot(axes[0][0].get_gridspec()[1, :])
    clamp = f" (clamped from {block_size})" if bs != block_size else ""
    plot_block_mask(mask[0, shown], seeds[0, shown], bs, ax=ax_mask,
                    title=f"{feat_size}x{feat_size} map, block {bs}{clamp}\nchannel {shown + 1}")
    # the nine channels tiled 3 x 3 with a 1-px gap, numbered row by row
    gap = max(1, feat_size // 16)
    tiles = torch.full((3 * feat_size + 4 * gap,) * 2, 0.55)
    for k in range(9):
        r, c = divmod(k, 3)
        top, left = gap + r * (feat_size + gap), gap + c * (feat_size + gap)
        tiles[top:top + feat_size, left:left + feat_size] = mask[0, k]
    ax_grid.imshow(tiles.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    image_axis(ax_grid, f"9 independent channels\n{9 - len(with_seeds)} without a seed")
    _bars(ax_bars, rates)
    fig.suptitle(f"keep_prob {keep_prob:.2f}: gamma = {rates['gamma']:.4f} seeds per valid position\n"
                 f"measured {rates['measured']:.1%} vs target {rates['target']:.1%}", fontsize=14)
    return fig


def dropblock_explorer(max_feat_size: int = 64, max_block_size: int = 15) -> w.interactive:
    """Sliders for keep_prob, block_size, feat_size and the random seed over :func:`show_dropblock`."""
    return widgets.make_interact(
        show_dropblock,
        keep_prob=widgets.float_slider(0.05, 1.0, step=0.05, description="keep_prob"),
        block_size=widgets.int_slider(1, max_block_size, description="block_size"),
        feat_size=widgets.int_slider(4, max_feat_size, description="feature size"),
        seed=widgets.int_slider(0, 20, description="seed"),
    )
