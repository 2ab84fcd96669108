"""Losses: values against hand computations and torch references, weights, gradients, multi-output."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_lib import losses as L


def case(channels: int = 1, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, channels, 6, 5, generator=g, requires_grad=True)
    mask = (torch.rand(2, 1, 6, 5, generator=g) > 0.6).float()
    weight = 0.5 + 2 * torch.rand(2, 1, 6, 5, generator=g)
    return logits, mask, weight


def test_bce_matches_torch_and_hand_computation():
    logits, mask, _ = case()
    reference = F.binary_cross_entropy_with_logits(logits, mask)
    assert L.bce_loss(logits, mask).item() == pytest.approx(reference.item())
    x, y = torch.tensor([[[[2.0]]]]), torch.tensor([[[[1.0]]]])
    assert L.bce_loss(x, y).item() == pytest.approx(-torch.log(torch.sigmoid(torch.tensor(2.0))).item())
    # stable on confident logits where sigmoid + BCELoss would lose precision (course bug 8)
    assert L.bce_loss(torch.tensor([[[[-200.0]]]]), y).item() == pytest.approx(200.0)


def test_dice_loss_by_hand():
    logits, mask, _ = case()
    p = torch.sigmoid(logits)
    expected = 1 - (2 * (p * mask).sum() + 1) / (p.sum() + mask.sum() + 1)
    assert L.dice_loss(logits, mask).item() == pytest.approx(expected.item())
    empty = torch.zeros(1, 1, 4, 4)
    assert L.dice_loss(torch.full((1, 1, 4, 4), -50.0), empty).item() == pytest.approx(0.0, abs=1e-6)
    assert L.bce_dice_loss(logits, mask).item() == pytest.approx(
        (L.bce_loss(logits, mask) + L.dice_loss(logits, mask)).item())


def test_two_channel_logits_use_softmax():
    logits, mask, _ = case(channels=2)
    expected = F.cross_entropy(logits, mask[:, 0].long())
    assert L.bce_loss(logits, mask).item() == pytest.approx(expected.item())
    assert torch.allclose(L.foreground_probability(logits), torch.softmax(logits, 1)[:, 1:])
    # a 2-channel softmax with logits (0, z) is a 1-channel sigmoid with logit z
    z = logits[:, 1:] - logits[:, :1]
    assert L.bce_loss(logits, mask).item() == pytest.approx(L.bce_loss(z, mask).item(), rel=1e-5)
    assert L.dice_loss(logits, mask).item() == pytest.approx(L.dice_loss(z, mask).item(), rel=1e-5)


@pytest.mark.parametrize("channels", [1, 2])
def test_weighted_cross_entropy(channels):
    logits, mask, weight = case(channels)
    plain = L.bce_loss(logits, mask)
    assert L.weighted_cross_entropy(logits, mask, torch.ones_like(mask)).item() == pytest.approx(plain.item())
    assert L.weighted_cross_entropy(logits, mask).item() == pytest.approx(plain.item())
    if channels == 1:
        reference = F.binary_cross_entropy_with_logits(logits, mask, weight=weight)
    else:
        reference = (F.cross_entropy(logits, mask[:, 0].long(), reduction="none") * weight[:, 0]).mean()
    assert L.weighted_cross_entropy(logits, mask, weight).item() == pytest.approx(reference.item())
    # constant weight c scales the loss by c; bce and dice ignore the weight map
    assert L.weighted_cross_entropy(logits, mask, 3 * torch.ones_like(mask)).item() == pytest.approx(
        3 * plain.item())
    assert L.bce_loss(logits, mask, weight).item() == plain.item()
    with pytest.raises(ValueError, match="weight map has shape"):
        L.weighted_cross_entropy(logits, mask, weight[:, :, :3])


@pytest.mark.parametrize("name", list(L.LOSSES))
@pytest.mark.parametrize("channels", [1, 2])
def test_gradients_are_finite(name, channels):
    logits, mask, weight = case(channels)
    big = (logits * 100).detach().requires_grad_()
    loss = L.get_loss(name)(big, mask, weight)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(big.grad).all() and big.grad.abs().sum() > 0


def test_multi_output_loss():
    logits, mask, _ = case()
    other = (logits * 0.5).detach()
    loss = L.MultiOutputLoss("bce", weights=[1.0, 0.25])
    expected = L.bce_loss(logits, mask) + 0.25 * L.bce_loss(other, mask)
    assert loss([logits, other], mask).item() == pytest.approx(expected.item())
    equal = L.MultiOutputLoss("dice")
    assert equal([logits, other], mask).item() == pytest.approx(
        (L.dice_loss(logits, mask) + L.dice_loss(other, mask)).item())
    assert equal(logits, mask).item() == L.dice_loss(logits, mask).item()
    with pytest.raises(ValueError, match="2 outputs but 3 loss weights"):
        L.MultiOutputLoss("bce", [1, 1, 1])([logits, other], mask)


def test_get_loss_names_and_callables():
    logits, mask, weight = case()
    assert L.get_loss("BCE-Dice") is L.bce_dice_loss
    wrapped = L.get_loss(torch.nn.BCEWithLogitsLoss())
    assert wrapped(logits, mask, weight).item() == pytest.approx(L.bce_loss(logits, mask).item())
    with pytest.raises(ValueError, match=r"Unknown loss 'focal'.*bce, dice, bce_dice, weighted_ce"):
        L.get_loss("focal")


def test_shape_errors_are_clear():
    logits, mask, _ = case()
    with pytest.raises(ValueError, match=r"prediction is 4x4.*mask is 6x5"):
        L.bce_loss(logits[:, :, :4, :4], mask)
    with pytest.raises(ValueError, match=r"3 channels.*out_channels=1"):
        L.dice_loss(torch.zeros(2, 3, 6, 5), mask)
    assert L.bce_loss(logits, mask[:, 0]).item() == L.bce_loss(logits, mask).item()
