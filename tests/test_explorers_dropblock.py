"""Chapter 03 explorer and figures: the numbers it shows, the headless figure, the widget."""

from __future__ import annotations

import pytest
import torch

import course_lib as cl
from course_lib.blocks.dropblock import expected_drop_rate
from course_lib.viz.dropblock import plot_block_mask, plot_drop_rates, plot_keep_prob_schedule


def test_rates_of_the_source_setting() -> None:
    """Common bug 3: p = 0.5, block 9 on a 48x48 map drops about 37.6 %, not ~10 %."""
    rates = cl.explorers.dropblock_rates(0.5, 9, 48, channels=512)
    assert rates["target"] == pytest.approx(0.5)
    assert rates["gamma"] == pytest.approx(0.5 / 81 * 48**2 / 40**2)
    assert rates["expected"] == pytest.approx(0.376, abs=0.001)
    assert rates["measured"] == pytest.approx(rates["expected"], abs=0.02)
    assert 0.35 < rates["naive"] < 0.38
    assert rates["block_size_used"] == 9


def test_rates_clamp_the_block_and_are_reproducible() -> None:
    a = cl.explorers.dropblock_rates(0.9, 12, 5, seed=3)
    b = cl.explorers.dropblock_rates(0.9, 12, 5, seed=3)
    assert a == b
    assert a["block_size_used"] == 5
    assert a["expected"] == pytest.approx(expected_drop_rate(0.9, 5, 5)) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="positive"):
        cl.explorers.dropblock_rates(0.9, 3, 0)


@pytest.mark.parametrize("args", [(), (0.9, 8, 5), (1.0, 1, 4)])
def test_show_dropblock_draws_with_any_setting(args) -> None:
    fig = cl.explorers.show_dropblock(*args)
    assert len(fig.axes) == 3
    assert "measured" in fig._suptitle.get_text()


def test_widget_starts_at_the_defaults() -> None:
    widget = cl.explorers.dropblock_explorer()
    values = {child.description: child.value for child in widget.children if hasattr(child, "value")}
    assert values["keep_prob"] == pytest.approx(0.9)
    assert values["block_size"] == 7 and values["feature size"] == 32 and values["seed"] == 0


def test_figures() -> None:
    mask = torch.ones(10, 10)
    mask[2:5, 3:6] = 0
    seeds = torch.zeros(8, 8, dtype=torch.bool)
    seeds[2, 3] = True
    fig = plot_block_mask(mask, seeds, 3, title="one block")
    assert fig.axes[0].get_title() == "one block"
    with pytest.raises(ValueError, match="block_size"):
        plot_block_mask(mask, seeds)
    rows = [{"block_size": b, "feat_size": 16, "target": 0.1, "expected": 0.09, "measured": 0.095}
            for b in (1, 3, 5)]
    assert plot_drop_rates(rows).axes[0].get_xlabel() == "block size"
    with pytest.raises(ValueError, match="no rows"):
        plot_drop_rates([])
    fig = plot_keep_prob_schedule({"planned": [1.0, 0.95, 0.9], "as run": [1.0, 0.95, 0.9]})
    assert len(fig.axes[0].lines) == 2


def test_big_panel_shows_a_channel_with_a_block_at_the_defaults() -> None:
    # seed 0 leaves the first channel empty at keep_prob 0.9, block 7, 32x32: the panel must not be blank
    fig = cl.explorers.show_dropblock()
    panel = fig.axes[0].images[0].get_array()
    assert float(panel.min()) == 0.0, "the big panel should show at least one dropped block"
    assert "channel" in fig.axes[0].get_title()
