"""SE/RSE (chapter 04): exact parameter formula, recording weights, projection shortcut, bug 2 probes."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import course_lib as cl
from course_lib.blocks import RSEBlock, SEBlock, SEWeightRecorder, se_parameter_count, se_weights
from course_lib.viz.se import propagation_stats, rse_forward, scale_response, se_times_x


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("channels", [32, 64, 128, 256, 512, 96])
@pytest.mark.parametrize("reduction", [2, 4, 8, 16, 32])
def test_se_parameter_count_matches_formula(channels: int, reduction: int) -> None:
    se = SEBlock(channels, reduction)
    hidden = channels // reduction
    # the paper's 2 C^2 / r weights, plus C / r + C biases
    expected = 2 * channels**2 // reduction + hidden + channels
    assert n_params(se) == expected == se_parameter_count(channels, reduction)


def test_se_parameter_count_floors_hidden_width() -> None:
    assert se_parameter_count(8, 16) == n_params(SEBlock(8, 16)) == 2 * 8 * 1 + 1 + 8
    assert se_parameter_count(8, 16, min_hidden=2) == n_params(SEBlock(8, 16, min_hidden=2)) == 42
    assert n_params(SEBlock(512)) == 33_312  # r = 16: 2 * 512 * 32 + 32 + 512
    with pytest.raises(ValueError, match="positive"):
        se_parameter_count(0, 16)


def test_se_output_is_input_times_weights() -> None:
    torch.manual_seed(0)
    se = SEBlock(24, reduction=4)
    x = torch.randn(3, 24, 7, 5)
    weights = se.channel_weights(x)
    z = x.mean(dim=(2, 3))  # squeeze: global average pool
    fc1, fc2 = se.excitation[0], se.excitation[2]
    by_hand = torch.sigmoid(fc2(torch.relu(fc1(z))))
    assert torch.allclose(weights, by_hand, atol=1e-6)
    assert torch.allclose(se(x), x * by_hand[:, :, None, None], atol=1e-6)


def test_rse_shortcut_identity_or_projection() -> None:
    torch.manual_seed(1)
    same, wider = RSEBlock(8, 8, keep_prob=1.0).eval(), RSEBlock(8, 16, keep_prob=1.0).eval()
    assert isinstance(same.shortcut, nn.Identity)
    assert isinstance(wider.shortcut, nn.Conv2d) and wider.shortcut.weight.shape == (16, 8, 1, 1)
    assert wider.shortcut.bias is None
    x = torch.randn(2, 8, 9, 9)
    for block in (same, wider):
        residual = block.residual(x)
        expected = block.shortcut(x) + residual * block.se.channel_weights(residual)[:, :, None, None]
        assert torch.allclose(block(x), expected, atol=1e-6)
    assert torch.allclose(same.shortcut(x), x)
    assert wider(x).shape == (2, 16, 9, 9)


def test_recorder_collects_every_se_block_over_batches_and_removes_hooks() -> None:
    model = cl.create_model("rse_unet", widths=(4, 8, 16), reduction=2, keep_prob=1.0).eval()
    n_se = sum(isinstance(m, SEBlock) for m in model.modules())
    x = torch.rand(5, 3, 16, 16)
    with SEWeightRecorder(model) as recorder, torch.no_grad():
        model(x[:2])
        model(x[2:])
    weights = recorder.weights
    assert len(weights) == n_se == 5  # 2 encoder + bottleneck + 2 decoder RSE units
    assert next(iter(weights)) == "encoder.0.se" and list(weights)[-1] == "decoder.0.block.se"
    assert all(w.shape[0] == 5 for w in weights.values())
    assert weights["encoder.0.se"].shape[1] == 4 and weights["bottleneck.1.se"].shape[1] == 16
    assert all(not m._forward_hooks for m in model.modules())
    # se_weights: same numbers, model mode restored
    model.train()
    again = se_weights(model, x, batch_size=3)
    assert model.training
    for name in weights:
        assert torch.allclose(again[name], weights[name], atol=1e-6)
        assert ((again[name] > 0) & (again[name] < 1)).all()


def test_recorder_needs_se_blocks() -> None:
    with pytest.raises(ValueError, match="no SEBlock"):
        SEWeightRecorder(cl.create_model("dacrse_unet", widths=(4, 8, 16), rse=False, dac=False))


def test_bug2_probes() -> None:
    torch.manual_seed(2)
    se = SEBlock(16, reduction=4)
    x = torch.randn(2, 16, 6, 6)
    assert torch.allclose(se_times_x(se, x), x**2 * se.channel_weights(x)[:, :, None, None], atol=1e-6)
    block = RSEBlock(16, 16, keep_prob=1.0).eval()
    assert torch.equal(rse_forward(block, x), block(x))
    residual = block.residual(x)
    assert torch.allclose(rse_forward(block, x, bug=True), x + block.se(residual) * residual, atol=1e-6)
    response = scale_response(se, x, [0.1, 1.0, 10.0])
    # log-log slopes per decade: about 1 for SE (its weights shift a little with the scale), 2 for the bug
    slope_bug = torch.tensor(response["bug"]).log10().diff()
    slope_ok = torch.tensor(response["correct"]).log10().diff()
    assert torch.allclose(slope_bug, torch.full((2,), 2.0), atol=0.35)
    assert torch.allclose(slope_ok, torch.full((2,), 1.0), atol=0.35)
    blocks = [RSEBlock(16, 16, keep_prob=1.0).train() for _ in range(4)]
    correct, buggy = propagation_stats(blocks, x), propagation_stats(blocks, x, bug=True)
    assert all(f == 0 for f in buggy["negative_fraction"])
    assert all(f > 0.2 for f in correct["negative_fraction"])
    assert buggy["mean"][-1] > buggy["mean"][0] > 0
    assert len(correct["grad_norm"]) == 4 and all(g > 0 for g in correct["grad_norm"])
