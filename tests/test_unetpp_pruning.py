"""Chapter 08: which nodes and parameters a pruned UNet++ uses, the inference modes, the pruning
measurement and the nested-grid figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch

import course_lib as cl
from course_lib.protocols import unetpp as protocol

PAPER = {"in_channels": 1, "out_channels": 1, "widths": (32, 64, 128, 256, 512), "batch_norm": False}


def small(**cfg):
    torch.manual_seed(0)
    return cl.create_model("unetpp", in_channels=1, out_channels=1, widths=(4, 8, 16, 32, 64),
                           deep_supervision=True, **cfg).eval()


def test_parameters_used_per_level_match_the_papers_labels():
    model = cl.create_model("unetpp", deep_supervision=True, **PAPER)
    used = [model.parameters_used(level) for level in (1, 2, 3, 4)]
    assert used == [100_961, 511_105, 2_204_961, 9_041_601]  # the paper's 0.1M / 0.5M / 2.2M / 9.0M
    assert model.parameters_used(None) == 9_041_700  # all four heads run in the accurate mode
    plain = cl.create_model("unetpp", deep_supervision=False, **PAPER)
    assert plain.parameters_used(None) == 9_041_601


@pytest.mark.parametrize("level", [1, 2, 3, 4, None])
def test_nodes_for_level_are_exactly_the_nodes_that_run(level):
    model = small()
    ran = []
    for name, node in model.nodes.items():
        node.register_forward_hook(lambda *_, name=name: ran.append(name))
    model(torch.randn(1, 1, 32, 32), prune_level=level)
    expected = {f"x_{i}_{j}" for i, j in model.nodes_for_level(level)}
    assert set(ran) == expected and len(ran) == len(expected)
    assert all(int(n.split("_")[1]) + int(n.split("_")[2]) <= (level or 4) for n in ran)
    L = level or 4
    assert len(expected) == (L + 1) * (L + 2) // 2  # 3, 6, 10, 15 nodes


def test_fast_and_accurate_predictions():
    model = small()
    x = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        heads = [torch.sigmoid(o) for o in model(x)]  # [L4, L3, L2, L1]
    torch.testing.assert_close(protocol.predict(model, x, "fast", 2, batch_size=2), heads[2])
    torch.testing.assert_close(protocol.predict(model, x, "fast"), heads[0])
    torch.testing.assert_close(protocol.predict(model, x, "accurate"), torch.stack(heads).mean(0))
    with pytest.raises(ValueError, match="mode must be"):
        protocol.predict(model, x, "medium")
    no_ds = cl.create_model("unetpp", in_channels=1, widths=(4, 8, 16))
    with pytest.raises(ValueError, match="deep_supervision=True"):
        protocol.predict(no_ds, x, "accurate")
    with pytest.raises(TypeError, match="not a UNet"):
        protocol.predict(cl.create_model("unet", widths=(4, 8)), x)


def test_measure_pruning_rows():
    model = small()
    images = torch.rand(2, 1, 32, 32)
    masks = (images > 0.5).float()
    rows = protocol.measure_pruning(model, images, masks, repeats=2)
    assert [r["name"] for r in rows] == ["L1", "L2", "L3", "L4", "accurate"]
    assert [r["parameters"] for r in rows] == [model.parameters_used(r["level"]) for r in rows]
    assert all(r["ms_per_image"] > 0 and 0 <= r["dice"] <= 1 for r in rows)
    with pytest.raises(ValueError, match="repeats"):
        protocol.measure_pruning(model, images, masks, repeats=0)
    fig = cl.viz.plot_pruning_tradeoff(rows, highlight="L2")
    plt.close(fig)


@pytest.mark.parametrize("level", [None, 2])
def test_nested_grid_is_drawn_from_the_model(level):
    model = small()
    fig = cl.viz.draw_nested_grid(model, level=level)
    title = fig.axes[0].get_title()
    assert f"{model.parameters_used(level):,} parameters" in title
    assert f"{len(model.nodes_for_level(level))} of 15 nodes" in title
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert "$X^{2,1}$" in texts and "16→8" in texts  # X^{1,1}: [X^{1,0}, up(X^{2,0})] = 8 + 8 -> 8
    plt.close(fig)


def test_wide_unet_matches_the_papers_and_the_unetpp_budget():
    paper = protocol.matched_wide_widths((32, 64, 128, 256, 512), batch_norm=False)
    assert paper == (35, 70, 140, 280, 560)  # the UNet++ paper's wide U-Net
    wide = protocol.matched_wide_widths((8, 16, 32, 64, 128))
    n = [sum(p.numel() for p in protocol.make_arm_model(a, (8, 16, 32, 64, 128)).parameters())
         for a in ("U-Net", "wide U-Net", "UNet++")]
    assert n[0] < n[2] <= n[1] and wide == (9, 18, 35, 70, 140)
    assert protocol.deep_supervision_weights("UNet++", 4) == [0.25] * 4
    assert protocol.deep_supervision_weights("UNet++ (last head only)", 4) == [1.0, 0.0, 0.0, 0.0]
    assert protocol.deep_supervision_weights("U-Net", 4) is None
    with pytest.raises(ValueError, match="Unknown arm"):
        protocol.make_arm_model("UNet 3+", (4, 8))


def test_compare_models_on_a_tiny_plan_and_the_last_head_only_loss(monkeypatch):
    monkeypatch.delenv("COURSE_MAX_STEPS", raising=False)
    train = cl.data.load("synthetic-membranes", "train", n=2, size=64, cell_size=16)
    val = cl.data.load("synthetic-membranes", "val", n=2, size=64, cell_size=16)
    plan = protocol.plan_for("smoke", seeds=(0, 1), widths=(4, 8, 16))
    arms = ("U-Net", "UNet++", "UNet++ (last head only)")
    results = protocol.compare_models(train, val, plan, arms, keep_seed=0, progress=False)
    assert [(r.arm, r.seed) for r in results] == [(a, s) for s in (0, 1) for a in arms]
    assert all(0 <= r.scores["dice"] <= 1 and r.history.optimizer_steps == plan.steps for r in results)
    kept = {r.arm: r for r in results if r.model is not None}
    assert set(kept) == set(arms) and kept["UNet++"].prob.shape == (2, 1, 64, 64)
    # the last-head-only loss leaves the pruned heads as initialised: no gradient ever reaches them
    last_only = kept["UNet++ (last head only)"].model
    fresh = protocol.make_arm_model("UNet++ (last head only)", plan.widths, seed=0)
    assert torch.equal(last_only.heads["out_1"].weight.cpu(), fresh.heads["out_1"].weight)
    assert not torch.equal(kept["UNet++"].model.heads["out_1"].weight.cpu(), fresh.heads["out_1"].weight)
    assert protocol.heads_as_initialised(kept["UNet++ (last head only)"]) == {"out_1": True, "out_2": False}
    assert protocol.heads_as_initialised(kept["UNet++"]) == {"out_1": False, "out_2": False}
    dropped = next(r for r in results if r.arm == "UNet++ (last head only)" and r.model is None)
    assert protocol.heads_as_initialised(dropped) == {"out_1": True, "out_2": False}  # every seed is checked
    with pytest.raises(ValueError, match="kept its model"):
        protocol.heads_as_initialised(next(r for r in results if r.arm == "U-Net" and r.model is None))
    # every UNet++ run scored its pruned network and its accurate mode; the U-Net runs did not
    assert protocol.pruned_keys(results) == ["dice_L1", "dice_accurate"]
    assert all(set(r.scores) == {"dice", "iou"} for r in results if r.arm == "U-Net")
    budget = protocol.budget_text(results, plan.batch_size, "patches")
    assert budget == f"{plan.steps} steps of {plan.batch_size} patches"
    lines = protocol.compare_levels(results, budget=budget, show=False)
    assert [(c.a, c.b, c.comparisons, c.n) for c in lines] == [("L1", "L2 (full network)", 2, 2),
                                                               ("accurate mode", "L2 (full network)", 2, 2)]
    levels = protocol.level_scores(results)
    assert list(levels) == ["L1", "L2", "accurate"]
    assert levels["L2"] == [r.scores["dice"] for r in results if r.arm == "UNet++"]  # seeds 0, 1 in order
    assert levels["L1"] == [r.scores["dice_L1"] for r in results if r.arm == "UNet++"]
    with pytest.raises(KeyError, match="No run"):
        protocol.compare_levels(results, arm="UNet 3+")
    with pytest.raises(ValueError, match="no pruned-network scores"):
        protocol.compare_levels(results, arm="U-Net")


def test_pruning_explorer_draws_every_level():
    model = small()
    images = torch.rand(2, 1, 32, 32)
    masks = (images > 0.5).float()
    rows = protocol.measure_pruning(model, images, masks, repeats=1)
    for level in (1, 4, None):
        fig = cl.explorers.pruning_figure(model, rows, images, masks, level=level, image=1)
        assert len(fig.axes) == 3
        plt.close(fig)
    cl.explorers.pruning_explorer(model, rows, images, masks)


def test_a_rehearsal_times_only_the_scoring_pass_of_a_couple_of_images(monkeypatch):
    monkeypatch.setenv("COURSE_MAX_STEPS", "1")
    calls = []
    model = small()
    model.register_forward_pre_hook(lambda _m, args: calls.append(args[0].shape[0]))
    images = torch.rand(5, 1, 32, 32)
    rows = protocol.measure_pruning(model, images, (images > 0.5).float(), repeats=5)
    assert len(rows) == 5 and max(calls) == 2 and len(calls) == 5  # one scoring pass per row, timed
    assert all(row["ms_per_image"] > 0 for row in rows)


def test_depth_arms_are_the_first_widths_of_the_same_unet():
    widths = (4, 8, 16, 32, 64)
    for depth in (1, 2, 3):
        model = protocol.make_arm_model(f"U-Net (depth {depth})", widths)
        reference = cl.create_model("unet", in_channels=1, out_channels=1, widths=widths[:depth + 1])
        assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in reference.parameters())
        assert model(torch.rand(1, 1, 32, 32)).shape == (1, 1, 32, 32)
    with pytest.raises(ValueError, match="deeper"):
        protocol.make_arm_model("U-Net (depth 3)", (4, 8, 16, 32))
