"""Receptive-field explorers: sliders over a conv stack's geometry, or over the output pixel of a model.

``draw_stack_receptive_field`` builds a stack with :func:`course_lib.receptive_field.conv_stack` from
the slider values (or a preset of per-layer dilations: DAC's branches, HDC, gridding) and draws, for the
chosen output pixel, Araujo et al.'s analytic box, the exact footprint and Luo et al.'s effective
receptive field over an image; by default above the same layers without dilation, on the same crop.
``draw_model_receptive_field`` does the same for any model (footprint and ERF; no analytic box, which
only exists for stacks). Both run headless with their defaults; the ``*_explorer`` functions wrap them
in sliders.
"""

from __future__ import annotations

import functools
import textwrap
from collections.abc import Sequence

import ipywidgets as w
import matplotlib.pyplot as plt
import torch
import torch.nn as nn
from matplotlib.figure import Figure

from course_lib import widgets
from course_lib.receptive_field import analytic, conv_stack, effective_receptive_field, footprint, rf_box
from course_lib.viz.receptive_field import plot_receptive_field, plot_receptive_field_rows

__all__ = [
    "RATE_PRESETS",
    "default_image",
    "draw_model_receptive_field",
    "draw_stack_receptive_field",
    "model_receptive_field_explorer",
    "receptive_field_explorer",
]

DOWNSAMPLE = ("none", "stride", "maxpool")


@functools.lru_cache(maxsize=4)
def _vessel_image(size: int) -> torch.Tensor:
    from course_lib import data

    return data.load("synthetic-vessels", "val", n=1, size=size)[0]["image"]


def default_image(size: int = 64) -> torch.Tensor:
    """A deterministic synthetic fundus crop (3 x size x size) to draw receptive fields on."""
    return _vessel_image(int(size)).clone()


def _formula(table: Sequence) -> str:
    """``r = 1 + 2*1 + 4*2 ... = 23``: Araujo et al.'s sum, one term per layer."""
    terms, jump = [], 1
    for row in table:
        terms.append(f"{row.dilation * (row.kernel - 1)}*{jump}" if jump > 1 else
                     f"{row.dilation * (row.kernel - 1)}")
        jump = row.jump
    shown = terms if len(terms) <= 8 else [*terms[:3], "...", *terms[-3:]]
    return "r = 1 + " + " + ".join(shown) + f" = {table[-1].rf}"


def _message_figure(text: str) -> Figure:
    fig, ax = plt.subplots(figsize=(9, 2))
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=13)
    ax.set_axis_off()
    return fig


#: Per-layer dilation rates the stack explorer offers besides "the slider's d for every layer".
RATE_PRESETS: dict[str, tuple[int, ...] | None] = {
    "d (slider) for every layer": None,
    "1, 3, 5 (DAC branch 4)": (1, 3, 5),
    "1, 3 (DAC branch 3)": (1, 3),
    "1, 2, 5 (HDC)": (1, 2, 5),
    "2, 2, 2 (gridding)": (2, 2, 2),
}


def _stack_row(kernel: int, rates: tuple[int, ...], downsample: str, every: int, row: float, col: float,
               erf: bool, size: int, seed: int, label: str) -> tuple[dict, Sequence] | str:
    """The panels of one stack (see :func:`course_lib.viz.receptive_field.plot_receptive_field_rows`) and
    its analytic table, or an error message when the image is too small for it."""
    model = conv_stack(kernel, rates, downsample=downsample, every=every)
    try:
        table = analytic(model, input_size=size)
    except ValueError as err:
        return f"{err}\nUse fewer layers or less downsampling for a {size} px image."
    out = table[-1].size
    pixel = (round(row * (out - 1)), round(col * (out - 1)))
    heat = None
    if erf:
        torch.manual_seed(seed)
        wide = conv_stack(kernel, rates, downsample=downsample, every=every, channels=8)
        generator = torch.Generator().manual_seed(seed)
        try:
            heat = effective_receptive_field(wide, input_shape=(8, size, size), pixel=pixel, samples=8,
                                             generator=generator)
        except ValueError:  # every ReLU dead for this pixel: nothing to draw
            heat = None
    centre = (table[-1].start + pixel[0] * table[-1].jump, table[-1].start + pixel[1] * table[-1].jump)
    entry = {"footprint": footprint(model, (1, size, size), pixel), "box": rf_box(table, pixel), "erf": heat,
             "point": centre, "label": label}
    return entry, table


def draw_stack_receptive_field(kernel: int = 3, dilation: int = 1, layers: int = 3, downsample: str = "none",
                               every: int = 1, row: float = 0.5, col: float = 0.5, erf: bool = True,
                               image: torch.Tensor | None = None, size: int = 64, seed: int = 0,
                               rates: str = "1, 3, 5 (DAC branch 4)", compare: bool = True) -> Figure:
    """A stack of convs (``kernel``, 'same' padding, downsampling by 2 after every ``every``-th layer by
    ``downsample`` = none/stride/maxpool) and its receptive field for the output pixel at fractional
    position (``row``, ``col``): analytic box, exact footprint, ERF (random weights, 8 channels, 8 noise
    images, as Luo et al.) over ``image`` (default: a synthetic fundus crop).

    The dilations: a preset of :data:`RATE_PRESETS` (``rates``; default DAC branch 4, 1-3-5), or with
    ``rates="d (slider) for every layer"`` ``dilation`` for each of ``layers`` layers. ``compare`` adds a
    second row, the same layers without dilation, zoomed on the same crop.
    """
    image = default_image(size) if image is None else image
    size = int(image.shape[-1])
    if image.shape[-2] != size:
        raise ValueError(f"draw_stack_receptive_field expects a square image, got {tuple(image.shape)}.")
    if rates not in RATE_PRESETS:
        raise ValueError(f"rates must be one of {list(RATE_PRESETS)}, got {rates!r}.")
    chosen = RATE_PRESETS[rates] or (int(dilation),) * int(layers)
    name = f"{len(chosen)} x conv {kernel}x{kernel}, dilations {', '.join(map(str, chosen))}"
    built = _stack_row(kernel, chosen, downsample, every, row, col, erf, size, seed,
                       f"dilations {', '.join(map(str, chosen))}")
    if isinstance(built, str):
        return _message_figure(built)
    entry, table = built
    down = "" if downsample == "none" else f", {downsample} /2 after every {every}"
    lines = [f"{name}{down}: pixel {tuple(int(p) for p in entry['point'])}",
             f"{_formula(table)} px, jump {table[-1].jump}"]
    entries = [entry]
    if compare and any(d != 1 for d in chosen):
        plain = _stack_row(kernel, (1,) * len(chosen), downsample, every, row, col, erf, size, seed,
                           f"no dilation ({', '.join('1' * len(chosen))})")
        if not isinstance(plain, str):
            entries.append(plain[0])
            lines.append(f"below, the same layers without dilation: {_formula(plain[1])} px")
    if len(entries) == 1:
        entry["label"] = None
    lines = [textwrap.fill(line, 72, subsequent_indent="    ") for line in lines]  # the width of the figure
    return plot_receptive_field_rows(image, entries, title="\n".join(lines))


def receptive_field_explorer(image: torch.Tensor | None = None, size: int = 64) -> w.interactive:
    """Sliders for kernel size, dilation rates, layers, downsampling and the output pixel over
    :func:`draw_stack_receptive_field` (call that with its defaults for the same first figure)."""
    image = default_image(size) if image is None else image

    def draw(rates: str = "1, 3, 5 (DAC branch 4)", kernel: int = 3, dilation: int = 1, layers: int = 3,
             downsample: str = "none", every: int = 1, row: float = 0.5, col: float = 0.5, erf: bool = True,
             compare: bool = True) -> Figure:
        return draw_stack_receptive_field(kernel, dilation, layers, downsample, every, row, col, erf, image,
                                          rates=rates, compare=compare)

    return widgets.make_interact(
        draw,
        rates=widgets.dropdown(list(RATE_PRESETS), description="dilation rates"),
        kernel=widgets.int_slider(1, 7, step=2, description="kernel size k"),
        dilation=widgets.int_slider(1, 6, description="dilation d"),
        layers=widgets.int_slider(1, 8, description="layers"),
        downsample=widgets.dropdown(DOWNSAMPLE, description="downsampling /2"),
        every=widgets.int_slider(1, 4, description="... after every n-th layer"),
        row=widgets.float_slider(0.0, 1.0, step=0.05, description="output row (fraction)"),
        col=widgets.float_slider(0.0, 1.0, step=0.05, description="output column (fraction)"),
        erf=w.Checkbox(value=True, description="effective RF (random weights)"),
        compare=w.Checkbox(value=True, description="compare: no dilation"),
    )


def draw_model_receptive_field(model: nn.Module, image: torch.Tensor, row: float = 0.5, col: float = 0.5,
                               erf: bool = True, identity_for: tuple[type, ...] = (),
                               title: str | None = None, log_erf: bool = True) -> Figure:
    """Footprint and ERF (the model's own weights, on ``image``) of the output pixel at fractional
    position (``row``, ``col``) of any model with a same-size output (e.g. the course's U-Nets). The ERF
    is drawn on a logarithmic scale (``log_erf``): a trained network's gradient is concentrated on a few
    pixels, and its tail across the footprint shows only on a log scale."""
    if image.dim() != 3:
        raise ValueError(f"draw_model_receptive_field expects one C x H x W image, got {tuple(image.shape)}.")
    height, width = image.shape[-2:]
    pixel = (round(row * (height - 1)), round(col * (width - 1)))
    mask = footprint(model, tuple(image.shape), pixel, identity_for=identity_for)
    heat = effective_receptive_field(model, image, pixel=pixel) if erf else None
    rows, cols = torch.nonzero(mask.any(1)).flatten(), torch.nonzero(mask.any(0)).flatten()
    extent = f"{int(rows[-1] - rows[0]) + 1} x {int(cols[-1] - cols[0]) + 1}"
    name = title or type(model).__name__
    whole = bool(mask.all())  # a zoom on a footprint that is the whole image would show nothing new
    return plot_receptive_field(image, mask, None, heat, point=pixel, log_erf=log_erf, zoom=not whole,
                                title=f"{name}: output pixel {pixel}\nfootprint {extent} px"
                                + (" (the whole image)" if whole else ""))


def model_receptive_field_explorer(model: nn.Module, image: torch.Tensor, erf: bool = True,
                                   title: str | None = None) -> w.interactive:
    """Sliders for the output pixel (and a log-scale switch) over :func:`draw_model_receptive_field`."""

    def draw(row: float = 0.5, col: float = 0.5, log_erf: bool = True) -> Figure:
        return draw_model_receptive_field(model, image, row, col, erf=erf, title=title, log_erf=log_erf)

    return widgets.make_interact(
        draw,
        row=widgets.float_slider(0.0, 1.0, step=0.05, description="output row (fraction)"),
        col=widgets.float_slider(0.0, 1.0, step=0.05, description="output column (fraction)"),
        log_erf=w.Checkbox(value=True, description="ERF on a log scale"),
    )
