"""Blocks of the U-Net family: attention gate, recurrent (residual) convolution, RSU-L / RSU-4F."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib.blocks import (
    RSU,
    RSU4F,
    AttentionGate,
    ConvNormAct,
    RecurrentConv,
    RRCNNBlock,
    with_conv_bias,
)
from course_lib.models.u2net import U2NET_CONFIGS


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def randomise_bn(module: nn.Module) -> nn.Module:
    """Non-trivial BatchNorm statistics so eval-mode comparisons exercise them."""
    for bn in module.modules():
        if isinstance(bn, nn.BatchNorm2d):
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 1.5)
    return module.eval()


# --- conv bias helper --------------------------------------------------------------------------------

def test_with_conv_bias_adds_exactly_one_bias_per_biasless_conv():
    block = ConvNormAct(4, 6)
    assert block[0].bias is None
    before = n_params(block)
    with_conv_bias(block)
    assert n_params(block) == before + 6
    assert block[0].bias.requires_grad
    assert n_params(with_conv_bias(block)) == before + 6  # idempotent


# --- attention gate ----------------------------------------------------------------------------------

def test_attention_gate_parameter_count():
    # W_g, W_x: 1x1 conv (64*32 + 32) + BN (2*32); psi: 1x1 conv (32 + 1) + BN (2)
    assert n_params(AttentionGate(64, 64, 32)) == 2 * (64 * 32 + 32 + 64) + 35
    assert n_params(AttentionGate(64, 64)) == n_params(AttentionGate(64, 64, 32))  # F_int = F_l / 2


def test_attention_gate_matches_formula_and_records_coefficients():
    torch.manual_seed(0)
    gate = randomise_bn(AttentionGate(gate_channels=6, skip_channels=4, inter_channels=3))
    x, g = torch.randn(2, 4, 8, 8), torch.randn(2, 6, 8, 8)
    out = gate(x, g)
    alpha = gate.last_attention
    assert alpha.shape == (2, 1, 8, 8)
    assert not alpha.requires_grad
    assert alpha.min() >= 0 and alpha.max() <= 1
    expected_alpha = gate.psi(F.relu(gate.W_g(g) + gate.W_x(x)))
    torch.testing.assert_close(alpha, expected_alpha)
    torch.testing.assert_close(out, x * expected_alpha)


def test_attention_gate_rejects_mismatched_sizes():
    gate = AttentionGate(4, 4)
    with pytest.raises(ValueError, match="upsample g"):
        gate(torch.randn(1, 4, 8, 8), torch.randn(1, 4, 4, 4))


# --- recurrent blocks --------------------------------------------------------------------------------

def test_recurrent_conv_shares_one_conv_whatever_t():
    counts = {t: n_params(RecurrentConv(8, t)) for t in (0, 1, 2, 5)}
    assert set(counts.values()) == {8 * 8 * 9 + 8 + 2 * 8}  # one 3x3 conv with bias + BN
    assert sum(isinstance(m, nn.Conv2d) for m in RecurrentConv(8, 5).modules()) == 1


@pytest.mark.parametrize("t", [0, 1, 2, 3])
def test_recurrent_conv_applies_the_shared_conv_t_plus_one_times(t):
    torch.manual_seed(0)
    block = randomise_bn(RecurrentConv(3, t))
    calls = []
    block.conv.register_forward_hook(lambda *_: calls.append(1))
    x = torch.randn(2, 3, 6, 6)
    out = block(x)
    assert len(calls) == t + 1
    expected = block.conv(x)
    for _ in range(t):
        expected = block.conv(x + expected)
    torch.testing.assert_close(out, expected)


def test_recurrent_conv_rejects_negative_t():
    with pytest.raises(ValueError, match="t must be"):
        RecurrentConv(4, -1)


def test_rrcnn_block_is_residual_over_two_recurrent_convs():
    torch.manual_seed(0)
    block = randomise_bn(RRCNNBlock(3, 5, t=2))
    assert [type(m) for m in block.rcnn] == [RecurrentConv, RecurrentConv]
    assert n_params(block) == (3 * 5 + 5) + 2 * (5 * 5 * 9 + 5 + 10)
    x = torch.randn(2, 3, 8, 8)
    y = block.conv1x1(x)
    torch.testing.assert_close(block(x), y + block.rcnn[1](block.rcnn[0](y)))


# --- RSU ---------------------------------------------------------------------------------------------

def rebnconv_params(c_in: int, c_out: int) -> int:
    return c_in * c_out * 9 + c_out + 2 * c_out


def test_rsu_is_one_class_generic_in_height():
    rsu7, rsu4, rsu4f = RSU(7, 3, 8, 12), RSU(4, 3, 8, 12), RSU4F(3, 8, 12)
    assert type(rsu7) is type(rsu4) is RSU and isinstance(rsu4f, RSU)
    assert (len(rsu7.encoder), len(rsu7.decoder)) == (7, 6)
    assert (len(rsu4.encoder), len(rsu4.decoder)) == (4, 3)
    # one more level = one more mid->mid encoder conv and one more 2mid->mid decoder conv
    for L in range(3, 8):
        step = n_params(RSU(L, 3, 8, 12)) - n_params(RSU(L - 1, 3, 8, 12))
        assert step == rebnconv_params(8, 8) + rebnconv_params(16, 8)
    with pytest.raises(ValueError, match="height"):
        RSU(1, 3, 8, 12)


def dilations(convs: nn.ModuleList) -> list[int]:
    return [block[0].dilation[0] for block in convs]


def test_rsu_dilations_match_the_paper():
    assert dilations(RSU(7, 3, 4, 4).encoder) == [1, 1, 1, 1, 1, 1, 2]
    assert dilations(RSU(7, 3, 4, 4).decoder) == [1] * 6
    assert dilations(RSU4F(3, 4, 4).encoder) == [1, 2, 4, 8]
    assert dilations(RSU4F(3, 4, 4).decoder) == [4, 2, 1]


# Per-stage counts of the reference U2NET (xuebinqin/U-2-Net): RSU7(3,32,64), RSU6(64,32,128),
# RSU5(128,64,256), RSU4(256,128,512), RSU4F(512,256,512) x2; they sum with the decoder and heads
# to the published 44,009,869.
EN_COUNTS = {"En_1": 206_016, "En_2": 305_856, "En_3": 1_108_992, "En_4": 3_986_688,
             "En_5": 10_034_688, "En_6": 10_034_688}


@pytest.mark.parametrize("stage", sorted(EN_COUNTS))
def test_rsu_stage_counts_match_u2net(stage):
    height, mid, out = U2NET_CONFIGS["u2net"][stage]
    in_channels = {"En_1": 3, "En_2": 64, "En_3": 128, "En_4": 256, "En_5": 512, "En_6": 512}[stage]
    block = RSU4F(in_channels, mid, out) if height == "4F" else RSU(height, in_channels, mid, out)
    assert n_params(block) == EN_COUNTS[stage]


def test_rsu4_forward_matches_the_unrolled_paper_equations():
    torch.manual_seed(0)
    rsu = randomise_bn(RSU(4, 3, 5, 6))
    e1, e2, e3, e4 = rsu.encoder
    d3, d2, d1 = rsu.decoder
    pool = nn.MaxPool2d(2, stride=2, ceil_mode=True)

    def up(a, b):
        return F.interpolate(a, size=b.shape[-2:], mode="bilinear", align_corners=False)

    x = torch.randn(2, 3, 13, 18)  # odd sizes: ceil-mode pooling and resize-to-skip upsampling
    hin = rsu.conv_in(x)
    h1 = e1(hin)
    h2 = e2(pool(h1))
    h3 = e3(pool(h2))
    h4 = e4(h3)
    y3 = d3(torch.cat([h4, h3], 1))
    y2 = d2(torch.cat([up(y3, h2), h2], 1))
    y1 = d1(torch.cat([up(y2, h1), h1], 1))
    out = rsu(x)
    assert out.shape == (2, 6, 13, 18)
    torch.testing.assert_close(out, y1 + hin)


def test_rsu4f_keeps_resolution_without_pooling():
    torch.manual_seed(0)
    rsu = randomise_bn(RSU4F(3, 4, 5))
    e1, e2, e3, e4 = rsu.encoder
    d3, d2, d1 = rsu.decoder
    x = torch.randn(1, 3, 9, 11)
    hin = rsu.conv_in(x)
    h1 = e1(hin)
    h2 = e2(h1)
    h3 = e3(h2)
    h4 = e4(h3)
    y = d1(torch.cat([d2(torch.cat([d3(torch.cat([h4, h3], 1)), h2], 1)), h1], 1))
    torch.testing.assert_close(rsu(x), y + hin)
