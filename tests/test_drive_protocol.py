"""Chapter 06's DRIVE protocol: preprocessing, patch sampling, training wiring, FOV evaluation, fallback,
and the chapter's exercise checkers (real DRIVE from ../shared/data when present)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from test_real_data import make_drive

import course_lib as cl
from course_lib.protocols import drive as P

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DRIVE_DIR = SHARED / "DRIVE"


@pytest.fixture(scope="module")
def synthetic() -> tuple[P.VesselData, P.VesselData]:
    return P.load_vessel_data(force_synthetic=True, synthetic_size=64, synthetic_n=(3, 2), verbose=False)


@pytest.fixture(scope="module")
def real() -> tuple[P.VesselData, P.VesselData]:
    if not (DRIVE_DIR / "training" / "images").is_dir():
        pytest.skip(f"DRIVE training split not found under {DRIVE_DIR} (only the shared test data has it)")
    return P.load_vessel_data(DRIVE_DIR, verbose=False)


def test_real_split_is_held_out_and_shaped(real) -> None:
    train, test = real
    assert (len(train), len(test)) == (16, 4)
    assert not set(train.ids) & set(test.ids)
    assert test.source == "drive" and "held-out DRIVE TRAINING" in test.split
    assert train.images.shape == (16, 3, 584, 565) and test.rgb.shape == (4, 3, 584, 565)
    assert train.preprocessing == "rgb_norm"
    assert set(torch.unique(test.masks).tolist()) == {0.0, 1.0}
    # vessels are ~12 % of the FOV pixels in DRIVE; outside the FOV the preprocessed image is 0
    fraction = float(test.masks.sum() / test.fovs.sum())
    assert 0.09 < fraction < 0.15
    assert float((test.images * (test.fovs == 0)).abs().max()) == 0.0


def test_cross_validation_folds_hold_out_every_image_once(real) -> None:
    train, test = real
    held: list[str] = []
    for fold in range(5):
        fold_train, fold_test = P.cross_validation_fold(train, test, fold)
        assert (len(fold_train), len(fold_test)) == (16, 4)
        assert not set(fold_train.ids) & set(fold_test.ids)
        if fold:  # the split says where the numbers come from (the chapter prints it beside its scores)
            assert f"fold {fold} of 5" in fold_test.split and "not the official test split" in fold_test.split
        for data in (fold_train, fold_test):  # images, labels and ids stay together
            for j, name in enumerate(data.ids):
                source = train if name in train.ids else test
                k = source.ids.index(name)
                assert torch.equal(data.images[j], source.images[k])
                assert torch.equal(data.masks[j], source.masks[k])
                assert torch.equal(data.fovs[j], source.fovs[k])
        held += fold_test.ids
    assert sorted(held) == sorted(train.ids + test.ids)
    assert P.cross_validation_fold(train, test, 0) == (train, test)  # fold 0: the chapter's split
    assert P.cross_validation_fold(train, test, 3)[1].ids == P.cross_validation_fold(train, test, 3)[1].ids


def test_cross_validation_fold_errors(synthetic) -> None:
    train, test = synthetic  # 3 training and 2 test images: no 5-fold split
    with pytest.raises(ValueError, match="5 folds need 4 x 2 = 8 training images"):
        P.cross_validation_fold(train, test, 1)
    assert P.cross_validation_fold(train, test, 0) == (train, test)  # fold 0 always works
    with pytest.raises(ValueError, match=r"fold must be in 0\.\.4"):
        P.cross_validation_fold(train, test, -1)
    with pytest.raises(ValueError, match=r"fold must be in 0\.\.2"):
        P.cross_validation_fold(train.subset([0, 1, 2, 0], "four"), test, 3, folds=3)


def test_vessel_contrast_makes_vessels_dark_and_is_bounded(real) -> None:
    _, test = real
    lcn = torch.stack([P.vessel_contrast(r, f) for r, f in zip(test.rgb, test.fovs, strict=True)])
    image, mask, fov = lcn[0, 0], test.masks[0, 0] > 0.5, test.fovs[0, 0] > 0.5
    assert float(image.abs().max()) <= 1.0
    assert float(image[mask].mean()) < -0.2 < float(image[fov & ~mask].mean())
    # threshold-free separation of the raw input already; the network must beat it by far
    auc = cl.metrics.roc_auc((1 - lcn) / 2, test.masks, test.fovs)
    assert 0.8 < auc < 0.9
    with pytest.raises(ValueError, match="3 x H x W"):
        P.vessel_contrast(torch.rand(1, 8, 8), torch.ones(1, 8, 8))


def test_standardise_rgb_per_channel_inside_the_fov(real) -> None:
    _, test = real
    image, inside = test.images[1], test.fovs[1, 0] > 0.5
    pixels = image[:, inside]
    assert torch.allclose(pixels.mean(1), torch.zeros(3), atol=1e-4)
    assert torch.allclose(pixels.std(1), torch.ones(3), atol=1e-3)
    assert float(image[:, ~inside].abs().max()) == 0.0
    # an affine change of exposure (what standardising is for) leaves the network input unchanged
    darker = P.standardise_rgb(0.6 * test.rgb[1] + 0.05, test.fovs[1])
    assert torch.allclose(darker, image, atol=1e-4)
    # vessels are darker than the FOV average in the green channel (by ~0.2 std: the global spread of
    # the illumination is larger than the vessels' local contrast)
    assert float(image[1][test.masks[1, 0] > 0.5].mean()) < float(image[1][inside].mean()) - 0.1


def test_flatten_illumination_removes_a_smooth_shading(synthetic) -> None:
    train, _ = synthetic
    rgb, fov = train.rgb[0], train.fovs[0]
    width = rgb.shape[-1]
    shading = torch.linspace(0.4, 1.0, width).expand(rgb.shape[-2:])  # a dark-to-bright slope
    inside = fov[0] > 0.5
    flat, flat_shaded = P.flatten_illumination(rgb, fov), P.flatten_illumination(rgb * shading, fov)
    plain, plain_shaded = P.standardise_rgb(rgb, fov), P.standardise_rgb(rgb * shading, fov)
    pixels = flat[:, inside]
    assert torch.allclose(pixels.mean(1), torch.zeros(3), atol=1e-4)
    assert torch.allclose(pixels.std(1), torch.ones(3), atol=1e-3)
    assert float(flat[:, ~inside].abs().max()) == 0.0
    # dividing by the background undoes most of the slope; standardising alone keeps it
    flat_error = float((flat_shaded - flat)[:, inside].abs().mean())
    plain_error = float((plain_shaded - plain)[:, inside].abs().mean())
    assert flat_error < 0.15 * plain_error
    with pytest.raises(ValueError, match="3 x H x W"):
        P.flatten_illumination(torch.rand(1, 8, 8), torch.ones(1, 8, 8))
    with pytest.raises(ValueError, match="same size"):
        P.flatten_illumination(torch.rand(3, 8, 8), torch.ones(1, 8, 9))


def test_flatten_illumination_keeps_vessels_dark_on_drive(real) -> None:
    _, test = real
    vessels, inside = test.masks[1, 0] > 0.5, test.fovs[1, 0] > 0.5

    def green_gap(image: torch.Tensor) -> float:
        return float(image[1][inside & ~vessels].mean() - image[1][vessels].mean())

    # vessels stand out at least twice as much in the green channel once the slow illumination is gone
    assert green_gap(P.flatten_illumination(test.rgb[1], test.fovs[1])) > 2 * green_gap(test.images[1]) > 0


def test_preprocessing_errors() -> None:
    with pytest.raises(ValueError, match="non-empty field of view"):
        P.standardise_rgb(torch.rand(3, 8, 8), torch.zeros(1, 8, 8))
    with pytest.raises(ValueError, match="preprocessing must be one of 'rgb_norm'"):
        cl.recipes.drive_recipe("quick", preprocessing="grey")
    with pytest.raises(ValueError, match="preprocessing must be one of"):
        P.load_vessel_data(force_synthetic=True, preprocessing="grey", synthetic_size=32, verbose=False)
    with pytest.raises(ValueError, match="protocol must be"):
        cl.recipes.drive_recipe("quick", protocol="tiles")


def test_synthetic_fallback_banner(capsys) -> None:
    train, test = P.load_vessel_data(root="/nonexistent/DRIVE", synthetic_size=48, synthetic_n=(2, 1))
    out = capsys.readouterr().out
    assert "SYNTHETIC DATA" in out and "cl.data.download('drive')" in out
    assert train.source == test.source == "synthetic-vessels" and train.images.shape == (2, 3, 48, 48)


def test_patches_are_deterministic_aligned_and_vessel_rich(synthetic) -> None:
    train, _ = synthetic
    patches = P.VesselPatches(train, length=64, patch_size=16, vessel_fraction=1.0, seed=3)
    a, b = patches[5], patches[5]
    assert all(torch.equal(a[k], b[k]) for k in ("image", "mask", "fov"))
    assert a["image"].shape == (3, 16, 16) and a["mask"].shape == a["fov"].shape == (1, 16, 16)
    centre_is_vessel = [float(patches[i]["mask"][0, 7:9, 7:9].max()) for i in range(64)]
    assert np.mean(centre_is_vessel) == 1.0  # every patch centred on a vessel pixel (after flips/rot90)
    patches.set_epoch(1)
    assert not torch.equal(patches[5]["image"], a["image"])
    uniform = P.VesselPatches(train, length=200, patch_size=16, vessel_fraction=0.0, seed=3)
    vessel_share = np.mean([float(uniform[i]["mask"].mean()) for i in range(200)])
    assert vessel_share < np.mean([float(patches[i]["mask"].mean()) for i in range(64)])
    with pytest.raises(ValueError, match="vessel_fraction"):
        P.VesselPatches(train, length=4, vessel_fraction=1.5)


def test_fit_resumes_after_interruption_with_the_same_schedules(synthetic, tmp_path) -> None:
    train, _ = synthetic
    recipe = cl.recipes.drive_recipe("smoke", epochs=4)

    def interrupt_after_epoch_2(ctx) -> None:
        if ctx.epoch == 2:
            raise KeyboardInterrupt

    def run(out_dir, callbacks=()):
        torch.manual_seed(0)
        model = P.make_vessel_model(recipe)
        history = P.fit_vessel_model(model, train, None, recipe, progress=False, out_dir=out_dir,
                                     callbacks=callbacks)
        keep = [m.keep_prob for m in model.modules() if isinstance(m, cl.blocks.DropBlock2d)]
        return model, history, keep

    whole, whole_history, whole_keep = run(tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "split", callbacks=[interrupt_after_epoch_2])  # stopped after epoch 2 of 4
    resumed, resumed_history, resumed_keep = run(tmp_path / "split")
    assert resumed_history.epochs == 4
    assert [r["train_loss"] for r in resumed_history.records] == pytest.approx(
        [r["train_loss"] for r in whole_history.records], rel=1e-5)
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.allclose(a.float(), b.float(), atol=1e-5)
    # DropBlock's ramp (4 x 2 steps, reaching keep_prob 0.9 after half) resumed where it stopped
    assert resumed_keep == pytest.approx(whole_keep) and whole_keep[0] == pytest.approx(recipe.keep_prob)
    resumed_lr = [r["lr"] for r in resumed_history.records]
    assert resumed_lr == pytest.approx([r["lr"] for r in whole_history.records])
    assert whole_history.records[-1]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine decayed to 0


def test_paper_transform_pads_to_592_and_keeps_labels_binary() -> None:
    sample = {"image": torch.rand(3, 584, 565), "mask": (torch.rand(1, 584, 565) > 0.9).float(),
              "fov": torch.ones(1, 584, 565)}
    out = P.paper_transform(seed=0)(sample)
    assert out["image"].shape == (3, 592, 592) and out["mask"].shape == (1, 592, 592)
    assert set(torch.unique(out["mask"]).tolist()) <= {0.0, 1.0}


def test_fit_and_evaluate_smoke(synthetic) -> None:
    train, test = synthetic
    recipe = cl.recipes.drive_recipe("smoke")
    torch.manual_seed(0)
    model = P.make_vessel_model(recipe)
    history = P.fit_vessel_model(model, train, test, recipe, progress=False)
    assert history.epochs == 1 and "val_auc" in history.records[-1]
    dropblocks = [m for m in model.modules() if isinstance(m, cl.blocks.DropBlock2d)]
    assert dropblocks and all(m.keep_prob < 1.0 for m in dropblocks)  # keep_prob ramp has started
    scores, prob = P.evaluate_images(model, test)
    assert prob.shape == test.masks.shape and 0 <= float(prob.min()) <= float(prob.max()) <= 1
    expected = cl.metrics.segmentation_scores(prob, test.masks, test.fovs)
    assert scores == pytest.approx(expected, nan_ok=True)
    fpr, tpr = P.fov_roc(prob, test, max_points=50)
    assert fpr[0] == 0 and fpr[-1] == 1 and tpr[-1] == 1 and len(fpr) <= 51
    for variant, has_dac in (("unet", False), ("rse_unet", False), ("dacrse_unet", True)):
        m = P.make_vessel_model(recipe, variant)
        assert any(isinstance(x, cl.blocks.DACBlock) for x in m.modules()) == has_dac
    with pytest.raises(ValueError, match="variant"):
        P.make_vessel_model(recipe, "unet++")


def test_published_table_names_the_split() -> None:
    table = P.published_table({"auc": 0.5, "f1": 0.25}, "ours (held-out training images)")
    assert "0.9755" in table and "0.9790" in table and "ours (held-out training images)" in table
    assert table.splitlines()[-1].split()[-5:] == ["0.5000", "-", "0.2500", "-", "-"]


def test_drive_recipes() -> None:
    quick, full = cl.recipes.drive_recipe("quick"), cl.recipes.drive_recipe("full")
    assert quick.protocol == "patches" and quick.in_channels == 3 and quick.preprocessing == "rgb_flat"
    assert cl.recipes.drive_recipe("quick", preprocessing="green_lcn").in_channels == 1
    paper = (full.protocol, full.batch_size, full.lr, full.epochs, full.in_channels)
    assert paper == ("paper", 8, 1e-4, 50, 3)
    assert cl.recipes.drive_recipe("quick", epochs=3).epochs == 3


def test_exercise_checkers_accept_solutions_and_name_the_bugs(capsys) -> None:
    from course_lib.metrics import confusion_counts

    def rates(prob, target, fov):
        c = confusion_counts(prob, target, fov)
        return c["tp"] / (c["tp"] + c["fn"]), c["tn"] / (c["tn"] + c["fp"])

    def precision_as_se(prob, target, fov):
        c = confusion_counts(prob, target, fov)
        return c["tp"] / (c["tp"] + c["fp"]), c["tn"] / (c["tn"] + c["fp"])

    assert cl.exercises.check("06.fov_rates", rates)
    assert not cl.exercises.check("06.fov_rates", precision_as_se)
    assert "precision" in capsys.readouterr().out

    def dac(block, x, relu=torch.relu, cascade=True):
        d1, d3, d5, mix = block.dilate1, block.dilate2, block.dilate3, block.conv1x1
        deep = [d3(d1(x)), d5(d3(d1(x)))] if cascade else [d3(x), d5(x)]
        return x + sum(relu(b) for b in [d1(x), mix(d3(x)), mix(deep[0]), mix(deep[1])])

    assert cl.exercises.check("06.dac_forward", dac)
    for wrong, hint in ((lambda b, x: b(x), "calling block(x)"),
                        (lambda b, x: dac(b, x) - x, "the input itself is missing"),
                        (lambda b, x: dac(b, x, relu=lambda t: t), "through a ReLU"),
                        (lambda b, x: dac(b, x, cascade=False), "cascades")):
        assert not cl.exercises.check("06.dac_forward", wrong)
        assert hint in capsys.readouterr().out

    def bottleneck(cin, cout, r, parts=("pool", "rse", "dac"), shared=True):
        make = {"pool": lambda: torch.nn.MaxPool2d(2),
                "rse": lambda: cl.blocks.RSEBlock(cin, cout, reduction=r),
                "dac": lambda: cl.blocks.DACBlock(cout, shared=shared)}
        return torch.nn.Sequential(*(make[k]() for k in parts))

    assert cl.exercises.check("06.bottleneck", bottleneck)
    for wrong, hint in ((lambda i, o, r: bottleneck(i, o, r, ("pool", "dac")), "the RSE unit is missing"),
                        (lambda i, o, r: bottleneck(i, o, r, ("pool", "rse")), "the DAC block is missing"),
                        (lambda i, o, r: bottleneck(i, o, r, ("rse", "dac")), "max-pool is missing"),
                        (lambda i, o, r: bottleneck(i, o, r, ("rse", "dac", "pool")), "pool first"),
                        (lambda i, o, r: bottleneck(i, o, r, shared=False), "shares its four convolutions")):
        assert not cl.exercises.check("06.bottleneck", wrong)
        assert hint in capsys.readouterr().out


def test_validation_never_watches_the_labelled_test_split(tmp_path, capsys) -> None:
    """Issue 23, item 7: with DRIVE/test/1st_manual present, training and validation still use only the
    training images (a seeded split), and the test split comes from load_test_split, scored once."""
    root = make_drive(tmp_path / "DRIVE", n=5, size=(48, 44))
    train, val = P.load_vessel_data(root, preprocessing="rgb")
    out = capsys.readouterr().out
    assert "official test labels are present" in out and "load_test_split" in out
    assert str(tmp_path) not in out
    assert (len(train), len(val)) == (4, 1) and not set(train.ids) & set(val.ids)
    assert all(i.endswith("_training") for i in train.ids + val.ids)
    assert "held-out DRIVE TRAINING" in val.split
    test = P.load_test_split(root, preprocessing="rgb")
    assert test is not None and test.ids == [f"{k:02d}_test" for k in range(1, 6)]
    assert "official test" in test.split and test.source == "drive"
    # training watches only the validation images: one val_auc per epoch, scored on `val`
    recipe = cl.recipes.drive_recipe("smoke", patch_size=16, widths=(2, 4, 8, 16), reduction=2)
    torch.manual_seed(0)
    model = P.make_vessel_model(recipe)
    history = P.fit_vessel_model(model, train, val, recipe, progress=False)
    assert history.epochs == 1
    assert history.records[-1]["val_auc"] == pytest.approx(P.evaluate_images(model, val)[0]["auc"], abs=1e-4)
    scores, prob = P.evaluate_images(model, test)  # the test split: once, at the end
    assert prob.shape == test.masks.shape and 0 <= scores["auc"] <= 1
    # without the test labels: no test split, and the message says the held-out images are all there is
    (root / "test" / "1st_manual" / "01_manual1.gif").unlink()
    assert P.load_test_split(root, preprocessing="rgb") is None
    P.load_vessel_data(root, preprocessing="rgb")
    assert "only evaluation" in capsys.readouterr().out


def test_rehearsal_keeps_a_couple_of_test_images(tmp_path, monkeypatch) -> None:
    root = make_drive(tmp_path / "DRIVE", n=5, size=(40, 36))
    monkeypatch.setenv("COURSE_MAX_STEPS", "2")
    test = P.load_test_split(root, preprocessing="rgb", verbose=False)
    assert len(test) == cl.config.eval_limit() < 5 and "rehearsal" in test.split


def test_paper_protocol_trains_on_padded_whole_images() -> None:
    train, test = P.load_vessel_data(force_synthetic=True, preprocessing="rgb", synthetic_size=64,
                                     synthetic_n=(2, 1), verbose=False)
    recipe = cl.recipes.drive_recipe("full", widths=(2, 4, 8, 16), epochs=1, batch_size=2, reduction=2,
                                     repeats=1)
    data = P.paper_training_set(train, repeats=3)
    assert len(data) == 6 and data[0]["image"].shape == (3, 592, 592)
    torch.manual_seed(0)
    model = P.make_vessel_model(recipe)
    history = P.fit_vessel_model(model, train, test, recipe, progress=False)
    assert history.records[-1]["train_loss"] > 0 and np.isfinite(history.records[-1]["val_auc"])
