"""The receptive-field explorers run headless with their defaults and draw what the tool measures."""

from __future__ import annotations

import ipywidgets as w
import pytest
import torch

import course_lib as cl
from course_lib.explorers.receptive_field import (
    default_image,
    draw_model_receptive_field,
    draw_stack_receptive_field,
    model_receptive_field_explorer,
    receptive_field_explorer,
)


def titles(fig) -> list[str]:
    return [ax.get_title() for ax in fig.axes]


def test_stack_explorer_defaults() -> None:
    fig = draw_stack_receptive_field()
    assert "r = 1 + 2 + 2 + 2 = 7" in fig._suptitle.get_text()
    assert any("7x7, 49 px" in t for t in titles(fig))  # footprint zoom: the full 7x7 box
    assert any("effective RF" in t for t in titles(fig))
    widget = receptive_field_explorer()
    assert isinstance(widget, w.interactive)
    assert {c.description for c in widget.children if hasattr(c, "description")} >= {"kernel size k",
                                                                                       "dilation d"}
    assert cl.explorers.receptive_field_explorer is receptive_field_explorer


def test_stack_explorer_shows_gridding_and_downsampling() -> None:
    fig = draw_stack_receptive_field(dilation=2, erf=False)
    assert "= 13 px" in fig._suptitle.get_text()
    assert any("13x13, 49 px" in t for t in titles(fig))  # holes: 49 of 169 pixels
    fig = draw_stack_receptive_field(layers=4, downsample="maxpool", every=2, erf=False)
    assert "jump 4" in fig._suptitle.get_text()
    fig = draw_stack_receptive_field(layers=8, downsample="maxpool", every=1)  # 64 px run out
    assert "empty" in fig.axes[0].texts[0].get_text()


def test_model_explorer_on_a_unet() -> None:
    torch.manual_seed(0)
    model = cl.create_model("unet", in_channels=3, widths=(2, 4, 8))
    image = default_image(48)
    fig = draw_model_receptive_field(model, image, row=0.0, col=0.0)
    assert "footprint" in fig._suptitle.get_text() and len(fig.axes) == 4  # 3 panels + colourbar
    assert isinstance(model_receptive_field_explorer(model, image, erf=False), w.interactive)
    with pytest.raises(ValueError, match="C x H x W"):
        draw_model_receptive_field(model, image[None])
