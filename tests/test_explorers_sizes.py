"""The size explorer (chapter 02) and the partial size walk behind it."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

import course_lib as cl
from course_lib import sizes
from course_lib.explorers.sizes import size_explorer, size_figure


def test_walk_sizes_stops_where_the_arithmetic_breaks() -> None:
    rows, error = sizes.walk_sizes(572)
    assert error is None and rows == sizes.layer_sizes(572)
    rows, error = sizes.walk_sizes(570)
    assert error == "encoder.2 would max-pool an odd size (279 px)"
    assert rows[-1] == ("encoder.1 conv2", 279, 128)
    rows, error = sizes.walk_sizes(570, padded=True)
    assert error == "encoder.2 would max-pool an odd size (285 px)"
    rows, error = sizes.walk_sizes(3)
    assert rows == [("input", 3, 1), ("encoder.0 conv1", 1, 64)]
    assert error == "encoder.0 conv2 would shrink the map to -1 px"


@pytest.mark.parametrize(("size", "depth", "text"), [
    (572, 4, "valid: 572 -> 388"), (570, 4, "try 556 or 572"), (100, 4, "try 188"),
    (64, 2, "padded: 64 -> 64"),
])
def test_size_figure_reports_the_output_or_the_nearest_valid_sizes(size: int, depth: int, text: str) -> None:
    fig = size_figure(size, depth)
    titles = " ".join(ax.get_title(loc=loc) for ax in fig.axes for loc in ("center", "left"))
    assert text in titles
    plt.close(fig)


def test_size_figure_shows_the_lost_border() -> None:
    fig = size_figure()
    texts = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert "92 px lost per side" in texts and "46% of the input area" in texts
    plt.close(fig)
    with pytest.raises(ValueError, match="positive"):
        size_figure(0)


def test_size_explorer_widget_starts_at_the_defaults() -> None:
    widget = size_explorer()
    values = {c.description: c.value for c in widget.children if hasattr(c, "value") and c.description}
    assert values["input size"] == 572 and values["depth"] == 4
    assert cl.explorers.size_explorer is size_explorer
    plt.close("all")


def test_size_figure_text_is_large_enough_to_project() -> None:
    fig = size_figure(572)  # the padded walk fails here: its marker is annotated too
    fig.canvas.draw()
    sizes_pt = [t.get_fontsize() for ax in fig.axes for t in (*ax.get_xticklabels(), *ax.get_yticklabels(),
                                                               *ax.texts) if t.get_text()]
    assert sizes_pt and min(sizes_pt) >= 10
    plt.close(fig)
