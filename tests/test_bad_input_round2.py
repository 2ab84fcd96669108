"""Hard cases, round two (issue: nothing a user made is lost, nothing wrong is scored silently). One
parametrised test per class of mistake: each case must end in a clear error that names the problem and
the fix, or in a correct result; none in a raw crash from inside torch or numpy, or a silent wrong answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

import course_lib as cl
from course_lib.engine import TrainingError, fit
from tests.test_engine import FAST, DictDataset, tiny_net

# ---------------------------------------------------------------- direct forward calls and model settings


def _models():
    return {
        "unet": cl.create_model("unet", in_channels=1, widths=(4, 8, 16)),
        "attention_unet": cl.create_model("attention_unet", in_channels=1, widths=(4, 8, 16)),
        "unetpp": cl.create_model("unetpp", in_channels=1, widths=(4, 8, 16)),
        "u2netp": cl.create_model("u2netp", in_channels=1),
        "dacrse_unet": cl.create_model("dacrse_unet", in_channels=1, widths=(4, 8, 16, 32), reduction=2),
    }


@pytest.mark.parametrize(("shape", "words"), [
    ((1, 3, 32, 32), "built for 1 input channel(s) but got 3"),
    ((1, 32, 32), "Add a batch dimension with x.unsqueeze(0)"),
    ((32, 32), "x[None, None]"),
    ((1, 1, 8, 32, 32), "create_model('unet3d')"),
])
def test_direct_forward_calls_name_the_wrong_axis(shape, words):
    for name, model in _models().items():
        with pytest.raises(ValueError) as info:
            model(torch.zeros(shape))
        assert words in str(info.value), (name, str(info.value))


def _unet3d():
    return cl.create_model("unet3d", in_channels=1, out_channels=1, base=2, depth=1)


def test_unet3d_names_2d_inputs():
    model = _unet3d()
    with pytest.raises(ValueError, match=r"unbatched volume .*Or a batch of 2-D images"):
        model(torch.zeros(1, 1, 44, 44))


@pytest.mark.parametrize(("name", "cfg", "words"), [
    ("res_unet", {"in_channels": 0}, "in_channels must be a positive whole number"),
    ("unet", {"out_channels": -1}, "out_channels must be a positive whole number"),
    ("unet", {"widths": 16}, "widths must be a sequence"),
    ("unet", {"widths": (16, -32, 64)}, "every width must be at least 1"),
    ("attention_unet", {"widths": (16,)}, "at least 2 levels"),
    ("unetpp", {"widths": (8, 16.5, 32)}, "whole numbers"),
])
def test_bad_model_settings_are_named_when_built(name, cfg, words):
    with pytest.raises((ValueError, TypeError), match=words.replace("(", r"\(").replace(")", r"\)")):
        cl.create_model(name, **cfg)


def test_attention_widths_that_halve_to_zero():
    with pytest.raises(ValueError, match=r"at least 2 \(each gate has widths\[i\] // 2"):
        cl.models.attention_unet.AttentionUNet(in_channels=1, widths=(1, 2, 4))


# ---------------------------------------------------------------- the engine: data of the wrong shape


class _Sized(torch.utils.data.Dataset):
    def __init__(self, sizes):
        self.sizes = sizes

    def __len__(self):
        return len(self.sizes)

    def __getitem__(self, i):
        s = self.sizes[i]
        return {"image": torch.rand(1, s, s), "mask": torch.zeros(1, s, s)}


def test_fit_on_samples_of_different_sizes_suggests_patches_or_padding():
    sizes = r"different sizes \(1 x \d+ x \d+, 1 x \d+ x \d+\)"
    with pytest.raises(ValueError, match=sizes + ".*RandomCrop.*PadTo"):
        fit(tiny_net(), _Sized([32, 48, 32, 48]), None, epochs=1, **{**FAST, "batch_size": 4})


@pytest.mark.parametrize(("train", "val", "which"), [
    (_Sized([]), None, "training data"),
    (_Sized([32, 32]), _Sized([]), "validation data"),
])
def test_empty_data_says_which_set(train, val, which):
    with pytest.raises((ValueError, TrainingError), match=which):
        fit(tiny_net(), train, val, epochs=1, **FAST)


def test_deep_supervision_weights_for_a_single_output_model_are_refused():
    with pytest.raises(TrainingError, match="would be ignored"):
        fit(tiny_net(), DictDataset(8), None, epochs=1, deep_supervision_weights=[1, 0.5, 0.25], **FAST)
    with pytest.raises(TypeError, match="list of numbers"):
        fit(tiny_net(), DictDataset(8), None, epochs=1, deep_supervision_weights=0.5, **FAST)


class _Volumes(torch.utils.data.Dataset):
    def __init__(self, mask_size):
        self.mask_size = mask_size

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return {"image": torch.rand(1, 44, 44, 44), "mask": torch.zeros(1, *self.mask_size)}


def test_a_valid_model_refuses_a_target_of_another_size_instead_of_cropping_it():
    model = _unet3d()
    with pytest.raises(TrainingError, match=r"mask is 20x20x20 but the input is 44x44x44"):
        fit(model, _Volumes((20, 20, 20)), None, epochs=1, **{**FAST, "batch_size": 2})


@pytest.mark.parametrize(("model", "shape", "words"), [
    (tiny_net, (1, 1, 16, 16), r"volume \(C x D x H x W\) or a sample with a batch axis"),
    (tiny_net, (16, 16), "no channel axis"),
    (_unet3d, (1, 44, 44), r"2-D images .*'synthetic-tubes3d'"),
])
def test_sample_layout_hints_name_the_wrong_axis(model, shape, words):
    class One(torch.utils.data.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return {"image": torch.rand(shape), "mask": torch.zeros(shape)}

    with pytest.raises(TrainingError, match=words):
        fit(model(), One(), None, epochs=1, **FAST)


# ---------------------------------------------------------------- metrics: nothing wrong scored silently


def test_salient_scores_agree_with_max_f_beta_on_an_empty_target():
    prob, empty = torch.rand(2, 1, 16, 16), torch.zeros(2, 1, 16, 16)
    scores = cl.metrics.salient_scores(prob, empty)
    best, threshold = cl.metrics.max_f_beta(prob, empty)
    assert scores["max_f"] == best == 0.0
    assert np.isnan(scores["threshold"]) and np.isnan(threshold)


@pytest.mark.parametrize("beta2", [-1, 0, float("nan"), "0.3"])
def test_beta2_must_be_positive(beta2):
    with pytest.raises(ValueError, match="beta2 is beta squared"):
        cl.metrics.max_f_beta(torch.rand(1, 1, 8, 8), torch.ones(1, 1, 8, 8), beta2=beta2)


def test_an_8bit_map_is_told_to_divide_by_255_and_logits_to_apply_sigmoid():
    target = torch.ones(1, 1, 8, 8)
    with pytest.raises(ValueError, match=r"8-bit map.*divide by 255"):
        cl.metrics.salient_scores(torch.randint(0, 256, (1, 1, 8, 8)).float(), target)
    with pytest.raises(ValueError, match=r"logits: apply torch\.sigmoid"):
        cl.metrics.salient_scores(torch.randn(1, 1, 8, 8) * 5, target)


def test_salient_scores_on_images_of_different_sizes_point_to_the_per_image_function():
    probs = [np.random.rand(16, 16), np.random.rand(24, 24)]
    targets = [np.ones((16, 16)), np.ones((24, 24))]
    with pytest.raises(ValueError, match=r"different sizes.*salient_image_curves"):
        cl.metrics.salient_scores(probs, targets)


# ---------------------------------------------------------------- the U^2-Net weight loader


@pytest.fixture(scope="module")
def u2netp_official():
    from course_lib.models.u2net_official import to_official

    return to_official(cl.create_model("u2netp"))


def _load(obj, **kwargs):
    return cl.models.u2net_official.from_official(obj, config="u2netp", **kwargs)


def test_damaged_weights_are_refused_naming_the_key(u2netp_official, tmp_path):
    nan = dict(u2netp_official)
    key = "stage3.rebnconv2.conv_s1.weight"
    nan[key] = nan[key].clone()
    nan[key][0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=f"'{key}' holds NaN"):
        _load(nan)
    flipped = dict(u2netp_official)
    flipped[key] = flipped[key].clone()
    flipped[key][0, 0, 0, 0] = 3.4e4  # what a flipped exponent byte does to a weight
    with pytest.raises(ValueError, match=f"'{key}' holds implausible values"):
        _load(flipped)


def test_the_loader_recognises_the_formats_a_student_has(u2netp_official, tmp_path):
    course_model = cl.create_model("u2netp")
    # the course's own state dict, an engine checkpoint, a twice-wrapped DataParallel dict: all load
    assert isinstance(_load(course_model.state_dict()), nn.Module)
    torch.save({"model": course_model.state_dict(), "epoch": 3, "optimizer": {}}, tmp_path / "last.pt")
    assert isinstance(_load(tmp_path / "last.pt"), nn.Module)
    wrapped = {f"module.module.{k}": v for k, v in u2netp_official.items()}
    assert isinstance(_load(wrapped), nn.Module)
    # a whole pickled model: refused with what to do, no colour codes
    torch.save(course_model, tmp_path / "whole.pth")
    with pytest.raises(ValueError, match="whole pickled model") as info:
        _load(tmp_path / "whole.pth")
    assert "\x1b[" not in str(info.value)
    # a 1-channel checkpoint into the default 3-channel model
    one = cl.models.u2net_official.to_official(cl.create_model("u2netp", in_channels=1))
    with pytest.raises(ValueError, match=r"takes 1-channel images .*in_channels=1"):
        _load(one)
    with pytest.raises(TypeError, match="not a model"):
        _load(course_model)


# ---------------------------------------------------------------- exercise checkers never raise


@pytest.mark.parametrize(("name", "answer", "words"), [
    ("08.pruned_parameters", lambda model, level: None, "could not be checked"),
    ("07.grid_gate_3d", 42, "takes a function"),
])
def test_exercise_checkers_never_raise(capsys, name, answer, words):
    assert cl.exercises.check(name, answer) is False
    assert words in capsys.readouterr().out


# ---------------------------------------------------------------- the command line's own defaults


def test_smoke_membranes_train_with_the_default_cell_size(tmp_path):
    from course_lib.cli import main

    assert main(["train", "--mode", "smoke", "--dataset", "synthetic-membranes", "--out", str(tmp_path / "m"),
                 "--quiet"]) == 0


# ---------------------------------------------------------------- lesion detection


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"min_iou": 0}, "min_iou must lie in"),
    ({"threshold": 1.5}, "threshold must lie in"),
    ({"min_size": 0}, "min_size counts pixels"),
])
def test_lesion_detection_settings_that_would_score_wrongly(kwargs, words):
    prob, target = torch.rand(1, 1, 16, 16), (torch.rand(1, 1, 16, 16) > 0.9).float()
    with pytest.raises(ValueError, match=words):
        cl.lesion_metrics.lesion_detection(prob, target, **kwargs)


def test_lesion_scores_refuse_logits_and_read_froc_curves_only():
    target = (torch.rand(1, 1, 16, 16) > 0.9).float()
    with pytest.raises(ValueError, match="logits"):
        cl.lesion_metrics.lesion_detection(torch.randn(1, 1, 16, 16) * 4, target)
    curve = cl.lesion_metrics.froc(torch.rand(1, 1, 16, 16), target, thresholds=0.5)  # one threshold is fine
    assert curve["thresholds"].tolist() == [0.5]
    with pytest.raises(TypeError, match="froc"):
        cl.lesion_metrics.recall_at_fp([0.1, 0.2], 4)


# ---------------------------------------------------------------- explorers: indices out of range


def test_pruning_figure_needs_a_deeply_supervised_unetpp():
    images, masks = torch.rand(2, 1, 32, 32), torch.zeros(2, 1, 32, 32)
    with pytest.raises(TypeError, match="deep_supervision=True"):
        cl.explorers.pruning_figure(cl.create_model("unet", in_channels=1, widths=(4, 8)), [], images, masks)
    model = cl.create_model("unetpp", in_channels=1, widths=(4, 8, 16), deep_supervision=True)
    with pytest.raises(ValueError, match=r"level must be a whole number in 1\.\.2, got 5"):
        cl.explorers.pruning_figure(model, [], images, masks, level=5)
    with pytest.raises(ValueError, match=r"image must be a whole number in 0\.\.1, got 7"):
        cl.explorers.pruning_figure(model, [], images, masks, level=1, image=7)


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"image": 9}, r"image must be a whole number in 0\.\.1"),
    ({"level": 3}, r"level \(a gate, 0 = the finest\) must be a whole number in 0\.\.0"),
    ({"epoch": 4}, r"epoch .* must be a whole number in -2\.\.1"),
])
def test_attention_figure_ranges(kwargs, words):
    recorder = cl.protocols.lesions.AttentionRecorder(torch.rand(2, 1, 16, 16))
    recorder.maps = [[torch.rand(2, 1, 16, 16)], [torch.rand(2, 1, 16, 16)]]
    recorder.epochs = [0, 1]
    with pytest.raises(ValueError, match=words):
        cl.explorers.attention_figure(recorder, torch.zeros(2, 1, 16, 16), **kwargs)


def test_side_output_figure_ranges_and_an_empty_recording():
    maps = [[torch.rand(2, 1, 16, 16) for _ in range(7)]]
    images, masks = torch.rand(2, 3, 16, 16), torch.zeros(2, 1, 16, 16)
    with pytest.raises(ValueError, match=r"output .* must be a whole number in 0\.\.6, got 9"):
        cl.explorers.side_output_figure(maps, [1], images, masks, output=9)
    with pytest.raises(ValueError, match="nothing was recorded"):
        cl.explorers.side_output_explorer([], [], images, masks)


def test_gate_checker_tells_alpha_from_another_wrong_shape(capsys):
    from tests.test_exercises_ch07_ch10 import GridGate3D

    class ReturnsAlpha(GridGate3D):  # the coefficients, resampled to x's size, instead of W(x * alpha)
        def forward(self, x, g):
            alpha = torch.sigmoid(self.psi(torch.relu(self.theta(x) + self.phi(g))))
            return torch.nn.functional.interpolate(alpha, size=x.shape[2:], mode="trilinear",
                                                   align_corners=False)

    class ReturnsQ(GridGate3D):  # another wrong shape: the sum before psi, on g's grid
        def forward(self, x, g):
            return self.theta(x) + self.phi(g)

    assert cl.exercises.check("07.grid_gate_3d", ReturnsAlpha) is False
    out = capsys.readouterr().out
    assert "one channel like the coefficients alpha" in out, out
    assert cl.exercises.check("07.grid_gate_3d", ReturnsQ) is False
    out = capsys.readouterr().out
    assert "the output has the skip's shape" in out and "coefficients alpha" not in out, out
