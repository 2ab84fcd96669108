"""Chapter 06's figures: SE, RSE, DAC and DACRSE-UNet drawn from the modules (their labels carry the
modules' real numbers), the threshold explorer and its static figure, and the ROC legend off the data."""

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn as nn
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

import course_lib as cl


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _texts(fig) -> str:
    """Every text of a figure (box labels, annotations, titles), joined."""
    parts = [t.get_text() for ax in fig.axes for t in ax.texts]
    parts += [ax.get_title() for ax in fig.axes]
    return "\n".join(parts)


def test_dacrse_unet_figure_reads_widths_units_and_dac_from_the_model() -> None:
    model = cl.create_model("dacrse_unet", widths=(16, 32, 64, 128), block_size=(7, 5, 3, 2), reduction=4)
    text = _texts(cl.viz.draw_dacrse_unet(model, size=64))
    for label in ("RSE 16→16\n", "RSE 16→32\n", "RSE 64→128\n", "RSE 32→16", "64² px", "32² px", "8² px",
                  "SE 128→32→128\nDropBlock 2", "DropBlock 7", "up-conv 2x2\n128→64", "max-pool 2x2",
                  "conv 3x3, 3→16", "conv 1x1, 16→1 → 1 logit", "DAC 128 ch\nRF 19 at 1/8",
                  "144 more input px", "DACRSE-UNet, widths 16-32-64-128"):
        assert label in text, label
    # another width, no DAC, plain units: the figure follows the model
    plain = _texts(cl.viz.draw_dacrse_unet(cl.create_model("dacrse_unet", widths=(8, 16, 32), rse=False,
                                                           dac=False)))
    assert "double conv 8→16\n" in plain and "1/2 size" in plain and "1/4 size" in plain
    assert "DAC" not in plain and "U-Net, widths 8-16-32" in plain
    assert "2 max-pools" in plain and "RSE" not in plain
    rse_unet = cl.create_model("rse_unet", widths=(4, 8, 16, 32), keep_prob=1.0)
    rse_only = _texts(cl.viz.draw_dacrse_unet(rse_unet))
    assert "RSE-U-Net" in rse_only and "no DropBlock" in rse_only


def test_dac_figure_reads_dilations_and_receptive_fields() -> None:
    block = cl.blocks.DACBlock(32)
    text = _texts(cl.viz.draw_dac_block(block))
    assert "conv 3x3 d=3\n32→32" in text and "conv 3x3 d=5\n32→32" in text and "conv 1x1\n32→32" in text
    assert [f"branch {b}: RF {rf}" in text for b, rf in ((1, 3), (2, 7), (3, 9), (4, 19))] == [True] * 4
    assert "receptive field 19" in text and "shared convs" in text
    # change the last dilation: the label and the measured receptive field follow
    block.dilate3 = nn.Conv2d(32, 32, 3, padding=7, dilation=7)
    changed = _texts(cl.viz.draw_dac_block(block))
    assert "conv 3x3 d=7" in changed and "branch 4: RF 23" in changed and "d=5" not in changed
    assert "own weights" in _texts(cl.viz.draw_dac_block(cl.blocks.DACBlock(8, shared=False)))


def test_se_and_rse_figures_read_channels_reduction_and_shortcut() -> None:
    text = _texts(cl.viz.draw_se_block(cl.blocks.SEBlock(64, reduction=16)))
    assert "FC 64→4" in text and "FC 4→64" in text and "r = 16" in text and "64 × 1 × 1" in text
    assert "FC 48→6" in _texts(cl.viz.draw_se_block(cl.blocks.SEBlock(48, reduction=8)))
    widening = _texts(cl.viz.draw_rse_block(cl.blocks.RSEBlock(16, 32, reduction=4, block_size=5)))
    for label in ("conv 3x3, 16→32", "conv 3x3, 32→32", "DropBlock 5x5, keep 0.9", "SE 32→8→32 (r = 4)",
                  "conv 1x1, 16→32", "RSE unit: 16 → 32 channels"):
        assert label in widening, label
    same = _texts(cl.viz.draw_rse_block(cl.blocks.RSEBlock(8, 8, keep_prob=1.0, reduction=2)))
    assert "identity" in same and "DropBlock" not in same


def _architecture_figures() -> dict[str, Figure]:
    """The four architecture figures as chapter 06 draws them, plus the ablation models and variants."""
    paper = cl.create_model("dacrse_unet")
    return {
        "DACRSE-UNet": cl.viz.draw_dacrse_unet(paper, size=592),
        "U-Net + DAC": cl.viz.draw_dacrse_unet(cl.create_model("dacrse_unet", rse=False), size=592),
        "RSE-U-Net": cl.viz.draw_dacrse_unet(cl.create_model("dacrse_unet", dac=False), size=592),
        "U-Net, 2 levels": cl.viz.draw_dacrse_unet(cl.create_model("dacrse_unet", widths=(8, 16, 32),
                                                                   rse=False, dac=False)),
        "RSE 32→64": cl.viz.draw_rse_block(paper.encoder[1][1]),
        "RSE 32→32": cl.viz.draw_rse_block(paper.encoder[0]),
        "DAC": cl.viz.draw_dac_block(paper.bottleneck[1][1]),
        "DAC, own weights": cl.viz.draw_dac_block(cl.blocks.DACBlock(8, shared=False)),
        "SE": cl.viz.draw_se_block(cl.blocks.SEBlock(64, reduction=16)),
    }


def test_architecture_labels_are_at_least_11_pt_as_shown() -> None:
    # Jupyter shows a figure at figsize x dpi pixels, a browser draws 96 pixels per inch: a text of f
    # points appears at f * dpi / 96 points (10.5 pt labels at the course's 80 dpi appeared at 8.75 pt)
    for name, fig in _architecture_figures().items():
        for ax in fig.axes:
            for text in [*ax.texts, ax.title]:
                if text.get_text():
                    shown = text.get_fontsize() * fig.dpi / 96
                    assert shown >= 11, (name, text.get_text(), text.get_fontsize(), fig.dpi)


def test_architecture_labels_fit_their_boxes_and_do_not_overlap() -> None:
    for name, fig in _architecture_figures().items():
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        ax = fig.axes[0]
        boxes = [p.get_window_extent(renderer) for p in ax.patches if isinstance(p, FancyBboxPatch)]
        texts = [(t.get_text(), t.get_window_extent(renderer)) for t in [*ax.texts, ax.title] if t.get_text()]
        assert all(fig.bbox.contains(e.x0, e.y0) and fig.bbox.contains(e.x1, e.y1) for _, e in texts), name
        for k, (label, extent) in enumerate(texts):
            for other, other_extent in texts[k + 1:]:
                assert not extent.overlaps(other_extent), (name, label, other)
            centre = ((extent.x0 + extent.x1) / 2, (extent.y0 + extent.y1) / 2)
            for patch in boxes:
                if patch.contains(*centre):  # a box's label: inside it, 2 px from its edges at least
                    assert patch.x0 + 2 <= extent.x0 and extent.x1 <= patch.x1 - 2, (name, label)
                    assert patch.y0 + 2 <= extent.y0 and extent.y1 <= patch.y1 - 2, (name, label)
                else:  # a free label: outside every box
                    assert not extent.overlaps(patch), (name, label)


def test_family_units_still_draw_from_the_shared_helpers() -> None:
    fig = cl.viz.draw_units({"unit": cl.blocks.ResidualUnit(4, 8)})
    assert "conv 3x3, 4→8" in _texts(fig)


def test_roc_legend_sits_below_the_axes() -> None:
    fpr = np.linspace(0, 1, 50)
    fig = cl.viz.plot_roc(fpr, np.sqrt(fpr), auc=0.9, reference_points={"CE-Net": 0.9779})
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    assert legend.y1 <= ax.get_window_extent().y0 + 1  # entirely under the plotting area
    assert cl.viz.plot_roc(fpr, np.sqrt(fpr), legend=False).axes[0].get_legend() is None


def _vessel_scene(n: int = 2, size: int = 40, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    masks = (torch.rand(n, 1, size, size, generator=g) < 0.15).float()
    prob = (0.45 * masks + 0.55 * torch.rand(n, 1, size, size, generator=g)).clamp(0, 1)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    fov = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (0.45 * size) ** 2).float().expand(n, 1, size, size)
    return prob, masks * fov, fov, torch.rand(n, 3, size, size, generator=g)


def test_threshold_table_is_exact_at_every_threshold() -> None:
    prob, masks, fov, _ = _vessel_scene()
    table = cl.explorers.threshold_table(prob, masks, fov)
    assert table.auc == pytest.approx(cl.metrics.roc_auc(prob, masks, fov))
    for threshold in (0.05, 0.3, 0.5, 0.71, 0.95, 1.5):
        want = cl.metrics.segmentation_scores(prob, masks, fov, threshold=threshold)
        got = table.scores(threshold)
        for key in ("sensitivity", "specificity", "f1", "accuracy"):
            assert got[key] == pytest.approx(want[key], abs=1e-9, nan_ok=True), (threshold, key)


def test_threshold_figure_moves_point_readout_and_overlay_together() -> None:
    prob, masks, fov, rgb = _vessel_scene()
    low = cl.explorers.threshold_figure(prob, masks, fov, rgb, threshold=0.3)
    high = cl.explorers.threshold_figure(prob, masks, fov, rgb, threshold=0.7, image=1,
                                         crop=(slice(5, 30), slice(10, 35)))
    s_low = cl.metrics.segmentation_scores(prob, masks, fov, threshold=0.3)
    readout = f"F1 {s_low['f1']:.3f}  Se {s_low['sensitivity']:.3f}  Sp {s_low['specificity']:.3f}"
    assert readout in _texts(low)
    assert "threshold 0.30" in _texts(low) and "threshold 0.70" in _texts(high)
    roc_low, roc_high = low.axes[0].lines[-1].get_xydata(), high.axes[0].lines[-1].get_xydata()
    assert roc_low[0, 1] > roc_high[0, 1]  # a higher threshold finds fewer vessels
    overlay_low, overlay_high = low.axes[2].images[0].get_array(), high.axes[2].images[0].get_array()
    assert overlay_high.shape[:2] == (25, 25) and overlay_low.shape[:2] == (40, 40)
    assert "image 1" in high.axes[2].get_title()


def test_threshold_explorer_runs_with_defaults() -> None:
    prob, masks, fov, rgb = _vessel_scene()
    widget = cl.explorers.threshold_explorer(prob, masks, fov, rgb)
    assert widget.children
    fig = cl.explorers.threshold_figure(prob, masks, fov, rgb)  # the static figure below the widget
    assert len(fig.axes) == 3 and "threshold 0.50" in _texts(fig)
