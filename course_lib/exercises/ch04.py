"""Chapter 04 (SE and residual SE) exercise checkers: SE parameters, SE by hand, the RSE forward pass."""

from __future__ import annotations

from collections.abc import Callable

import torch

from course_lib.blocks.se import RSEBlock, SEBlock
from course_lib.exercises import call_answer as _call
from course_lib.exercises import exercise


@exercise("04.se_params")
def check_se_params(fn: Callable[[int, int], int]) -> None:
    """``fn(channels, reduction) -> int``: the parameters of ``SEBlock(channels, reduction)``."""
    for channels in (16, 64, 100, 256, 512, 8):
        for reduction in (4, 16, 32):
            expected = sum(p.numel() for p in SEBlock(channels, reduction).parameters())
            got = int(_call(fn, channels, reduction))
            hint = ("two Linear layers C -> h -> C with biases: C*h + h + h*C + C, h = C // r"
                    if got != 2 * channels * channels // reduction else
                    "2 C^2 / r counts only the weights; add the biases (h of the first layer, C of the "
                    "second)")
            if channels < reduction:
                hint += "; when C < r, C // r is 0 and the block floors the hidden width at 1"
            assert got == expected, (f"SEBlock({channels}, reduction={reduction}) has {expected:,} "
                                     f"parameters, you computed {got:,}: {hint}.")


@exercise("04.squeeze_excite")
def check_squeeze_excite(fn: Callable[..., torch.Tensor]) -> None:
    """``fn(x, w1, b1, w2, b2)``: SE by hand with the two FC layers' weights and biases."""
    g = torch.Generator().manual_seed(4)
    for n, c, h, w in ((2, 16, 5, 7), (1, 32, 9, 9), (3, 8, 4, 4)):
        se = SEBlock(c, reduction=4)
        with torch.no_grad():
            for p in se.parameters():
                p.copy_(torch.randn(p.shape, generator=g))
        x = torch.randn(n, c, h, w, generator=g)
        fc1, fc2 = se.excitation[0], se.excitation[2]
        out = _call(fn, x, fc1.weight.detach(), fc1.bias.detach(), fc2.weight.detach(), fc2.bias.detach())
        assert isinstance(out, torch.Tensor), f"return a tensor, got {type(out).__name__}."
        with torch.no_grad():
            expected = se(x)
            weights = se.channel_weights(x)
        if tuple(out.shape) == tuple(weights.shape) and torch.allclose(out, weights, atol=1e-5):
            raise AssertionError("you returned the channel weights s; SE returns the re-weighted input "
                                 "x * s[:, :, None, None].")
        assert tuple(out.shape) == tuple(x.shape), (
            f"for x of shape {tuple(x.shape)} the output has the same shape, got {tuple(out.shape)}.")
        z_max = x.amax(dim=(2, 3))
        s_max = torch.sigmoid(torch.relu(z_max @ fc1.weight.T + fc1.bias) @ fc2.weight.T + fc2.bias)
        if torch.allclose(out, x * s_max[:, :, None, None], atol=1e-5):
            raise AssertionError("the squeeze is a global AVERAGE pool (x.mean(dim=(2, 3))), not a max.")
        assert torch.allclose(out, expected, atol=1e-5), (
            "the values differ: squeeze z = x.mean(dim=(2, 3)) (N x C), excitation "
            "s = sigmoid(relu(z @ w1.T + b1) @ w2.T + b2), scale x * s[:, :, None, None].")


@exercise("04.rse_forward")
def check_rse_forward(fn: Callable[[RSEBlock, torch.Tensor], torch.Tensor]) -> None:
    """``fn(block, x)``: the RSE unit's forward pass from ``block.residual``, ``.se`` and ``.shortcut``."""
    torch.manual_seed(5)
    for cin, cout in ((8, 8), (8, 16)):
        block = RSEBlock(cin, cout, keep_prob=1.0).eval()
        x = torch.randn(2, cin, 12, 12)
        with torch.no_grad():
            out = _call(fn, block, x)
            expected = block(x)
            residual = block.residual(x)
            shortcut = block.shortcut(x)
        assert isinstance(out, torch.Tensor), f"return a tensor, got {type(out).__name__}."
        assert tuple(out.shape) == tuple(expected.shape), (
            f"RSEBlock({cin}, {cout}) maps {tuple(x.shape)} to {tuple(expected.shape)}, got "
            f"{tuple(out.shape)}" + ("; when the width changes, the shortcut is block.shortcut(x), a 1x1 "
                                     "conv" if cin != cout else ""))
        with torch.no_grad():
            if torch.allclose(out, shortcut + block.se(residual) * residual, atol=1e-5):
                raise AssertionError("this is common bug 2: block.se(r) already returns r * weights, so "
                                     "se(r) * r squares the residual. Add block.se(r) as it is.")
            if torch.allclose(out, block.se(shortcut + residual), atol=1e-5):
                raise AssertionError("SE goes on the residual branch, before the addition; applied after it, "
                                     "it also scales the identity path.")
            if torch.allclose(out, block.se(residual), atol=1e-5):
                raise AssertionError("the shortcut is missing: add block.shortcut(x).")
        assert torch.allclose(out, expected, atol=1e-5), (
            "the values differ: out = block.shortcut(x) + block.se(block.residual(x)).")
