"""Chapter 04's build exercise ``04.se_block``: a correct SE module passes, whatever its attribute layout, and
each typical mistake fails with its own hint."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import course_lib as cl


class SqueezeExcite(nn.Module):
    """SE with switchable mistakes (the defaults are the correct block)."""

    def __init__(self, channels: int, reduction: int = 16, *, pool_dims=(2, 3), gate: str = "sigmoid",
                 reduce: bool = True, relu: bool = True, return_gates: bool = False, squeeze: str = "mean",
                 bias: bool = True) -> None:
        super().__init__()
        hidden = channels // reduction if reduce else channels
        self.fc1 = nn.Linear(channels, hidden, bias=bias)
        self.fc2 = nn.Linear(hidden, channels, bias=bias)
        self.pool_dims, self.gate, self.relu, self.return_gates = pool_dims, gate, relu, return_gates
        self.squeeze = squeeze

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x.amax(dim=self.pool_dims) if self.squeeze == "max" else x.mean(dim=self.pool_dims)
        h = self.fc1(z)
        s = self.fc2(torch.relu(h) if self.relu else h)
        gates = {"sigmoid": torch.sigmoid, "softmax": lambda t: F.softmax(t, dim=-1), "none": lambda t: t}
        s = gates[self.gate](s)
        if s.dim() == 1:  # pooled over the batch too: one gate vector for every image
            s = s[None]
        s = s[..., None, None]
        return s if self.return_gates else x * s


class ConvSqueezeExcite(nn.Module):
    """A correct SE block with another layout: AdaptiveAvgPool2d and 1x1 convolutions in one Sequential."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.gates = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, channels // reduction, 1),
                                   nn.ReLU(inplace=True), nn.Conv2d(channels // reduction, channels, 1),
                                   nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gates(x)


def verdict(answer, capsys) -> str:
    cl.exercises.check("04.se_block", answer)
    return capsys.readouterr().out


@pytest.mark.parametrize("answer", [SqueezeExcite, ConvSqueezeExcite,
                                    lambda c, r: cl.blocks.SEBlock(c, r)], ids=["linear", "conv", "library"])
def test_correct_blocks_pass(answer, capsys) -> None:
    assert "[04.se_block] correct." in verdict(answer, capsys)


@pytest.mark.parametrize(("mistake", "hint"), [
    ({"pool_dims": 1}, "not over the channels (dim 1)"),
    ({"pool_dims": (0, 2, 3)}, "not over dim 0"),
    ({"squeeze": "max"}, "global AVERAGE"),
    ({"gate": "none"}, "sigmoid after the second FC layer is missing"),
    ({"gate": "softmax"}, "that is a softmax"),
    ({"reduce": False}, "there is no reduction"),
    ({"bias": False}, "the weights alone"),
    ({"return_gates": True}, "you returned the gates"),
    ({"relu": False}, "the ReLU between the two FC layers is missing"),
], ids=["pool-channels", "pool-batch", "max-pool", "no-sigmoid", "softmax", "no-reduction", "no-bias",
        "returns-gates", "no-relu"])
def test_each_mistake_gets_its_hint(mistake, hint, capsys) -> None:
    out = verdict(lambda c, r: SqueezeExcite(c, r, **mistake), capsys)
    assert "not yet" in out and hint in out, out


def test_stub_is_not_attempted(capsys) -> None:
    class Stub(nn.Module):
        def __init__(self, channels: int, reduction: int = 16) -> None:
            super().__init__()
            raise NotImplementedError

    assert "not attempted yet" in verdict(Stub, capsys)


@pytest.mark.parametrize("cls", [SqueezeExcite, ConvSqueezeExcite], ids=["linear", "conv"])
def test_reference_comparison_finds_the_layers(cls) -> None:
    from course_lib.exercises.ch04 import _reference_weights

    block = cls(32, 8)
    reference = _reference_weights(block, 32, 4)
    assert reference is not None
    x = torch.randn(2, 32, 5, 5)
    with torch.no_grad():
        assert torch.allclose(block(x), reference(x), atol=1e-6)
