"""The training engine: learning, exact resume, atomic checkpoints, clear errors, multi-output, inference."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn as nn
from torch.utils.data import Dataset

from course_lib import engine
from course_lib.blocks import DoubleConv
from course_lib.engine import TIMING_KEYS, TrainingError, evaluate, fit, predict


class DictDataset(Dataset):
    """Tiny synthetic task: the mask is where the (smoothed) image is bright."""

    def __init__(self, n: int = 8, size: int = 16, channels: int = 1, seed: int = 0, fov: bool = False,
                 weight: bool = False) -> None:
        g = torch.Generator().manual_seed(seed)
        self.images = torch.rand(n, channels, size, size, generator=g)
        self.masks = (self.images.mean(1, keepdim=True) > 0.5).float()
        self.fov = fov
        self.weight = weight

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        sample = {"image": self.images[i], "mask": self.masks[i]}
        if self.fov:
            fov = torch.zeros_like(self.masks[i])
            fov[:, 2:-2, 2:-2] = 1
            sample["fov"] = fov
        if self.weight:
            sample["weight"] = torch.ones_like(self.masks[i]) * 2
        return sample


def tiny_net(in_channels: int = 1, out_channels: int = 1, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(in_channels, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, out_channels, 1))


class DeepSupervised(nn.Module):
    """A DoubleConv trunk (with BatchNorm and dropout) and two heads: returns [final, side] logits."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(DoubleConv(1, 4, batch_norm=True), nn.Dropout2d(0.2))
        self.final = nn.Conv2d(4, 1, 1)
        self.side = nn.Conv2d(4, 1, 1)

    def forward(self, x):
        h = self.body(x)
        return [self.final(h), self.side(h)]


class NeedsMultipleOf8(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = tiny_net()

    def check_input_size(self, height: int, width: int) -> None:
        if height % 8 or width % 8:
            raise ValueError(f"height and width must be multiples of 8, got {height}x{width}")

    def forward(self, x):
        return self.net(x)


FAST = {"batch_size": 4, "progress": False, "device": "cpu"}


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def without_timing(history) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in history.records]


def test_loss_goes_down_and_history_is_complete(tmp_path):
    model = tiny_net()
    history = fit(model, DictDataset(16), DictDataset(8, seed=1), epochs=8, lr=0.05, loss="bce_dice",
                  out_dir=tmp_path, **FAST)
    losses = history["train_loss"]
    assert losses[-1] < 0.7 * losses[0]
    assert history["val_dice"][-1] > 0.8
    assert history["epoch"] == list(range(1, 9))
    for key in ("train_loss", "val_loss", "val_dice", "val_iou", "val_accuracy", "val_sensitivity",
                "val_specificity", "val_precision", "val_f1", "val_auc", "lr", "seconds", "images_per_s",
                "step_seconds"):
        assert key in history and len(history[key]) == 8
    as_dict = history.to_dict()
    assert as_dict["val_dice"] == history["val_dice"]
    assert history.best_epoch == 1 + max(range(8), key=lambda i: history["val_dice"][i])
    saved = json.loads((tmp_path / "history.json").read_text())
    assert saved["records"] == json.loads(json.dumps(history.records))
    assert (tmp_path / "last.pt").exists() and (tmp_path / "best.pt").exists()


def test_best_checkpoint_follows_the_validation_metric(tmp_path):
    model = tiny_net()
    history = fit(model, DictDataset(8), DictDataset(4, seed=1), epochs=4, lr=0.05, out_dir=tmp_path,
                  metric="auc", **FAST)
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert best["epoch"] == history.best_epoch
    assert last["epoch"] == 4
    auc = history["val_auc"]
    assert auc[history.best_epoch - 1] == max(auc)
    # the best weights, loaded into a fresh model, reproduce the recorded validation AUC
    fresh = tiny_net(seed=1)
    engine.load_weights(fresh, tmp_path / "best.pt")
    assert evaluate(fresh, DictDataset(4, seed=1))["auc"] == pytest.approx(max(auc), abs=1e-6)


class StopAfter:
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def __call__(self, ctx) -> None:
        if ctx.epoch == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize("interrupt", ["callback", "shorter_first_call"])
def test_resume_is_bit_identical(tmp_path, interrupt):
    train, val = DictDataset(10), DictDataset(4, seed=1)
    kwargs = {"epochs": 4, "lr": 0.02, "loss": "bce_dice", **FAST}
    reference = DeepSupervised()  # BatchNorm statistics, dropout and two outputs make the check stricter
    ref_history = fit(reference, train, val, out_dir=tmp_path / "ref", **kwargs)

    first = DeepSupervised()
    if interrupt == "callback":
        with pytest.raises(KeyboardInterrupt):
            fit(first, train, val, out_dir=tmp_path / "run", callbacks=[StopAfter(2)], **kwargs)
    else:
        fit(first, train, val, out_dir=tmp_path / "run", **{**kwargs, "epochs": 2})
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["epoch"] == 2

    resumed = DeepSupervised()  # a fresh process after a disconnect: new model, same out_dir
    history = fit(resumed, train, val, out_dir=tmp_path / "run", **kwargs)
    assert without_timing(history) == without_timing(ref_history)
    for (name, a), b in zip(weights(reference).items(), weights(resumed).values(), strict=True):
        assert torch.equal(a, b), name


def test_finished_run_returns_history_without_training(tmp_path, monkeypatch):
    model = tiny_net()
    history = fit(model, DictDataset(8), None, epochs=2, out_dir=tmp_path, **FAST)
    trained = weights(model)

    def boom(*args, **kwargs):
        raise AssertionError("should not train again")

    monkeypatch.setattr(engine, "train_one_epoch", boom)
    again = tiny_net(seed=5)
    history2 = fit(again, DictDataset(8), None, epochs=2, out_dir=tmp_path, **FAST)
    assert history2.records == history.records
    assert all(torch.equal(trained[k], v) for k, v in weights(again).items())
    assert history.metric == "train_loss" and history.best_epoch is not None
    with pytest.warns(UserWarning, match=r"changed settings.*'lr': \(0\.001, 0\.5\)"):
        fit(tiny_net(), DictDataset(8), None, epochs=2, lr=0.5, out_dir=tmp_path, **FAST)


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    model = tiny_net()
    fit(model, DictDataset(8), None, epochs=1, out_dir=tmp_path, **FAST)
    before = (tmp_path / "last.pt").read_bytes()
    real_save = torch.save

    def failing_save(obj, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"partial checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        fit(model, DictDataset(8), None, epochs=2, out_dir=tmp_path, **FAST)
    monkeypatch.setattr(torch, "save", real_save)
    assert (tmp_path / "last.pt").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "history.json", "last.pt"]


def test_checkpoint_of_another_model_is_refused_and_kept(tmp_path):
    fit(tiny_net(), DictDataset(8), None, epochs=1, out_dir=tmp_path, **FAST)
    before = (tmp_path / "last.pt").read_bytes()
    other = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 1, 1))
    original = weights(other)
    with pytest.raises(TrainingError, match=r"different model.*another out_dir.*resume=False"):
        fit(other, DictDataset(8), None, epochs=2, out_dir=tmp_path, **FAST)
    assert (tmp_path / "last.pt").read_bytes() == before
    assert all(torch.equal(original[k], v) for k, v in weights(other).items())


def test_shape_mismatch_error():
    class Shrinks(nn.Module):  # like a valid-convolution U-Net: output smaller than the input
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3)

        def forward(self, x):
            return self.conv(x)

    with pytest.raises(TrainingError, match=r"prediction is 14x14.*mask is 16x16.*center_crop"):
        fit(Shrinks(), DictDataset(4), epochs=1, **FAST)


def test_wrong_channel_count_error():
    message = r"expects 3 input channel\(s\) but the images have 1.*in_channels=1"
    with pytest.raises(TrainingError, match=message):
        fit(tiny_net(in_channels=3), DictDataset(4), epochs=1, **FAST)


def test_three_output_channels_error():
    with pytest.raises(TrainingError, match=r"outputs 3 channels.*out_channels=1"):
        fit(tiny_net(out_channels=3), DictDataset(4), epochs=1, **FAST)


def test_input_size_errors():
    with pytest.raises(TrainingError, match=r"cannot take 12x12 inputs: .*multiples of 8"):
        fit(NeedsMultipleOf8(), DictDataset(4, size=12), epochs=1, **FAST)

    class SkipNet(nn.Module):  # concatenates a pooled-then-upsampled path: odd sizes fail inside torch
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(1, 1, 3, padding=1)
            self.conv = nn.Conv2d(2, 1, 1)

        def forward(self, x):
            x = self.stem(x)
            up = nn.functional.interpolate(nn.functional.max_pool2d(x, 2), scale_factor=2)
            return self.conv(torch.cat([x, up], 1))

    message = r"failed on an input of size 15x15.*divisible by 2\^k.*Torch said"
    with pytest.raises(TrainingError, match=message):
        fit(SkipNet(), DictDataset(4, size=15), epochs=1, **FAST)


def test_nan_loss_stops_with_epoch_and_step():
    class Explodes(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 1)

        def forward(self, x):
            return self.conv(x) * float("nan")

    with pytest.raises(TrainingError, match=r"loss became nan at epoch 1, step 1.*lower the learning rate"):
        fit(Explodes(), DictDataset(4), epochs=1, **FAST)


def test_two_channel_softmax_model_and_weighted_ce():
    model = tiny_net(out_channels=2)
    history = fit(model, DictDataset(8, weight=True), DictDataset(4, seed=1, fov=True), epochs=3, lr=0.05,
                  loss="weighted_ce", **FAST)
    assert history["train_loss"][-1] < history["train_loss"][0]
    prob = predict(model, DictDataset(4, seed=1))
    assert prob.shape == (4, 1, 16, 16) and prob.min() >= 0 and prob.max() <= 1


def test_multi_output_loss_weights_and_metrics_on_final_output():
    data = DictDataset(4)
    model = DeepSupervised()
    history = fit(model, data, data, epochs=1, lr=0.0, deep_supervision_weights=[1.0, 0.0], **FAST)
    final_only = fit(DeepSupervised(), data, data, epochs=1, lr=0.0, **FAST, loss="bce",
                     deep_supervision_weights=[1.0, 1.0])
    # with lr = 0 nothing changes, so the losses are exactly those of the initial model
    with torch.no_grad():
        model.eval()
        final, side = model(data.images)
        bce = nn.functional.binary_cross_entropy_with_logits
        assert history["val_loss"][0] == pytest.approx(bce(final, data.masks).item(), rel=1e-5)
        both = bce(final, data.masks) + bce(side, data.masks)
        assert final_only["val_loss"][0] == pytest.approx(both.item(), rel=1e-5)
        expected_dice = evaluate(model, data)["dice"]
    assert history["val_dice"][0] == pytest.approx(expected_dice)
    with pytest.raises(TrainingError, match="2 outputs but 3 loss weights"):
        fit(DeepSupervised(), data, epochs=1, deep_supervision_weights=[1, 1, 1], **FAST)


def test_predict_and_evaluate():
    model = tiny_net()
    model.train()
    data = DictDataset(6, fov=True)
    prob = predict(model, data, batch_size=4)
    assert prob.shape == (6, 1, 16, 16) and prob.dtype == torch.float32
    assert model.training  # mode restored
    with torch.no_grad():
        model.eval()
        assert torch.allclose(prob, torch.sigmoid(model(data.images)))
    assert torch.equal(predict(model, data.images, batch_size=4), prob)
    scores = evaluate(model, data)
    from course_lib.metrics import segmentation_scores

    fov = torch.stack([data[i]["fov"] for i in range(6)])
    assert scores == segmentation_scores(prob, data.masks, fov)
    assert scores != segmentation_scores(prob, data.masks)
    with pytest.raises(ValueError, match="N x C x H x W"):
        predict(model, data.images[0])


def test_tuple_samples_dataloader_sgd_and_max_steps():
    data = DictDataset(12)
    pairs = [(data.images[i], data.masks[i]) for i in range(12)]
    loader = torch.utils.data.DataLoader(pairs, batch_size=2, shuffle=False)
    history = fit(tiny_net(), loader, epochs=2, optimizer="sgd", lr=0.1, max_steps_per_epoch=3, **FAST)
    assert len(history["train_loss"]) == 2
    assert history["images_per_s"][0] > 0 and math.isfinite(history["step_seconds"][0])
    with pytest.raises(ValueError, match="Unknown optimizer"):
        fit(tiny_net(), loader, epochs=1, optimizer="lion", **FAST)


def test_callback_hooks_see_each_epoch():
    seen = []

    class Schedule:
        def on_epoch_start(self, ctx):
            for group in ctx.optimizer.param_groups:
                group["lr"] = 0.1 / ctx.epoch
            seen.append(("start", ctx.epoch))

        def on_epoch_end(self, ctx):
            seen.append(("end", ctx.epoch, ctx.history.epochs))

    history = fit(tiny_net(), DictDataset(4), epochs=2, callbacks=[Schedule()], **FAST)
    assert seen == [("start", 1), ("end", 1, 1), ("start", 2), ("end", 2, 2)]
    assert history["lr"] == [0.1, 0.05]


def test_time_training_step_leaves_the_model_alone_and_honours_the_cap(monkeypatch):
    model = tiny_net()
    before = [p.detach().clone() for p in model.parameters()]
    data = DictDataset(4)
    seconds = engine.time_training_step(model, data.images, data.masks, steps=4)
    assert seconds > 0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    calls = []
    monkeypatch.setenv("COURSE_MAX_STEPS", "1")
    monkeypatch.setattr(engine, "_forward", lambda m, x: calls.append(1) or m(x))
    engine.time_training_step(model, data.images, data.masks, steps=5)
    assert len(calls) == 2  # the cap plus one


def test_a_rehearsal_trains_on_small_batches(monkeypatch):
    seen = []
    model = tiny_net()
    model.register_forward_pre_hook(lambda _m, args: seen.append(args[0].shape[0]))
    fit(model, DictDataset(8), epochs=1, **{**FAST, "batch_size": 8})
    assert seen == [8]
    seen.clear()
    monkeypatch.setenv("COURSE_MAX_STEPS", "2")
    fit(model, DictDataset(8), epochs=1, **{**FAST, "batch_size": 8})
    assert seen == [2, 2]
    seen.clear()
    engine.time_training_step(model, DictDataset(8).images, DictDataset(8).masks, steps=1)
    assert seen == [2]
