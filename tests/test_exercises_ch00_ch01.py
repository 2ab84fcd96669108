"""Chapters 00 and 01: the checkers of the build-or-debug exercises give the hint of each typical mistake."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import course_lib as cl

ROOT = Path(__file__).resolve().parents[1]


def verdict(name: str, answer, capsys) -> str:
    cl.exercises.check(name, answer)
    return capsys.readouterr().out


# ----------------------------------------------------------------------------------- 00.fov_scores

def _counts(pred, mask, region):
    p, m = (pred > 0.5) & region, (mask > 0.5) & region
    return (float((p & m).sum()), float((p & ~m & region).sum()), float((~p & ~m & region).sum()),
            float((~p & m & region).sum()))


def fov_scores(pred, mask, fov, inside=True, sensitivity="recall"):
    tp, fp, tn, fn = _counts(pred, mask, fov > 0.5 if inside else torch.ones_like(fov, dtype=torch.bool))
    sens = tp / (tp + fn) if sensitivity == "recall" else tp / (tp + fp)
    return {"accuracy": (tp + tn) / (tp + tn + fp + fn), "sensitivity": sens, "specificity": tn / (tn + fp)}


def test_fov_scores_hints(capsys):
    assert "correct" in verdict("00.fov_scores", fov_scores, capsys)
    precision = verdict("00.fov_scores", lambda p, m, f: fov_scores(p, m, f, sensitivity="p"), capsys)
    assert "precision" in precision
    assert "precision" in verdict("00.fov_scores", lambda p, m, f: fov_scores(p, m, f, False, "p"), capsys)
    out = verdict("00.fov_scores", lambda p, m, f: fov_scores(p, m, f, inside=False), capsys)
    assert "whole image" in out and "fov == 1" in out
    assert "keys" in verdict("00.fov_scores", lambda p, m, f: [0.9, 0.8, 0.7], capsys)


# ----------------------------------------------------------------------------------- 01.double_conv

def double_conv(c_in, c_out, mid=None, *, norm_mid=True, bias=False, relu_first=False, padding=1):
    mid = c_out if mid is None else mid

    def unit(a, b, norm):
        layers = [nn.Conv2d(a, b, 3, padding=padding, bias=bias), nn.BatchNorm2d(norm), nn.ReLU()]
        return layers[::2] + layers[1:2] if relu_first else layers

    return nn.Sequential(*unit(c_in, mid, mid if norm_mid else c_out), *unit(mid, c_out, c_out))


@pytest.mark.parametrize(("mistake", "hint"), [
    ({"norm_mid": False}, "common bug 4"),
    ({"bias": True}, "bias=False"),
    ({"relu_first": True}, "conv -> BatchNorm -> ReLU"),
    ({"padding": 0}, "padding=1"),
])
def test_double_conv_hints(mistake, hint, capsys):
    assert "correct" in verdict("01.double_conv", double_conv, capsys)
    assert hint in verdict("01.double_conv", lambda a, b, m=None: double_conv(a, b, m, **mistake), capsys)
    ignores_mid = verdict("01.double_conv", lambda a, b, m=None: double_conv(a, b), capsys)
    assert "first conv goes to mid" in ignores_mid


# ----------------------------------------------------------------------------------- 01.fix_unet

def make_unet(reuse_up1=False, skip0=True, skip_first=True):
    class HandWrittenUNet(nn.Module):
        def __init__(self, in_channels=1, out_channels=1, widths=(8, 16, 32)):
            super().__init__()
            w0, w1, w2 = widths
            self.enc0 = cl.blocks.DoubleConv(in_channels, w0)
            self.enc1 = cl.blocks.DoubleConv(w0, w1)
            self.bottom = cl.blocks.DoubleConv(w1, w2)
            self.up1 = nn.ConvTranspose2d(w2, w1, kernel_size=2, stride=2)
            self.dec1 = cl.blocks.DoubleConv(2 * w1, w1)
            self.up0 = nn.ConvTranspose2d(w1, w0, kernel_size=2, stride=2)
            self.dec0 = cl.blocks.DoubleConv(2 * w0 if skip0 else w0, w0)
            self.head = nn.Conv2d(w0, out_channels, kernel_size=1)

        def forward(self, x):
            s0 = self.enc0(x)
            s1 = self.enc1(F.max_pool2d(s0, 2))
            x = self.bottom(F.max_pool2d(s1, 2))
            x = self.dec1(torch.cat([s1, self.up1(x)], dim=1))
            up = (self.up1 if reuse_up1 else self.up0)(x)
            if skip0:
                up = torch.cat([s0, up] if skip_first else [up, s0], dim=1)
            return self.head(self.dec0(up))

    return HandWrittenUNet


def test_fix_unet_hints(capsys):
    assert "correct" in verdict("01.fix_unet", make_unet(), capsys)
    assert "which up-convolution" in verdict("01.fix_unet", make_unet(reuse_up1=True, skip0=False), capsys)
    assert "which up-convolution" in verdict("01.fix_unet", make_unet(reuse_up1=True), capsys)
    assert "common bug 5" in verdict("01.fix_unet", make_unet(skip0=False), capsys)
    assert "[skip, up]" in verdict("01.fix_unet", make_unet(skip_first=False), capsys)


def test_fix_unet_finds_the_silent_reuse_with_equal_widths(capsys):
    class EqualWidthsOnly(make_unet(reuse_up1=True)):  # a student who only tried equal widths
        def __init__(self, in_channels=1, out_channels=1, widths=(8, 16, 32)):
            super().__init__(in_channels, out_channels, (widths[0],) * 3)

    out = verdict("01.fix_unet", EqualWidthsOnly, capsys)
    assert "up0 never gets a gradient" in out and "common bug 4" in out


def test_stub_counts_as_not_attempted(capsys):
    class Stub(make_unet()):
        def forward(self, x):
            raise NotImplementedError

    assert "not attempted" in verdict("01.fix_unet", Stub, capsys)


# ----------------------------------------------------------------------------------- chapter 00's head

def test_chapter_00_mode_table_agrees_with_the_code():
    cells = json.loads((ROOT / "notebooks" / "00_setup_and_data.ipynb").read_text())["cells"]
    head = "".join(cells[0]["source"])
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    epochs = re.search(r"EPOCHS = cl\.config\.by_mode\(smoke=(\d+), quick=(\d+), full=(\d+)\)", code)
    assert epochs, "chapter 00 defines EPOCHS with cl.config.by_mode"
    quick_row = next(line for line in head.splitlines() if line.startswith("| `quick`"))
    full_row = next(line for line in head.splitlines() if line.startswith("| `full`"))
    assert f"for {epochs[2]} epochs" in quick_row and f"for {epochs[3]} epochs" in full_row
