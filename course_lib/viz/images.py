"""Image figures: samples, TP/FP/FN overlays, predictions, feature maps, boxes and heatmaps."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap, to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from course_lib.viz._arrays import (
    as_batch,
    as_image,
    as_map,
    binarize,
    check_probabilities,
    check_same_size,
    to_numpy,
    to_unit_range,
)
from course_lib.viz._style import (
    HEAT_CMAP,
    LABELS,
    PALETTE,
    PROB_CMAP,
    SCREEN_WIDTH,
    figure_and_axes,
    image_axis,
    new_figure,
    styled,
)

__all__ = [
    "IMAGE_STRENGTH",
    "OUTSIDE_FOV_STRENGTH",
    "confusion_masks",
    "dice_score",
    "feature_map_grid",
    "heatmap",
    "image_with_box",
    "overlay",
    "overlay_grid",
    "overlay_rgb",
    "show_predictions",
    "show_samples",
]

IMAGE_STRENGTH = 0.6  # grey level of the image under the overlay, so white hits stand out
OUTSIDE_FOV_STRENGTH = 0.25  # grey level outside the field of view (ignored by the metrics)


# ---------------------------------------------------------------- TP / FP / FN overlay
def confusion_masks(pred: Any, target: Any, fov: Any | None = None,
                    threshold: float = 0.5) -> dict[str, np.ndarray]:
    """Boolean HxW masks ``tp``, ``fp``, ``fn``, ``tn`` (all False outside ``fov``) and ``fov`` itself.

    ``pred`` is thresholded at ``threshold`` (booleans are taken as they are); ``target`` and ``fov`` at 0.5.
    """
    p = as_map(pred, "pred")
    p = p > 0.5 if to_numpy(pred).dtype == bool else p >= threshold
    t = binarize(as_map(target, "target"))
    f = np.ones_like(t) if fov is None else binarize(as_map(fov, "fov"))
    check_same_size(pred=p, target=t, fov=f)
    return {"tp": p & t & f, "fp": p & ~t & f, "fn": ~p & t & f, "tn": ~p & ~t & f, "fov": f}


def dice_score(masks: Mapping[str, np.ndarray]) -> float:
    """Dice = 2TP / (2TP + FP + FN) from :func:`confusion_masks`; 1.0 when both masks are empty."""
    tp, fp, fn = (int(masks[k].sum()) for k in ("tp", "fp", "fn"))
    return 1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)


def overlay_rgb(image: Any, pred: Any, target: Any, fov: Any | None = None,
                threshold: float = 0.5) -> np.ndarray:
    """The overlay as an HxWx3 float array in [0, 1] (pure function, no figure).

    TN pixels show the grey image at ``IMAGE_STRENGTH``; outside the FOV at ``OUTSIDE_FOV_STRENGTH`` with
    no TP/FP/FN colouring; TP, FP and FN pixels take ``PALETTE["tp"|"fp"|"fn"]``.
    """
    img = as_image(image)
    grey = img @ np.array([0.299, 0.587, 0.114], dtype=np.float32) if img.ndim == 3 else img
    masks = confusion_masks(pred, target, fov, threshold)
    check_same_size(image=grey, pred=masks["tp"])
    level = np.where(masks["fov"], IMAGE_STRENGTH, OUTSIDE_FOV_STRENGTH).astype(np.float32)
    rgb = np.repeat((grey * level)[..., None], 3, axis=-1)
    for key in ("tp", "fp", "fn"):
        rgb[masks[key]] = to_rgb(PALETTE[key])
    return rgb


def _legend_handles(with_fov: bool) -> list[Patch]:
    handles = [Patch(facecolor=PALETTE[k], edgecolor="#555555", label=LABELS[k]) for k in ("tp", "fp", "fn")]
    if with_fov:
        handles.append(Patch(facecolor="#262626", edgecolor="#555555", label="outside FOV"))
    return handles


@styled
def overlay(image: Any, pred: Any, target: Any, fov: Any | None = None, threshold: float = 0.5,
            ax: Axes | None = None, title: str | None = None, legend: bool = True) -> Figure:
    """The image in grey with TP (white), FP (orange) and FN (sky blue); outside the FOV dimmed."""
    fig, ax = figure_and_axes(ax, size=(6.0, 6.4))
    ax.imshow(overlay_rgb(image, pred, target, fov, threshold), interpolation="antialiased")
    image_axis(ax, title)
    if legend:
        ax.legend(handles=_legend_handles(fov is not None), loc="upper center", bbox_to_anchor=(0.5, 0.0),
                  ncol=2 if fov is not None else 3, handlelength=1.2, columnspacing=1.0,
                  borderaxespad=0.4)
    return fig


@styled
def overlay_grid(images: Any, probs: Mapping[str, Any], targets: Any, threshold: float = 0.5) -> Figure:
    """One row of TP/FP/FN overlays per model (``probs``: row name -> probabilities of ``images``), one
    column per image, each panel titled with its Dice; the models' predictions side by side."""
    imgs = as_batch(images, "images", image=True)
    tgts = as_batch(targets, "targets", image=False)
    fig, axes = new_figure(len(probs), len(imgs), panel=(2.6, 2.7))
    for r, (name, prob) in enumerate(probs.items()):
        rows = as_batch(prob, f"probs[{name!r}]", image=False)
        if len(rows) != len(imgs) or len(tgts) != len(imgs):
            raise ValueError(f"overlay_grid needs as many probabilities ({len(rows)} for {name!r}) and "
                             f"targets ({len(tgts)}) as images ({len(imgs)}).")
        for c, (img, p, t) in enumerate(zip(imgs, rows, tgts, strict=True)):
            ax = axes[r][c]
            ax.imshow(overlay_rgb(img, p, t, threshold=threshold), interpolation="antialiased")
            image_axis(ax, f"Dice {dice_score(confusion_masks(p, t, None, threshold)):.2f}")
            if c == 0:
                ax.set_ylabel(name, fontsize=13)
    fig.legend(handles=_legend_handles(False), loc="outside lower center", ncol=3)
    return fig


# ---------------------------------------------------------------- sample grids
_TITLES = {"image": "image", "mask": "mask", "target": "target", "fov": "FOV", "weight": "weight map",
           "instances": "instances", "pred": "prediction", "prob": "probability", "probs": "probability",
           "prediction": "prediction"}
_BINARY = {"mask", "target", "fov"}
_PROB = {"pred", "prob", "probs", "prediction"}
_EXTRAS = ("fov", "weight", "instances", "pred", "prob", "prediction")


def _is_array(v: Any) -> bool:
    return hasattr(v, "shape") and hasattr(v, "ndim")


def _as_sample_list(samples: Any, n: int) -> list[Mapping[str, Any]]:
    if isinstance(samples, Mapping):
        arrays = [v for v in samples.values() if _is_array(v)]
        if arrays and all(v.ndim == 4 for v in arrays):  # a collated batch {"image": NxCxHxW, ...}
            count = arrays[0].shape[0]
            return [{k: v[i] for k, v in samples.items() if _is_array(v) and v.ndim == 4}
                    for i in range(min(n, count))]
        return [samples]
    if hasattr(samples, "__len__") and hasattr(samples, "__getitem__"):
        return [samples[i] for i in range(min(n, len(samples)))]
    raise TypeError("show_samples expects a sample dict, a batch dict, a list of sample dicts or a "
                    f"dataset of dicts; got {type(samples).__name__}.")


def _instance_cmap(n_labels: int) -> ListedColormap:
    rng = np.random.default_rng(0)
    colours = 0.25 + 0.75 * rng.random((max(n_labels, 1) + 1, 3))
    colours[0] = 0.0
    return ListedColormap(colours)


def _draw_panel(ax: Axes, key: str, value: Any, limits: tuple[float, float] | None):
    """Draw one sample entry; returns the image artist (for colourbars)."""
    kind = key.lower()
    if kind in _BINARY:
        return ax.imshow(as_map(value, key), cmap="gray", vmin=0, vmax=1, interpolation="antialiased")
    if kind in _PROB:
        return ax.imshow(as_map(value, key), cmap=PROB_CMAP, vmin=0, vmax=1, interpolation="antialiased")
    if kind == "instances":
        labels = as_map(value, key).astype(np.int64)
        n_labels = int(labels.max())
        return ax.imshow(labels, cmap=_instance_cmap(n_labels), vmin=0, vmax=max(n_labels, 1),
                         interpolation="nearest")
    if limits is None:
        return ax.imshow(as_image(value, key), cmap="gray", vmin=0, vmax=1, interpolation="antialiased")
    lo, hi = limits
    return ax.imshow(as_map(value, key), cmap=HEAT_CMAP, vmin=lo, vmax=hi, interpolation="antialiased")


def _is_heat(key: str, value: Any) -> bool:
    """Entries drawn with the heat colour map on one scale per column (weight maps and unknown maps)."""
    kind = key.lower()
    if kind in _BINARY | _PROB | {"image", "instances"}:
        return False
    arr = to_numpy(value)
    return not (arr.ndim == 3 and arr.shape[0] == 3)


def _shared_limits(rows: Sequence[Mapping[str, Any]], key: str) -> tuple[float, float]:
    values = [as_map(s[key], key) for s in rows]
    return min(float(v.min()) for v in values), max(float(v.max()) for v in values)


@styled
def show_samples(samples_or_batch: Any, n: int = 4, keys: Sequence[str] = ("image", "mask"),
                 titles: Sequence[str] | None = None, extras: bool = True) -> Figure:
    """One row per sample, one column per entry: ``keys`` plus, with ``extras``, any FOV, weight map,
    instances or prediction present.

    Takes a sample dict, a collated batch dict (NxCxHxW values), a list of sample dicts or a dataset.
    """
    rows = _as_sample_list(samples_or_batch, n)
    if not rows:
        raise ValueError("show_samples: nothing to show (empty dataset or batch).")
    columns = list(keys) + [k for k in _EXTRAS if extras and k in rows[0] and k not in keys]
    missing = [k for k in columns if k not in rows[0]]
    if missing:
        raise KeyError(f"show_samples: sample has no {missing}; its keys are {sorted(rows[0])}. "
                       "Pass keys=... naming entries that exist.")
    if titles is not None and len(titles) < len(rows):
        raise ValueError(f"show_samples: {len(titles)} titles for {len(rows)} samples.")
    fig, axes = new_figure(len(rows), len(columns), panel=(3.3, 3.3))
    limits = {k: _shared_limits(rows, k) for k in columns if _is_heat(k, rows[0][k])}
    for r, sample in enumerate(rows):
        for c, key in enumerate(columns):
            ax = axes[r][c]
            artist = _draw_panel(ax, key, sample[key], limits.get(key))
            image_axis(ax, _TITLES.get(key.lower(), key) if r == 0 else None)
            if c == 0 and (titles is not None or len(rows) > 1):
                ax.set_ylabel(titles[r] if titles is not None else f"sample {r}", fontsize=13)
            if r == len(rows) - 1 and (key.lower() in _PROB or key in limits):  # one colourbar per column
                fig.colorbar(artist, ax=[row[c] for row in axes], shrink=0.8 if len(rows) > 1 else 0.7,
                             pad=0.02, aspect=25 * max(1, len(rows)) ** 0.5)
    return fig


@styled
def show_predictions(images: Any, probs: Any, targets: Any, fovs: Any | None = None, n: int = 4,
                     scores: bool = True, threshold: float = 0.5,
                     titles: Sequence[str] | None = None) -> Figure:
    """Rows of image | target | probability | TP/FP/FN overlay, with each image's Dice (within the FOV).

    Takes batches (NxCxHxW, Nx1xHxW) or lists; ``probs`` must be probabilities, not logits.
    """
    imgs = as_batch(images, "images", image=True)
    prob_list = as_batch(probs, "probs", image=False)
    tgt_list = as_batch(targets, "targets", image=False)
    fov_list = as_batch(fovs, "fovs", image=False) if fovs is not None else [None] * len(imgs)
    counts = {"images": len(imgs), "probs": len(prob_list), "targets": len(tgt_list), "fovs": len(fov_list)}
    if len(set(counts.values())) > 1:
        raise ValueError(f"show_predictions: batch sizes differ {counts}.")
    k = min(n, len(imgs))
    fig, axes = new_figure(k, 4, panel=(3.4, 3.4), max_width=SCREEN_WIDTH)  # fits 840 px unscaled
    for r in range(k):
        prob = as_map(prob_list[r], "probs")
        check_probabilities(prob)
        masks = confusion_masks(prob, tgt_list[r], fov_list[r], threshold)
        row = axes[r]
        row[0].imshow(as_image(imgs[r]), cmap="gray", vmin=0, vmax=1)
        row[1].imshow(as_map(tgt_list[r], "targets"), cmap="gray", vmin=0, vmax=1)
        prob_artist = row[2].imshow(prob, cmap=PROB_CMAP, vmin=0, vmax=1)
        row[3].imshow(overlay_rgb(imgs[r], prob, tgt_list[r], fov_list[r], threshold))
        heads = ("image", "target", "probability", "overlay") if r == 0 else (None,) * 4
        for ax, head in zip(row, heads, strict=True):
            image_axis(ax, head)
        if scores:
            row[3].set_xlabel(f"Dice {dice_score(masks):.3f}", fontsize=14, fontweight="bold")
        if titles is not None:
            row[0].set_ylabel(titles[r], fontsize=13)
    fig.colorbar(prob_artist, ax=[row[2] for row in axes], location="bottom", shrink=0.9, pad=0.01,
                 aspect=18, label="probability")
    fig.legend(handles=_legend_handles(fovs is not None), loc="outside lower center",
               ncol=4 if fovs is not None else 3, handlelength=1.2)
    return fig


# ---------------------------------------------------------------- feature maps
def _grid_columns(k: int) -> int:
    """Columns for a near-square grid of ``k`` panels with as few empty slots as possible."""
    low = math.ceil(math.sqrt(k))
    return min(range(low, max(low, min(k, 2 * low)) + 1), key=lambda c: (c * math.ceil(k / c) - k, c))


@styled
def feature_map_grid(activations: Any, max_channels: int = 16, title: str | None = None,
                     normalize: str = "channel", channels: Sequence[int] | None = None,
                     cmap: str = PROB_CMAP) -> Figure:
    """A grid of the channels of one layer's activation (1xCxHxW or CxHxW).

    ``normalize="channel"`` scales each channel to its own min/max (shape visible everywhere);
    ``"shared"`` uses one scale for all (magnitudes comparable) and draws a colourbar.
    """
    if normalize not in ("channel", "shared"):
        raise ValueError(f"normalize must be 'channel' or 'shared', got {normalize!r}.")
    a = to_numpy(activations).astype(np.float32)
    if a.ndim == 4:
        if a.shape[0] != 1:
            raise ValueError(f"feature_map_grid shows one sample; got a batch of {a.shape[0]} "
                             f"(shape {tuple(a.shape)}). Pass activations[0] or activations[:1].")
        a = a[0]
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise ValueError(f"feature_map_grid expects 1xCxHxW, CxHxW or HxW, got shape {tuple(a.shape)}.")
    total = a.shape[0]
    picked = list(channels) if channels is not None else list(range(min(max_channels, total)))
    if not picked or max(picked) >= total or min(picked) < 0:
        raise ValueError(f"channels {picked} out of range for {total} channels.")
    ncols = _grid_columns(len(picked))
    nrows = math.ceil(len(picked) / ncols)
    fig, axes = new_figure(nrows, ncols, panel=(2.3, 2.4), max_width=14.0)
    flat = [ax for row in axes for ax in row]
    lo, hi = float(a[picked].min()), float(a[picked].max())
    for ax, ch in zip(flat, picked, strict=False):
        fmap = a[ch]
        constant = float(fmap.max() - fmap.min()) == 0.0
        if normalize == "channel":
            artist = ax.imshow(to_unit_range(fmap) if not constant else np.zeros_like(fmap),
                               cmap=cmap, vmin=0, vmax=1)
        else:
            artist = ax.imshow(fmap, cmap=cmap, vmin=lo, vmax=hi)
        image_axis(ax)
        ax.set_title(f"ch {ch}" + (" (constant)" if constant else ""), fontsize=11, fontweight="normal",
                     color="#B00000" if constant else "black", pad=3)
    for ax in flat[len(picked):]:
        fig.delaxes(ax)
    if normalize == "shared":
        fig.colorbar(artist, ax=flat[:len(picked)], shrink=0.8, pad=0.02)
    shown = f"{len(picked)} of {total} channels, " + (
        "each scaled to its own range" if normalize == "channel" else "one shared scale")
    fig.suptitle(f"{title}\n{shown}" if title else shown, fontsize=15 if title else 13)
    return fig


# ---------------------------------------------------------------- boxes and heatmaps
@styled
def image_with_box(image: Any, box: Sequence[int] | None, mask: Any | None = None, ax: Axes | None = None,
                   title: str | None = None, point: Sequence[int] | None = None,
                   label: str | None = None, grey: bool = True, legend_columns: int | None = None) -> Figure:
    """An image with a rectangle ``box = (row0, col0, row1, col1)`` (half-open, numpy-style) and an
    optional boolean footprint ``mask`` shaded; ``point = (row, col)`` marks e.g. the output pixel. The
    legend sits below the image, in ``legend_columns`` columns (default: one row).

    A box reaching beyond the image (a receptive field larger than the input) is drawn in full.
    """
    fig, ax = figure_and_axes(ax, size=(5.6, 5.6))
    img = as_image(image)
    if grey and img.ndim == 3:  # annotations read best on grey (a fundus is orange, like the footprint)
        img = img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    h, w = img.shape[:2]
    ax.imshow(img, cmap="gray", vmin=0, vmax=1)
    handles = []
    if mask is not None:
        m = binarize(as_map(mask, "mask"))
        check_same_size(image=img, mask=m)
        shade = np.zeros((h, w, 4), dtype=np.float32)
        shade[m] = (*to_rgb(PALETTE["footprint"]), 0.5)
        ax.imshow(shade)
        handles.append(Patch(facecolor=PALETTE["footprint"], alpha=0.6,
                             label=f"footprint ({int(m.sum())} px)"))
    if box is not None:
        if len(box) != 4 or box[2] <= box[0] or box[3] <= box[1]:
            raise ValueError("box must be (row0, col0, row1, col1) with row1 > row0 and col1 > col0; "
                             f"got {box}.")
        r0, c0, r1, c1 = box
        rect = Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False, lw=2.5,
                         edgecolor=PALETTE["highlight"], label=label or f"{r1 - r0} x {c1 - c0} box")
        ax.add_patch(rect)
        handles.append(rect)
        ax.set_xlim(min(-0.5, c0 - 1.5), max(w - 0.5, c1 + 0.5))
        ax.set_ylim(max(h - 0.5, r1 + 0.5), min(-0.5, r0 - 1.5))
    if point is not None:
        (pt,) = ax.plot([point[1]], [point[0]], marker="+", ms=16, mew=3, color=PALETTE["point"], ls="none",
                        label=f"pixel {tuple(int(p) for p in point)}")
        handles.append(pt)
    image_axis(ax, title)
    if handles:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                  ncol=legend_columns or len(handles), handlelength=1.2, columnspacing=1.0)
    return fig


@styled
def heatmap(array: Any, ax: Axes | None = None, cmap: str = HEAT_CMAP, title: str | None = None,
            colorbar: bool = True, vmin: float | None = None, vmax: float | None = None,
            symmetric: bool = False, label: str | None = None) -> Figure:
    """One map (HxW, 1xHxW, 1x1xHxW) with a colourbar: effective receptive fields, weight maps, attention.

    ``symmetric=True`` centres a diverging colour map on zero (signed maps such as gradients).
    """
    fig, ax = figure_and_axes(ax, size=(5.8, 5.0))
    a = as_map(array, "array")
    if symmetric:
        bound = float(np.nanmax(np.abs(a))) or 1.0
        vmin, vmax = -bound, bound
        cmap = "RdBu_r" if cmap == HEAT_CMAP else cmap
    artist = ax.imshow(a, cmap=cmap, vmin=vmin, vmax=vmax)
    image_axis(ax, title)
    if colorbar:
        cb = fig.colorbar(artist, ax=ax, shrink=0.85, pad=0.02)
        cb.outline.set_visible(False)
        if label:
            cb.set_label(label)
    return fig
