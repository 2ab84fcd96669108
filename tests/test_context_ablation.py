"""Chapter 06's DAC/RSE ablation on synthetic-cue: the four models, their measured receptive fields, the
wrong-kind rate by distance from the border, the sweep in smoke mode and its figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import math
from types import SimpleNamespace

import matplotlib.pyplot as plt
import pytest
import torch

import course_lib as cl
from course_lib.blocks.conv import DoubleConv
from course_lib.blocks.dac import DACBlock
from course_lib.blocks.se import RSEBlock
from course_lib.protocols import context_ablation, recalibration


def test_arms_differ_only_in_dac_and_rse() -> None:
    plan = context_ablation.plan_for("quick")
    models = {arm: context_ablation.make_model(arm, plan) for arm in context_ablation.ARMS}
    for arm, model in models.items():
        has_dac = any(isinstance(m, DACBlock) for m in model.modules())
        has_rse = any(isinstance(m, RSEBlock) for m in model.modules())
        assert (has_dac, has_rse) == (context_ablation.ARMS[arm]["dac"], context_ablation.ARMS[arm]["rse"])
        assert model.widths == plan.widths
        assert model.config["keep_prob"] == 1.0  # DropBlock off: only the two mechanisms differ
    assert not any(isinstance(m, RSEBlock) for m in models["U-Net"].modules())
    assert any(isinstance(m, DoubleConv) for m in models["U-Net"].modules())
    x = torch.randn(2, 1, plan.size, plan.size)
    for model in models.values():
        assert model(x).shape == (2, 1, plan.size, plan.size)


def test_same_seed_same_weights_and_unknown_arm_is_refused() -> None:
    plan = context_ablation.plan_for("smoke")
    a, b = (context_ablation.make_model("DAC-U-Net", plan, seed=3) for _ in range(2))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    with pytest.raises(ValueError, match=r"Unknown arm 'DAC U-Net'.*DAC-U-Net"):
        context_ablation.make_model("DAC U-Net", plan)
    with pytest.raises(ValueError, match="Unknown arm"):
        context_ablation.compare(plan, arms=("U-Net", "DAC U-Net"), seeds=(0,), progress=False)


def test_receptive_fields_plain_matches_the_formula_and_dac_covers_the_image() -> None:
    plan = context_ablation.plan_for("quick")
    side = {arm: context_ablation.receptive_field_side(context_ablation.make_model(arm, plan))
            for arm in context_ablation.ARMS}
    assert side["U-Net"] == recalibration.receptive_field_px(plan) == 44
    # the DAC bottleneck (1/4 resolution) adds 2 x (1 + 3 + 5) px there, i.e. 72 input pixels
    assert side["DAC-U-Net"] == side["U-Net"] + 72
    assert side["DAC-U-Net"] > plan.size > side["U-Net"]
    assert side["RSE-U-Net"] == side["U-Net"] + 2  # the RSE model's stem convolution


def test_distance_to_border_and_wrong_kind_by_distance() -> None:
    d = recalibration.distance_to_border(5, 6)
    assert d[0].tolist() == [0] * 6 and d[2].tolist() == [0, 1, 2, 2, 1, 0]
    distractor = torch.zeros(1, 1, 8, 8)
    distractor[..., 0, :] = 1  # 8 pixels at distance 0
    distractor[..., 3, 3] = 1  # 1 pixel at distance 3
    prob = torch.zeros(1, 1, 8, 8)
    prob[..., 0, :4] = 0.9  # half the border row segmented
    prob[..., 3, 3] = 0.7
    rates = recalibration.wrong_kind_by_distance(prob, distractor, (0, 1, 3, 10))
    assert rates[0] == pytest.approx(0.5) and math.isnan(rates[1]) and rates[2] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="increasing"):
        recalibration.wrong_kind_by_distance(prob, distractor, (0, 5, 5))
    assert context_ablation.band_labels((0, 12, 18, 1000)) == ["0-11", "12-17", "18+"]


def test_compare_in_smoke_mode_records_the_bands() -> None:
    plan = context_ablation.plan_for("smoke")
    results = context_ablation.compare(plan, seeds=(0,), progress=False)
    assert [r.arm for r in results] == list(context_ablation.ARMS)
    for r in results:
        bands = r.extras["wrong_kind_by_distance"]
        assert len(bands) == len(context_ablation.DISTANCE_EDGES) - 1
        assert all(math.isnan(v) or 0 <= v <= 1 for v in bands)
        assert 0 <= r.scores["wrong_kind"] <= 1 and r.prob is not None


def _run(arm: str, seed: int, values: list[float]) -> SimpleNamespace:
    return SimpleNamespace(arm=arm, seed=seed, extras={"bands": values})


def test_plot_seed_profiles_mean_band_and_label_check() -> None:
    runs = [_run("a", 0, [0.2, 0.4]), _run("a", 1, [0.4, float("nan")]), _run("b", 0, [0.0, 0.1])]
    fig = cl.viz.plot_seed_profiles(runs, "bands", ["near", "far"], xlabel="distance")
    ax = fig.axes[0]
    assert list(ax.lines[0].get_ydata()) == pytest.approx([0.3, 0.4])  # NaN left out of the mean
    assert len(ax.collections) == 1  # a band only where an arm has several seeds
    assert [t.get_text() for t in ax.get_xticklabels()] == ["near", "far"]
    plt.close(fig)
    with pytest.raises(ValueError, match="one label per value"):
        cl.viz.plot_seed_profiles(runs, "bands", ["only one"])


def test_overlay_grid_one_row_per_model() -> None:
    images = torch.rand(3, 1, 16, 16)
    targets = (torch.rand(3, 1, 16, 16) > 0.5).float()
    fig = cl.viz.overlay_grid(images, {"perfect": targets, "empty": torch.zeros_like(targets)}, targets)
    assert len(fig.axes) == 6
    assert fig.axes[0].get_title() == "Dice 1.00" and fig.axes[3].get_title() == "Dice 0.00"
    assert fig.axes[0].get_ylabel() == "perfect" and fig.axes[3].get_ylabel() == "empty"
    plt.close(fig)
    with pytest.raises(ValueError, match="as many probabilities"):
        cl.viz.overlay_grid(images, {"short": targets[:2]}, targets)


def _scored(arm: str, seed: int, dice: float, steps: int = 160) -> SimpleNamespace:
    history = SimpleNamespace(optimizer_steps=steps)
    return SimpleNamespace(arm=arm, seed=seed, scores={"dice": dice}, history=history)


def test_budget_text_names_the_steps_the_runs_took() -> None:
    runs = [_scored("U-Net", s, 0.7) for s in range(3)]
    assert context_ablation.budget_text(runs, 8) == "160 steps of 8 images"
    assert recalibration.budget_text([*runs, _scored("U-Net", 3, 0.7, steps=150)], 8, "patches") == (
        "150-160 steps of 8 patches")
    with pytest.raises(ValueError, match="at least one run"):
        recalibration.budget_text([], 8)


def test_ablation_verdicts_from_paired_seeds(capsys) -> None:
    """The chapter's reading: every arm against the U-Net (Bonferroni over 3), then two against RSE-U-Net."""
    dice = {"U-Net": (0.74, 0.75, 0.76), "RSE-U-Net": (0.95, 0.95, 0.96), "DAC-U-Net": (0.94, 0.96, 0.95),
            "DACRSE-UNet": (0.95, 0.96, 0.96)}
    runs = [_scored(arm, s, d) for arm, values in dice.items() for s, d in enumerate(values)]
    budget = context_ablation.budget_text(runs, 8)
    against_unet = cl.stats.compare_to_baseline(runs, "U-Net", "dice", metric="Dice", budget=budget)
    assert [c.a for c in against_unet] == ["RSE-U-Net", "DAC-U-Net", "DACRSE-UNet"]
    assert all(c.comparisons == 3 and c.finding for c in against_unet)
    against_rse = cl.stats.compare_to_baseline(runs, "RSE-U-Net", "dice", arms=("DAC-U-Net", "DACRSE-UNet"),
                                               metric="Dice", budget=budget)
    assert [c.comparisons for c in against_rse] == [2, 2]
    out = capsys.readouterr().out
    assert "Bonferroni over 3" in out and "Bonferroni over 2" in out
    assert "no difference detected at 160 steps of 8 images" in out
