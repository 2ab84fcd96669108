"""Chapter 10: the new family members (one U-Net, other units), the 3D U-Net's sizes and parameter count,
sparse annotation (generator, masked loss, engine on volumes), the leaderboard and volume protocols on
tiny models, the cost measurement, figures, explorer and exercise checkers."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import course_lib as cl
from course_lib import engine
from course_lib.blocks import DenseBlock, DoubleConv, InceptionBlock, InceptionModule, ResidualUnit, SEBlock
from course_lib.blocks.conv import center_crop_to
from course_lib.data.synthetic.tubes3d import TubeVolumes, sparse_annotation_weight
from course_lib.losses import masked_cross_entropy
from course_lib.models.unet import UNet
from course_lib.models.unet3d import UNet3D, valid_volume_sizes
from course_lib.protocols import leaderboard as board
from course_lib.protocols import volumes
from course_lib.training.checks import TrainingError


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ----------------------------------------------------------------------------- units


def test_residual_unit_shapes_and_shortcuts():
    x = torch.randn(2, 8, 12, 12)
    same = ResidualUnit(8, 8)
    assert isinstance(same.shortcut, nn.Identity) and same(x).shape == x.shape
    wider = ResidualUnit(8, 16)
    assert isinstance(wider.shortcut[0], nn.Conv2d) and wider(x).shape == (2, 16, 12, 12)
    # pre-activation: the branch starts with BN-ReLU, except for the unit that sees the image
    assert isinstance(wider.residual[0], nn.BatchNorm2d)
    assert isinstance(ResidualUnit(3, 16, preactivate=False).residual[0], nn.Conv2d)
    # with the branch zeroed, the unit is its shortcut (identity): y = x + F(x)
    with torch.no_grad():
        same.residual[-1].weight.zero_()
    assert torch.allclose(same.eval()(x), x)


def test_dense_block_concatenates_every_earlier_layer():
    block = DenseBlock(6, 8, layers=3, growth=4)
    assert [layer[0].in_channels for layer in block.layers] == [6, 10, 14]
    assert block.transition[0].in_channels == 6 + 3 * 4
    assert block(torch.randn(2, 6, 9, 9)).shape == (2, 8, 9, 9)
    weights = sum((6 + 4 * k) * 4 * 9 for k in range(3)) + 18 * 8
    batchnorms = 2 * (3 * 4 + 8)
    assert n_params(block) == weights + batchnorms
    assert DenseBlock(6, 8).growth == 4
    with pytest.raises(ValueError, match="layers >= 1"):
        DenseBlock(6, 8, layers=0)


def test_inception_module_branches_and_error():
    module = InceptionModule(6, 16)
    out = module(torch.randn(1, 6, 10, 10))
    assert out.shape == (1, 16, 10, 10) and len(module.branches) == 4
    kernels = [[m.kernel_size[0] for m in branch.modules() if isinstance(m, nn.Conv2d)]
               for branch in module.branches]
    assert kernels == [[1], [1, 3], [1, 3, 3], [1]]
    assert InceptionBlock(6, 16)(torch.randn(1, 6, 10, 10)).shape == (1, 16, 10, 10)
    with pytest.raises(ValueError, match="multiple of 4"):
        InceptionModule(6, 10)


# ----------------------------------------------------------------------------- family models


@pytest.mark.parametrize(("name", "unit", "expected"), [
    ("unet", DoubleConv, 7_762_465),
    ("res_unet", ResidualUnit, 8_113_537),
    ("dense_unet", DenseBlock, 14_082_785),
    ("inception_unet", InceptionBlock, 2_963_809),
])
def test_family_member_is_the_one_unet_with_another_unit(name, unit, expected):
    model = cl.create_model(name)
    assert type(model) is UNet
    assert n_params(model) == expected
    assert isinstance(model.encoder[0], unit) and isinstance(model.decoder[0].block, unit)
    assert isinstance(model.bottleneck[1], unit)
    small = cl.create_model(name, in_channels=3, out_channels=1, widths=(8, 16, 32))
    assert small.eval()(torch.randn(2, 3, 30, 22)).shape == (2, 1, 30, 22)  # pad_input: any size


def test_res_unet_first_unit_sees_the_image_without_preactivation():
    model = cl.create_model("res_unet", widths=(8, 16, 32))
    assert isinstance(model.encoder[0].residual[0], nn.Conv2d)
    assert isinstance(model.encoder[1][1].residual[0], nn.BatchNorm2d)


def test_family_rejects_options_it_does_not_have_and_valid_padding():
    with pytest.raises(TypeError, match="takes in_channels"):
        cl.create_model("dense_unet", batch_norm=False)
    with pytest.raises(ValueError, match="padding='same'"):
        UNet(1, 1, (4, 8), padding="valid", block=ResidualUnit)


def test_register_model_replace():
    @cl.models.register_model("_test_twice", replace=True)
    def first(**cfg):
        return nn.Identity()

    with pytest.raises(ValueError, match="replace=True"):
        cl.models.register_model("_test_twice")(first)
    cl.models.register_model("_test_twice", replace=True)(lambda **cfg: nn.Linear(1, 1))
    assert isinstance(cl.create_model("_test_twice"), nn.Linear)


# ----------------------------------------------------------------------------- 3D U-Net


def test_unet3d_parameter_count_is_the_papers():
    model = cl.create_model("unet3d")
    assert n_params(model) == 19_069_955
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm3d)]
    assert len(bns) == 14 and all(not bn.affine for bn in bns)
    assert all(m.bias is None for m in model.up)
    assert model.head.bias is not None


def test_unet3d_sizes_by_arithmetic():
    model = cl.create_model("unet3d")
    assert model.output_shape(132, 132, 116) == (44, 44, 28)
    assert model.output_shape(92, 92, 92) == (4, 4, 4)
    assert model.context_margin == 44
    assert valid_volume_sizes(3, 140) == [92, 100, 108, 116, 124, 132, 140]
    with pytest.raises(ValueError, match="nearest valid sizes: 116 and 124"):
        model.output_shape(132, 132, 120)
    with pytest.raises(ValueError, match="three sizes"):
        model.output_shape(132, 132)


def test_unet3d_forward_shapes():
    meta = cl.create_model("unet3d").to("meta")  # the paper's widths, shapes only
    assert meta(torch.empty(1, 3, 92, 92, 92, device="meta")).shape == (1, 3, 4, 4, 4)
    small = UNet3D(1, 1, base=1, depth=3).eval()
    with torch.no_grad():
        assert small(torch.randn(1, 1, 92, 100, 92)).shape == (1, 1, 4, 12, 4)
    with pytest.raises(ValueError, match=r"expects a batch \(N, C, D, H, W\)"):
        small(torch.randn(1, 1, 92, 92))
    with pytest.raises(ValueError, match="base >= 1"):
        UNet3D(base=0)


def test_center_crop_to_any_number_of_axes():
    x = torch.arange(6 * 7 * 8).reshape(1, 1, 6, 7, 8)
    out = center_crop_to(x, (2, 3, 4))
    assert out.shape == (1, 1, 2, 3, 4) and int(out[0, 0, 0, 0, 0]) == int(x[0, 0, 2, 2, 2])
    with pytest.raises(ValueError, match="smaller"):
        center_crop_to(x, (9, 3, 4))


# ----------------------------------------------------------------------------- sparse annotation


def test_sparse_annotation_weight_pattern():
    weight = sparse_annotation_weight((8, 8, 8), every=4, phase=(1, 0, 3))
    assert weight[1].all() and weight[5].all() and weight[:, 0].all() and weight[:, :, 3].all()
    assert not weight[0, 1, 0] and not weight[2, 2, 2]
    assert weight.mean() == pytest.approx(1 - (3 / 4) ** 3)
    with pytest.raises(ValueError, match="positive"):
        sparse_annotation_weight((4, 4, 4), every=0)


def test_tube_volumes_are_deterministic_and_labelled_three_ways():
    dense = cl.data.load("synthetic-tubes3d", n=2, size=32, seed=3)
    again = cl.data.load("synthetic-tubes3d", n=2, size=32, seed=3)
    sample = dense[1]
    assert sample["image"].shape == (1, 32, 32, 32) and set(sample) == {"image", "mask"}
    assert torch.equal(sample["image"], again[1]["image"])
    assert 0.01 < float(sample["mask"].mean()) < 0.5
    assert not torch.equal(sample["image"], dense[0]["image"])
    sparse = cl.data.load("synthetic-tubes3d", n=2, size=32, seed=3, annotate_every=4)[1]
    assert torch.equal(sparse["mask"], sample["mask"]) and torch.equal(sparse["image"], sample["image"])
    assert float(sparse["weight"].mean()) == pytest.approx(1 - (3 / 4) ** 3)
    background = cl.data.load("synthetic-tubes3d", n=2, size=32, seed=3, annotate_every=4,
                              unlabelled="background")[1]
    assert "weight" not in background
    assert torch.equal(background["mask"], sample["mask"] * sparse["weight"])


@pytest.mark.parametrize(("cfg", "message"), [
    ({"size": 8}, "at least 16"), ({"unlabelled": "zero"}, "unlabelled must be"),
    ({"annotate_every": 0}, "positive"), ({"split": "dev"}, "Unknown split"),
])
def test_tube_volumes_bad_options(cfg, message):
    with pytest.raises(ValueError, match=message):
        TubeVolumes(**cfg)


def test_masked_loss_ignores_unlabelled_voxels():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 1, 5, 6, 7, generator=g, requires_grad=True)
    mask = (torch.rand(2, 1, 5, 6, 7, generator=g) > 0.7).float()
    weight = (torch.rand(2, 1, 5, 6, 7, generator=g) > 0.6).float()
    loss = masked_cross_entropy(logits, mask, weight)
    per_voxel = F.binary_cross_entropy_with_logits(logits, mask, reduction="none")
    assert torch.allclose(loss, per_voxel[weight > 0].mean())
    flipped = torch.where(weight > 0, mask, 1 - mask)
    assert torch.allclose(masked_cross_entropy(logits, flipped, weight), loss)
    loss.backward()
    assert (logits.grad[weight == 0] == 0).all() and (logits.grad[weight > 0] != 0).any()
    assert torch.allclose(masked_cross_entropy(logits, mask, None), per_voxel.mean())
    two = torch.randn(2, 2, 5, 6, 7)
    ce = F.cross_entropy(two, mask[:, 0].long(), reduction="none")
    assert torch.allclose(masked_cross_entropy(two, mask, weight), ce[weight[:, 0] > 0].mean(), atol=1e-6)
    with pytest.raises(ValueError, match="one weight per mask voxel"):
        masked_cross_entropy(logits, mask, weight[..., :3])
    with pytest.raises(ValueError, match="must match"):
        masked_cross_entropy(logits, mask[..., :3], None)


def test_engine_trains_and_scores_a_3d_unet_on_sparse_labels():
    model = UNet3D(1, 1, base=2, depth=2)
    train = cl.data.load("synthetic-tubes3d", n=2, size=48, annotate_every=8)
    history = engine.fit(model, train, cl.data.load("synthetic-tubes3d", "val", n=1, size=48), epochs=1,
                         batch_size=1, loss="masked_ce", progress=False, max_steps_per_epoch=2)
    assert history["steps"][0] == 2 and np.isfinite(history["val_dice"][0])
    prob = engine.predict(model, cl.data.load("synthetic-tubes3d", "val", n=1, size=48))
    assert prob.shape == (1, 1, 8, 8, 8)  # 48 - 40: the valid network's centre
    with pytest.raises(TrainingError, match="C x D x H x W"):
        engine.fit(model, [{"image": torch.zeros(1, 48, 48), "mask": torch.zeros(1, 48, 48)}], epochs=1,
                   progress=False)
    with pytest.raises(TrainingError, match="cannot take"):
        engine.fit(model, [{"image": torch.zeros(1, 46, 48, 48), "mask": torch.zeros(1, 46, 48, 48)}],
                   epochs=1, progress=False)


# ----------------------------------------------------------------------------- protocols


def test_count_macs_on_meta_equals_a_real_pass():
    model = cl.create_model("unet", in_channels=3, widths=(4, 8, 16))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    assert convs
    meta = cl.inspect_model.count_macs(model, (1, 3, 32, 32))
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        model.eval()(torch.zeros(1, 3, 32, 32))
    assert meta == counter.get_total_flops() // 2
    assert next(model.parameters()).device.type == "cpu"  # the model itself stays where it was


@pytest.mark.parametrize("mode", ["smoke", "quick", "full"])
def test_every_leaderboard_model_builds_in_every_plan(mode):
    plan = board.plan_for(mode)
    for name in board.LEADERBOARD:
        cfg = board.model_config(name, plan)
        if mode == "full":
            assert cfg.get("widths", [0])[0] in (0, 32, 64)
        elif "widths" in cfg:
            assert cfg["widths"][0] == plan.base
    assert board.label("u2netp", board.plan_for("full")) == "U2NET"
    with pytest.raises(ValueError, match="not on the leaderboard"):
        board.model_config("unet3d", board.plan_for("smoke"))


def test_leaderboard_models_forward_at_smoke_widths():
    plan = board.plan_for("smoke")
    x = torch.randn(1, 3, 32, 32)
    for name in board.LEADERBOARD:
        model = board.make_model(name, plan).eval()
        with torch.no_grad():
            out = model(x)
        final = out[0] if isinstance(out, list) else out
        assert final.shape == (1, 1, 32, 32), name


def _brute_front(cost, score):
    return sorted((i for i in range(len(cost)) if not any(
        cost[j] <= cost[i] and score[j] >= score[i] and (cost[j] < cost[i] or score[j] > score[i])
        for j in range(len(cost)))), key=lambda i: cost[i])


def test_pareto_front_against_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(20):
        cost, score = rng.integers(1, 6, 7).astype(float), rng.integers(1, 6, 7) / 10
        assert board.pareto_front(cost, score) == _brute_front(list(cost), list(score))
    assert board.pareto_front([1, 2, 3], [0.5, 0.7, 0.6]) == [0, 1]
    with pytest.raises(ValueError, match="one value per model"):
        board.pareto_front([1, 2], [0.5])


def test_leaderboard_protocol_on_tiny_models(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "smoke")
    plan = board.plan_for("smoke", seeds=(0,))
    train, test = board.load_task(plan, real=False, verbose=False)
    runs = board.train_leaderboard(train, test, plan, models=("unet", "unetpp"), progress=False)
    assert [r.arm for r in runs] == ["unet", "unetpp"]
    assert all(r.prob is not None and r.prob.shape == test.masks.shape for r in runs)
    assert all(0 <= r.scores["dice"] <= 1 and r.extras["train_step_s"] > 0 for r in runs)
    summary = board.summarise(runs)
    costs = {name: {"gmacs": 1.0, "ms_per_image": 2.0, "images_per_s": 500.0, "peak_mb": 3.0, "model_mb": 1.0}
             for name in summary}
    rows = board.leaderboard_rows(summary, costs, plan)
    assert [r["dice"][0] for r in rows] == sorted((r["dice"][0] for r in rows), reverse=True)
    assert {r["model"] for r in rows} == {"U-Net", "UNet++"}


def test_equal_time_steps_and_the_budget_they_name(monkeypatch):
    """With plan.seconds every model gets the steps that fill that time at its own measured step time, in
    whole epochs; the verdict lines name the time budget; without it every model gets plan.steps."""
    monkeypatch.setenv("COURSE_MODE", "smoke")
    plan = board.plan_for("smoke", seeds=(0,), seconds=0.5, epochs=2)
    train, test = board.load_task(plan, real=False, verbose=False)
    steps = board.steps_for_time(train, plan, models=("unet", "u2netp"))
    for row in steps.values():
        assert row["steps"] % plan.epochs == 0 and row["steps"] >= plan.epochs
        assert row["steps"] == max(1, int(plan.seconds / row["step_seconds"]) // plan.epochs) * plan.epochs
    assert steps["unet"]["step_seconds"] < steps["u2netp"]["step_seconds"]
    assert board.budget(plan) == "0.5 s of training per run (batches of 2 patches)"
    fixed = board.plan_for("smoke")
    assert board.steps_for_time(train, fixed, models=("unet",))["unet"]["steps"] == fixed.steps
    assert board.budget(fixed) == "2 steps of 2 patches"
    runs = board.train_leaderboard(train, test, plan, models=("unet",), progress=False, steps={"unet": 4})
    assert runs[0].history.optimizer_steps == 4
    with pytest.raises(ValueError, match="not trained"):
        board.train_leaderboard(train, test, plan, models=("unet",), progress=False, steps={"unetpp": 4})
    assert board.label("attention_unet", plan) == "AttU-Net (grid)"
    assert board.model_config("attention_unet", plan)["gate"] == "grid"


def test_measure_costs_each_model_alone():
    plan = board.plan_for("smoke")
    costs = board.measure_costs(plan, models=("unet", "u2netp"), steps=1)
    assert set(costs) == {"unet", "u2netp"}
    assert costs["u2netp"]["params"] == 1_131_181
    assert costs["u2netp"]["gmacs"] > costs["unet"]["gmacs"] > 0
    assert all(c["ms_per_image"] > 0 and c["model_mb"] >= 0 and c["size"] == 64 for c in costs.values())


def test_measure_many_isolated_names_the_failing_job():
    with pytest.raises(RuntimeError, match="no_such_model"):
        cl.benchmark.measure_many_isolated([{"name": "no_such_model", "size": 32, "macs": False}])


def test_volume_protocol_on_tiny_volumes(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "smoke")
    plan = volumes.plan_for("smoke", seeds=(0,))
    runs = volumes.compare_labels(plan, progress=False)
    assert [r.arm for r in runs] == list(volumes.VOLUME_ARMS)
    assert all(r.prob is not None and r.prob.shape[-3:] == (8, 8, 8) for r in runs)
    assert set(volumes.summarise(runs)) == set(volumes.VOLUME_ARMS)
    share = volumes.annotated_fraction(plan, margin=20)
    assert 0.2 < share < 0.6
    with pytest.raises(ValueError, match="Unknown labelling"):
        volumes.load_volumes(plan, "half")


# ----------------------------------------------------------------------------- figures, explorer, exercises


def test_figures_and_explorer_run_with_defaults():
    fig = cl.viz.draw_units({"a": DoubleConv(4, 8), "b": ResidualUnit(4, 8), "c": DenseBlock(4, 8),
                             "d": InceptionBlock(4, 8)})
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 4
    rows = [{"model": m, "gmacs": g, "ms_per_image": t, "dice": (d, 0.01)}
            for m, g, t, d in [("A", 1, 10, 0.7), ("B", 2, 20, 0.8), ("C", 3, 5, 0.6)]]
    assert len(cl.viz.plot_pareto(rows).axes) == 2
    dense = cl.data.load("synthetic-tubes3d", n=1, size=32)[0]
    sparse = cl.data.load("synthetic-tubes3d", n=1, size=32, annotate_every=4)[0]
    background = cl.data.load("synthetic-tubes3d", n=1, size=32, annotate_every=4, unlabelled="background")[0]
    cl.viz.plot_sparse_labels(dense, sparse, background, z=10)
    probs = {"dense": torch.rand(1, 12, 12, 12), "sparse": torch.rand(1, 12, 12, 12)}
    fig = cl.viz.plot_volume_predictions(dense["image"], center_crop_to(dense["mask"], (12, 12, 12)), probs)
    assert len(fig.axes) == 2 * 3 + 1  # image, truth and two arms per row, one colour bar
    rgb, masks = torch.rand(2, 3, 40, 40), (torch.rand(2, 1, 40, 40) > 0.8).float()
    preds = {"A": torch.rand(2, 1, 40, 40), "B": torch.rand(2, 1, 40, 40)}
    cl.explorers.comparison_figure(rgb, masks, torch.ones(2, 1, 40, 40), preds, zoom="centre")
    widget = cl.explorers.comparison_explorer(rgb, masks, None, preds)
    assert widget.children
    with pytest.raises(ValueError, match="No predictions for 'C'"):
        cl.explorers.comparison_figure(rgb, masks, None, preds, a="C")
    with pytest.raises(ValueError, match="Unknown zoom"):
        cl.explorers.comparison_figure(rgb, masks, None, preds, zoom="far")


def _verdict(name, answer) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cl.exercises.check(name, answer)
    return out.getvalue()


def test_se_unet_checker_hints():
    assert "no model is registered" in _verdict("10.se_unet", "_not_registered_")

    class SEUnit(nn.Sequential):
        def __init__(self, cin, cout):
            super().__init__(DoubleConv(cin, cout), SEBlock(cout, reduction=4))

    @cl.models.register_model("_se_first_only", replace=True)
    def first_only(in_channels=1, out_channels=1, widths=(8, 16)):
        return UNet(in_channels, out_channels, widths, first_block=SEUnit)

    assert "first_block only" in _verdict("10.se_unet", "_se_first_only")

    @cl.models.register_model("_se_new_net", replace=True)
    def new_net(in_channels=1, out_channels=1, widths=(8, 16)):
        return nn.Sequential(SEUnit(in_channels, widths[0]), nn.Conv2d(widths[0], out_channels, 1))

    assert "course's one U-Net" in _verdict("10.se_unet", "_se_new_net")


def test_pareto_checker_hints():
    assert "sort them by cost" in _verdict("10.pareto", lambda c, s: board.pareto_front(c, s)[::-1])
    assert "correct" in _verdict("10.pareto", board.pareto_front)


def test_parameter_counts_on_meta_match_built_models():
    plan = board.plan_for("smoke")
    counts = board.parameter_counts(plan)
    assert counts == {name: n_params(board.make_model(name, plan)) for name in board.LEADERBOARD}


def test_volume_rehearsal_feeds_the_smallest_volume(monkeypatch):
    monkeypatch.setenv("COURSE_MAX_STEPS", "1")
    plan = volumes.plan_for("full")
    assert (plan.size, plan.show_size, plan.n_train, plan.base, plan.depth) == (92, 92, 4, 32, 3)


# ----------------------------------------------------------------------------- the verdicts


#: Dice minus the U-Net's, per seed, as the stored quick run printed them (3 decimals)
STORED_DIFFERENCES = {
    "res_unet": [-0.002, 0.072, 0.059], "dense_unet": [-0.040, 0.059, 0.064],
    "inception_unet": [-0.210, -0.062, -0.172], "dacrse_unet": [-0.065, 0.001, -0.369],
    "attention_unet": [-0.072, -0.150, -0.071], "r2unet": [-0.082, 0.000, -0.052],
    "r2attunet": [-0.090, -0.029, -0.162], "unetpp": [0.021, 0.059, 0.028],
    "u2netp": [-0.656, -0.584, -0.609]}


def _result(arm, seed, **scores):
    from course_lib.protocols.sweep import ArmResult

    return ArmResult(arm, seed, scores, 0, 0.0, None)


def test_one_verdict_table_from_the_stored_leaderboard(capsys):
    """Bonferroni over nine models: only U2NETP is a finding; UNet++, ahead on every seed, is not."""
    plan = board.plan_for("quick")
    runs = [_result("unet", s, dice=0.62) for s in range(3)]
    runs += [_result(name, s, dice=0.62 + d) for name, diffs in STORED_DIFFERENCES.items()
             for s, d in enumerate(diffs)]
    verdicts = board.compare_to_unet(runs, plan)
    assert [v.a for v in verdicts] == [board.LABELS[n] for n in STORED_DIFFERENCES]
    assert all(v.b == "U-Net" and v.comparisons == 9 for v in verdicts)
    assert [v.a for v in verdicts if v.finding] == ["U2NETP"]
    summary = board.verdict_summary(verdicts)
    assert "better than U-Net: none" in summary and "worse than U-Net: U2NETP" in summary
    assert "no difference detected at 8 s of training per run (batches of 8 patches): ResUNet" in summary
    assert "+0.021 / +0.059 / +0.028" in summary.splitlines()[-2]
    assert "Bonferroni" in capsys.readouterr().out


def test_relative_costs_are_multiples_of_the_unet():
    rows = [{"model": "U-Net", "params": 100, "gmacs": 1.0, "train_step_s": 0.05, "ms_per_image": 20.0},
            {"model": "U2NETP", "params": 230, "gmacs": 16.0, "train_step_s": 0.3, "ms_per_image": None}]
    rel = board.relative_costs(rows)
    assert rel["U-Net"] == {"params": 1.0, "gmacs": 1.0, "train_step_s": 1.0, "ms_per_image": 1.0}
    assert rel["U2NETP"] == pytest.approx({"params": 2.3, "gmacs": 16.0, "train_step_s": 6.0})
    with pytest.raises(KeyError, match="No row for"):
        board.relative_costs(rows, reference="ResUNet")


def test_label_verdicts_name_the_budget():
    plan = volumes.plan_for("quick")
    scores = {"dense": (0.88, 0.91), "sparse": (0.87, 0.96), "sparse as background": (0.61, 0.46)}
    runs = [_result(arm, s, dice=d + 0.01 * s * (1 + i), sensitivity=t - 0.01 * s * (1 + i))
            for i, (arm, (d, t)) in enumerate(scores.items()) for s in range(3)]
    verdicts = volumes.label_verdicts(runs, plan, show=False)
    assert [(v.a, v.b, v.metric) for v in verdicts] == [(a, b, m) for a, b, _, m in volumes.VERDICTS]
    assert verdicts[1].verdict == verdicts[2].verdict == "sparse as background worse"
    assert volumes.budget(plan) == f"{plan.steps} steps of {plan.batch_size} volumes"


def test_ten_arms_get_ten_distinct_colours():
    from course_lib.viz._style import ARM_COLOURS, arm_colours

    assert arm_colours(5) == ARM_COLOURS[:5]
    assert len(set(arm_colours(10))) == 10
    runs = [_result(name, s, dice=0.5 + 0.01 * s) for name in board.LEADERBOARD for s in range(2)]
    fig = cl.viz.plot_arm_scores(runs, keys=("dice",))
    bar_colours = {tuple(p.get_facecolor()[:3]) for p in fig.axes[0].patches}
    assert len(bar_colours) == 10
