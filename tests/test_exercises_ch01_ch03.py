"""The exercises of chapters 01 and 03 that replace the arithmetic ones (issue 34): U-Net's expanding step
that pads the upsampled map to its skip (any input size), and a broken linear keep_prob schedule to
repair. For each: the reference solution passes, every recognised mistake gets its own hint, a stub is
"not attempted", and answers of the wrong kind get a verdict, not an exception."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import course_lib as cl
from course_lib.blocks.dropblock import DropBlock2d, LinearKeepProbSchedule


def verdict(name: str, answer, capsys) -> str:
    cl.exercises.check(name, answer)
    return capsys.readouterr().out


# --- 01.up_step ---------------------------------------------------------------------------------------


def _sequential_double_conv(c_in: int, c_out: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


def up_step(*, pad: str = "centre", fill: str = "constant", skip_first: bool = True, up: str = "transposed",
            conv_in: str = "twice", batch_norm: bool = True, own_conv: bool = False, up_bias: bool = True):
    """An UpStep class with switchable mistakes (the defaults are right)."""

    class UpStep(nn.Module):
        def __init__(self, in_channels: int, out_channels: int) -> None:
            super().__init__()
            if up == "transposed":
                self.up = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2, bias=up_bias)
            elif up == "upsample":
                self.up = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(in_channels, out_channels, 1))
            else:  # the channels kept
                self.up = nn.ConvTranspose2d(in_channels, in_channels, 2, stride=2)
            width = 2 * out_channels if conv_in == "twice" else out_channels
            if own_conv:
                self.conv = _sequential_double_conv(width, out_channels)
            else:
                self.conv = cl.blocks.DoubleConv(width, out_channels, batch_norm=batch_norm)

        def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
            x = self.up(x)
            dh, dw = skip.shape[-2] - x.shape[-2], skip.shape[-1] - x.shape[-1]
            if pad == "crop":
                skip = cl.blocks.center_crop(skip, *x.shape[-2:])
            elif pad == "resize":
                x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            elif pad != "none":
                sides = {"centre": [dw // 2, dw - dw // 2, dh // 2, dh - dh // 2],
                         "swapped": [dh // 2, dh - dh // 2, dw // 2, dw - dw // 2],
                         "after": [0, dw, 0, dh],
                         "larger_first": [dw - dw // 2, dw // 2, dh - dh // 2, dh // 2]}[pad]
                x = F.pad(x, sides, mode=fill)
            return self.conv(torch.cat([skip, x] if skip_first else [x, skip], dim=1))

    return UpStep


def test_up_step_solution_passes(capsys) -> None:
    assert "correct" in verdict("01.up_step", up_step(), capsys)


@pytest.mark.parametrize("variant", [{"own_conv": True}, {"up_bias": False}])
def test_up_step_accepts_equivalent_answers(variant, capsys) -> None:
    """Exercise 1's double_conv instead of cl.blocks.DoubleConv, or an up-convolution without bias."""
    assert "correct" in verdict("01.up_step", up_step(**variant), capsys)


@pytest.mark.parametrize(("mistake", "hint"), [
    ({"pad": "crop"}, "the skip was cropped"),
    ({"pad": "none"}, "Zero-pad the upsampled map"),
    ({"pad": "swapped"}, "F.pad's list starts with the LAST axis"),
    ({"pad": "after"}, "all the padding went after"),
    ({"pad": "larger_first"}, "the larger half of the padding went before"),
    ({"pad": "resize"}, "resized (interpolated)"),
    ({"fill": "replicate"}, "copies border values"),
    ({"fill": "reflect"}, "mirrors the map"),
    ({"skip_first": False}, "[up, skip]"),
    ({"up": "upsample"}, "there is no nn.ConvTranspose2d"),
    ({"up": "keeps_channels"}, "the up-convolution maps 8 -> 4 channels"),
    ({"conv_in": "once"}, "only the upsampled map's"),
    ({"batch_norm": False}, "a BatchNorm2d after each conv"),
])
def test_up_step_hints(mistake, hint, capsys) -> None:
    out = verdict("01.up_step", up_step(**mistake), capsys)
    assert "not yet" in out and hint in out, out


def test_up_step_other_wrong_values_get_the_recipe(capsys) -> None:
    class Shifted(up_step()):
        def forward(self, x, skip):
            return super().forward(x, skip) + 1

    out = verdict("01.up_step", Shifted, capsys)
    assert "your output differs" in out and "torch.cat([skip, up], dim=1)" in out, out


def test_up_step_stubs_and_wrong_kinds(capsys) -> None:
    class StubInit(nn.Module):
        def __init__(self, in_channels, out_channels):
            super().__init__()
            raise NotImplementedError

    class StubForward(up_step()):
        def forward(self, x, skip):
            raise NotImplementedError

    assert "not attempted" in verdict("01.up_step", StubInit, capsys)
    assert "not attempted" in verdict("01.up_step", StubForward, capsys)
    assert "takes a function (or a class)" in verdict("01.up_step", "UpStep", capsys)
    assert "should give an nn.Module" in verdict("01.up_step", lambda a, b: (a, b), capsys)
    assert "forward returns a tensor" in verdict("01.up_step", _returns_list(), capsys)


def _returns_list():
    class ReturnsList(up_step()):
        def forward(self, x, skip):
            return [super().forward(x, skip)]

    return ReturnsList


# --- 03.keep_prob_ramp --------------------------------------------------------------------------------


def keep_prob_ramp(*, walk: str = "modules", count_calls: bool = False, offset: int = 1, clamp: bool = True,
                   over: str = "ramp", integer: bool = False, reverse: bool = False,
                   attribute: str = "keep_prob"):
    """A KeepProbRamp class with switchable mistakes (the defaults are right)."""

    class KeepProbRamp:
        def __init__(self, model, start=1.0, end=0.9, ramp_epochs=5):
            layers = model.modules() if walk == "modules" else model.children()
            self.layers = [m for m in layers if isinstance(m, DropBlock2d)]
            if walk == "first":
                self.layers = self.layers[:1]
            self.start, self.end, self.ramp_epochs = start, end, ramp_epochs
            if reverse:
                self.start, self.end = end, start
            self.epoch = 0

        def on_epoch_start(self, ctx) -> None:
            self.epoch += 1
            epoch = self.epoch if count_calls else ctx.epoch
            length = self.ramp_epochs if over == "ramp" else ctx.epochs
            done = (epoch - offset) // length if integer else (epoch - offset) / length
            done = min(done, 1.0) if clamp else done
            for layer in self.layers:
                setattr(layer, attribute, self.start + (self.end - self.start) * done)

    return KeepProbRamp


def test_keep_prob_ramp_solution_passes(capsys) -> None:
    assert "correct" in verdict("03.keep_prob_ramp", keep_prob_ramp(), capsys)


def test_keep_prob_ramp_agrees_with_the_library() -> None:
    """The checker's contract is the chapter's LinearKeepProbSchedule, epoch by epoch."""
    from types import SimpleNamespace

    model = nn.Sequential(nn.Sequential(DropBlock2d(0.5, 3)), DropBlock2d(0.5, 3))
    library = LinearKeepProbSchedule(model, start=1.0, end=0.8, steps=3)
    mine = keep_prob_ramp()(model, 1.0, 0.8, 3)
    for epoch in range(1, 8):
        library.on_epoch_start(SimpleNamespace(epoch=epoch))
        expected = library.keep_prob
        mine.on_epoch_start(SimpleNamespace(epoch=epoch, epochs=7))
        layers = [m for m in model.modules() if isinstance(m, DropBlock2d)]
        assert all(m.keep_prob == pytest.approx(expected) for m in layers)


@pytest.mark.parametrize(("mistake", "hint"), [
    # the exercise's class with its raise line deleted: every bug at once, the first one reported
    ({"walk": "children", "count_calls": True, "offset": 0, "clamp": False}, "model.children() lists only"),
    ({"walk": "first"}, "2 of the model's 3 DropBlock2d layers kept their keep_prob"),
    ({"count_calls": True, "offset": 0, "clamp": False}, "off by one"),
    ({"offset": 0}, "off by one"),
    ({"count_calls": True, "clamp": False}, "cap the fraction of the ramp at 1"),
    ({"count_calls": True}, "resumes a run from its checkpoint"),
    ({"integer": True}, "integer division"),
    ({"reverse": True}, "it starts at end"),
    ({"over": "run"}, "not the whole run (ctx.epochs)"),
    ({"attribute": "drop_prob"}, "no DropBlock2d changed its keep_prob"),
])
def test_keep_prob_ramp_hints(mistake, hint, capsys) -> None:
    out = verdict("03.keep_prob_ramp", keep_prob_ramp(**mistake), capsys)
    assert "not yet" in out and hint in out, out


def test_keep_prob_ramp_stubs_and_wrong_kinds(capsys) -> None:
    class Stub(keep_prob_ramp()):
        def on_epoch_start(self, ctx) -> None:
            raise NotImplementedError

    class NoHook:
        def __init__(self, *args) -> None:
            pass

    assert "not attempted" in verdict("03.keep_prob_ramp", Stub, capsys)
    assert "has no method on_epoch_start" in verdict("03.keep_prob_ramp", NoHook, capsys)
    library = verdict("03.keep_prob_ramp", lambda m, s, e, r: LinearKeepProbSchedule(m, s, e, r), capsys)
    assert "the library's LinearKeepProbSchedule" in library
    assert "takes a function (or a class)" in verdict("03.keep_prob_ramp", 3, capsys)

    class Crashes(keep_prob_ramp()):
        def on_epoch_start(self, ctx) -> None:
            ctx.history.records[-1]["keep_prob"] = 1.0

    assert "your function raised IndexError" in verdict("03.keep_prob_ramp", Crashes, capsys)
