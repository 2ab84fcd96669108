"""Chapter 00's tour of the datasets: statistics, a global-threshold baseline, the real-data catalogue.

    from course_lib import tour
    rows = [tour.dataset_stats(cl.data.load(name, n=8), name) for name in tour.SYNTHETIC]
    print(tour.format_table(rows))
    pred, t = tour.otsu_segment(sample, **tour.SYNTHETIC["synthetic-vessels"].otsu)

Everything is plain numpy (Otsu's method included; no scikit-image at run time).
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from course_lib.blocks.conv import ConvNormAct
from course_lib.data.registry import data_root, shown_path
from course_lib.data.sources import SOURCES
from course_lib.viz._style import PALETTE, image_axis, new_figure, styled

__all__ = [
    "SYNTHETIC",
    "SyntheticInfo",
    "best_threshold_dice",
    "catalogue",
    "class_histograms",
    "dataset_stats",
    "difficulty_grid",
    "format_table",
    "local_pixel_classifier",
    "otsu_segment",
    "otsu_threshold",
    "real_dataset_folder",
    "shown_path",
    "threshold_baseline",
    "to_grey",
]


@dataclass(frozen=True)
class SyntheticInfo:
    """What a synthetic dataset imitates, and how a global threshold should look at it."""

    imitates: str
    target: str
    otsu: dict[str, Any] = field(default_factory=dict)  # keyword arguments of :func:`otsu_segment`


SYNTHETIC: dict[str, SyntheticInfo] = {
    "synthetic-vessels": SyntheticInfo(
        "DRIVE / STARE / CHASE_DB1 colour fundus photographs", "retinal vessels (about 12% of the FOV)",
        {"channel": 1, "dark_foreground": True}),  # vessels are darkest in the green channel
    "synthetic-membranes": SyntheticInfo(
        "ISBI 2012 serial-section electron microscopy", "cell membranes (about 20% of pixels)",
        {"dark_foreground": True}),
    "synthetic-salient": SyntheticInfo(
        "ECSSD / DUTS salient-object photographs", "the salient object(s)",
        {"dark_foreground": None}),  # no physical polarity: the oracle picks it
    "synthetic-lesions": SyntheticInfo(
        "small hypo-dense lesions in a CT slice (pancreas / liver)", "small lesions (1-3% of pixels)",
        {"dark_foreground": True}),
}


# ----------------------------------------------------------------------------- arrays

def _numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _map(x: Any, name: str) -> np.ndarray:
    """HxW from HxW, 1xHxW or 1x1xHxW."""
    arr = _numpy(x)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a single map (HxW or 1xHxW), got shape {_numpy(x).shape}.")
    return arr


def to_grey(image: Any, channel: int | None = None) -> np.ndarray:
    """An HxW float array from a CxHxW image: channel ``channel``, else the luminance of RGB (or the
    single channel of a greyscale image)."""
    arr = _numpy(image).astype(np.float32)
    if arr.ndim == 2:
        return arr
    if arr.ndim != 3:
        raise ValueError(f"image must be CxHxW or HxW, got shape {arr.shape}.")
    if channel is not None:
        if not -arr.shape[0] <= channel < arr.shape[0]:
            raise ValueError(f"channel {channel} does not exist in an image with {arr.shape[0]} channel(s).")
        return arr[channel]
    if arr.shape[0] == 1:
        return arr[0]
    if arr.shape[0] == 3:
        return np.tensordot(np.array([0.299, 0.587, 0.114], np.float32), arr, axes=1)
    raise ValueError(f"pass channel=... for an image with {arr.shape[0]} channels.")


# ----------------------------------------------------------------------------- thresholds

def otsu_threshold(values: Any, bins: int = 256) -> float:
    """Otsu's (1979) global threshold of ``values`` (any shape).

    The histogram (``bins`` bins over [min, max]) is split where the between-class variance
    ``w0 * w1 * (mu0 - mu1)^2`` is largest; returns the centre of the last bin of the lower class,
    so the classes are ``values <= t`` and ``values > t`` (scikit-image's convention).
    """
    v = _numpy(values).astype(np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ValueError("otsu_threshold: no finite values to threshold.")
    lo, hi = float(v.min()), float(v.max())
    if lo == hi:
        return lo
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(counts)  # pixels in bins 0..k
    w1 = np.cumsum(counts[::-1])[::-1]  # pixels in bins k..end
    mu0 = np.cumsum(counts * centres) / np.maximum(w0, 1)
    mu1 = (np.cumsum((counts * centres)[::-1]) / np.maximum(w1[::-1], 1))[::-1]
    between = w0[:-1] * w1[1:] * (mu0[:-1] - mu1[1:]) ** 2  # split after bin k
    return float(centres[int(np.argmax(between))])


def _polarity(grey: np.ndarray, t: float, dark: bool) -> np.ndarray:
    return grey <= t if dark else grey > t


def _dice(pred: np.ndarray, target: np.ndarray) -> float:
    tp = np.count_nonzero(pred & target)
    denominator = np.count_nonzero(pred) + np.count_nonzero(target)
    return 1.0 if denominator == 0 else 2 * tp / denominator


def otsu_segment(sample: Mapping[str, Any], channel: int | None = None,
                 dark_foreground: bool | None = True) -> tuple[np.ndarray, float]:
    """Segment a sample with one Otsu threshold of its grey image (computed inside its FOV if it has one).

    ``dark_foreground``: foreground lies below the threshold (True) or above (False); ``None`` lets
    the *answer key* choose the side with the higher Dice (an oracle: for data without a known polarity).
    Returns (boolean HxW prediction, threshold).
    """
    grey = to_grey(sample["image"], channel)
    fov = _map(sample["fov"], "fov") > 0.5 if "fov" in sample else np.ones(grey.shape, bool)
    t = otsu_threshold(grey[fov])
    if dark_foreground is None:
        target = _map(sample["mask"], "mask") > 0.5
        dark_foreground = _dice((grey <= t) & fov, target & fov) >= _dice((grey > t) & fov, target & fov)
    return _polarity(grey, t, dark_foreground) & fov, t


def best_threshold_dice(sample: Mapping[str, Any], channel: int | None = None,
                        dark_foreground: bool | None = True, steps: int = 64) -> tuple[float, float]:
    """The best Dice any single global threshold reaches on this sample (chosen with the answer key).

    Tries ``steps`` quantiles of the grey values inside the FOV, on the side(s) allowed by
    ``dark_foreground`` (``None``: both). Returns (dice, threshold).
    """
    grey = to_grey(sample["image"], channel)
    fov = _map(sample["fov"], "fov") > 0.5 if "fov" in sample else np.ones(grey.shape, bool)
    target = _map(sample["mask"], "mask")[fov] > 0.5
    inside = grey[fov]
    sides = (True, False) if dark_foreground is None else (bool(dark_foreground),)
    best = (-1.0, float("nan"))
    for t in np.unique(np.quantile(inside, np.linspace(0, 1, steps + 2)[1:-1])):
        for dark in sides:
            best = max(best, (_dice(_polarity(inside, t, dark), target), float(t)))
    return best


def threshold_baseline(dataset: Any, n: int | None = None, channel: int | None = None,
                       dark_foreground: bool | None = True) -> dict[str, float]:
    """Global-threshold baselines pooled over the first ``n`` samples (inside the FOV if any).

    ``otsu_dice``: Dice of per-image Otsu (pixels pooled); ``best_dice``: mean per-image Dice of the best
    global threshold (an oracle); ``background_accuracy``: the accuracy of predicting "all
    background", i.e. the background fraction (why accuracy flatters, common bug 6).
    """
    n = len(dataset) if n is None else min(n, len(dataset))
    if n < 1:
        raise ValueError("threshold_baseline: the dataset is empty.")
    tp = pred_sum = target_sum = total = 0
    best = []
    for i in range(n):
        sample = dataset[i]
        pred, _ = otsu_segment(sample, channel, dark_foreground)
        grey = to_grey(sample["image"], channel)
        fov = _map(sample["fov"], "fov") > 0.5 if "fov" in sample else np.ones(grey.shape, bool)
        target = (_map(sample["mask"], "mask") > 0.5) & fov
        tp += np.count_nonzero(pred & target)
        pred_sum += np.count_nonzero(pred)
        target_sum += np.count_nonzero(target)
        total += np.count_nonzero(fov)
        best.append(best_threshold_dice(sample, channel, dark_foreground)[0])
    return {"otsu_dice": float(2 * tp / max(pred_sum + target_sum, 1)), "best_dice": float(np.mean(best)),
            "background_accuracy": float(1 - target_sum / total)}


# ----------------------------------------------------------------------------- statistics

def dataset_stats(dataset: Any, name: str | None = None, n: int | None = None) -> dict[str, Any]:
    """Size and label statistics of the first ``n`` samples (all by default) of a dict-sample dataset.

    Keys: ``dataset``, ``samples`` (len), ``image`` (CxHxW, or "varies"), ``foreground`` (mean mask
    fraction of the image), ``fg_in_fov`` (of the FOV pixels; equals ``foreground`` without a FOV),
    ``fov`` (mean FOV fraction, or None), ``instances`` (mean objects per image, or None).
    """
    n = len(dataset) if n is None else min(n, len(dataset))
    if n < 1:
        raise ValueError("dataset_stats: the dataset is empty.")
    shapes, fg, fg_fov, fov, inst = set(), [], [], [], []
    for i in range(n):
        sample = dataset[i]
        if "mask" not in sample:
            raise KeyError(f"dataset_stats: sample {i} has no 'mask' (keys {sorted(sample)}); "
                           "statistics need labelled samples.")
        shapes.add(tuple(sample["image"].shape))
        mask = _map(sample["mask"], "mask") > 0.5
        fg.append(mask.mean())
        region = _map(sample["fov"], "fov") > 0.5 if "fov" in sample else np.ones(mask.shape, bool)
        fg_fov.append(np.count_nonzero(mask & region) / max(np.count_nonzero(region), 1))
        if "fov" in sample:
            fov.append(region.mean())
        if "instances" in sample:
            inst.append(len(np.unique(_map(sample["instances"], "instances"))) - 1)
    shape = "x".join(map(str, shapes.pop())) if len(shapes) == 1 else "varies"
    return {"dataset": name or getattr(dataset, "name", type(dataset).__name__), "samples": len(dataset),
            "image": shape, "foreground": float(np.mean(fg)), "fg_in_fov": float(np.mean(fg_fov)),
            "fov": float(np.mean(fov)) if fov else None, "instances": float(np.mean(inst)) if inst else None}


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None,
                 floatfmt: str = ".3f", formats: Mapping[str, str] | None = None) -> str:
    """A Markdown pipe table of ``rows`` (dicts); floats as ``formats[column]`` or ``floatfmt``, None as
    an en dash.

    Prints readably as text and renders with ``IPython.display.Markdown``.
    """
    if not rows:
        raise ValueError("format_table: no rows.")
    columns = list(columns or rows[0])

    formats = {"instances": ".1f", **(formats or {})}

    def cell(value: Any, column: str) -> str:
        if value is None:
            return "–"
        if isinstance(value, float):
            return format(value, formats.get(column, floatfmt))
        return str(value).replace("|", "\\|").replace("\n", " ")

    table = [[cell(r.get(c), c) for c in columns] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in table)) for i, c in enumerate(columns)]
    line = lambda items: "| " + " | ".join(s.ljust(w) for s, w in zip(items, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(columns), line(["-" * w for w in widths]), *map(line, table)])


# ----------------------------------------------------------------------------- figures

@styled
def difficulty_grid(datasets: Mapping[str, Any], difficulties: Sequence[float] = (0.0, 0.5, 1.0),
                    index: int = 0):
    """One row per synthetic dataset: sample ``index`` at each difficulty (the same scene), then its mask.

    ``datasets`` maps a row label to a dataset with ``with_knobs(difficulty)`` (a synthetic dataset).
    """
    fig, axes = new_figure(len(datasets), len(difficulties) + 1, panel=(3.2, 3.2))
    for row, (label, dataset) in zip(axes, datasets.items(), strict=True):
        for ax, difficulty in zip(row, difficulties, strict=False):
            image = _numpy(dataset.with_knobs(difficulty)[index]["image"])
            shown = np.moveaxis(image, 0, -1) if image.shape[0] == 3 else image[0]
            ax.imshow(shown, cmap="gray", vmin=0, vmax=1)
            image_axis(ax, f"difficulty {difficulty:g}" if row is axes[0] else None)
        ax = row[-1]
        ax.imshow(_map(dataset[index]["mask"], "mask"), cmap="gray", vmin=0, vmax=1)
        image_axis(ax, "mask" if row is axes[0] else None)
        row[0].set_ylabel(label, fontsize=13)
    return fig


@styled
def class_histograms(samples: Mapping[str, Mapping[str, Any]], otsu: Mapping[str, Mapping[str, Any]],
                     bins: int = 64):
    """Per dataset, the grey-value histograms of foreground and background pixels (inside the FOV)
    with the Otsu threshold: where they overlap, no global threshold can separate them."""
    fig, axes = new_figure(1, len(samples), panel=(4.2, 3.4))
    for ax, (label, sample) in zip(axes[0], samples.items(), strict=True):
        options = dict(otsu.get(label, {}))
        channel = options.get("channel")
        grey = to_grey(sample["image"], channel)
        fov = _map(sample["fov"], "fov") > 0.5 if "fov" in sample else np.ones(grey.shape, bool)
        mask = _map(sample["mask"], "mask") > 0.5
        edges = np.linspace(float(grey[fov].min()), float(grey[fov].max()), bins + 1)
        for part, colour, name in ((fov & ~mask, PALETTE["reference"], "background"),
                                   (fov & mask, PALETTE["ours"], "foreground")):
            ax.hist(grey[part], bins=edges, density=True, color=colour, alpha=0.75, label=name)
        t = otsu_threshold(grey[fov])
        ax.axvline(t, color=PALETTE["point"], linewidth=2.4, label=f"Otsu t = {t:.2f}")
        ax.set_title(label, fontsize=13)
        rgb = _numpy(sample["image"]).ndim == 3 and _numpy(sample["image"]).shape[0] == 3
        name = ("red", "green", "blue")[channel] if rgb and channel is not None else f"channel {channel}"
        ax.set_xlabel("grey value" if channel is None else f"{name} value")
        ax.set_yticks([])
        ax.legend(fontsize=10, loc="best")
    axes[0][0].set_ylabel("density")
    return fig


# ----------------------------------------------------------------------------- real data

def _first_sentence(text: str) -> str:
    """Up to the first full stop that ends a sentence (not the one in "et al.")."""
    head = re.split(r"(?<!\bal)\.\s+(?=[A-Z])", " ".join(text.split()), maxsplit=1)[0].replace("``", "")
    return head if head.endswith(".") else head + "."


def catalogue() -> list[dict[str, Any]]:
    """One row per downloadable real dataset, from the download recipes and the loaders' docstrings.

    Keys: ``name`` (for ``cl.data.load`` / ``cl.data.download``), ``what``, ``download`` (file count
    and total size where the source publishes it), ``login`` (needed?), ``licence`` (first sentence),
    ``source`` (homepage), ``offline_stand_in``.
    """
    rows = []
    for key, source in SOURCES.items():
        try:
            doc = importlib.import_module(f"course_lib.data.real.{key}").__doc__ or ""
        except ImportError:
            doc = ""
        sizes = [f.size for f in source.files]
        if not source.files:
            download = "by hand"
        elif all(s is not None for s in sizes):
            download = f"{len(sizes)} files, {sum(sizes) / 1e6:.1f} MB"
        else:
            download = f"{len(sizes)} file{'s' if len(sizes) > 1 else ''}"
        rows.append({"name": key, "what": _first_sentence(doc),
                     "download": download, "login": "yes" if source.login_instructions else "no",
                     "licence": _first_sentence(source.licence), "source": source.homepage,
                     "offline_stand_in": source.stand_in})
    return rows


def real_dataset_folder(name: str, root: str | os.PathLike | None = None) -> tuple[bool, str]:
    """(present?, folder) for real dataset ``name`` under ``root`` (default: the data root).

    Present means the folder exists and is not empty; the loader checks the layout itself.
    """
    key = name.strip().lower()
    if key not in SOURCES:
        raise ValueError(f"Unknown real dataset {name!r}; known: {', '.join(SOURCES)}.")
    folder = data_root(root) / SOURCES[key].folder
    return folder.is_dir() and any(folder.iterdir()), str(folder)


# ----------------------------------------------------------------------------- a learned baseline

def local_pixel_classifier(in_channels: int = 3, width: int = 16, depth: int = 3) -> nn.Sequential:
    """A tiny fully convolutional classifier that sees only a (2*depth+1)^2 neighbourhood per pixel.

    ``depth`` 3x3 conv-BN-ReLU layers of ``width`` channels and a 1x1 conv to one logit: a learned
    local filter bank, the step between a global threshold and a U-Net (whose view is the whole image).
    """
    if depth < 1 or width < 1:
        raise ValueError(f"depth and width must be >= 1, got depth={depth}, width={width}.")
    layers = [ConvNormAct(in_channels if i == 0 else width, width) for i in range(depth)]
    return nn.Sequential(*layers, nn.Conv2d(width, 1, kernel_size=1))
