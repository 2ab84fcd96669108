"""Chapter 07: both attention-gate variants, the gated models, the recurrent block, lesion detection and
the lesion protocol on a tiny plan."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

import course_lib as cl
from course_lib import lesion_metrics
from course_lib.blocks import AttentionGate, GridAttentionGate, RecurrentConv
from course_lib.lesion_metrics import lesion_detection
from course_lib.protocols import lesions


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ------------------------------------------------------------------------------------------- gates
@pytest.mark.parametrize("h, w", [(16, 16), (15, 11), (7, 2)])
def test_grid_gate_shapes_and_range_on_even_and_odd_skips(h, w):
    gate = GridAttentionGate(gate_channels=12, skip_channels=6)
    for gh, gw in {(h // 2, w // 2), (-(-h // 2), -(-w // 2))}:
        x, g = torch.randn(2, 6, h, w), torch.randn(2, 12, gh, gw)
        out = gate(x, g)
        assert out.shape == x.shape
        alpha = gate.last_attention
        assert alpha.shape == (2, 1, h, w)
        assert float(alpha.min()) >= 0 and float(alpha.max()) <= 1


def test_grid_gate_wrong_g_or_tiny_skip_is_a_clear_error():
    gate = GridAttentionGate(8, 4)
    with pytest.raises(ValueError, match="coarser decoder features"):
        gate(torch.randn(1, 4, 16, 16), torch.randn(1, 8, 16, 16))  # g upsampled already: wrong variant
    with pytest.raises(ValueError, match="at least 2x2"):
        gate(torch.randn(1, 4, 1, 8), torch.randn(1, 8, 1, 4))


def test_grid_gate_parts_and_parameter_count():
    fg, fl, fi = 16, 8, 4
    gate = GridAttentionGate(fg, fl)
    assert gate.theta.kernel_size == (2, 2) and gate.theta.stride == (2, 2) and gate.theta.bias is None
    expected = 4 * fl * fi + (fg * fi + fi) + (fi + 1) + (fl * fl + fl) + 2 * fl
    assert n_params(gate) == expected


def test_same_gate_shapes_range_and_mismatch():
    gate = AttentionGate(8, 4)
    out = gate(torch.randn(3, 4, 10, 6), torch.randn(3, 8, 10, 6))
    assert out.shape == (3, 4, 10, 6) and gate.last_attention.shape == (3, 1, 10, 6)
    assert 0 <= float(gate.last_attention.min()) <= float(gate.last_attention.max()) <= 1
    with pytest.raises(ValueError, match="upsample g"):
        gate(torch.randn(1, 4, 10, 6), torch.randn(1, 8, 5, 3))


def test_make_gate_rejects_unknown_variants():
    with pytest.raises(ValueError, match=r"not one of \('same', 'grid', 'grid-open'\)"):
        cl.create_model("attention_unet", gate="oktay")


# ------------------------------------------------------------------------------------------- models
def test_default_attention_unet_keeps_its_published_count():
    assert n_params(cl.create_model("attention_unet", in_channels=3, out_channels=1)) == 34_878_573
    assert n_params(cl.create_model("r2attunet", in_channels=3, out_channels=1, t=2)) == 39_442_925


@pytest.mark.parametrize("name", ["attention_unet", "r2attunet"])
@pytest.mark.parametrize("gate", ["same", "grid"])
def test_gated_models_keep_one_map_per_gate_at_the_skip_size(name, gate):
    model = cl.create_model(name, in_channels=1, out_channels=1, widths=(4, 8, 16, 32), gate=gate).eval()
    out = model(torch.randn(2, 1, 32, 48))
    assert out.shape == (2, 1, 32, 48)
    maps = model.attention_maps()  # deepest first
    assert [tuple(m.shape) for m in maps] == [(2, 1, 8, 12), (2, 1, 16, 24), (2, 1, 32, 48)]
    assert all(float(m.min()) >= 0 and float(m.max()) <= 1 for m in maps)
    kinds = {type(step.gate) for step in model.decoder}
    assert kinds == {GridAttentionGate if gate == "grid" else AttentionGate}


def test_grid_gated_model_parameter_count_by_hand():
    widths = (4, 8, 16, 32)
    same = cl.create_model("attention_unet", in_channels=1, widths=widths)
    grid = cl.create_model("attention_unet", in_channels=1, widths=widths, gate="grid")
    gates_same = sum(n_params(s.gate) for s in same.decoder)
    gates_grid = sum(n_params(s.gate) for s in grid.decoder)
    by_hand = sum(n_params(GridAttentionGate(widths[i + 1], widths[i], widths[i] // 2)) for i in range(3))
    assert gates_grid == by_hand
    assert n_params(grid) - gates_grid == n_params(same) - gates_same


# ------------------------------------------------------------------------------------------- recurrent
@pytest.mark.parametrize("t", [0, 1, 3])
def test_step_norm_shares_the_conv_and_uses_each_norm_once(t):
    layer = RecurrentConv(4, t, step_norm=True).eval()
    convs, norms = [], []
    layer.conv.register_forward_hook(lambda *_: convs.append(1))
    for k, norm in enumerate(layer.norms):
        norm.register_forward_hook(lambda *_, k=k: norms.append(k))
    layer(torch.randn(1, 4, 9, 9))
    assert len(convs) == t + 1 and norms == list(range(t + 1))
    assert sum(isinstance(m, torch.nn.Conv2d) for m in layer.modules()) == 1


def test_recurrent_footprint_grows_by_two_pixels_per_step():
    sides = []
    for t in range(4):
        mask = cl.receptive_field.footprint(RecurrentConv(2, t), (1, 2, 31, 31))
        rows = np.flatnonzero(mask.any(1).numpy())
        sides.append(int(rows[-1] - rows[0] + 1))
    assert sides == [3, 5, 7, 9]


# ------------------------------------------------------------------------------------------- metric
def test_lesion_detection_against_a_direct_count():
    rng = np.random.default_rng(0)
    for _ in range(20):
        target = ndimage.binary_dilation(rng.random((2, 1, 40, 40)) < 0.004, np.ones((1, 1, 3, 3)))
        prob = ndimage.binary_dilation(rng.random((2, 1, 40, 40)) < 0.006, np.ones((1, 1, 3, 3))) * 0.9
        got = lesion_detection(prob, target)
        lesions = detected = fps = 0
        for p, t in zip(prob[:, 0] >= 0.5, target[:, 0], strict=True):
            tl, nt = ndimage.label(t, np.ones((3, 3)))
            pl, npred = ndimage.label(p, np.ones((3, 3)))

            def iou(a, b):
                return (a & b).sum() / (a | b).sum()

            lesions += nt
            detected += sum(any(iou(pl == j, tl == k) >= 0.1 for j in range(1, npred + 1))
                            for k in range(1, nt + 1))
            fps += sum(not any(iou(pl == j, tl == k) >= 0.1 for k in range(1, nt + 1))
                       for j in range(1, npred + 1))
        assert (got["lesions"], got["detected"], got["false_positives"]) == (lesions, detected, fps)
        assert got["fp_per_image"] == fps / 2


def test_lesion_detection_edge_cases_and_bad_input():
    empty = np.zeros((8, 8))
    assert np.isnan(lesion_detection(empty, empty)["recall"])
    assert lesion_detection(np.ones((8, 8)), empty)["false_positives"] == 1
    one = np.zeros((40, 40))
    one[10:13, 10:13] = 1
    flood = lesion_detection(np.ones((40, 40)), one)  # one region over everything: no detection
    assert (flood["detected"], flood["false_positives"]) == (0, 1)
    assert lesion_detection(one, one)["recall"] == 1.0
    with pytest.raises(ValueError, match="binary"):
        lesion_detection(empty, np.full((8, 8), 0.5))
    with pytest.raises(ValueError, match="differ in shape"):
        lesion_detection(np.zeros((8, 8)), np.zeros((8, 9)))
    with pytest.raises(ValueError, match="one channel"):
        lesion_detection(np.zeros((1, 2, 8, 8)), np.zeros((1, 2, 8, 8)))


# ------------------------------------------------------------------------------------------- protocol
def test_froc_and_recall_at_fp():
    target = np.zeros((2, 1, 30, 30))
    target[:, :, 5:9, 5:9] = 1
    prob = np.zeros_like(target)
    prob[:, :, 5:9, 5:9] = 0.8  # the lesion, confidently
    prob[:, :, 20:23, 20:23] = 0.3  # a weaker false alarm
    curve = lesion_metrics.froc(prob, target, thresholds=[0.2, 0.5])
    assert curve["recall"].tolist() == [1.0, 1.0] and curve["fp_per_image"].tolist() == [1.0, 0.0]
    assert lesion_metrics.recall_at_fp(curve, 0.0) == 1.0
    strict = {"recall": np.array([1.0]), "fp_per_image": np.array([3.0])}
    assert lesion_metrics.recall_at_fp(strict, 1.0) == 0.0


def test_lesion_protocol_on_a_tiny_plan_records_attention_and_summarises():
    plan = lesions.plan_for("smoke", seeds=(0, 1))
    data = lesions.load_lesion_data(plan)
    images, masks = data.val_batch()
    arms = ["U-Net", "AttU-Net (grid)"]
    results = lesions.compare_arms(data, arms, record_images=images[:1], keep_seed=0, progress=False)
    assert [(r.arm, r.seed) for r in results] == [(a, s) for s in (0, 1) for a in arms]
    gated = [r for r in results if r.arm == "AttU-Net (grid)"]
    rec = gated[0].recorder
    assert rec.epochs == list(range(plan.epochs + 1))
    assert len(rec.maps[0]) == len(plan.widths) - 1 and rec.maps[0][0].shape[-2:] == images.shape[-2:]
    assert results[0].recorder is None and results[0].model is not None and results[1 * 2].model is None
    _, _, lookalike = data.val_batch("lookalike")
    on = lesions.attention_by_region(rec, masks[:1], lookalike[:1])
    assert on.shape == (plan.epochs + 1, len(plan.widths) - 1, 3) and np.all((on >= 0) & (on <= 1))
    summary = lesions.summarise(results)
    assert set(summary) == set(arms) and summary["U-Net"]["seeds"] == [0, 1]
    assert "± " in lesions.format_summary(summary)
    with pytest.raises(ValueError, match="Unknown arm"):
        lesions.make_arm_model("V-Net", plan.widths)


def test_every_arm_is_compared_with_the_unet_on_paired_seeds(capsys):
    """The chapter's verdict lines: each score of COMPARED_SCORES, Bonferroni over the five arms; false
    positives compared with lower is better; per-seed values in seed order."""
    from course_lib.protocols.sweep import ArmResult

    fp = {"U-Net": (7.25, 6.0, 9.5), "AttU-Net (same)": (7.625, 9.75, 5.375),
          "AttU-Net (grid)": (5.0, 5.25, 6.375), "AttU-Net (grid, α=1)": (6.0, 6.5, 8.0),
          "R2U-Net": (8.0, 5.625, 7.5),
          "R2AttU-Net": (7.875, 6.0, 5.625)}
    results = [ArmResult(arm, seed, {"dice": 0.5 + 0.01 * seed, "recall": 0.8, "fp_per_image": fp[arm][seed],
                                     "froc": 0.5}, 0, 0.0, None)
               for seed in (2, 0, 1) for arm in lesions.ARMS]
    assert [k for k, *_ in lesions.COMPARED_SCORES] == ["dice", "recall", "fp_per_image", "froc"]
    key, metric, higher, digits = lesions.COMPARED_SCORES[2]
    lines = cl.stats.compare_to_baseline(results, "U-Net", key, metric=metric, higher_is_better=higher,
                                         budget="240 steps of 4 patches", digits=digits)
    out = capsys.readouterr().out
    assert len(lines) == 5 and all(c.comparisons == 5 and not c.higher_is_better for c in lines)
    grid = next(c for c in lines if c.a == "AttU-Net (grid)")
    assert grid.line() == ("AttU-Net (grid) vs U-Net, FP per image, lower is better: −2.04 [−8.92, +4.84] "
                           "(99 % t-interval, Bonferroni over 5, 3 paired seeds): no difference detected "
                           "at 240 steps of 4 patches")
    assert grid.line() in out
    table = lesions.format_per_seed(results, "fp_per_image").splitlines()
    assert table[0].split() == ["U-Net", "7.250", "/", "6.000", "/", "9.500"]  # seed order, not run order
    assert len(table) == len(lesions.ARMS)


def test_chapter07_figures_draw_from_the_models(tmp_path):
    import matplotlib.pyplot as plt

    for gate in ("same", "grid"):
        model = cl.create_model("attention_unet", in_channels=1, widths=(4, 8, 16), gate=gate)
        fig = cl.viz.draw_gated_unet(model, size=32)
        assert "parameters" in fig.axes[0].get_title()
        plt.close(fig)
    plt.close(cl.viz.draw_gated_unet(cl.create_model("attention_unet", in_channels=1, widths=(4, 8),
                                                     attention=False), size=16))
    fig = cl.viz.draw_recurrent_unrolled(RecurrentConv(4, 2))
    assert "t + 1 = 3" in fig.axes[0].get_title()
    plt.close(fig)
    rec = lesions.AttentionRecorder(torch.rand(2, 1, 16, 16))
    model = cl.create_model("attention_unet", in_channels=1, widths=(4, 8, 16))
    rec.record(model, 0)
    rec.record(model, 1)
    masks = (torch.rand(2, 1, 16, 16) > 0.8).float()
    plt.close(cl.viz.plot_attention_grid(rec.maps, rec.epochs, rec.images[0], masks[0]))
    plt.close(cl.explorers.attention_figure(rec, masks))
    plt.close(cl.explorers.attention_figure(rec, masks, (torch.rand(2, 1, 16, 16) > 0.9).float(), epoch=0))
    cl.explorers.attention_explorer(rec, masks)
    cl.explorers.attention_explorer({"a": rec, "b": rec}, masks)
    with pytest.raises(ValueError, match="no recorders"):
        cl.explorers.attention_explorer({}, masks)
    with pytest.raises(TypeError, match="attention_maps"):
        lesions.AttentionRecorder(torch.rand(1, 1, 16, 16)).record(torch.nn.Conv2d(1, 1, 1), 0)


def test_step_norm_recurrent_conv_and_the_shared_bn_statistics():
    shared, per_step = RecurrentConv(4, 2), RecurrentConv(4, 2, step_norm=True)
    assert n_params(per_step) == n_params(shared) + 2 * 4 * 2
    assert len(per_step.norms) == 3 and isinstance(per_step.conv, torch.nn.Conv2d)
    x = torch.randn(2, 4, 8, 8)
    assert per_step(x).shape == x.shape
    net = cl.create_model("r2unet", in_channels=1, widths=(4, 8), t=2, step_norm=True)
    assert all(m.step_norm for m in net.modules() if isinstance(m, RecurrentConv))
    shared.train()(x)  # one training forward: the running mean moves towards the average of the 3 steps
    stats = lesions.step_statistics(shared, x)
    assert stats["steps"].shape == (3, 4) and stats["running"].shape == (4,)
    # momentum 0.1 from a zero running mean, one update per unrolled step: a blend of all three
    blend = 0.1 * sum(0.9 ** (2 - k) * stats["steps"][k] for k in range(3))
    assert np.allclose(stats["running"], blend, atol=1e-5)


def test_drive_prediction_pads_for_models_without_pad_input():
    from course_lib.protocols import drive

    model = lesions.make_arm_model("AttU-Net (grid)", (2, 4, 8, 16), in_channels=3)
    images = torch.rand(1, 3, 45, 38)  # DRIVE-like odd sizes; depth 3 wants multiples of 8
    with pytest.raises(ValueError, match="does not fit"):
        model(images)
    prob = drive.predict_images(model, images, flips=True)
    assert prob.shape == (1, 1, 45, 38) and 0 <= float(prob.min()) <= float(prob.max()) <= 1


def test_open_grid_gate_is_the_grid_gate_without_gating():
    """The control keeps W + BN on the skip, ignores g, and reports coefficients of exactly 1."""
    gate = cl.blocks.attention.make_gate("grid-open", 16, 8)
    grid = cl.blocks.attention.make_gate("grid", 16, 8)
    x, g = torch.randn(2, 8, 10, 10), torch.randn(2, 16, 5, 5)
    gate.W.load_state_dict(grid.W.state_dict())
    gate.eval()
    assert torch.allclose(gate(x, g), gate.W(x))
    assert torch.equal(gate.last_attention, torch.ones(2, 1, 10, 10))
    assert sum(p.numel() for p in gate.parameters()) == sum(p.numel() for p in grid.W.parameters())
    model = cl.create_model("attention_unet", in_channels=1, widths=(4, 8, 16), gate="grid-open")
    assert model(torch.randn(1, 1, 32, 32)).shape == (1, 1, 32, 32)
    with pytest.raises(ValueError, match="grid-open"):
        cl.create_model("attention_unet", in_channels=1, widths=(4, 8, 16), gate="open")


def test_froc_score_averages_recall_over_false_alarm_rates():
    """Mean of recall_at_fp at 1/8 ... 8 FP per image, computed directly; a cliff at one rate moves it
    by one seventh, not all the way."""
    curve = {"thresholds": np.array([0.3, 0.6, 0.9]), "recall": np.array([1.0, 0.75, 0.5]),
             "fp_per_image": np.array([6.0, 1.5, 0.2])}
    expected = np.mean([0, 0.5, 0.5, 0.5, 0.75, 0.75, 1.0])  # rates 1/8, 1/4, 1/2, 1, 2, 4, 8
    assert lesion_metrics.froc_score(curve) == pytest.approx(expected)
    assert lesion_metrics.froc_score(curve, (8.0,)) == 1.0
    with pytest.raises(ValueError, match="false positives per image"):
        lesion_metrics.froc_score(curve, (-1.0,))


def test_median_gain_image_picks_the_typical_image():
    masks = torch.zeros(3, 1, 8, 8)
    masks[:, :, 2:6, 2:6] = 1
    b = masks.clone()
    a = masks.clone()
    a[0] = 0                      # A loses image 0 (gain -1)
    b[2, :, 2:4] = 0              # B misses half of image 2 (A gains there)
    index, gains = lesions.median_gain_image(a, b, masks)
    assert index == 1 and gains[1] == 0 and gains[0] < 0 < gains[2]


def test_border_frame_tells_padding_from_image():
    """A gate whose map is brighter on the outermost ring than inside it: padding the image moves that
    frame to the new border when it comes from zero padding. On an untrained model: the outermost ring
    of the finest map is computed directly here."""
    model = cl.create_model("attention_unet", in_channels=1, widths=(4, 8, 16), gate="grid")
    images = torch.rand(2, 1, 32, 32)
    rows = lesions.border_frame(model, images, pad=8)
    assert [r["size"] for r in rows] == [32, 16]
    model.eval()
    with torch.no_grad():
        model(images)
    finest = model.attention_maps()[-1]
    edge = torch.cat([finest[..., 0, :].flatten(), finest[..., -1, :].flatten(),
                      finest[..., 1:-1, 0].flatten(), finest[..., 1:-1, -1].flatten()])
    assert rows[0]["edge"] == pytest.approx(float(edge.mean()), abs=1e-6)
    assert all(0 <= r[k] <= 1 for r in rows for k in ("edge", "inside", "edge_padded", "new_edge"))
