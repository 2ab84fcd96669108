"""Line and bar charts: learning curves, ROC with published operating points, ablation bars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from course_lib.viz._arrays import to_numpy
from course_lib.viz._style import ARM_COLOURS, OKABE_ITO, PALETTE, figure_and_axes, new_figure, styled

__all__ = ["compare_bars", "history_to_dict", "plot_learning_curves", "plot_roc", "plot_score_vs_time",
           "plot_seed_curves", "plot_seed_profiles"]

_LOSS_COLOURS = {"train": OKABE_ITO["blue"], "val": OKABE_ITO["orange"]}
_METRIC_COLOURS = [OKABE_ITO[k]
                   for k in ("bluish_green", "reddish_purple", "vermillion", "sky_blue", "black")]
_LOWER_IS_BETTER = ("loss", "mae", "error", "hd", "distance")


# ---------------------------------------------------------------- learning curves
def history_to_dict(history: Any) -> dict[str, np.ndarray]:
    """A training history as ``{key: float array per epoch}``.

    Accepts an object with ``to_dict()`` (the engine's History), a mapping key -> list, or a list of
    per-epoch dicts. Missing values become NaN.
    """
    if hasattr(history, "to_dict"):
        history = history.to_dict()
    if isinstance(history, Mapping):
        columns = {k: list(v) for k, v in history.items()}
    elif isinstance(history, Sequence) and all(isinstance(row, Mapping) for row in history):
        keys = list(dict.fromkeys(k for row in history for k in row))
        columns = {k: [row.get(k) for row in history] for k in keys}
    else:
        raise TypeError("history must be a History, a dict of per-epoch lists or a list of per-epoch "
                        f"dicts; got {type(history).__name__}.")
    out = {k: np.array([np.nan if v is None else float(v) for v in vals], dtype=float)
           for k, vals in columns.items() if all(v is None or np.isscalar(v) for v in vals)}
    lengths = {len(v) for v in out.values()}
    if len(lengths) > 1:
        raise ValueError(f"history columns have different lengths: { {k: len(v) for k, v in out.items()} }.")
    if not out or not lengths or lengths == {0}:
        raise ValueError("history is empty: train at least one epoch before plotting.")
    return out


def _best_index(values: np.ndarray, name: str) -> int | None:
    if np.all(np.isnan(values)):
        return None
    lower = any(tag in name for tag in _LOWER_IS_BETTER)
    return int(np.nanargmin(values) if lower else np.nanargmax(values))


def _metric_columns(h: Mapping[str, np.ndarray], metric: str) -> list[tuple[str, str]]:
    """(key, split) pairs present for ``metric``: val first, then train, then the bare key."""
    found = [(f"{split}_{metric}", split) for split in ("val", "train") if f"{split}_{metric}" in h]
    return found or ([(metric, "")] if metric in h else [])


def _plot_series(ax: Axes, x: np.ndarray, y: np.ndarray, colour: str, split: str, label: str) -> None:
    style = {"color": colour, "label": label, "ls": "--" if split == "train" else "-"}
    if len(x) <= 30:
        style.update(marker="o", ms=4 if len(x) > 10 else 6)
    ok = ~np.isnan(y)
    ax.plot(x[ok], y[ok], **style)




@styled
def plot_score_vs_time(curves: Mapping[str, Sequence[Any]], ylabel: str = "validation score") -> Figure:
    """A score after each epoch against the training time spent so far, one colour per arm, one line per
    seed: the picture behind an equal-time comparison. ``curves``: arm -> runs' recorders with ``seconds``
    and ``max_f`` lists (e.g. :class:`course_lib.protocols.salient.EpochScores`)."""
    if not curves:
        raise ValueError("plot_score_vs_time: no curves to draw.")
    fig, axes = new_figure(1, 1, panel=(7.2, 4.0))
    ax = axes[0][0]
    for i, (arm, runs) in enumerate(curves.items()):
        colour = ARM_COLOURS[i % len(ARM_COLOURS)]
        for k, run in enumerate(runs):
            ax.plot(run.seconds, run.max_f, "-o", color=colour, lw=1.6, markersize=5,
                    label=arm if k == 0 else None)
    ax.set_xlabel("training time so far (s)")
    ax.set_ylabel(ylabel)
    ax.set_xlim(left=0)
    ax.legend(loc="lower right")
    ax.set_title("after each epoch, one line per seed")
    return fig


def plot_seed_curves(results: Sequence[Any], panels: Sequence[Sequence[str]] = (("train_loss", "val_loss"),
                                                                              ("val_dice",)),
                     titles: Sequence[str] | None = None, ylabels: Sequence[str] | None = None,
                     bounded: bool = False) -> Figure:
    """History columns of every arm over epochs: the mean over seeds as a line, the range over seeds as a
    band. ``results``: objects with ``arm``, ``seed`` and ``history`` (e.g. sweep ``ArmResult``). One panel
    per entry of ``panels``; in a panel, ``train_*`` columns are dashed, the others solid. ``bounded``:
    panels of losses start at 0, panels of scores (Dice ...) span 0-1."""
    if not results:
        raise ValueError("plot_seed_curves: no results to draw.")
    arms = list(dict.fromkeys(r.arm for r in results))
    fig, axes = new_figure(1, len(panels), panel=(6.4, 4.6))
    for p, (ax, columns) in enumerate(zip(axes[0], panels, strict=True)):
        for i, arm in enumerate(arms):
            colour = ARM_COLOURS[i % len(ARM_COLOURS)]
            runs = [history_to_dict(r.history) for r in results if r.arm == arm]
            for column in columns:
                if any(column not in h for h in runs):
                    raise KeyError(f"plot_seed_curves: the history of arm {arm!r} has no column {column!r}.")
                n = min(len(h[column]) for h in runs)  # an interrupted run may have fewer epochs
                values = np.array([h[column][:n] for h in runs], dtype=float)
                epochs = runs[0]["epoch"][:n]
                dashed = column.startswith("train")
                ax.plot(epochs, values.mean(0), color=colour, ls="--" if dashed else "-",
                        lw=1.6 if dashed else 2.2, label=None if dashed and len(columns) > 1 else arm)
                if len(runs) > 1:
                    ax.fill_between(epochs, values.min(0), values.max(0), color=colour, alpha=0.15, lw=0)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabels[p] if ylabels else ", ".join(columns))
        if titles:
            ax.set_title(titles[p])
        if bounded:
            if any("loss" in c for c in columns):
                ax.set_ylim(bottom=0)
            else:
                ax.set_ylim(0, 1)
    n_seeds = len({r.seed for r in results})
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", title=f"mean of {n_seeds} seeds\n(band: range)")
    return fig


@styled
def plot_seed_profiles(results: Sequence[Any], key: str, labels: Sequence[str], ax: Axes | None = None,
                       xlabel: str = "", ylabel: str = "", title: str | None = None) -> Figure:
    """A list-valued ``extras[key]`` of every run (one value per entry of ``labels``, e.g. distance bands)
    against those labels: per arm the mean over seeds as a line with markers, the range over seeds as a
    band. NaN entries (no data in a band) are left out of the mean."""
    arms = list(dict.fromkeys(r.arm for r in results))
    fig, ax = figure_and_axes(ax, (7.6, 4.6))
    x = np.arange(len(labels))
    for i, arm in enumerate(arms):
        colour = ARM_COLOURS[i % len(ARM_COLOURS)]
        values = np.array([r.extras[key] for r in results if r.arm == arm], dtype=float)
        if values.shape[1] != len(labels):
            raise ValueError(f"extras[{key!r}] has {values.shape[1]} values per run but {len(labels)} "
                             "labels; give one label per value.")
        # markers and dashes of decreasing size keep arms that coincide (e.g. all at 0) visible
        ax.plot(x, np.nanmean(values, 0), color=colour, lw=2.4 - 0.4 * (i % 4), marker="osD^"[i % 4],
                ms=10 - 2 * (i % 4), ls=("-", "--", "-.", ":")[i % 4], label=arm)
        if len(values) > 1:
            ax.fill_between(x, np.nanmin(values, 0), np.nanmax(values, 0), color=colour, alpha=0.15, lw=0)
    ax.set_xticks(x, labels)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    n_seeds = len({r.seed for r in results})
    ax.legend(title=f"mean of {n_seeds} seed{'s' if n_seeds > 1 else ''} (band: range)", loc="best")
    return fig


@styled
def plot_learning_curves(history: Any, metrics: Sequence[str] = ("dice",), ax: Axes | None = None,
                         title: str | None = None, logy: bool = False) -> Figure:
    """Loss (train / val) and validation metrics per epoch; the best epoch is marked.

    Without ``ax``: two panels (loss | metrics). With ``ax``: one panel, metrics on a right-hand axis.
    The best epoch maximises the first metric's validation value (minimises it for losses/errors),
    else minimises the validation loss.
    """
    h = history_to_dict(history)
    n_epochs = len(next(iter(h.values())))
    x = h.get("epoch", np.arange(1, n_epochs + 1, dtype=float))
    metric_cols = {}
    for m in metrics:
        cols = _metric_columns(h, m)
        if not cols:
            available = sorted({k.split("_", 1)[1] for k in h if k.startswith(("val_", "train_"))} - {"loss"})
            raise KeyError(f"history has no 'val_{m}' / 'train_{m}' / '{m}'; metrics it has: {available}. "
                           "Pass metrics=(...) with those names, or metrics=() for the loss only.")
        metric_cols[m] = cols
    loss_cols = [(k, k.split("_")[0]) for k in ("train_loss", "val_loss") if k in h]
    if not loss_cols and "loss" in h:
        loss_cols = [("loss", "train")]

    if ax is None:
        fig, axes = new_figure(1, 2 if metric_cols else 1, panel=(6.2, 4.4))
        loss_ax, metric_ax = axes[0][0], (axes[0][1] if metric_cols else None)
    else:
        fig, loss_ax = ax.figure, ax
        metric_ax = ax.twinx() if metric_cols else None
        if metric_ax is not None:
            metric_ax.grid(False)
            metric_ax.spines["right"].set_visible(True)

    for key, split in loss_cols:
        _plot_series(loss_ax, x, h[key], _LOSS_COLOURS.get(split, OKABE_ITO["blue"]), split, f"{split} loss")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    if logy:
        loss_ax.set_yscale("log")
    for i, cols in enumerate(metric_cols.values()):
        for key, split in cols:
            _plot_series(metric_ax, x, h[key], _METRIC_COLOURS[i % len(_METRIC_COLOURS)], split,
                         key.replace("_", " "))
    if metric_ax is not None:
        metric_ax.set_ylabel("metric" if len(metric_cols) > 1 else next(iter(metric_cols)))
        if ax is None:
            metric_ax.set_xlabel("epoch")
            metric_ax.set_title("validation metrics" if len(metric_cols) > 1 else
                                f"{next(iter(metric_cols))}")
            loss_ax.set_title("loss")

    # best epoch: first metric's val column, else val loss
    best_key = next(iter(metric_cols.values()))[0][0] if metric_cols else (
        "val_loss" if "val_loss" in h else (loss_cols[0][0] if loss_cols else None))
    best = _best_index(h[best_key], best_key) if best_key else None
    handles_extra = []
    if best is not None:
        best_ax = metric_ax if metric_cols else loss_ax
        for a in {loss_ax, best_ax} if ax is None else {loss_ax}:
            a.axvline(x[best], color="#666666", ls=":", lw=1.8, zorder=0)
        star = best_ax.plot([x[best]], [h[best_key][best]], marker="*", ms=18, color=OKABE_ITO["vermillion"],
                            mec="white", mew=1.2, ls="none", zorder=5,
                            label=f"best: epoch {x[best]:g} ({best_key.replace('_', ' ')} "
                                  f"{h[best_key][best]:.3f})")[0]
        handles_extra.append(star)

    if ax is None:
        loss_ax.legend(loc="best")
        if metric_ax is not None:
            metric_ax.legend(loc="best")
    else:  # one legend for both y-axes
        handles = loss_ax.get_legend_handles_labels()[0] + (
            metric_ax.get_legend_handles_labels()[0] if metric_ax is not None else [])
        loss_ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    if title:
        (fig.suptitle if ax is None else loss_ax.set_title)(title)
    for a in (loss_ax, metric_ax):
        if a is not None and n_epochs <= 30:
            a.xaxis.get_major_locator().set_params(integer=True)
    return fig


# ---------------------------------------------------------------- ROC
_REF_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "h")


@styled
def plot_roc(fpr: Any, tpr: Any | None = None, auc: float | None = None,
             reference_points: Mapping[str, Any] | Sequence[str] | None = None, ax: Axes | None = None,
             label: str = "ours", title: str | None = "ROC curve",
             limits: tuple[float, float, float, float] | None = None, legend: bool = True) -> Figure:
    """ROC curve(s) with published operating points.

    ``fpr, tpr`` arrays for one curve, or ``fpr`` a dict ``name -> (fpr, tpr)`` or ``(fpr, tpr, auc)``.
    ``reference_points``: dict ``name -> (fpr, tpr)`` drawn as markers (papers report Se and Sp:
    fpr = 1 - Sp, tpr = Se), ``name -> auc`` (float) listed in the legend, or a list of legend lines.
    ``limits = (x0, x1, y0, y1)`` zooms in (vessel ROC curves hug the top-left corner). The legend sits
    below the axes, off the curves (``legend=False`` leaves it out, e.g. on a zoomed second panel).
    """
    if isinstance(fpr, Mapping):
        curves = {name: tuple(c) for name, c in fpr.items()}
    else:
        if tpr is None:
            raise ValueError("plot_roc: pass fpr and tpr arrays, or a dict name -> (fpr, tpr[, auc]).")
        curves = {label: (fpr, tpr, auc)}
    fig, ax = figure_and_axes(ax, size=(6.4, 6.0))
    ax.plot([0, 1], [0, 1], color="#AAAAAA", ls="--", lw=1.5, label="chance")
    for i, (name, curve) in enumerate(curves.items()):
        if len(curve) not in (2, 3):
            raise ValueError(f"plot_roc: curve {name!r} must be (fpr, tpr) or (fpr, tpr, auc).")
        f, t = to_numpy(curve[0]).ravel(), to_numpy(curve[1]).ravel()
        if f.shape != t.shape:
            raise ValueError(f"plot_roc: fpr and tpr of {name!r} differ in length ({f.size} vs {t.size}).")
        a = curve[2] if len(curve) == 3 else None
        colour = PALETTE["ours"] if i == 0 else _METRIC_COLOURS[(i - 1) % len(_METRIC_COLOURS)]
        ax.plot(f, t, color=colour, label=f"{name} (AUC {a:.4f})" if a is not None else name)
    if isinstance(reference_points, Mapping):
        for i, (name, ref) in enumerate(reference_points.items()):
            if np.isscalar(ref):
                ax.plot([], [], ls="none", label=f"{name}: AUC {float(ref):.4f}")
            else:
                rf, rt = (float(v) for v in ref)
                colour = OKABE_ITO["vermillion"] if i == 0 else _METRIC_COLOURS[i % len(_METRIC_COLOURS)]
                ax.plot([rf], [rt], ls="none", marker=_REF_MARKERS[i % len(_REF_MARKERS)], ms=10,
                        color=colour, mec="black", mew=0.8, label=name)
    elif reference_points is not None:
        for text in reference_points:
            ax.plot([], [], ls="none", label=str(text))
    x0, x1, y0, y1 = limits if limits else (0.0, 1.0, 0.0, 1.0)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1 + (0.005 if y1 >= 1 else 0))
    if not limits:
        ax.set_aspect("equal")
    ax.set_xlabel("false positive rate (1 − specificity)")
    ax.set_ylabel("true positive rate (sensitivity)")
    if title:
        ax.set_title(title)
    if legend:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), handlelength=1.6)
    return fig


# ---------------------------------------------------------------- bars
@styled
def compare_bars(values: Mapping[str, float], reference: Mapping[str, float] | None = None,
                 ylabel: str = "", ax: Axes | None = None, title: str | None = None,
                 labels: tuple[str, str] = ("ours", "published"), fmt: str | None = None,
                 horizontal: bool | None = None) -> Figure:
    """Bars for ablations or published-vs-ours, each labelled with its value.

    Keys of ``values`` and ``reference`` are unioned (a missing value draws no bar). ``horizontal``
    defaults to True when there are many or long names.
    """
    if not values and not reference:
        raise ValueError("compare_bars: nothing to plot (values and reference are empty).")
    names = list(dict.fromkeys([*values, *(reference or {})]))
    if horizontal is None:
        horizontal = len(names) > 6 or max(len(n) for n in names) > 12
    series = [(labels[0], values, PALETTE["ours"])]
    if reference:
        series.append((labels[1], reference, PALETTE["reference"]))
    all_values = [float(v) for _, d, _ in series for v in d.values()]
    if fmt is None:
        fmt = "{:.3f}" if all(abs(v) <= 1 for v in all_values) else "{:,.4g}"
    fig, ax = figure_and_axes(ax, size=(max(5.5, 1.2 * len(names) + 2.5), 4.8) if not horizontal else
                              (7.5, max(3.0, 0.55 * len(names) * len(series) + 1.5)))
    width = 0.8 / len(series)
    pos = np.arange(len(names), dtype=float)
    for j, (lab, data, colour) in enumerate(series):
        offs = pos + (j - (len(series) - 1) / 2) * width
        keep = [i for i, n in enumerate(names) if n in data]
        heights = [float(data[names[i]]) for i in keep]
        draw = ax.barh if horizontal else ax.bar
        bars = draw(offs[keep], heights, width * 0.92, color=colour,
                    label=lab if reference else None)
        ax.bar_label(bars, labels=[fmt.format(v) for v in heights], padding=3, fontsize=11)
    if horizontal:
        ax.set_yticks(pos, names)
        ax.invert_yaxis()
        ax.set_xlabel(ylabel)
        ax.grid(axis="y", visible=False)
        ax.margins(x=0.15)
    else:
        ax.set_xticks(pos, names)
        ax.set_ylabel(ylabel)
        ax.grid(axis="x", visible=False)
        ax.margins(y=0.12)
        if max(len(n) for n in names) > 8:
            ax.tick_params(axis="x", labelrotation=20)
    if title:
        ax.set_title(title)
    if reference:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


