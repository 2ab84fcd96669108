"""Receptive-field explorers: sliders over a conv stack's geometry, or over the output pixel of a model.

``draw_stack_receptive_field`` builds a stack with :func:`course_lib.receptive_field.conv_stack` from
the slider values and draws, for the chosen output pixel, Araujo et al.'s analytic box, the exact
footprint and Luo et al.'s effective receptive field over an image. ``draw_model_receptive_field``
does the same for any model (footprint and ERF; no analytic box, which only exists for stacks).
Both run headless with their defaults; the ``*_explorer`` functions wrap them in sliders.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import ipywidgets as w
import matplotlib.pyplot as plt
import torch
import torch.nn as nn
from matplotlib.figure import Figure

from course_lib import widgets
from course_lib.receptive_field import analytic, conv_stack, effective_receptive_field, footprint, rf_box
from course_lib.viz.receptive_field import plot_receptive_field

__all__ = [
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


def draw_stack_receptive_field(kernel: int = 3, dilation: int = 1, layers: int = 3, downsample: str = "none",
                               every: int = 1, row: float = 0.5, col: float = 0.5, erf: bool = True,
                               image: torch.Tensor | None = None, size: int = 64, seed: int = 0) -> Figure:
    """A stack of ``layers`` convs (``kernel``, ``dilation``, 'same' padding, downsampling by 2 after every
    ``every``-th layer by ``downsample`` = none/stride/maxpool) and its receptive field for the output
    pixel at fractional position (``row``, ``col``): analytic box, exact footprint, ERF (random weights,
    8 channels, 8 noise images, as Luo et al.) over ``image`` (default: a synthetic fundus crop).
    """
    image = default_image(size) if image is None else image
    size = int(image.shape[-1])
    if image.shape[-2] != size:
        raise ValueError(f"draw_stack_receptive_field expects a square image, got {tuple(image.shape)}.")
    model = conv_stack(kernel, dilation, layers, downsample=downsample, every=every)
    try:
        table = analytic(model, input_size=size)
    except ValueError as err:
        return _message_figure(f"{err}\nUse fewer layers or less downsampling for a {size} px image.")
    out = table[-1].size
    pixel = (round(row * (out - 1)), round(col * (out - 1)))
    mask = footprint(model, (1, size, size), pixel)
    box = rf_box(table, pixel)
    centre = (table[-1].start + pixel[0] * table[-1].jump, table[-1].start + pixel[1] * table[-1].jump)
    heat = None
    if erf:
        torch.manual_seed(seed)
        wide = conv_stack(kernel, dilation, layers, downsample=downsample, every=every, channels=8)
        generator = torch.Generator().manual_seed(seed)
        try:
            heat = effective_receptive_field(wide, input_shape=(8, size, size), pixel=pixel, samples=8,
                                             generator=generator)
        except ValueError:  # every ReLU dead for this pixel: nothing to draw
            heat = None
    down = "" if downsample == "none" else f", {downsample} /2 after every {every}"
    title = (f"{layers} x conv {kernel}x{kernel}, dilation {dilation}{down}; output {out}x{out}, "
             f"pixel {pixel}\n{_formula(table)} px, jump {table[-1].jump}")
    return plot_receptive_field(image, mask, box, heat, point=centre, title=title)


def receptive_field_explorer(image: torch.Tensor | None = None, size: int = 64) -> w.interactive:
    """Sliders for kernel size, dilation, layers, downsampling and the output pixel over
    :func:`draw_stack_receptive_field` (call that with its defaults for the same first figure)."""
    image = default_image(size) if image is None else image

    def draw(kernel: int = 3, dilation: int = 1, layers: int = 3, downsample: str = "none", every: int = 1,
             row: float = 0.5, col: float = 0.5, erf: bool = True) -> Figure:
        return draw_stack_receptive_field(kernel, dilation, layers, downsample, every, row, col, erf, image)

    return widgets.make_interact(
        draw,
        kernel=widgets.int_slider(1, 7, step=2, description="kernel size k"),
        dilation=widgets.int_slider(1, 6, description="dilation d"),
        layers=widgets.int_slider(1, 8, description="layers"),
        downsample=widgets.dropdown(DOWNSAMPLE, description="downsampling /2"),
        every=widgets.int_slider(1, 4, description="... after every n-th layer"),
        row=widgets.float_slider(0.0, 1.0, step=0.05, description="output row (fraction)"),
        col=widgets.float_slider(0.0, 1.0, step=0.05, description="output column (fraction)"),
        erf=w.Checkbox(value=True, description="effective RF (random weights)"),
    )


def draw_model_receptive_field(model: nn.Module, image: torch.Tensor, row: float = 0.5, col: float = 0.5,
                               erf: bool = True, identity_for: tuple[type, ...] = (),
                               title: str | None = None) -> Figure:
    """Footprint and ERF (the model's own weights, on ``image``) of the output pixel at fractional
    position (``row``, ``col``) of any model with a same-size output (e.g. the course's U-Nets)."""
    if image.dim() != 3:
        raise ValueError(f"draw_model_receptive_field expects one C x H x W image, got {tuple(image.shape)}.")
    height, width = image.shape[-2:]
    pixel = (round(row * (height - 1)), round(col * (width - 1)))
    mask = footprint(model, tuple(image.shape), pixel, identity_for=identity_for)
    heat = effective_receptive_field(model, image, pixel=pixel) if erf else None
    rows, cols = torch.nonzero(mask.any(1)).flatten(), torch.nonzero(mask.any(0)).flatten()
    extent = f"{int(rows[-1] - rows[0]) + 1} x {int(cols[-1] - cols[0]) + 1}"
    name = title or type(model).__name__
    return plot_receptive_field(image, mask, None, heat, point=pixel,
                                title=f"{name}: output pixel {pixel}, footprint {extent} px")


def model_receptive_field_explorer(model: nn.Module, image: torch.Tensor, erf: bool = True,
                                   title: str | None = None) -> w.interactive:
    """Sliders for the output pixel over :func:`draw_model_receptive_field`."""

    def draw(row: float = 0.5, col: float = 0.5) -> Figure:
        return draw_model_receptive_field(model, image, row, col, erf=erf, title=title)

    return widgets.make_interact(
        draw,
        row=widgets.float_slider(0.0, 1.0, step=0.05, description="output row (fraction)"),
        col=widgets.float_slider(0.0, 1.0, step=0.05, description="output column (fraction)"),
    )
