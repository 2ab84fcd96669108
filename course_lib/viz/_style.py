"""The course's one figure style: palette, rcParams applied per call, and figure helpers."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ParamSpec, TypeVar

import matplotlib as mpl
import matplotlib.pyplot as plt
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.transforms import offset_copy

# Okabe & Ito (2008), "Color Universal Design": distinguishable under the common colour-vision deficiencies.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

# Errors are told apart by hue on the blue-orange axis, which survives protan/deutan/tritan vision, and
# hits by lightness (white on a dimmed grey image), so no pair relies on red-green discrimination.
PALETTE = {
    "tp": "#FFFFFF",
    "fp": OKABE_ITO["orange"],
    "fn": OKABE_ITO["sky_blue"],
    "ours": OKABE_ITO["blue"],
    "reference": "#9A9A9A",
    "highlight": OKABE_ITO["yellow"],
    "footprint": OKABE_ITO["sky_blue"],
    "point": OKABE_ITO["vermillion"],
}
# one colour per arm of a seed comparison, in arm order (bar charts and profiles of the same sweep agree)
ARM_COLOURS = [OKABE_ITO[c] for c in ("blue", "orange", "vermillion", "bluish_green", "reddish_purple",
                                      "sky_blue", "black")]
# Beyond seven arms the Okabe-Ito set would repeat: Paul Tol's "muted" set has ten distinct colours.
_MANY_ARM_COLOURS = ["#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255",
                     "#AA4499", "#555555"]


def arm_colours(n: int) -> list[str]:
    """``n`` distinct colours for ``n`` arms: the Okabe-Ito arm colours up to seven, a ten-colour set up
    to ten; beyond ten they repeat (a figure with more arms needs labels, not colours)."""
    palette = ARM_COLOURS if n <= len(ARM_COLOURS) else _MANY_ARM_COLOURS
    return [palette[i % len(palette)] for i in range(n)]
LABELS = {"tp": "TP (hit)", "fp": "FP (false alarm)", "fn": "FN (miss)"}

PROB_CMAP = "viridis"  # probabilities and feature maps
HEAT_CMAP = "magma"  # weight maps, effective receptive fields, attention
DIVERGING_CMAP = "RdBu_r"

COURSE_RC = {
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.dpi": 150,
    "figure.dpi": 80,  # inline figures: sharp enough to project, small enough to keep notebooks light
    "font.size": 13,
    "axes.titlesize": 15,
    "axes.titleweight": "bold",
    "axes.titlepad": 8,
    "axes.labelsize": 14,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "axes.prop_cycle": cycler(color=[OKABE_ITO[k] for k in (
        "blue", "orange", "bluish_green", "vermillion", "reddish_purple", "sky_blue", "yellow", "black")]),
    "grid.color": "#D0D0D0",
    "grid.linewidth": 0.8,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 12,
    "legend.frameon": False,
    "lines.linewidth": 2.4,
    "lines.markersize": 6,
    "image.cmap": "gray",
    "figure.titlesize": 17,
    "figure.titleweight": "bold",
}

#: The widest figure (inches) that JupyterLab shows unscaled in its ~840 px output area (1280 x 800 with
#: the file browser open): 80 dpi, plus the 0.1 in that ``bbox_inches="tight"`` pads on each side. At
#: that size a 12-pt text shows at 10 pt (a browser's point is 96/72 px); a wider figure is scaled down
#: and its text with it. Explorers (projected in class) are drawn this wide, with no text below 12 pt.
SCREEN_WIDTH = 10.2

P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def use_course_style() -> Iterator[None]:
    """Apply the course's rcParams inside a ``with`` block only (global rcParams are left alone)."""
    with mpl.rc_context(COURSE_RC):
        yield


def styled(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator: run a plotting function inside :func:`use_course_style`."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with use_course_style():
            return fn(*args, **kwargs)

    return wrapper


def new_figure(nrows: int = 1, ncols: int = 1, panel: tuple[float, float] = (3.4, 3.4),
               max_width: float = 17.0, **kwargs) -> tuple[Figure, list[list[Axes]]]:
    """A constrained-layout figure of ``nrows x ncols`` panels, never wider than ``max_width`` inches."""
    scale = min(1.0, max_width / (ncols * panel[0]))
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, layout="constrained",
                             figsize=(ncols * panel[0] * scale, nrows * panel[1] * scale), **kwargs)
    return fig, [list(row) for row in axes]


def figure_and_axes(ax: Axes | None, size: tuple[float, float] = (5.5, 5.0)) -> tuple[Figure, Axes]:
    """Use ``ax`` if given, else a new single-panel figure."""
    if ax is not None:
        return ax.figure, ax
    fig, axes = new_figure(1, 1, panel=size)
    return fig, axes[0][0]


def image_axis(ax: Axes, title: str | None = None) -> None:
    """Strip ticks, grid and spines from an axes that shows an image."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title)


def arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], colour: str = "black", *,
          lw: float = 1.4, alpha: float = 1.0, style: str = "-|>", rad: float = 0.0, shrink: float = 2.0,
          mutation_scale: float = 12) -> None:
    """An arrow from ``start`` to ``end`` in data coordinates for the architecture figures; ``rad`` bends it
    (``arc3``), ``shrink`` stops it that many points short of both ends."""
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=mutation_scale, color=colour,
                                 lw=lw, alpha=alpha, connectionstyle=f"arc3,rad={rad}", shrinkA=shrink,
                                 shrinkB=shrink))


def box(ax: Axes, x: float, y: float, text: str, colour: str, width: float = 2.5, height: float = 0.62, *,
        fontsize: float = 10.5, edgecolor: str = "#333333", lw: float = 1.0) -> None:
    """A rounded box centred at ``(x, y)`` in data coordinates with ``text`` in it (architecture figures)."""
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height, boxstyle="round,pad=0.04",
                                facecolor=colour, edgecolor=edgecolor, lw=lw))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def legend_below(ax: Axes, offset: float = 44.0, **kwargs) -> Legend:
    """The axes' legend centred under its x-axis label, ``offset`` points below the axes (tick labels and
    label take about 40): off the data whatever the panel's height."""
    below = offset_copy(ax.transAxes, fig=ax.figure, y=-offset, units="points")
    return ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=below, **kwargs)


def save_figure(fig: Figure, path: str | Path, dpi: int = 150) -> Path:
    """Save ``fig`` to ``path`` (parents created) at ``dpi`` with a tight bounding box; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight", facecolor="white")
    return path
