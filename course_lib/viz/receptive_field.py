"""Receptive-field figures: the analytic box, the exact footprint and the effective RF over an image.

``plot_receptive_field`` draws up to three panels for one output pixel: the footprint (shaded) and
the analytic box (yellow) over the image, a zoom on the footprint (holes from gridding show here),
and the effective receptive field ``|dy/dx|`` with the footprint's outline. ``plot_receptive_field_rows``
draws one such row per network (e.g. a DAC branch above a plain stack), zoomed on the same crop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, NullFormatter

from course_lib.viz._arrays import as_image, as_map
from course_lib.viz._style import HEAT_CMAP, PALETTE, SCREEN_WIDTH, image_axis, new_figure, styled
from course_lib.viz.images import image_with_box

__all__ = ["plot_footprints", "plot_receptive_field", "plot_receptive_field_rows"]

#: The log-scaled ERF shows values down to this fraction of its maximum.
LOG_ERF_RANGE = 1e-4

Box = Sequence[float]  # (top, left, bottom, right), inclusive input-pixel indices, as rf_box returns


def _half_open(box: Box) -> tuple[int, int, int, int]:
    top, left, bottom, right = (round(v) for v in box)
    return top, left, bottom + 1, right + 1


def _extent(mask: np.ndarray | None, box: Box | None, shape: tuple[int, int],
            margin: int = 2) -> tuple[int, ...]:
    """Rows/cols (half-open) covering the footprint and the box, clipped to the image, plus a margin."""
    tops, lefts, bottoms, rights = [], [], [], []
    if mask is not None and mask.any():
        rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
        tops.append(rows[0]), lefts.append(cols[0]), bottoms.append(rows[-1] + 1), rights.append(cols[-1] + 1)
    if box is not None:
        t, l_, b, r = _half_open(box)
        tops.append(t), lefts.append(l_), bottoms.append(b), rights.append(r)
    if not tops:
        return 0, 0, shape[0], shape[1]
    return (max(0, min(tops) - margin), max(0, min(lefts) - margin),
            min(shape[0], max(bottoms) + margin), min(shape[1], max(rights) + margin))


def _side(mask: np.ndarray) -> str:
    if not mask.any():
        return "empty"
    rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
    return f"{rows[-1] - rows[0] + 1}x{cols[-1] - cols[0] + 1}"


def _finish_zoom(ax: Any, box: Box | None, crop: Sequence[int]) -> None:
    """Outline ``box`` (image coordinates) on a panel showing ``crop``; keep the view on the crop."""
    t, l_, b, r = crop
    if box is not None:
        bt, bl, bb, br = _half_open(box)
        ax.add_patch(Rectangle((bl - l_ - 0.5, bt - t - 0.5), br - bl, bb - bt, fill=False, lw=2.5,
                               edgecolor=PALETTE["highlight"]))
    ax.set_xlim(-0.5, r - l_ - 0.5)
    ax.set_ylim(b - t - 0.5, -0.5)


def _decade(value: float, _position: object = None) -> str:
    """``1e-4``, ``1e-1``, ``1``, ``100``, ``1e4`` ...: a log axis's tick label without a superscript (its
    small exponent is what a projected 10^k loses)."""
    if value <= 0:
        return ""
    exponent = int(np.floor(np.log10(value) + 1e-9))
    mantissa = value / 10.0**exponent
    head = "" if abs(mantissa - 1) < 1e-6 else f"{mantissa:g}x"
    return f"{value:g}" if 0 <= exponent <= 3 and not head else f"{head}1e{exponent}"


def _panels(mask: np.ndarray | None, heat: np.ndarray | None, zoom: bool) -> int:
    return 1 + int(zoom and mask is not None) + int(heat is not None)


def _draw_row(fig: Figure, axes: Sequence[Any], image: Any, mask: np.ndarray | None, box: Box | None,
              heat: np.ndarray | None, point: Sequence[float] | None, zoom: bool,
              crop: Sequence[int], label: str | None = None, log_erf: bool = False) -> None:
    """One output pixel's panels (image + footprint + box, footprint zoom, ERF) on ``axes``; the zoom and
    the ERF show the rows/cols ``crop`` (half-open top, left, bottom, right)."""
    legend = None if box is None else f"analytic box {round(box[2] - box[0]) + 1} px"
    first = "footprint" + ("" if box is None else " and analytic box")
    image_with_box(image, None if box is None else _half_open(box), mask=mask, ax=axes[0], label=legend,
                   title=first if label is None else label, legend_columns=1)
    if point is not None:  # the centre of the output pixel's receptive field, in input coordinates
        axes[0].plot([point[1]], [point[0]], marker="+", ms=16, mew=3, color=PALETTE["point"])
    outline = box if box is not None else None
    if outline is None and mask is not None and mask.any():
        rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
        outline = (rows[0], cols[0], rows[-1], cols[-1])
    panels_left = list(axes[1:])
    t, l_, b, r = crop
    if zoom and mask is not None:
        ax = panels_left.pop(0)
        ax.imshow(mask[t:b, l_:r], cmap="Blues", vmin=0, vmax=1.4, interpolation="nearest")
        if point is not None:
            ax.plot([point[1] - l_], [point[0] - t], marker="+", ms=14, mew=3, color=PALETTE["point"])
        image_axis(ax, f"footprint zoom\n{_side(mask)}, {int(mask.sum())} px")
        _finish_zoom(ax, outline, crop)
    if heat is not None:
        ax = panels_left.pop(0)
        part = heat[t:b, l_:r]
        top = float(part.max()) if part.size and part.max() > 0 else 1.0
        norm = LogNorm(vmin=top * LOG_ERF_RANGE, vmax=top) if log_erf else None
        shown = ax.imshow(np.maximum(part, top * LOG_ERF_RANGE) if log_erf else part, cmap=HEAT_CMAP,
                          norm=norm, interpolation="nearest")
        bar = fig.colorbar(shown, ax=ax, shrink=0.8, pad=0.02)
        bar.ax.set_title("share", fontsize=12, loc="left")  # above the bar: a side label squeezes the titles
        if log_erf:  # decades as 1e-4 ... : a 10^k label's small exponent is hard to read when projected
            bar.ax.yaxis.set_major_formatter(FuncFormatter(_decade))
            bar.ax.yaxis.set_minor_formatter(NullFormatter())
        # one line: a two-line title runs into the figure title in the whole-image layout
        image_axis(ax, "effective RF |dy/dx|" + (" (log)" if log_erf else ""))
        _finish_zoom(ax, outline, crop)


@styled
def plot_receptive_field(image: Any, footprint: Any | None = None, box: Box | None = None,
                         erf: Any | None = None, point: Sequence[float] | None = None,
                         title: str | None = None, zoom: bool = True, log_erf: bool = False) -> Figure:
    """Up to three panels for one output pixel: image + footprint + box, footprint zoom, ERF.

    ``footprint``: bool HxW (``cl.receptive_field.footprint``); ``box``: ``(top, left, bottom, right)``
    inclusive (``cl.receptive_field.rf_box``, may reach beyond the image); ``erf``: HxW heat map
    (``effective_receptive_field``); ``point``: the output pixel's centre in input coordinates;
    ``log_erf``: the ERF on a logarithmic colour scale over :data:`LOG_ERF_RANGE` (its faint tail shows).
    """
    row = {"footprint": footprint, "box": box, "erf": erf, "point": point, "log_erf": log_erf}
    return plot_receptive_field_rows(image, [row], title=title, zoom=zoom)


@styled
def plot_receptive_field_rows(image: Any, rows: Sequence[Mapping[str, Any]], title: str | None = None,
                              zoom: bool = True) -> Figure:
    """One row of :func:`plot_receptive_field` panels per entry of ``rows`` (dicts with the keys
    ``footprint``, ``box``, ``erf``, ``point``, ``log_erf`` of that function, all optional, and ``label``:
    the first panel's title), e.g. two
    stacks side by side. The zoom and ERF panels of all rows show the same crop, so sizes compare."""
    if not rows:
        raise ValueError("plot_receptive_field_rows: give at least one row.")
    masks = [None if row.get("footprint") is None else as_map(row["footprint"], "footprint") > 0.5
             for row in rows]
    heats = [None if row.get("erf") is None else as_map(row["erf"], "erf") for row in rows]
    shape = as_image(image).shape[:2]
    extents = [_extent(m, row.get("box"), shape) for m, row in zip(masks, rows, strict=True)]
    crop = (min(e[0] for e in extents), min(e[1] for e in extents), max(e[2] for e in extents),
            max(e[3] for e in extents))
    n = max(_panels(m, h, zoom) for m, h in zip(masks, heats, strict=True))
    # panels fit the width a projected notebook shows unscaled; several rows stay three panels wide
    side = min(4.6, SCREEN_WIDTH / (n if len(rows) == 1 else max(n, 3)))
    fig, axes = new_figure(len(rows), n, panel=(side, side + 0.7))  # + two-line titles and a legend
    for row_axes, row, mask, heat in zip(axes, rows, masks, heats, strict=True):
        used = _panels(mask, heat, zoom)
        for ax in row_axes[used:]:
            ax.set_axis_off()
        _draw_row(fig, row_axes[:used], image, mask, row.get("box"), heat, row.get("point"), zoom, crop,
                  row.get("label"), bool(row.get("log_erf", False)))
    if title:
        fig.suptitle(title, fontsize=15)
    return fig


@styled
def plot_footprints(masks: Sequence[Any], titles: Sequence[str] | None = None,
                    suptitle: str | None = None, crop: bool = True) -> Figure:
    """Several footprints side by side (e.g. one per DAC branch), each cropped to the union of all."""
    arrays = [as_map(m, "mask") > 0.5 for m in masks]
    if not arrays:
        raise ValueError("plot_footprints: give at least one mask.")
    union = np.logical_or.reduce(arrays)
    t, l_, b, r = _extent(union, None, union.shape, margin=1) if crop else (0, 0, *union.shape)
    fig, (axes,) = new_figure(1, len(arrays), panel=(3.4, 3.4))
    for index, (ax, mask) in enumerate(zip(axes, arrays, strict=True)):
        ax.imshow(mask[t:b, l_:r], cmap="Blues", vmin=0, vmax=1.4, interpolation="nearest")
        name = titles[index] if titles else f"#{index}"
        image_axis(ax, f"{name}\n{_side(mask)}, {int(mask.sum())} px")
    if suptitle:
        fig.suptitle(suptitle)
    return fig
