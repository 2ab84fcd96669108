"""SE, RSE, DAC and RMP blocks: parameter counts, behaviour, and the source's bugs 1 and 2."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import course_lib as cl
from course_lib.blocks import DACBlock, DropBlock2d, RMPBlock, RSEBlock, SEBlock
from course_lib.receptive_field import analytic, bounding_box, footprint


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def extent(mask: torch.Tensor) -> int:
    top, left, bottom, right = bounding_box(mask)
    assert bottom - top == right - left
    return bottom - top + 1


# ------------------------------------------------------------------ SE


def test_se_parameters_and_weights() -> None:
    se = SEBlock(64)  # r = 16: 64 -> 4 -> 64
    assert se.hidden == 4
    assert n_params(se) == (64 * 4 + 4) + (4 * 64 + 64)
    assert SEBlock(8).hidden == 1  # 8 // 16 = 0 is floored at 1
    x = torch.randn(3, 64, 9, 9)
    y = se(x)
    weights = se.last_weights
    assert weights.shape == (3, 64)
    assert ((weights > 0) & (weights < 1)).all()
    assert torch.allclose(y, x * weights[:, :, None, None])


def buggy_se_residual(se: SEBlock, x: torch.Tensor) -> torch.Tensor:
    """What the source material wrote: ``se(x) * x``, although ``se(x)`` is already ``x * w``."""
    return se(x) * x


def test_bug_se_times_x_squares_the_input() -> None:
    torch.manual_seed(0)
    se = SEBlock(32)
    x = torch.randn(2, 32, 6, 6)
    weights = se.channel_weights(x)[:, :, None, None]
    assert torch.allclose(buggy_se_residual(se, x), x**2 * weights, atol=1e-6)
    assert (buggy_se_residual(se, x) >= 0).all()  # the sign of every feature is lost


def test_rse_applies_se_once_and_adds_the_shortcut() -> None:
    torch.manual_seed(1)
    block = RSEBlock(32, 32, keep_prob=0.9, block_size=3).eval()
    x = torch.randn(2, 32, 10, 10)
    residual = block.residual(x)
    weights = block.se.channel_weights(residual)[:, :, None, None]
    assert torch.allclose(block(x), x + residual * weights, atol=1e-6)
    assert not torch.allclose(block(x), x + residual**2 * weights, atol=1e-3)


def test_rse_projection_and_parameter_count() -> None:
    same, wider = RSEBlock(16, 16), RSEBlock(16, 32)
    assert isinstance(same.shortcut, nn.Identity)
    assert isinstance(wider.shortcut, nn.Conv2d) and wider.shortcut.kernel_size == (1, 1)
    expected = (2 * 16 + 16 * 32 * 9) + (2 * 32 + 32 * 32 * 9) + n_params(SEBlock(32)) + 16 * 32
    assert n_params(wider) == expected == 14594
    assert wider(torch.randn(2, 16, 12, 12)).shape == (2, 32, 12, 12)


def test_rse_order_and_dropblock() -> None:
    block = RSEBlock(8, 8, keep_prob=0.85, block_size=5)
    step = block.residual[0]
    assert [type(m) for m in step] == [nn.BatchNorm2d, nn.ReLU, nn.Conv2d, DropBlock2d]
    assert sum(isinstance(m, DropBlock2d) for m in block.modules()) == 2
    assert not any(isinstance(m, DropBlock2d) for m in RSEBlock(8, 8, keep_prob=1.0).modules())
    x = torch.randn(2, 8, 16, 16)
    torch.manual_seed(2)
    assert not torch.allclose(block.train()(x), block.train()(x))
    block.eval()
    assert torch.equal(block(x), block(x))


# ------------------------------------------------------------------ DAC


def test_dac_parameter_counts() -> None:
    assert n_params(DACBlock(512)) == 7_342_080  # CE-Net, shared branch weights
    conv3, conv1 = 512 * 512 * 9 + 512, 512 * 512 + 512
    assert n_params(DACBlock(512, shared=False)) == 7 * conv3 + 3 * conv1 == 17_306_624


def test_dac_branch_receptive_fields() -> None:
    dac = DACBlock(4)
    for index, expected in enumerate((3, 7, 9, 19)):
        branch = dac.branch(index)
        assert analytic(branch)[-1].rf == expected
        assert extent(footprint(branch, (4, 41, 41))) == expected
    assert extent(footprint(dac, (4, 41, 41))) == 19
    # Branch 2 (3x3 dilation 3, then 1x1) sees a 3x3 lattice spread over 7x7: a gridding pattern.
    assert footprint(dac.branch(1), (4, 41, 41)).sum() == 9


def test_dac_shares_weights_and_sums_branches() -> None:
    torch.manual_seed(3)
    dac = DACBlock(6)
    assert dac.branch(3)[0] is dac.dilate1 and dac.branch(2)[1] is dac.dilate2
    for m in dac.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.bias)
    x = torch.randn(2, 6, 15, 15)
    d1, d2, d3, c1 = dac.dilate1, dac.dilate2, dac.dilate3, dac.conv1x1
    reference = (x + F.relu(d1(x)) + F.relu(c1(d2(x))) + F.relu(c1(d2(d1(x))))
                 + F.relu(c1(d3(d2(d1(x))))))
    assert torch.allclose(dac(x), reference, atol=1e-5)
    unshared = DACBlock(6, shared=False)
    assert unshared(x).shape == x.shape
    assert unshared.branch(3)[0] is not unshared.branch(2)[0]


def test_bug_dilated_1x1_is_not_dilated() -> None:
    """Common bug 1: a 1x1 kernel with dilation 3 still reads exactly one pixel."""
    conv = nn.Conv2d(4, 4, 1, dilation=3)
    assert footprint(conv, (4, 15, 15)).sum() == 1
    assert analytic(nn.Sequential(conv))[-1].rf == 1


def test_rmp_block() -> None:
    rmp = RMPBlock(8)
    y = rmp(torch.randn(2, 8, 24, 30))
    assert y.shape == (2, 12, 24, 30) and rmp.out_channels == 12
    assert n_params(rmp) == 8 + 1
    with pytest.raises(ValueError, match="at least 6"):
        rmp(torch.randn(1, 8, 5, 5))


def test_blocks_are_exported() -> None:
    for name in ("SEBlock", "RSEBlock", "DACBlock", "RMPBlock", "DropBlock2d", "LinearKeepProbSchedule"):
        assert hasattr(cl.blocks, name)
