"""Bad input gets a clear, actionable error, and nothing the user made is lost or faked.

Each test here failed before the checks it exercises were added: raw tracebacks, results written for
runs that never trained, errors blamed on the wrong cause, corrupt files found only mid-epoch.
"""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image
from test_engine import DictDataset, tiny_net
from test_real_data import make_drive

import course_lib as cl
from course_lib import config, engine
from course_lib.cli import main
from course_lib.data.real.common import ImageReadError
from course_lib.engine import TrainingError, TrainingInterrupted, evaluate, fit, predict
from course_lib.metrics import segmentation_scores

FAST = {"batch_size": 4, "lr": 1e-2, "progress": False}
SMOKE = ["train", "--mode", "smoke", "--quiet"]


# ----------------------------------------------------------------------------- the command line


def test_out_that_is_a_file_is_a_clear_error(tmp_path, capsys):
    existing = tmp_path / "notes.txt"
    existing.write_text("mine")
    assert main([*SMOKE, "--out", str(existing)]) == 2
    err = capsys.readouterr().err
    assert "is an existing file, not a folder" in err and "Traceback" not in err
    assert existing.read_text() == "mine"


@pytest.mark.parametrize("flag, value", [("--epochs", "0"), ("--epochs", "-3"), ("--batch-size", "0"),
                                         ("--lr", "-1e-3"), ("--size", "0"), ("--n-train", "-1")])
def test_non_positive_settings_are_refused_before_anything_is_written(tmp_path, capsys, flag, value):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as info:
        main([*SMOKE, "--out", str(out), f"{flag}={value}"])
    assert info.value.code == 2
    assert "must be greater than 0" in capsys.readouterr().err
    assert not out.exists()  # no folder, so certainly no metrics.json for an untrained model


def test_fit_refuses_zero_epochs():
    with pytest.raises(ValueError, match="epochs must be a positive whole number"):
        fit(tiny_net(), DictDataset(4), epochs=0, **FAST)
    with pytest.raises(ValueError, match="batch_size must be a positive"):
        fit(tiny_net(), DictDataset(4), epochs=1, batch_size=0, progress=False)


@pytest.mark.parametrize("flag, name, said", [("--model", "unet9", "Unknown model"),
                                              ("--dataset", "synthetic-cats", "Unknown dataset")])
def test_unknown_names_leave_no_run_folder(tmp_path, capsys, flag, name, said):
    out = tmp_path / "runs" / "x"
    assert main([*SMOKE, "--out", str(out), flag, name]) == 2
    assert said in capsys.readouterr().err
    assert not out.exists() and not out.parent.exists()


def test_failure_after_the_folder_was_made_removes_only_an_empty_folder(tmp_path, capsys):
    out = tmp_path / "run"
    # a model argument the model does not take fails after the folder exists: it is removed again
    assert main([*SMOKE, "--out", str(out), "--model-arg", "no_such_option=1"]) == 2
    assert "no_such_option" in capsys.readouterr().err
    assert not out.exists()
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    assert main([*SMOKE, "--out", str(out), "--model-arg", "no_such_option=1"]) == 2
    assert (out / "mine.txt").read_text() == "keep me"


def test_truncated_checkpoint_names_the_command_line_flag(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*SMOKE, "--out", str(out)]) == 0
    last = out / "last.pt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    capsys.readouterr()
    assert main([*SMOKE, "--out", str(out), "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert "--no-resume" in err and "--out" in err and "Traceback" not in err


# ----------------------------------------------------------------------------- Ctrl-C


class InterruptAt:
    """A loss that sends this process SIGINT (Ctrl-C) during its ``at``-th call."""

    def __init__(self, at: int) -> None:
        self.at, self.calls = at, 0

    def __call__(self, logits, mask, weight=None):
        self.calls += 1
        if self.calls == self.at:
            os.kill(os.getpid(), signal.SIGINT)
        return nn.functional.binary_cross_entropy_with_logits(logits, mask)


def _weights(model):
    return [p.detach().clone() for p in model.parameters()]


@pytest.fixture
def ctrl_c_raises():
    """Python's own Ctrl-C handler, as in a terminal or a notebook (CI may run with SIGINT ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_at_the_step_keeps_the_checkpoint_and_resumes_exactly(tmp_path, ctrl_c_raises):
    data = DictDataset(8)  # 2 steps per epoch
    reference = tiny_net()
    fit(reference, data, epochs=3, loss="bce", **FAST)

    model = tiny_net()
    with pytest.raises(TrainingInterrupted) as info:
        fit(model, data, epochs=3, loss=InterruptAt(at=3), out_dir=tmp_path, **FAST)  # epoch 2, step 1
    message = str(info.value)
    assert "during epoch 2 (after step 1)" in message and "1 completed epoch" in message
    assert "same command" in message and info.value.epochs_done == 1
    assert isinstance(info.value, KeyboardInterrupt)  # code that catches Ctrl-C still does
    assert torch.load(tmp_path / "last.pt", weights_only=True)["epoch"] == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored

    resumed = tiny_net(seed=5)  # different initial weights: everything must come from last.pt
    history = fit(resumed, data, epochs=3, loss="bce", out_dir=tmp_path, **FAST)
    assert history.epochs == 3
    for a, b in zip(_weights(resumed), _weights(reference), strict=True):
        assert torch.equal(a, b)


def test_ctrl_c_without_out_dir_says_nothing_was_saved(ctrl_c_raises):
    with pytest.raises(TrainingInterrupted, match="Nothing was saved"):
        fit(tiny_net(), DictDataset(8), epochs=2, loss=InterruptAt(at=1), **FAST)


def test_an_ignored_ctrl_c_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as under nohup
    try:
        history = fit(tiny_net(), DictDataset(8), epochs=2, loss=InterruptAt(at=1), **FAST)
        assert history.epochs == 2 and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_on_the_command_line_exits_130_and_writes_no_metrics(tmp_path, capsys, monkeypatch,
                                                                     ctrl_c_raises):
    real_fit = engine.fit

    def fit_interrupted_in_epoch_2(*args, **kwargs):
        kwargs.update(epochs=3, loss=InterruptAt(at=3), max_steps_per_epoch=2)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(engine, "fit", fit_interrupted_in_epoch_2)
    out = tmp_path / "run"
    assert main([*SMOKE, "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert "run the same command again to resume" in err and "Traceback" not in err
    assert (out / "last.pt").exists() and not (out / "metrics.json").exists()


# ----------------------------------------------------------------------------- inference and scoring


def test_wrong_channel_count_in_predict_and_evaluate_is_called_a_channel_problem():
    model = tiny_net(in_channels=1)
    rgb = DictDataset(4, channels=3)
    for call in (lambda: predict(model, rgb), lambda: evaluate(model, rgb),
                 lambda: predict(model, torch.rand(2, 3, 16, 16))):
        with pytest.raises(TrainingError) as info:
            call()
        message = str(info.value)
        assert "1 input channel(s) but the images have 3" in message and "divisible" not in message


def test_channel_error_inside_a_model_is_explained_as_channels():
    model = nn.Sequential(nn.Conv2d(1, 1, 1), nn.Conv2d(2, 1, 3, padding=1))  # a broken second layer
    with pytest.raises(TrainingError, match="expects 2 input channels but got 1") as info:
        predict(model, torch.rand(1, 1, 8, 8))
    assert "divisible" not in str(info.value)


def test_nan_in_a_mask_is_an_error_not_background():
    prob = torch.rand(1, 1, 4, 4)
    target = (torch.rand(1, 1, 4, 4) > 0.5).float()
    target[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="target contains NaN"):
        segmentation_scores(prob, target)
    data = DictDataset(4)
    data.masks[1, 0, 3, 3] = float("nan")
    with pytest.raises(TrainingError, match="evaluation masks contain NaN"):
        evaluate(tiny_net(), data)
    with pytest.raises(TrainingError, match="training masks contain NaN"):
        fit(tiny_net(), data, epochs=1, **FAST)


def test_nan_only_in_validation_images_is_blamed_on_the_validation_data():
    train, val = DictDataset(8), DictDataset(4, seed=1)
    val.images[2, 0, 5, 5] = float("nan")
    with pytest.raises(TrainingError) as info:
        fit(tiny_net(), train, val, epochs=1, **FAST)
    message = str(info.value)
    assert "validation images contain NaN" in message
    assert "diverged" not in message and "during training" not in message


# ----------------------------------------------------------------------------- corrupt dataset files


def _truncate(path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("victim", ["training/images/22_training.tif", "training/1st_manual/23_manual1.gif",
                                    "training/mask/21_training_mask.gif"])
def test_truncated_drive_file_is_found_when_the_dataset_is_built(tmp_path, victim):
    root = make_drive(tmp_path / "DRIVE", parts=("training",), n=3, size=(64, 60))
    _truncate(root / victim)
    with pytest.raises(ImageReadError) as info:
        cl.data.load("drive", split="trainval", root=root)
    message = str(info.value)
    assert victim.split("/")[-1] in message and "truncated" in message
    assert "cannot download DRIVE" in message and "download it again" not in message


def _isbi(root, n=3):
    for sub in ("image", "label"):
        (root / "train" / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for k in range(n):
        image = rng.integers(0, 255, (48, 48), dtype=np.uint8)
        Image.fromarray(image).save(root / "train/image" / f"{k}.png")
        label = (rng.random((48, 48)) > 0.2).astype(np.uint8) * 255
        Image.fromarray(label).save(root / "train/label" / f"{k}.png")
    return root


def test_truncated_png_names_the_file_and_says_how_to_download_again(tmp_path):
    root = _isbi(tmp_path / "isbi2012")
    assert len(cl.data.load("isbi2012", split="trainval", root=root)) == 3
    _truncate(root / "train/image/1.png", keep=0.9)
    with pytest.raises(ImageReadError, match=r"1\.png.*no end chunk") as info:
        cl.data.load("isbi2012", split="trainval", root=root)
    assert "cl.data.download('isbi2012')" in str(info.value)


def test_file_check_passes_the_real_shared_data_quickly():
    import time
    from pathlib import Path

    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not (shared / "DRIVE" / "training").is_dir():
        pytest.skip(f"real DRIVE training split not found in {shared}")
    start = time.perf_counter()
    assert len(cl.data.load("drive", split="trainval", root=shared / "DRIVE", cache=False)) == 20
    assert len(cl.data.load("isbi2012", split="trainval", root=shared / "isbi2012", cache=False)) == 30
    assert time.perf_counter() - start < 2.0  # headers only, nothing decoded


def test_truncated_jpeg_is_found(tmp_path):
    from course_lib.data.real.file_check import image_size

    path = tmp_path / "a.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
    assert image_size(path, "ECSSD") == (64, 64)
    _truncate(path, keep=0.7)
    with pytest.raises(ImageReadError, match="end-of-image marker"):
        image_size(path, "ECSSD")


# ----------------------------------------------------------------------------- COURSE_MAX_STEPS


def test_max_steps_caps_training_in_all_and_evaluation_to_a_couple_of_samples(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_MAX_STEPS", "3")
    model = tiny_net()
    history = fit(model, DictDataset(4), DictDataset(6, seed=1), epochs=5, out_dir=tmp_path, **FAST)
    # batches capped at 2 samples: 2 steps per epoch, so 2 + 1 = 3
    assert history.epochs == 2 and history["steps"] == [2, 1]
    assert engine._collect(model, DictDataset(6), 4, None, limit=config.eval_limit())["prob"].shape[0] == 2
    assert predict(model, DictDataset(6)).shape[0] == 6  # prediction is not evaluation: all samples
    assert "REHEARSAL" in config.describe()
    # a capped checkpoint never feeds a real run, and a real one never a rehearsal
    monkeypatch.delenv("COURSE_MAX_STEPS")
    with pytest.raises(TrainingError, match=r"rehearsal capped at COURSE_MAX_STEPS=3.*--no-resume"):
        fit(tiny_net(), DictDataset(8), epochs=5, out_dir=tmp_path, **FAST)


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_bad_max_steps_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("COURSE_MAX_STEPS", value)
    with pytest.raises(ValueError, match="not a positive whole number"):
        config.max_steps()


def test_cli_marks_a_capped_run_as_a_rehearsal(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_MAX_STEPS", "1")
    out = tmp_path / "run"
    assert main([*SMOKE, "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["rehearsal"]["max_steps"] == 1
