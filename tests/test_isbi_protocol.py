"""Chapter 02's protocol: the threshold is chosen on training images, and the padded / valid / weighted
arms train, predict through overlap-tile and are scored (cells, pixels, seams) on tiny sizes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.utils.data import Dataset

import course_lib as cl
from course_lib.data import load
from course_lib.protocols import isbi
from course_lib.viz import tiling as tiling_viz


class Oracle(nn.Module):
    """Returns the image itself as the membrane probability (2-class logits)."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = x.clamp(1e-4, 1 - 1e-4)
        return torch.cat([torch.zeros_like(p), torch.log(p / (1 - p))], dim=1) + 0 * self.dummy


class Shifted(Dataset):
    """Synthetic membranes whose "image" is a probability map: ``membrane`` on membranes, ``cell`` inside."""

    def __init__(self, base: Dataset, membrane: float, cell: float) -> None:
        self.base, self.membrane, self.cell = base, membrane, cell

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict:
        sample = dict(self.base[i])
        sample["image"] = torch.where(sample["instances"] > 0, self.cell, self.membrane).float()
        return sample


def test_threshold_is_chosen_on_training_images_not_on_the_evaluated_ones() -> None:
    base = load("synthetic-membranes", "train", n=2, size=96, seed=4)
    train = Shifted(base, membrane=0.35, cell=0.25)  # best threshold on training images: 0.3
    held_out = Shifted(base, membrane=0.75, cell=0.65)  # best on the held-out ones: 0.7
    model = Oracle()
    threshold, curve = isbi.choose_threshold(model, train)
    assert threshold == 0.3 and curve[0.3] == min(curve.values()) and curve[0.3] < 0.05
    assert isbi.choose_threshold(model, held_out)[0] == 0.7
    scored = isbi.evaluate_cells(model, held_out, threshold=threshold, thresholds=(0.7,))
    assert scored.threshold == 0.3 and scored.cells["rand_error"] > 0.5  # honest: the held-out images lose
    assert scored.per_threshold[0.7] < 0.05  # what choosing on them would have reported
    assert not hasattr(scored, "best_rand_error")
    assert isbi.choose_threshold(model, train, n_images=1)[1].keys() == set(isbi.THRESHOLDS)


def test_arm_names_and_plans() -> None:
    assert [isbi.arm_setting(a) for a in isbi.ARMS] == [("padded", False), ("padded", True), ("valid", True)]
    with pytest.raises(ValueError, match="Unknown arm"):
        isbi.arm_setting("valid U-Net")
    for mode in ("smoke", "quick", "full"):
        plan = isbi.plan_for(mode)
        assert (plan.valid_size - 188) % 16 == 0 and plan.padded_size % 16 == 0
        assert len(plan.seeds) >= (3 if mode != "smoke" else 2)
    assert isbi.plan_for("quick", epochs=1).epochs == 1
    assert len(isbi.plan_for("quick").seeds) == 5  # the chapter's close comparisons: 5 paired seeds
    for comparisons in isbi.COMPARISONS.values():
        for _, a, b, _, _, _ in comparisons:
            assert a in isbi.ARMS and b in isbi.ARMS and a != b


@pytest.fixture(scope="module")
def tiny_runs() -> tuple[isbi.CellImages, list]:
    train = load("synthetic-membranes", "train", n=2, size=192, seed=3)
    val = load("synthetic-membranes", "val", n=1, size=192, seed=3)
    data = isbi.CellImages(train, val, "synthetic-membranes", real=False)
    plan = isbi.plan_for("smoke", base_width=2, padded_size=64, valid_size=188, batch_size=1, steps=1,
                         seeds=(0, 1), tile=64, threshold_images=1, seam_images=1)
    return data, isbi.compare_arms(data, plan, keep_seed=0, progress=False)


def test_compare_arms_trains_every_arm_and_scores_cells_and_seams(tiny_runs) -> None:
    _, results = tiny_runs
    assert [(r.arm, r.seed) for r in results] == [(a, s) for s in (0, 1) for a in isbi.ARMS]
    for r in results:
        assert set(r.scores) == {"threshold", "rand_error", "rand_error_05", "dice", "merged_pair_fraction",
                                 "seam_ratio"}
        assert r.scores["threshold"] in isbi.THRESHOLDS and 0 <= r.scores["rand_error"] <= 1
        assert np.isfinite(r.scores["seam_ratio"]) and r.scores["seam_ratio"] > 0
        assert r.extras["train_rand"][r.scores["threshold"]] == min(r.extras["train_rand"].values())
        assert r.extras["cells"].threshold == r.scores["threshold"]
        assert r.history.epochs == 1
        assert (r.model is not None) == (r.seed == 0)
        assert bool(r.extras["cells"].probs) == (r.seed == 0)
    kept = {r.arm: r.model for r in results if r.model is not None}
    assert kept["valid, weighted CE"].padding == "valid" and kept["padded, plain CE"].padding == "same"
    assert results[0].extras["cells"].probs[0].shape == (1, 192, 192)


def test_read_comparisons_pairs_seeds_and_prints_every_verdict(tiny_runs, capsys) -> None:
    _, results = tiny_runs
    plan = isbi.plan_for("smoke", epochs=1, steps=1, batch_size=1)
    readings = isbi.read_comparisons(results, plan)
    out = capsys.readouterr().out
    assert len(readings) == sum(len(c) for c in isbi.COMPARISONS.values()) == 7
    assert all(question in out for question in isbi.COMPARISONS)
    score = {(r.arm, r.seed): r.scores for r in results}
    flat = [c for comparisons in isbi.COMPARISONS.values() for c in comparisons]
    for reading, (key, a, b, names, metric, higher) in zip(readings, flat, strict=True):
        assert reading.line() in out and reading.n == 2 and reading.budget == "1 steps of 1 patches"
        assert (reading.a, reading.b, reading.metric, reading.higher_is_better) == (*names, metric, higher)
        assert reading.differences == pytest.approx([score[a, s][key] - score[b, s][key] for s in (0, 1)])
    assert isbi.read_comparisons(results, plan, show=False) and capsys.readouterr().out == ""


def test_step_time_ratio(tiny_runs) -> None:
    _, results = tiny_runs
    valid, padded, ratio = isbi.step_time_ratio(results)
    steps = {arm: np.mean([np.mean(r.history["step_seconds"]) for r in results if r.arm == arm])
             for arm in ("valid, weighted CE", "padded, weighted CE")}
    assert (valid, padded) == pytest.approx((steps["valid, weighted CE"], steps["padded, weighted CE"]))
    assert ratio == pytest.approx(valid / padded) and ratio > 0
    with pytest.raises(KeyError, match="No run of arm"):
        isbi.step_time_ratio(results, arm="valid, plain CE")


def test_arm_figures_draw(tiny_runs) -> None:
    _, results = tiny_runs
    fig = cl.viz.plot_seed_curves(results, panels=(("train_loss",), ("val_dice",)),
                                  ylabels=("training loss", "validation Dice"), bounded=True)
    assert [ax.get_ylabel() for ax in fig.axes] == ["training loss", "validation Dice"]
    assert fig.axes[1].get_ylim() == (0, 1) and len(fig.axes[0].lines) == len(isbi.ARMS)
    assert len(fig.legends) == 1
    plt.close(fig)
    with pytest.raises(KeyError, match="no column"):
        cl.viz.plot_seed_curves(results, panels=(("val_auc_nothing",),))


def test_seam_figure_uses_a_log_scale_and_colourbars() -> None:
    torch.manual_seed(0)
    whole = torch.rand(64, 64)
    tiled = {"exact": whole.clone(), "seams": whole + torch.where(torch.arange(64) % 32 == 0, 0.3, 0.0)}
    fig = tiling_viz.plot_seams(whole, tiled, 32)
    diff_images = [ax.images[0] for ax in fig.axes if ax.images and ax.images[0].norm.__class__.__name__ ==
                   "LogNorm"]
    assert len(diff_images) == 2 and diff_images[0].norm.vmin == pytest.approx(1e-4)
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert "probability" in labels and "|difference|" in labels  # two colourbars
    plt.close(fig)
    other = whole + 0.5  # a second network's own one-pass map: its tiles are compared with it
    fig = tiling_viz.plot_seams(whole, {"mine": whole, "other": other}, 32, references={"other": other},
                                whole_title="first network", title="two networks")
    assert [ax.get_title() for ax in fig.axes if ax.get_title().startswith("max")] == ["max 0", "max 0"]
    assert fig.axes[0].get_title() == "first network" and fig._suptitle.get_text() == "two networks"
    plt.close(fig)
