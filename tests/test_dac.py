"""CE-Net's DAC block measured with the receptive-field tool: branch footprints (holes included),
parameter counts by formula for shared and unshared weights, common bug 1, and what DAC adds to a U-Net.

(The basic DAC/RMP tests live in test_se_dac.py; these complement them.)
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import course_lib as cl
from course_lib.blocks import DACBlock, SEBlock
from course_lib.receptive_field import analytic, bounding_box, footprint


def side(mask: torch.Tensor) -> int:
    top, left, bottom, right = bounding_box(mask)
    assert bottom - top == right - left
    return bottom - top + 1


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("shared", [True, False])
def test_branch_footprints_measured_by_the_tool(shared: bool) -> None:
    dac = DACBlock(3, shared=shared)
    sides, pixels = [], []
    for index in range(4):
        mask = footprint(dac.branch(index), (3, 31, 31))
        sides.append(side(mask))
        pixels.append(int(mask.sum()))
        assert analytic(dac.branch(index))[-1].rf == sides[-1]
    assert sides == [3, 7, 9, 19]
    # Branch 2 alone is a 3x3 lattice with gaps of 2 (gridding); the d = 1 layer in front of branches 3
    # and 4 fills the gaps, so they and the whole block see every pixel of their box.
    assert pixels == [9, 9, 81, 361]
    whole = footprint(dac, (3, 31, 31))
    assert side(whole) == 19 and int(whole.sum()) == 361
    assert bounding_box(whole) == (6, 6, 24, 24)  # centred on the output pixel (15, 15)


@pytest.mark.parametrize("channels", [1, 8, 64, 512])
def test_parameter_counts_by_formula(channels: int) -> None:
    conv3, conv1 = 9 * channels**2 + channels, channels**2 + channels
    assert n_params(DACBlock(channels)) == 3 * conv3 + conv1  # dilate1, dilate2, dilate3, conv1x1
    assert n_params(DACBlock(channels, shared=False)) == 7 * conv3 + 3 * conv1  # 10 convolutions
    if channels == 512:
        assert n_params(DACBlock(channels)) == 7_342_080


def test_bug_1_a_dilated_1x1_equals_an_undilated_one() -> None:
    torch.manual_seed(0)
    undilated = nn.Conv2d(4, 4, 1)
    dilated = nn.Conv2d(4, 4, 1, dilation=3)
    dilated.load_state_dict(undilated.state_dict())
    x = torch.randn(2, 4, 12, 12)
    assert torch.allclose(dilated(x), undilated(x), atol=1e-6)  # same numbers (up to the kernel path)
    wrong = nn.Sequential(nn.Conv2d(4, 4, 1, dilation=3), nn.Conv2d(4, 4, 1))  # the source's branch
    right = nn.Sequential(nn.Conv2d(4, 4, 3, dilation=3, padding=3), nn.Conv2d(4, 4, 1))  # CE-Net's
    assert side(footprint(wrong, (4, 21, 21))) == 1
    assert side(footprint(right, (4, 21, 21))) == 7
    assert right(x).shape == x.shape


def test_dac_keeps_shape_and_every_branch_learns() -> None:
    torch.manual_seed(1)
    for shared in (True, False):
        dac = DACBlock(4, shared=shared)
        x = torch.randn(2, 4, 16, 20)
        y = dac(x)
        assert y.shape == x.shape
        y.square().sum().backward()
        for name, param in dac.named_parameters():
            assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_dac_widens_the_dacrse_unet_footprint_by_18_bottleneck_pixels() -> None:
    """At 1/8 resolution DAC's 19 px receptive field adds 18 * 8 = 144 input pixels."""
    sides = {}
    for dac in (True, False):
        model = cl.create_model("dacrse_unet", widths=(1, 1, 1, 1), reduction=1, dac=dac)
        sides[dac] = side(footprint(model, (3, 256, 256), identity_for=(SEBlock,)))
    assert sides == {True: 238, False: 94}
