"""Chapter 04 explorers and figures run with their defaults and refuse mismatched inputs."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch

import course_lib as cl
from course_lib.viz.se import group_separation, plot_se_by_group, se_weight_heatmap


@pytest.fixture(scope="module")
def recorded() -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = cl.create_model("rse_unet", widths=(4, 8, 16), reduction=2)
    images = torch.rand(6, 3, 16, 16)
    masks = (torch.rand(6, 1, 16, 16) > 0.8).float()
    return cl.blocks.se_weights(model, images), images, masks


def test_reduction_explorer_runs_with_defaults() -> None:
    fig = cl.explorers.se_cost_figure()
    assert "580 parameters" in fig.axes[1].get_title()  # C = 64, r = 16
    plt.close(fig)
    widget = cl.explorers.reduction_explorer()
    assert widget.children[1].value == 16
    plt.close("all")
    with pytest.raises(ValueError, match="positive"):
        cl.explorers.se_cost_figure(0, 16)


def test_se_layer_explorer_runs_with_defaults(recorded) -> None:
    weights, images, masks = recorded
    fig = cl.explorers.se_layer_figure(weights, images, masks)
    assert len(fig.axes) >= 3
    plt.close(fig)
    cl.explorers.se_layer_explorer(weights, images, masks)
    plt.close("all")
    with pytest.raises(ValueError, match="same images"):
        cl.explorers.se_layer_figure(weights, images[:3])


def test_se_layer_figure_names_the_foreground(recorded) -> None:
    weights, images, masks = recorded
    fig = cl.explorers.se_layer_figure(weights, images, masks)
    assert fig.axes[0].get_title().endswith("% foreground")  # no task-specific word by default
    plt.close(fig)
    fig = cl.explorers.se_layer_figure(weights, images, masks, label="target")  # chapter 04's cue task
    assert fig.axes[0].get_title().endswith("% target")
    plt.close(fig)


def test_group_figures(recorded) -> None:
    weights, _, _ = recorded
    groups = {"a": torch.arange(3), "b": torch.arange(3, 6)}
    separation = group_separation(weights, groups)
    assert list(separation) == list(weights) and all(v >= 0 for v in separation.values())
    same = group_separation(weights, {"a": torch.arange(3), "b": torch.arange(3)})
    assert all(v == 0 for v in same.values())
    plt.close(plot_se_by_group(weights, groups))
    plt.close(se_weight_heatmap(weights["encoder.0.se"], highlight=1))
    with pytest.raises(ValueError, match="images, channels"):
        se_weight_heatmap(torch.rand(3))
