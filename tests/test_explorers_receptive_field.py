"""The receptive-field explorers run headless with their defaults and draw what the tool measures."""

from __future__ import annotations

import ipywidgets as w
import matplotlib.pyplot as plt
import pytest
import torch

import course_lib as cl
from course_lib.explorers.receptive_field import (
    RATE_PRESETS,
    default_image,
    draw_model_receptive_field,
    draw_stack_receptive_field,
    model_receptive_field_explorer,
    receptive_field_explorer,
)


def titles(fig) -> list[str]:
    return [ax.get_title() for ax in fig.axes]


def test_stack_explorer_defaults() -> None:
    fig = draw_stack_receptive_field()  # DAC branch 4 above the same three layers without dilation
    text = fig._suptitle.get_text()
    assert "r = 1 + 2 + 6 + 10 = 19" in text and "without dilation: r = 1 + 2 + 2 + 2 = 7" in text
    assert any("19x19, 361 px" in t for t in titles(fig)) and any("7x7, 49 px" in t for t in titles(fig))
    assert sum("effective RF" in t for t in titles(fig)) == 2
    zooms = [ax for ax in fig.axes if ax.get_title().startswith("footprint zoom")]
    assert zooms[0].get_xlim() == zooms[1].get_xlim()  # the same crop: the sizes compare
    widget = receptive_field_explorer()
    assert isinstance(widget, w.interactive)
    assert {c.description for c in widget.children if hasattr(c, "description")} >= {
        "kernel size k", "dilation d", "dilation rates", "compare: no dilation"}
    assert cl.explorers.receptive_field_explorer is receptive_field_explorer
    plt.close("all")


def test_stack_explorer_shows_gridding_and_downsampling() -> None:
    uniform = "d (slider) for every layer"
    fig = draw_stack_receptive_field(dilation=2, erf=False, rates=uniform, compare=False)
    assert "= 13 px" in fig._suptitle.get_text()
    assert any("13x13, 49 px" in t for t in titles(fig))  # holes: 49 of 169 pixels
    assert any("13x13, 49 px" in t for t in titles(draw_stack_receptive_field(rates="2, 2, 2 (gridding)")))
    fig = draw_stack_receptive_field(layers=4, downsample="maxpool", every=2, erf=False, rates=uniform)
    assert "jump 4" in fig._suptitle.get_text() and "without dilation" not in fig._suptitle.get_text()
    fig = draw_stack_receptive_field(layers=8, downsample="maxpool", every=1, rates=uniform)  # 64 px run out
    assert "empty" in fig.axes[0].texts[0].get_text()
    with pytest.raises(ValueError, match="rates must be one of"):
        draw_stack_receptive_field(rates="1, 2, 3")
    for preset, rates in RATE_PRESETS.items():  # every preset draws
        fig = draw_stack_receptive_field(rates=preset, erf=False)
        if rates:
            assert f"dilations {', '.join(map(str, rates))}" in fig._suptitle.get_text()
    plt.close("all")


def test_model_explorer_on_a_unet() -> None:
    torch.manual_seed(0)
    model = cl.create_model("unet", in_channels=3, widths=(2, 4, 8))
    image = default_image(48)
    fig = draw_model_receptive_field(model, image, row=0.0, col=0.0)
    assert "footprint" in fig._suptitle.get_text() and len(fig.axes) == 4  # 3 panels + colourbar
    assert isinstance(model_receptive_field_explorer(model, image, erf=False), w.interactive)
    with pytest.raises(ValueError, match="C x H x W"):
        draw_model_receptive_field(model, image[None])


def test_receptive_field_rows_share_one_crop() -> None:
    from course_lib.receptive_field import footprint
    from course_lib.viz.receptive_field import plot_receptive_field_rows

    image = default_image(48)
    small = footprint(cl.receptive_field.conv_stack(3, (1, 1)), (1, 48, 48))
    large = footprint(cl.receptive_field.conv_stack(3, (1, 4)), (1, 48, 48))
    fig = plot_receptive_field_rows(image, [{"footprint": large, "label": "large"},
                                            {"footprint": small, "label": "small"}], title="two")
    zooms = [ax for ax in fig.axes if ax.get_title().startswith("footprint zoom")]
    assert len(zooms) == 2 and zooms[0].get_xlim() == zooms[1].get_xlim()
    assert {"large", "small"} <= {ax.get_title() for ax in fig.axes}
    with pytest.raises(ValueError, match="at least one row"):
        plot_receptive_field_rows(image, [])
    plt.close("all")


def test_model_explorer_draws_the_erf_on_a_log_scale() -> None:
    torch.manual_seed(0)
    model = cl.create_model("unet", in_channels=3, widths=(2, 4, 8))
    image = default_image(48)
    fig = draw_model_receptive_field(model, image)
    erf_axes = [ax for ax in fig.axes if ax.get_title().startswith("effective RF")]
    assert erf_axes[0].get_title().endswith("(log)")
    assert erf_axes[0].images[0].norm.__class__.__name__ == "LogNorm"
    linear = draw_model_receptive_field(model, image, log_erf=False)
    assert not [ax for ax in linear.axes if ax.get_title().endswith("(log)")]
    widget = model_receptive_field_explorer(model, image)
    assert "ERF on a log scale" in {c.description for c in widget.children if hasattr(c, "description")}
    plt.close("all")
