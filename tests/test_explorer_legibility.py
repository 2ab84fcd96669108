"""Every explorer's default figure is legible when projected: no text below 10 pt as JupyterLab shows it.

JupyterLab shows an inline figure at its own pixel size (the tight bounding box at the figure's dpi,
:func:`course_lib.notebook.use_inline_figures`), scaled down to fit the output area: about 840 px wide
with the file browser open at 1280 x 800. A browser's point is 96/72 px, so a text of ``s`` points in a
figure drawn at ``dpi`` shows at ``s * dpi / 96 * min(1, 840 / width_px)`` points. Sub- and superscripts of
mathtext are drawn at 0.7 of the text's size and are counted so.

Each explorer's drawing function is called with the defaults its widget starts from, on small inputs
(tiny untrained models: only the layout is measured), and every text that is actually drawn (titles,
labels, tick labels, legends, annotations, colourbar labels) is measured.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import contextmanager

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

import course_lib as cl
from tests.test_dacrse_figures import _vessel_scene

DISPLAY_WIDTH_PX = 840  # JupyterLab's output width at 1280 x 800 with the file browser open
CSS_DPI = 96  # a browser's pixels per inch: 1 pt = 96 / 72 px
SMALLEST_PT = 10.0
_SCRIPT_SHRINK = 0.7  # mathtext draws sub- and superscripts at this fraction of the size
_MATH = re.compile(r"(?<!\\)\$(.+?)(?<!\\)\$")


# ------------------------------------------------------------------------------------------ measuring
@contextmanager
def _recording_drawn_texts():
    """Collect every Text whose ``draw`` actually renders something (visible, non-empty, in a drawn axes)."""
    drawn: list[Text] = []
    original = Text.draw

    def draw(self, renderer):
        if self.get_visible() and self.get_text().strip():
            drawn.append(self)
        return original(self, renderer)

    Text.draw = draw
    try:
        yield drawn
    finally:
        Text.draw = original


def _glyph_scale(text: str) -> float:
    return _SCRIPT_SHRINK if any(c in m for m in _MATH.findall(text) for c in "^_") else 1.0


def displayed_width_px(fig: Figure) -> float:
    """The width JupyterLab's inline image has: the tight bounding box (0.1 in padding) at the figure's
    dpi, or the figure's own width if that is wider (constrained layout fills the figure)."""
    renderer = fig.canvas.get_renderer()
    tight = fig.get_tightbbox(renderer).width + 0.2
    return max(tight, fig.get_figwidth()) * fig.dpi


def measure(fig: Figure) -> tuple[float, list[tuple[float, str]]]:
    """(smallest displayed size in browser points, [(displayed pt, text)] for every drawn text)."""
    with _recording_drawn_texts() as drawn:
        fig.canvas.draw()
    scale = min(1.0, DISPLAY_WIDTH_PX / displayed_width_px(fig)) * fig.dpi / CSS_DPI
    sizes = sorted({(round(t.get_fontsize() * _glyph_scale(t.get_text()) * scale, 2), t.get_text())
                    for t in drawn})
    return (sizes[0][0] if sizes else float("inf")), sizes


# ------------------------------------------------------------------------------------------ inputs
def ch00_dataset() -> Figure:
    def vessels(noise: float = 0.025, contrast: float = 1.0, illumination: float = 0.3):
        return cl.data.load("synthetic-vessels", n=2, size=64, noise=noise, contrast=contrast,
                            illumination=illumination)

    sliders = {"noise": cl.widgets.float_slider(0.0, 0.08, step=0.005),
               "contrast": cl.widgets.float_slider(0.2, 2.0, step=0.05)}
    return _widget_figure(cl.widgets.dataset_explorer(vessels, **sliders))


def ch02_sizes() -> Figure:
    return cl.explorers.size_figure()


def ch03_dropblock() -> Figure:
    return cl.explorers.show_dropblock()


def ch04_se_cost() -> Figure:
    return cl.explorers.se_cost_figure()


def ch04_se_layer() -> Figure:
    torch.manual_seed(0)
    model = cl.create_model("rse_unet", widths=(4, 8, 16), reduction=2)
    images, masks = torch.rand(6, 3, 16, 16), (torch.rand(6, 1, 16, 16) > 0.8).float()
    return cl.explorers.se_layer_figure(cl.blocks.se_weights(model, images), images, masks, label="target")


def ch05_stack_rf() -> Figure:
    return cl.explorers.draw_stack_receptive_field()


def ch05_model_rf() -> Figure:
    torch.manual_seed(0)
    model = cl.create_model("unet", in_channels=3, widths=(2, 4, 8))
    image = cl.explorers.default_image(48)
    return cl.explorers.draw_model_receptive_field(model, image, title="trained U-Net")


def ch06_threshold() -> Figure:
    prob, masks, fov, rgb = _vessel_scene()
    return cl.explorers.threshold_figure(prob, masks, fov, rgb)


def ch07_attention() -> Figure:
    from course_lib.protocols.lesions import AttentionRecorder

    torch.manual_seed(0)
    recorders = {}
    for name, gate in (("AttU-Net (grid)", "grid"), ("AttU-Net (same)", "same")):
        model = cl.create_model("attention_unet", in_channels=1, widths=(4, 8, 16), gate=gate)
        recorders[name] = AttentionRecorder(torch.rand(2, 1, 16, 16))
        for epoch in range(4):
            recorders[name].record(model, epoch)
    masks = (torch.rand(2, 1, 16, 16) > 0.8).float()
    lookalikes = (torch.rand(2, 1, 16, 16) > 0.9).float()
    return _widget_figure(cl.explorers.attention_explorer(recorders, masks, lookalikes))


def _unetpp_inputs():
    from course_lib.protocols import unetpp

    torch.manual_seed(0)
    model = cl.create_model("unetpp", in_channels=1, out_channels=1, widths=(4, 8, 16, 32, 64),
                            deep_supervision=True).eval()
    images = torch.rand(2, 1, 32, 32)
    masks = (images > 0.5).float()
    return model, unetpp.measure_pruning(model, images, masks, repeats=1), images, masks


def ch08_pruning() -> Figure:
    return _widget_figure(cl.explorers.pruning_explorer(*_unetpp_inputs()))


def ch09_rsu() -> Figure:
    return cl.explorers.rsu_figure(size=32)  # the default figure, on a smaller scene


def ch09_side_outputs() -> Figure:
    torch.manual_seed(0)
    maps = [[torch.rand(3, 1, 16, 16) for _ in range(7)] for _ in range(6)]
    masks = (torch.rand(3, 1, 16, 16) > 0.5).float()
    return _widget_figure(cl.explorers.side_output_explorer(maps, list(range(6)), torch.rand(3, 3, 16, 16),
                                                            masks))


def ch10_comparison() -> Figure:
    torch.manual_seed(0)
    rgb, masks = torch.rand(2, 3, 40, 40), (torch.rand(2, 1, 40, 40) > 0.8).float()
    names = ("U-Net", "ResUNet", "R2AttU-Net", "Inception U-Net")
    probs = {name: torch.rand(2, 1, 40, 40) for name in names}
    return _widget_figure(cl.explorers.comparison_explorer(rgb, masks, torch.ones(2, 1, 40, 40), probs,
                                                           a="ResUNet", b="R2AttU-Net"))


def _widget_figure(widget) -> Figure:
    """The figure an explorer widget drew with its starting values (the widget runs once when built)."""
    fig = widget.result
    assert isinstance(fig, Figure), fig
    FigureCanvasAgg(fig)  # the widget closed it after showing it: give it a canvas to draw on again
    return fig


EXPLORERS: dict[str, Callable[[], Figure]] = {
    "00 dataset_explorer": ch00_dataset,
    "02 size_figure": ch02_sizes,
    "03 show_dropblock": ch03_dropblock,
    "04 se_cost_figure": ch04_se_cost,
    "04 se_layer_figure": ch04_se_layer,
    "05 draw_stack_receptive_field": ch05_stack_rf,
    "05 draw_model_receptive_field": ch05_model_rf,
    "06 threshold_figure": ch06_threshold,
    "07 attention_figure": ch07_attention,
    "08 pruning_figure": ch08_pruning,
    "09 rsu_figure": ch09_rsu,
    "09 side_output_figure": ch09_side_outputs,
    "10 comparison_figure": ch10_comparison,
}


@pytest.mark.parametrize("name", list(EXPLORERS))
def test_explorer_text_is_legible_at_840_px(name: str) -> None:
    fig = EXPLORERS[name]()
    smallest, sizes = measure(fig)
    width = displayed_width_px(fig)
    small = [f"  {pt:5.2f} pt  {text!r}" for pt, text in sizes if pt < SMALLEST_PT]
    assert smallest >= SMALLEST_PT, (
        f"{name}: {len(small)} texts below {SMALLEST_PT} pt when a {width:.0f} px figure ({fig.dpi:.0f} dpi) "
        f"is shown at {DISPLAY_WIDTH_PX} px:\n" + "\n".join(small))
    plt.close(fig)


def _extents(fig: Figure) -> list[tuple[str, object]]:
    with _recording_drawn_texts() as drawn:
        fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [(t.get_text(), Text.get_window_extent(t, renderer)) for t in drawn]  # an annotation's text only


@pytest.mark.parametrize("name", list(EXPLORERS))
def test_explorer_texts_do_not_overlap(name: str) -> None:
    fig = EXPLORERS[name]()
    extents = _extents(fig)
    clashes = []
    for k, (text, extent) in enumerate(extents):
        for other, other_extent in extents[k + 1:]:
            width = min(extent.x1, other_extent.x1) - max(extent.x0, other_extent.x0)
            height = min(extent.y1, other_extent.y1) - max(extent.y0, other_extent.y0)
            if width > 1 and height > 1:
                clashes.append(f"  {text!r} and {other!r}")
    assert not clashes, f"{name}: overlapping texts:\n" + "\n".join(clashes)
    plt.close(fig)


# ------------------------------------------------------------------------------------------ issue 31
def _integer_ticks(ax) -> bool:
    labels = [t.get_text().replace("−", "-") for t in ax.get_xticklabels() if t.get_text()]
    return bool(labels) and all(re.fullmatch(r"-?\d+", t) for t in labels)


def test_07_names_the_model_and_counts_whole_epochs() -> None:
    fig = ch07_attention()
    assert fig.get_suptitle().startswith("AttU-Net (grid): gate 0 after epoch 3")
    curve = fig.axes[2]
    assert curve.get_xlabel() == "epoch" and _integer_ticks(curve)
    legend = curve.get_legend()
    assert legend is not None
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert not legend.get_window_extent(renderer).overlaps(curve.get_window_extent(renderer))  # off the data


def test_09_side_outputs_are_told_apart_and_epochs_are_whole() -> None:
    fig = ch09_side_outputs()
    mae = next(ax for ax in fig.axes if ax.get_xlabel() == "epoch")
    assert _integer_ticks(mae)
    styles = [(line.get_color(), line.get_linestyle(), line.get_marker()) for line in mae.lines
              if not line.get_label().startswith("_")]
    assert len(styles) == 7 and len({c for c, _, _ in styles}) == 7
    for k in range(1, 6):  # neighbours (and d2/d4, d1/d6) differ in colour, line style and marker
        for other in range(k + 1, 7):
            assert styles[k][1:] != styles[other][1:], (k, other)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert not mae.get_legend().get_window_extent(renderer).overlaps(mae.get_window_extent(renderer))


def test_08_node_labels_fit_their_nodes_and_point_labels_clear_their_bubbles() -> None:
    fig = ch08_pruning()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    grid, _, curve = fig.axes

    def circles(ax) -> list[tuple[tuple[float, float], float]]:  # (centre, radius) of each marker, in px
        px = fig.dpi / 72
        return [(tuple(ax.transData.transform(c.get_offsets()[0])), c.get_sizes()[0] ** 0.5 / 2 * px)
                for c in ax.collections if len(c.get_offsets())]

    def clear(box, circle) -> bool:  # the box's point nearest the circle's centre lies outside it
        (cx, cy), r = circle
        nx, ny = min(max(cx, box.x0), box.x1), min(max(cy, box.y0), box.y1)
        return (nx - cx) ** 2 + (ny - cy) ** 2 > r**2

    nodes = circles(grid)
    labels = [t for t in grid.texts if t.get_text().startswith("$X^")]
    assert len(labels) == len(nodes) == 15
    for text, ((cx, cy), radius) in zip(labels, nodes, strict=True):
        box = text.get_window_extent(renderer)
        corners = [(x, y) for x in (box.x0, box.x1) for y in (box.y0, box.y1)]
        assert max(((x - cx) ** 2 + (y - cy) ** 2) ** 0.5 for x, y in corners) < radius, text.get_text()
    legend = grid.get_legend().get_window_extent(renderer)
    assert all(clear(legend, node) for node in nodes)  # the legend is off the nodes
    bubbles = circles(curve)
    for text in curve.texts:
        assert all(clear(text.get_window_extent(renderer), bubble) for bubble in bubbles), text.get_text()


def test_10_disagreement_has_its_own_key_and_says_when_a_equals_b() -> None:
    torch.manual_seed(0)
    rgb, masks = torch.rand(1, 3, 24, 24), (torch.rand(1, 1, 24, 24) > 0.8).float()
    probs = {"U-Net": torch.rand(1, 1, 24, 24), "ResUNet": torch.rand(1, 1, 24, 24)}
    fig = cl.explorers.comparison_figure(rgb, masks, None, probs)
    keys = {t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()}
    assert {"TP (hit)", "FP (false alarm)", "FN (miss)"} <= keys
    assert any(k.startswith("only A right") for k in keys) and any(k.startswith("only B right") for k in keys)
    from course_lib.viz._style import PALETTE

    disagreement = fig.axes[2].images[0].cmap.colors
    assert not {PALETTE["fp"], PALETTE["fn"]} & set(disagreement)  # no colour means two things
    same = cl.explorers.comparison_figure(rgb, masks, None, probs, a="U-Net", b="U-Net")
    assert "A = B" in same.axes[2].get_title()


@pytest.mark.parametrize("threshold", [0.05, 0.5, 0.95])
def test_06_threshold_label_stays_inside_the_roc_axes(threshold: float) -> None:
    g = torch.Generator().manual_seed(1)
    masks = (torch.rand(2, 1, 32, 32, generator=g) < 0.12).float()
    prob = (0.5 * masks + 0.6 * torch.rand(2, 1, 32, 32, generator=g) ** 2).clamp(0, 1)
    fig = cl.explorers.threshold_figure(prob, masks, None, torch.rand(2, 3, 32, 32, generator=g),
                                        threshold=threshold)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    roc = fig.axes[0]
    inside = roc.get_window_extent(renderer)
    for text in roc.texts:
        box = text.get_window_extent(renderer)
        assert inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1, (
            text.get_text())
