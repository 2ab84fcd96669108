"""Chapter 09 (U^2-Net): logits at input size, the seven-term loss, salient-object metrics, the official
checkpoint mapping (against an independent functional re-implementation of the official forward pass),
the DUTS loader, the protocol, figures, explorers and exercises."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import course_lib as cl
from course_lib.models.u2net_official import from_official, official_key, to_official
from course_lib.protocols import salient

# -- the official checkpoint's naming scheme, written out independently of the library ----------------

HEIGHTS = {1: 7, 2: 6, 3: 5, 4: 4, 5: "4F", 6: "4F"}
TENSORS = {"conv_s1": ("weight", "bias"),
           "bn_s1": ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")}


def _convs_of(height) -> list[str]:
    levels = 4 if height == "4F" else height
    return (["rebnconvin"] + [f"rebnconv{i}" for i in range(1, levels + 1)]
            + [f"rebnconv{i}d" for i in range(levels - 1, 0, -1)])


def official_names() -> set[str]:
    names = set()
    stages = [f"stage{k}" for k in range(1, 7)] + [f"stage{k}d" for k in range(1, 6)]
    for stage in stages:
        k = int(stage[5])
        for conv in _convs_of(HEIGHTS[k]):
            for layer, tensors in TENSORS.items():
                names |= {f"{stage}.{conv}.{layer}.{t}" for t in tensors}
    names |= {f"side{m}.{t}" for m in range(1, 7) for t in ("weight", "bias")}
    names |= {"outconv.weight", "outconv.bias"}
    return names


def _rebn(x, sd, prefix, dilation=1):
    x = F.conv2d(x, sd[f"{prefix}.conv_s1.weight"], sd[f"{prefix}.conv_s1.bias"], padding=dilation,
                 dilation=dilation)
    x = F.batch_norm(x, sd[f"{prefix}.bn_s1.running_mean"], sd[f"{prefix}.bn_s1.running_var"],
                     sd[f"{prefix}.bn_s1.weight"], sd[f"{prefix}.bn_s1.bias"], training=False)
    return F.relu(x)


def _up(x, like):
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


def _pool(x):
    return F.max_pool2d(x, 2, 2, ceil_mode=True)


def _official_rsu(x, sd, stage, height):
    x_in = _rebn(x, sd, f"{stage}.rebnconvin")
    if height == "4F":
        h1 = _rebn(x_in, sd, f"{stage}.rebnconv1", 1)
        h2 = _rebn(h1, sd, f"{stage}.rebnconv2", 2)
        h3 = _rebn(h2, sd, f"{stage}.rebnconv3", 4)
        h4 = _rebn(h3, sd, f"{stage}.rebnconv4", 8)
        d = _rebn(torch.cat([h4, h3], 1), sd, f"{stage}.rebnconv3d", 4)
        d = _rebn(torch.cat([d, h2], 1), sd, f"{stage}.rebnconv2d", 2)
        return _rebn(torch.cat([d, h1], 1), sd, f"{stage}.rebnconv1d", 1) + x_in
    hs = [_rebn(x_in, sd, f"{stage}.rebnconv1")]
    for i in range(2, height):
        hs.append(_rebn(_pool(hs[-1]), sd, f"{stage}.rebnconv{i}"))
    d = _rebn(hs[-1], sd, f"{stage}.rebnconv{height}", 2)
    for i in range(height - 1, 0, -1):
        d = _rebn(torch.cat([_up(d, hs[i - 1]), hs[i - 1]], 1), sd, f"{stage}.rebnconv{i}d")
    return d + x_in


def official_forward(sd, x):
    """The official U2NET/U2NETP forward pass, from its state dict: seven sigmoid maps (d0 first)."""
    enc, h = [], x
    for k in range(1, 7):
        h = _official_rsu(h if k == 1 else _pool(h), sd, f"stage{k}", HEIGHTS[k])
        enc.append(h)
    dec = {6: enc[5]}
    d = enc[5]
    for k in range(5, 0, -1):
        d = _official_rsu(torch.cat([_up(d, enc[k - 1]), enc[k - 1]], 1), sd, f"stage{k}d", HEIGHTS[k])
        dec[k] = d
    sides = [F.conv2d(dec[m], sd[f"side{m}.weight"], sd[f"side{m}.bias"], padding=1) for m in range(1, 7)]
    sides = [sides[0]] + [_up(s, sides[0]) for s in sides[1:]]
    d0 = F.conv2d(torch.cat(sides, 1), sd["outconv.weight"], sd["outconv.bias"])
    return [torch.sigmoid(o) for o in [d0, *sides]]


def _randomised(model):
    """Random BatchNorm statistics and affine parameters, so that eval mode is not the identity."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model.eval()


# -- model outputs and loss ----------------------------------------------------------------------------

@pytest.mark.parametrize("size", [(37, 45), (64, 64), (33, 20)])
def test_seven_logit_maps_at_input_size(size):
    torch.manual_seed(0)
    model = cl.create_model("u2netp").eval()
    with torch.no_grad():
        outputs = model(torch.randn(1, 3, *size))
    assert len(outputs) == 7
    assert all(o.shape == (1, 1, *size) for o in outputs)
    assert any(bool((o < 0).any()) for o in outputs)  # logits, not probabilities


def test_published_parameter_counts():
    count = cl.inspect_model.parameter_count
    assert count(cl.create_model("u2net")) == 44_009_869
    assert count(cl.create_model("u2netp")) == 1_131_181


def test_seven_term_loss_is_the_sum_of_its_terms():
    g = torch.Generator().manual_seed(1)
    outputs = [torch.randn(2, 1, 9, 9, generator=g) * 4 for _ in range(7)]
    mask = (torch.rand(2, 1, 9, 9, generator=g) > 0.5).float()
    loss = cl.losses.MultiOutputLoss("bce")(outputs, mask)
    expected = sum(F.binary_cross_entropy_with_logits(o, mask) for o in outputs)
    assert torch.allclose(loss, expected)


# -- metrics -------------------------------------------------------------------------------------------

def _direct_curve(p, t, beta2=0.3):
    n = p.shape[0]
    P, R = [], []
    for k in range(256):
        pred = p >= k / 255
        precision, recall = [], []
        for i in range(n):
            tp = np.sum(pred[i] & t[i])
            precision.append(tp / pred[i].sum() if pred[i].sum() else 0.0)
            recall.append(tp / t[i].sum())
        P.append(np.mean(precision))
        R.append(np.mean(recall))
    P, R = np.array(P), np.array(R)
    with np.errstate(invalid="ignore"):
        return P, R, np.nan_to_num((1 + beta2) * P * R / (beta2 * P + R))


def test_salient_scores_against_a_direct_computation():
    rng = np.random.default_rng(3)
    t = rng.random((3, 1, 12, 10)) > 0.7
    p = np.clip(t * 0.5 + rng.random(t.shape) * 0.6, 0, 1).astype(np.float32)
    scores = cl.metrics.salient_scores(p, t.astype(np.float32))
    curve = cl.metrics.salient_pr_curve(p, t.astype(np.float32))
    P, R, Fb = _direct_curve(p.reshape(3, -1), t.reshape(3, -1))
    assert np.allclose(curve["precision"], P) and np.allclose(curve["recall"], R)
    assert scores["max_f"] == pytest.approx(Fb.max())
    assert scores["mae"] == pytest.approx(np.mean([np.abs(p[i] - t[i]).mean() for i in range(3)]))


def test_salient_curve_edge_cases():
    t = np.zeros((2, 8, 8), np.float32)
    t[:, 2:5, 2:5] = 1
    perfect = cl.metrics.salient_scores(t, t)
    assert perfect["max_f"] == pytest.approx(1.0) and perfect["mae"] == 0.0
    curve = cl.metrics.salient_pr_curve(np.zeros_like(t), t)
    assert curve["precision"][1:].max() == 0.0  # nothing predicted above threshold 0: precision 0
    with pytest.raises(ValueError, match="per image"):
        cl.metrics.salient_scores(t[0], t[0])
    with pytest.raises(ValueError, match="logits"):
        cl.metrics.salient_scores(t * 3, t)


def test_count_macs_of_a_single_convolution():
    conv = torch.nn.Conv2d(3, 8, 3, padding=1)
    assert cl.inspect_model.count_macs(conv, (1, 3, 10, 10)) == 3 * 8 * 9 * 100


def test_unet_matched_to_u2netp():
    u2netp = cl.create_model("u2netp")
    assert salient.matched_unet_widths(u2netp, "parameters") == (12, 24, 48, 96, 192)
    assert salient.matched_unet_widths(u2netp, "macs", size=128) == (33, 66, 132, 264, 528)
    with pytest.raises(ValueError, match="parameters"):
        salient.matched_unet_widths(u2netp, "flops")


# -- the official checkpoint -----------------------------------------------------------------------------

@pytest.mark.parametrize("config", ["u2netp", "u2net"])
def test_key_mapping_covers_the_official_naming_scheme(config):
    model = cl.create_model(config)
    assert set(to_official(model)) == official_names()


def test_from_official_matches_the_official_forward_pass():
    torch.manual_seed(0)
    ours = _randomised(cl.create_model("u2netp"))
    official = to_official(ours)
    loaded = from_official(official, config="u2netp")
    x = torch.rand(1, 3, 45, 38)
    with torch.no_grad():
        reference = official_forward(official, x)
        got = [torch.sigmoid(o) for o in loaded(x)]
    for a, b in zip(got, reference, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_from_official_reads_a_file_and_strips_dataparallel_prefixes(tmp_path):
    model = _randomised(cl.create_model("u2netp"))
    path = tmp_path / "u2netp.pth"
    torch.save({f"module.{k}": v for k, v in to_official(model).items()}, path)
    loaded = cl.models.u2net_official.from_official(path, config="u2netp")
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded(x)[0], model(x)[0], atol=1e-6)


def test_bad_checkpoints_name_what_is_wrong(tmp_path):
    official = to_official(cl.create_model("u2netp"))
    truncated = dict(list(official.items())[:-30])
    with pytest.raises(ValueError, match=r"missing 30 key\(s\): .*side"):
        from_official(truncated, config="u2netp")
    with pytest.raises(ValueError, match=r"unexpected 1 key\(s\): extra.weight"):
        from_official({**official, "extra.weight": torch.zeros(1)}, config="u2netp")
    with pytest.raises(ValueError, match="config='u2netp'"):
        from_official(official, config="u2net")
    with pytest.raises(FileNotFoundError, match=r"Download u2net\.pth"):
        from_official(tmp_path / "nowhere.pth")
    junk = tmp_path / "u2net.pth"
    junk.write_text("<html>quota exceeded</html>")
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        from_official(junk)
    with pytest.raises(KeyError):
        official_key("stages.En_1.nothing", cl.create_model("u2netp"))


# -- DUTS -----------------------------------------------------------------------------------------------

def _duts_fixture(root, n_train=5, n_test=2):
    rng = np.random.default_rng(0)
    for part, n in (("DUTS-TR", n_train), ("DUTS-TE", n_test)):
        (root / part / f"{part}-Image").mkdir(parents=True)
        (root / part / f"{part}-Mask").mkdir(parents=True)
        for k in range(n):
            name = f"ILSVRC2012_test_{k:08d}"
            Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(
                root / part / f"{part}-Image" / f"{name}.jpg")
            mask = np.zeros((30, 40), np.uint8)
            mask[5:15, 10:20] = 255
            Image.fromarray(mask).save(root / part / f"{part}-Mask" / f"{name}.png")


def test_duts_loader_reads_the_standard_layout(tmp_path):
    root = tmp_path / "DUTS"
    _duts_fixture(root)
    train = cl.data.load("duts", "train", root=root, val_fraction=0.2)
    val = cl.data.load("duts", "val", root=root, val_fraction=0.2)
    test = cl.data.load("duts", "test", root=root)
    assert (len(train), len(val), len(test)) == (4, 1, 2)
    s = test[0]
    assert s["image"].shape == (3, 30, 40) and s["mask"].sum() == 100
    resized = cl.data.load("duts", "test", root=root, transform=cl.data.transforms.Resize(32))[0]
    assert resized["image"].shape == (3, 32, 32)


def test_duts_missing_gives_the_layout_and_the_stand_in(tmp_path):
    with pytest.raises(cl.data.real.common.DatasetNotFoundError, match="synthetic-salient"):
        cl.data.load("duts", "train", root=tmp_path / "DUTS")
    (tmp_path / "DUTS" / "DUTS-TR" / "DUTS-TR-Image").mkdir(parents=True)
    with pytest.raises(cl.data.real.common.DatasetLayoutError, match=r"(?s)DUTS-TR-Mask.*Expected layout"):
        cl.data.load("duts", "train", root=tmp_path / "DUTS")


def test_duts_has_a_download_recipe_with_its_terms():
    source = cl.data.sources.SOURCES["duts"]
    assert "non-commercial research" in source.licence and len(source.files) == 2
    assert all(f.url.startswith("http://saliencydetection.net/duts/download/") for f in source.files)


# -- protocol, figures, explorers ---------------------------------------------------------------------

def test_protocol_on_a_tiny_plan(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "smoke")
    plan = salient.plan_for("smoke", size=32, n_train=4, n_val=2, steps=2, epochs=2, seeds=(0, 1),
                            arms=("same parameters", "same MACs", "u2net"), block_steps=2)
    data = salient.load_salient_data(plan)
    images, _ = data.batch()
    results = salient.compare_arms(data, record_images=images[:1], keep_seed=0, progress=False)
    blocks = salient.compare_blocks(data, seeds=(0,), progress=False)
    assert [r.arm for r in blocks] == list(salient.BLOCK_ARMS)
    assert {r.arm for r in results} == {"U-Net, same parameters", "U-Net, same MACs", "U2NETP"}
    u2 = next(r for r in results if r.arm == "U2NETP" and r.seed == 0)
    assert len(u2.recorder.maps) == 3 and len(u2.recorder.maps[0]) == 7  # before training + 2 epochs
    summary = salient.summarise(results)
    assert set(summary["U2NETP"]) >= {"mae", "max_f", "dice", "parameters"}
    assert all(0 <= r.scores["mae"] <= 1 for r in results)


def test_block_comparison_models_have_about_the_same_parameters():
    count = cl.inspect_model.parameter_count
    counts = {arm: count(salient.make_block_model(arm)) for arm in salient.BLOCK_ARMS}
    low, high = min(counts.values()), max(counts.values())
    assert high / low < 1.25, counts
    # the dilated stack is the control with RSU-7's reach: 3 + 2 * (1 + 2 + 4 + 8 + 16 + 1) = 67 px
    stack = salient.make_block_model("dilated residual stack").eval()
    mask = cl.receptive_field.footprint(stack, (1, 3, 96, 96))
    rows = np.flatnonzero(mask.any(1).numpy())
    assert rows[-1] - rows[0] + 1 == 67


def test_block_verdicts_compare_rsu_with_every_other_block_with_bonferroni():
    plan = salient.plan_for("quick")
    blocks = (_runs("RSU-7", {"max_f": [0.64, 0.58, 0.63], "mae": [0.17, 0.18, 0.17]})
              + _runs("2 residual blocks", {"max_f": [0.28, 0.29, 0.30], "mae": [0.25, 0.27, 0.25]})
              + _runs("dilated residual stack", {"max_f": [0.60, 0.61, 0.55], "mae": [0.18, 0.17, 0.19]}))
    lines = salient.block_verdicts(blocks, plan, show=False)
    assert [(c.a, c.b, c.metric, c.comparisons) for c in lines] == [
        ("RSU-7", "2 residual blocks", "max F-beta", 2), ("RSU-7", "dilated residual stack", "max F-beta", 2),
        ("RSU-7", "2 residual blocks", "MAE", 2), ("RSU-7", "dilated residual stack", "MAE", 2)]


def test_figures_and_explorers_run_with_defaults(monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.setenv("COURSE_MODE", "smoke")
    fig = cl.viz.draw_u2net(cl.create_model("u2netp"))
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "En1: RSU-7" in texts and "De5: RSU-4F" in texts and "S6" in texts
    maps = [[torch.rand(2, 1, 16, 16) for _ in range(7)] for _ in range(3)]
    masks = (torch.rand(2, 1, 16, 16) > 0.5).float()
    images = torch.rand(2, 3, 16, 16)
    cl.viz.plot_side_outputs(maps, [0, 1, 2], images[0], masks[0])
    curve = cl.metrics.salient_pr_curve(maps[0][0], masks)
    cl.viz.plot_pr_curves({"a": [curve, curve]})
    cl.explorers.side_output_figure(maps, [0, 1, 2], images, masks)
    cl.explorers.side_output_explorer(maps, [0, 1, 2], images, masks)
    cl.explorers.rsu_figure(4, size=32)
    cl.explorers.rsu_figure(4, dilated=True, size=32, erf=False)
    plt.close("all")


def test_rsu_footprint_grows_with_height():
    sides = []
    for height in (4, 5, 6, 7):
        torch.manual_seed(0)
        mask = cl.receptive_field.footprint(cl.blocks.RSU(height, 3, 4, 4), (1, 3, 160, 160))
        rows = torch.nonzero(mask.any(1)).flatten()
        sides.append(int(rows[-1] - rows[0]) + 1)
    assert sides == sorted(sides) and sides[-1] > 2 * sides[0]


def test_official_predict_and_checkpoint_lookup(tmp_path, monkeypatch):
    from course_lib.models import u2net_official

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert u2net_official.find_checkpoint("u2netp") is None
    model = cl.create_model("u2netp")
    (tmp_path / "u2net").mkdir()
    torch.save(to_official(model), tmp_path / "u2net" / "u2netp.pth")
    found = u2net_official.find_checkpoint("u2netp")
    assert found is not None and found.name == "u2netp.pth"
    image = np.random.default_rng(0).integers(0, 255, (45, 60, 3), dtype=np.uint8)
    saliency = u2net_official.official_predict(from_official(found, "u2netp"), image, size=64)
    assert saliency.shape == (45, 60) and 0.0 <= float(saliency.min()) <= float(saliency.max()) <= 1.0
    square = u2net_official.official_predict(model, image[:40, :40], size=40)  # no resizing: min-max exact
    assert float(square.min()) == 0.0 and float(square.max()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="one RGB image"):
        u2net_official.official_predict(model, np.zeros((4, 5)))


def test_measure_isolated_reports_its_own_peak_memory():
    row = cl.benchmark.measure_isolated("unet", 32, steps=1, inference=True,
                                        cfg={"widths": [2, 4, 8, 16, 32]}, device="cpu")
    assert row["params"] == cl.inspect_model.parameter_count(
        cl.create_model("unet", in_channels=3, widths=(2, 4, 8, 16, 32)))
    assert row["inference"] and row["images_per_s"] > 0 and row["peak_mb"] >= 0
    with pytest.raises(RuntimeError, match="measuring no_such_model failed"):
        cl.benchmark.measure_isolated("no_such_model", 32, steps=1)


def test_evaluate_in_batches_equals_scoring_all_at_once():
    torch.manual_seed(0)
    model = salient.make_block_model("RSU-7").eval()
    data = cl.data.load("synthetic-salient", "val", n=5, size=32)
    images = torch.stack([data[i]["image"] for i in range(5)])
    masks = torch.stack([data[i]["mask"] for i in range(5)])
    whole = cl.metrics.salient_scores(cl.engine.predict(model, images), masks)
    batched = salient.evaluate(model, data, batch_size=2)
    assert batched["images"] == 5
    assert batched["max_f"] == pytest.approx(whole["max_f"]) and batched["mae"] == pytest.approx(whole["mae"])


def test_full_mode_trains_on_duts_and_evaluates_on_duts_te_and_all_of_ecssd(tmp_path, monkeypatch):
    _duts_fixture(tmp_path / "DUTS", n_train=25, n_test=3)
    (tmp_path / "ECSSD" / "images").mkdir(parents=True)
    (tmp_path / "ECSSD" / "ground_truth_mask").mkdir()
    for k in range(1, 6):
        image = Image.fromarray(np.full((30, 40, 3), 40 * k, np.uint8))
        image.save(tmp_path / "ECSSD" / "images" / f"{k:04d}.jpg")
        mask = np.zeros((30, 40), np.uint8)
        mask[5:15, 10:20] = 255
        Image.fromarray(mask).save(tmp_path / "ECSSD" / "ground_truth_mask" / f"{k:04d}.png")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    plan = salient.plan_for("full", size=32, crop=24, n_val=2, steps=1, epochs=1, seeds=(0,),
                            arms=("same parameters",))
    data = salient.load_salient_data(plan, real=True)
    assert data.source == "DUTS" and data.train[0]["image"].shape == (3, 24, 24)
    assert {name: len(ds) for name, ds in data.evaluation.items()} == {"DUTS-TE": 3, "ECSSD": 5}
    model = salient.compare_arms(data, seeds=(0,), keep_seed=0, progress=False)[0].model
    assert salient.evaluate(model, data.evaluation["ECSSD"], batch_size=2)["images"] == 5


def test_exercise_checkers_recognise_the_usual_mistakes(capsys):
    def dropped_term(outputs, mask):
        return sum(F.binary_cross_entropy_with_logits(d, mask) for d in outputs[1:])

    def sigmoid_then_bce(outputs, mask):
        return sum(F.binary_cross_entropy(torch.sigmoid(d), mask) for d in outputs)

    def pooled(probs, masks):
        return cl.metrics.max_f_beta(probs, masks)[0]

    for name, answer, hint in (("09.u2net_loss", dropped_term, "the fused output d0"),
                               ("09.u2net_loss", sigmoid_then_bce, "sigmoid followed by"),
                               ("09.max_f", pooled, "you pooled the pixels")):
        assert not cl.exercises.check(name, answer)
        assert hint in capsys.readouterr().out


# -- the verdicts the chapter quotes ------------------------------------------------------------------


def _runs(arm: str, key_values: dict[str, list[float]]) -> list:
    from course_lib.protocols.sweep import ArmResult

    n = len(next(iter(key_values.values())))
    return [ArmResult(arm, seed, {k: v[seed] for k, v in key_values.items()}, 0, 0.0, None)
            for seed in range(n)]


def test_verdicts_of_the_stored_quick_run(capsys):
    """The per-seed max F-beta of the stored quick run (3 decimals): RSU-7 beats the residual blocks;
    U2NETP against the U-Net of the same parameters is lower on every seed, yet no difference is detected."""
    plan = salient.plan_for("quick")
    blocks = (_runs("RSU-7", {"max_f": [0.641, 0.577, 0.626], "mae": [0.17, 0.18, 0.17]})
              + _runs("2 residual blocks", {"max_f": [0.280, 0.285, 0.302], "mae": [0.25, 0.27, 0.25]}))
    f, mae = salient.block_verdicts(blocks, plan)
    assert f.verdict == "RSU-7 better" and mae.verdict == "RSU-7 better" and not mae.higher_is_better
    arms = (_runs("U-Net, same parameters", {"max_f": [0.786, 0.786, 0.743], "mae": [0.16, 0.18, 0.17]})
            + _runs("U2NETP", {"max_f": [0.537, 0.672, 0.668], "mae": [0.13, 0.17, 0.18]}))
    f, mae = salient.model_verdicts(arms, plan)
    assert all(d < 0 for d in f.differences)
    assert f.verdict == "no difference detected at 120 steps of 8 images"
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 4 and printed[0].endswith("RSU-7 better")
    assert printed[2].endswith("no difference detected at 120 steps of 8 images")


def test_model_verdicts_correct_for_two_unets_in_full_mode():
    plan = salient.plan_for("full")
    runs = (_runs("U-Net, same parameters", {"max_f": [0.7, 0.8], "mae": [0.1, 0.2]})
            + _runs("U-Net, same MACs", {"max_f": [0.7, 0.8], "mae": [0.1, 0.2]})
            + _runs("U2NET", {"max_f": [0.6, 0.75], "mae": [0.1, 0.2]}))
    verdicts = salient.model_verdicts(runs, plan, show=False)
    assert len(verdicts) == 4 and all(v.comparisons == 2 and v.a == "U2NET" for v in verdicts)
    assert salient.budget(plan) == "2000 steps of 8 images"
    with pytest.raises(ValueError, match="No U2NETP runs"):
        salient.model_verdicts(runs, salient.plan_for("quick"), show=False)


def test_epoch_scores_and_median_seed(monkeypatch):
    """Every run records max F-beta per epoch against its training time (drawn by plot_score_vs_time);
    median_seed picks the typical run."""
    monkeypatch.setenv("COURSE_MODE", "smoke")
    plan = salient.plan_for("smoke", size=32, n_train=4, n_val=2, steps=4, epochs=2, seeds=(0, 1, 2),
                            arms=("same parameters", "u2net"))
    data = salient.load_salient_data(plan)
    results = salient.compare_arms(data, progress=False)
    for r in results:
        curve = r.extras["epoch_scores"]
        assert curve.steps == [2, 4] and len(curve.max_f) == 2 and curve.seconds[0] <= curve.seconds[1]
        assert r.extras["shown_prob"].shape == (2, 1, 32, 32)
    curves = {arm: [r.extras["epoch_scores"] for r in results if r.arm == arm] for arm in ("U2NETP",)}
    fig = cl.viz.plot_score_vs_time(curves)
    assert len(fig.axes[0].lines) == 3  # one line per seed
    with pytest.raises(ValueError, match="no curves"):
        cl.viz.plot_score_vs_time({})
    fake = (_runs("A", {"max_f": [0.5, 0.9, 0.7]}))
    assert salient.median_seed(fake, "A") == 2
