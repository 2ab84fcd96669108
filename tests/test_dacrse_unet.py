"""DACRSE-UNet and its ablations: parameter counts, shapes, skips, DropBlock behaviour, gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import course_lib as cl
from course_lib.blocks import DACBlock, DoubleConv, DropBlock2d, LinearKeepProbSchedule, RSEBlock, UpConcat


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, 3_872_685),
        ({"dac": False}, 2_036_653),
        ({"rse": False}, 3_763_041),
        ({"rse": False, "dac": False}, 1_927_009),
        ({"dac_shared": False}, 6_364_589),
    ],
)
def test_parameter_counts(config: dict, expected: int) -> None:
    assert n_params(cl.create_model("dacrse_unet", **config)) == expected


def test_ablation_differs_by_exactly_the_dac_block() -> None:
    full = n_params(cl.create_model("dacrse_unet"))
    assert full - n_params(cl.create_model("rse_unet")) == n_params(DACBlock(256)) == 1_836_032
    assert n_params(cl.create_model("rse_unet")) == n_params(cl.create_model("dacrse_unet", dac=False))


def test_structure() -> None:
    model = cl.create_model("dacrse_unet")
    assert sum(isinstance(m, DACBlock) for m in model.modules()) == 1
    assert sum(isinstance(m, RSEBlock) for m in model.modules()) == 7
    assert sum(isinstance(m, DropBlock2d) for m in model.modules()) == 14
    pools = [m for m in model.modules() if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 3 and all(p.kernel_size == 2 for p in pools)
    for level, width in enumerate((32, 64, 128)):  # skips: decoder units take [skip, up] = 2 * width
        step = model.decoder[level]
        assert isinstance(step, UpConcat)
        assert isinstance(step.up, nn.ConvTranspose2d) and step.up.kernel_size == (2, 2)
        assert step.block.residual[0][2].in_channels == 2 * width
    assert model.head[-1].out_channels == 1 and not isinstance(model.head[-1], nn.Sigmoid)
    plain = cl.create_model("dacrse_unet", rse=False, dac=False)
    assert not any(isinstance(m, RSEBlock | DACBlock | DropBlock2d) for m in plain.modules())
    assert sum(isinstance(m, DoubleConv) for m in plain.modules()) == 7
    assert not any(isinstance(m, DACBlock) for m in cl.create_model("rse_unet").modules())


def test_shapes_and_sizes() -> None:
    model = cl.create_model("dacrse_unet", widths=(8, 16, 32, 64)).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 1, 64, 64)
        assert model(torch.randn(1, 3, 60, 70)).shape == (1, 1, 60, 70)  # mirror-padded, cropped back
    strict = cl.create_model("dacrse_unet", widths=(8, 16, 32, 64), pad_input=False)
    with pytest.raises(ValueError, match="multiples of 8"):
        strict(torch.randn(1, 3, 60, 64))
    with pytest.raises(ValueError, match=r"built for 3 input channel"):
        model(torch.randn(1, 1, 64, 64))
    with pytest.raises(ValueError, match="one value per level"):
        cl.create_model("dacrse_unet", block_size=(7, 5))


def test_dropblock_only_in_training_and_schedulable() -> None:
    torch.manual_seed(0)
    model = cl.create_model("dacrse_unet", widths=(8, 16, 32, 64), block_size=(7, 5, 3, 1))
    assert [m.block_size for m in model.encoder[1].modules() if isinstance(m, DropBlock2d)] == [5, 5]
    x = torch.randn(2, 3, 32, 32)
    model.train()
    assert not torch.allclose(model(x), model(x))
    model.eval()
    assert torch.equal(model(x), model(x))
    schedule = LinearKeepProbSchedule(model, start=1.0, end=0.9, steps=100)
    assert len(schedule.layers) == 14
    schedule.step()
    assert [m.keep_prob for m in schedule.layers] == pytest.approx([0.999] * 14)


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(1)
    # reduction 2: with 8 channels and r = 16 the SE hidden layer is one ReLU unit, which may be dead.
    model = cl.create_model("dacrse_unet", widths=(8, 16, 32, 64), keep_prob=0.9, reduction=2).train()
    loss = nn.functional.binary_cross_entropy_with_logits(
        model(torch.randn(2, 3, 32, 32)), torch.randint(0, 2, (2, 1, 32, 32)).float())
    loss.backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing
