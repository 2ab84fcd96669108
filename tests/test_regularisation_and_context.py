"""Chapters 03 and 04's protocols: the overfitting comparison of regularisers, the synthetic-cue generator,
the SE comparison on it and on vessels, their figures and the DropBlock exercise checker."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import course_lib as cl
from course_lib.blocks.dropblock import DropBlock2d
from course_lib.protocols import overfitting, recalibration
from course_lib.viz.se import se_weight_heatmap

# ---------------------------------------------------------------- synthetic-cue


def test_cue_labels_follow_the_frame() -> None:
    data = cl.data.load("synthetic-cue", "train", n=24, size=96)
    frames = []
    for i in range(len(data)):
        s = data[i]
        assert s["image"].shape == (1, 96, 96) and s["mask"].shape == s["distractor"].shape == (1, 96, 96)
        assert not bool((s["mask"].bool() & s["distractor"].bool()).any()), "target and distractor overlap"
        border = torch.cat([s["image"][0, :3].flatten(), s["image"][0, -3:].flatten()]).mean()
        inside = s["image"][0, 30:66, 30:66].median()
        frame = bool(border > inside + 0.1)
        # with the frame the targets are the bright discs, without it the dark ones
        assert recalibration.frame_present(s) == frame
        frames.append(frame)
    assert 0 < sum(frames) < len(frames), "both cues should occur"


def test_cue_is_deterministic_and_rejects_small_images() -> None:
    a = cl.data.load("synthetic-cue", "val", n=2, size=80)[1]
    b = cl.data.load("synthetic-cue", "val", n=2, size=80)[1]
    assert torch.equal(a["image"], b["image"])
    with pytest.raises(ValueError, match="at least"):
        cl.data.load("synthetic-cue", "train", n=1, size=32)[0]


def test_wrong_kind_rate_counts_distractor_pixels() -> None:
    distractor = torch.zeros(1, 1, 4, 4)
    distractor[..., :2, :2] = 1
    prob = torch.zeros(1, 1, 4, 4)
    prob[..., 0, :2] = 0.9
    assert recalibration.wrong_kind_rate(prob, distractor) == pytest.approx(0.5)


# ---------------------------------------------------------------- chapter 04 models and protocols


def test_se_unet_differs_from_the_unet_only_by_se_blocks() -> None:
    plan = recalibration.plan_for("smoke")
    plain, se = (recalibration.make_model(arm, plan) for arm in recalibration.ARMS)
    n_se = sum(isinstance(m, cl.blocks.SEBlock) for m in se.modules())
    assert n_se == 2 * (len(plan.widths) - 1) + 1
    extra = sum(cl.blocks.se.se_parameter_count(m.channels, plan.reduction) for m in se.modules()
                if isinstance(m, cl.blocks.SEBlock))
    assert cl.inspect_model.parameter_count(se) == cl.inspect_model.parameter_count(plain) + extra
    x = torch.randn(2, 1, 64, 64)
    assert se(x).shape == plain(x).shape == (2, 1, 64, 64)
    with pytest.raises(ValueError, match="Unknown arm"):
        recalibration.make_model("SE-Net", plan)


def test_receptive_field_matches_the_measured_footprint() -> None:
    plan = recalibration.plan_for("quick")
    model = recalibration.make_model("U-Net", plan)
    size = 128
    reach = cl.receptive_field.footprint(model, (1, 1, size, size), (size // 2, size // 2))
    rows = torch.nonzero(reach.any(dim=1)).flatten()
    measured = int(rows.max() - rows.min() + 1)
    assert abs(measured - recalibration.receptive_field_px(plan)) <= 2
    assert recalibration.receptive_field_px(plan) < plan.size


def test_compare_context_and_vessels_in_smoke_mode() -> None:
    results = recalibration.compare_context(recalibration.plan_for("smoke"), seeds=(0,), progress=False)
    assert [r.arm for r in results] == list(recalibration.ARMS)
    for r in results:
        assert 0 <= r.scores["wrong_kind"] <= 1 and r.prob is not None
    vessel_plan = recalibration.vessel_plan_for("smoke")
    vessels = recalibration.compare_vessels(vessel_plan, seeds=(0,), progress=False)
    assert [r.arm for r in vessels] == list(recalibration.VESSEL_ARMS)
    assert all("best_val_dice" in r.scores for r in vessels)


# ---------------------------------------------------------------- chapter 03 protocol


def test_overfitting_arms_share_initial_weights_and_insert_their_layer() -> None:
    plan = overfitting.plan_for("smoke")
    arms = overfitting.ARMS + overfitting.EXTRA_ARMS
    models = {arm: overfitting.make_model(arm, plan, seed=1) for arm in arms}
    reference = models["none"].state_dict()
    kinds = {"Dropout": nn.Dropout, "SpatialDropout": nn.Dropout2d, "DropBlock": DropBlock2d,
             "DropBlock, all levels": DropBlock2d, "DropBlock 5x5": DropBlock2d}
    for arm, model in models.items():
        assert all(torch.equal(v, reference[k]) for k, v in model.state_dict().items() if k in reference)
        if arm != "none":
            layers = model.regularizers
            assert len(layers) == 2 * (len(plan.widths) - 1) + 1  # every encoder, decoder level, bottleneck
            for name, layer in layers.items():
                level = len(plan.widths) - 1 if name == "bottleneck" else int(name.rsplit("_", 1)[1])
                deep = level >= plan.from_level or arm == "DropBlock, all levels"
                assert isinstance(layer, kinds[arm] if deep else nn.Identity), (arm, name)
                if isinstance(layer, DropBlock2d):
                    expected = {"DropBlock, all levels": plan.all_levels_block, "DropBlock 5x5": 5}.get(
                        arm, plan.block_size)
                    assert layer.block_size == expected
    with pytest.raises(ValueError, match="Unknown arm"):
        overfitting.make_model("L2", plan)


def test_repeated_dataset_and_task_sizes() -> None:
    plan = overfitting.plan_for("smoke", steps_per_epoch=3)
    train, epoch, val = overfitting.load_task(plan)
    assert len(epoch) >= plan.steps_per_epoch * plan.batch_size and len(epoch) % len(train) == 0
    assert torch.equal(epoch[len(train)]["image"], train[0]["image"])
    assert len(val) == plan.n_val
    with pytest.raises(ValueError, match="at least 1"):
        overfitting.Repeated(train, 0)


def test_compare_regularizers_scores_and_schedule() -> None:
    plan = overfitting.plan_for("smoke")
    results = overfitting.compare_regularizers(plan, seeds=(0,), progress=False)
    assert [r.arm for r in results] == list(overfitting.ARMS)
    for r in results:
        assert {"dice", "train_dice", "gap", "val_loss", "best_val_dice"} <= set(r.scores)
        assert r.scores["gap"] == pytest.approx(r.scores["train_dice"] - r.scores["dice"])
    dropblock = next(r for r in results if r.arm == "DropBlock")
    assert dropblock.history["keep_prob"][0] == pytest.approx(1.0)


# ---------------------------------------------------------------- figures


class _Run:
    def __init__(self, arm: str, seed: int, history: list[dict]) -> None:
        self.arm, self.seed = arm, seed
        self.history = cl.engine.History(metric="val_dice")
        for record in history:
            self.history.append(record)


def test_plot_seed_curves_draws_mean_and_band_per_arm() -> None:
    runs = [_Run(arm, seed, [{"epoch": e, "train_loss": 1.0 / e + seed, "val_loss": 1.0 + seed,
                              "val_dice": 0.1 * e} for e in (1, 2, 3)])
            for arm in ("a", "b") for seed in (0, 1)]
    fig = cl.viz.plot_seed_curves(runs, panels=(("train_loss", "val_loss"), ("val_dice",)))
    left, right = fig.axes[:2]
    assert len(left.lines) == 4 and len(right.lines) == 2
    mean_val = left.lines[1].get_ydata()
    assert list(mean_val) == pytest.approx([1.5, 1.5, 1.5])
    assert len(left.collections) == 4  # one band per arm and column
    plt.close(fig)


def test_se_heatmap_uses_the_weights_range_groups_and_few_ticks() -> None:
    weights = 0.5 + 0.01 * torch.rand(40, 16)
    fig = se_weight_heatmap(weights, groups={"frame": 25, "none": 15})
    ax = fig.axes[0]
    low, high = ax.images[0].get_clim()
    assert 0.49 < low < high < 0.52
    assert len(ax.get_xticks()) <= 12
    assert {t.get_text() for t in ax.texts} == {"frame", "none"}
    plt.close(fig)
    with pytest.raises(ValueError, match="groups count"):
        se_weight_heatmap(weights, groups={"a": 3})


# ---------------------------------------------------------------- the DropBlock exercise


def _solution(x, keep_prob, block_size, training=True):
    if not training or keep_prob == 1:
        return x
    n, c, h, w = x.shape
    b = min(block_size, h, w)
    gamma = (1 - keep_prob) / b**2 * (h * w) / ((h - b + 1) * (w - b + 1))
    seeds = (torch.rand(n, c, h - b + 1, w - b + 1) < gamma).float()
    mask = 1 - F.max_pool2d(F.pad(seeds, [b - 1] * 4), b, stride=1)
    return x * mask * mask.numel() / mask.sum()


def _no_border_factor(x, keep_prob, block_size, training=True):
    if not training or keep_prob == 1:
        return x
    n, c, h, w = x.shape
    gamma = (1 - keep_prob) / block_size**2
    seeds = (torch.rand(n, c, h - block_size + 1, w - block_size + 1) < gamma).float()
    mask = 1 - F.max_pool2d(F.pad(seeds, [block_size - 1] * 4), block_size, stride=1)
    return x * mask * mask.numel() / mask.sum()


def _dropout(x, keep_prob, block_size, training=True):
    return x if not training or keep_prob == 1 else F.dropout(x, 1 - keep_prob)


def _unscaled(x, keep_prob, block_size, training=True):
    out = _solution(x, keep_prob, block_size, training)
    return out if out is x else x * (out != 0)


@pytest.mark.parametrize("answer, hint", [
    (_no_border_factor, "border factor"),
    (_dropout, "whole 7x7 block"),
    (_unscaled, "not rescaled"),
    (lambda x, kp, b, training=True: _solution(x, 1 - kp if kp < 1 else 1.0, b, training), "fraction KEPT"),
    (lambda x, kp, b, training=True: x * 0.5, "unchanged"),
])
def test_dropblock_checker_names_the_mistake(answer, hint) -> None:
    from course_lib.exercises import _CHECKERS

    torch.manual_seed(0)
    with pytest.raises(AssertionError, match=hint):
        _CHECKERS["03.dropblock"](answer)


def test_dropblock_checker_accepts_the_solution_and_the_library() -> None:
    from course_lib.exercises import _CHECKERS

    _CHECKERS["03.dropblock"](_solution)
    _CHECKERS["03.dropblock"](lambda x, kp, b, training=True: DropBlock2d(kp, b).train(training)(x))
