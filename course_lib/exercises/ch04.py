"""Chapter 04 (SE and residual SE) exercise checkers: an SE block as a module, SE by hand, the RSE forward
pass."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn as nn

from course_lib.blocks.se import RSEBlock, SEBlock
from course_lib.exercises import call_answer as _call
from course_lib.exercises import exercise


def _reinitialise(module: nn.Module) -> None:
    """Give every parameter fixed random values chosen by its shape alone (not by the attribute layout):
    weights ~ N(0, 1.5^2 / fan_in), biases ~ N(0, 0.3^2). Strong, reproducible gates for the checks."""
    with torch.no_grad():
        for p in module.parameters():
            seed = 7919 * p.shape[0] + (p.shape[1] if p.dim() > 1 else 0) + 13 * p.dim() if p.dim() else 1
            fan_in = p[0].numel() if p.dim() > 1 else 1
            values = torch.randn(p.shape, generator=torch.Generator().manual_seed(seed))
            p.copy_(values * (1.5 / math.sqrt(fan_in) if p.dim() > 1 else 0.3))


def _se_input(n: int, c: int, h: int, w: int, seed: int) -> torch.Tensor:
    """Random maps with channel means of order 1 and no entry near 0 (so that out / x gives the gates)."""
    g = torch.Generator().manual_seed(seed)
    r = torch.randn(n, c, h, w, generator=g) + torch.randn(n, c, 1, 1, generator=g)
    return torch.sign(r) * (r.abs() + 0.2)


def _reference_weights(module: nn.Module, channels: int, hidden: int) -> SEBlock | None:
    """An ``SEBlock`` with the module's weights when its parameters are two Linear (or 1x1 conv) layers
    C -> C/r -> C with biases, found by shape; None otherwise."""
    wanted = {"w1": (hidden, channels), "b1": (hidden,), "w2": (channels, hidden), "b2": (channels,)}
    found: dict[str, torch.Tensor] = {}
    for p in module.parameters():
        shape = tuple(p.shape[:2]) if p.dim() == 4 and p.shape[2:] == (1, 1) else tuple(p.shape)
        names = [k for k, v in wanted.items() if v == shape and k not in found]
        if not names:
            return None
        found[names[0]] = p.detach().reshape(shape)
    if len(found) != 4:
        return None
    reference = SEBlock(channels, channels // hidden)
    fc1, fc2 = reference.excitation[0], reference.excitation[2]
    with torch.no_grad():
        for layer, w, b in ((fc1, "w1", "b1"), (fc2, "w2", "b2")):
            layer.weight.copy_(found[w])
            layer.bias.copy_(found[b])
    return reference


_SE_STEPS = ("squeeze z = x.mean(dim=(2, 3)) (N x C, one number per channel), excitation "
             "s = sigmoid(fc2(relu(fc1(z)))) with fc1: C -> C/r and fc2: C/r -> C (N x C), scale "
             "x * s[:, :, None, None]")


@exercise("04.se_block")
def check_se_block(cls: Callable[[int, int], nn.Module]) -> None:
    """``cls(channels, reduction)``: an SE block as an ``nn.Module`` (global average pool, FC C -> C/r, ReLU,
    FC C/r -> C, sigmoid, channel-wise rescale of the input), any attribute layout."""
    for channels, reduction in ((16, 4), (64, 16), (48, 6)):
        hidden = channels // reduction
        block = _call(cls, channels, reduction)
        name = f"SqueezeExcite({channels}, {reduction})"
        assert isinstance(block, nn.Module), f"{name} should be an nn.Module, got {type(block).__name__}."
        got = sum(p.numel() for p in block.parameters())
        expected = sum(p.numel() for p in SEBlock(channels, reduction).parameters())
        if got != expected:
            if got in (2 * channels**2, 2 * channels**2 + 2 * channels):
                hint = (f"there is no reduction: the hidden layer has C / r = {hidden} units, not C = "
                        f"{channels}. The bottleneck is what keeps SE cheap (2C^2/r weights instead of 2C^2) "
                        "and makes it model dependencies between channels")
            elif got == 2 * channels * hidden:
                hint = "that is the weights alone; the two Linear layers have biases (nn.Linear's default)"
            else:
                hint = "two layers C -> C/r -> C with biases"
            raise AssertionError(
                f"{name} has {got:,} parameters; SE has 2C^2/r = {2 * channels * hidden:,} weights plus "
                f"C/r + C = {hidden + channels} biases, {expected:,} in all: {hint}.")
        _reinitialise(block)
        x = _se_input(4, channels, 6, 5, seed=channels)
        with torch.no_grad():
            try:
                out = block(x)
            except NotImplementedError:
                raise
            except Exception as err:
                first_line = str(err).splitlines()[0] if str(err) else ""
                raise AssertionError(
                    f"{name} raised {type(err).__name__} on an input of shape {tuple(x.shape)}: "
                    f"{first_line}. Check the squeeze first: it averages each channel over H and W (dims 2 "
                    "and 3), not over the channels (dim 1), so the first Linear gets N x C. The steps: "
                    f"{_SE_STEPS}.") from None
        assert isinstance(out, torch.Tensor), f"forward should return a tensor, got {type(out).__name__}."
        if tuple(out.shape) in ((4, channels, 1, 1), (4, channels)):
            raise AssertionError(
                f"the output has shape {tuple(out.shape)}: you returned the gates s. SE returns the "
                "re-weighted input, x * s[:, :, None, None], the same shape as x.")
        assert tuple(out.shape) == tuple(x.shape), (
            f"for x of shape {tuple(x.shape)} the output has the same shape, got {tuple(out.shape)}. "
            f"The steps: {_SE_STEPS}.")
        gates = out / x
        per_channel = gates.mean(dim=(2, 3), keepdim=True)
        if not torch.allclose(gates, per_channel.expand_as(gates), atol=1e-4):
            if torch.allclose(out, out.mean(dim=(2, 3), keepdim=True).expand_as(out), atol=1e-5):
                raise AssertionError("the output is constant over each channel: you returned the gates "
                                     "broadcast to x's shape. Return x * s[:, :, None, None].")
            raise AssertionError(
                "output / input is not constant over H and W within a channel: SE gives each channel of "
                "each image ONE gate, computed from the squeezed N x C vector (x.mean(dim=(2, 3))), and "
                "multiplies the whole channel by it. Pool over the spatial dimensions, not the channels, "
                "before the FC layers.")
        s = per_channel.flatten(1)
        if torch.allclose(s.sum(dim=1), torch.ones(len(s)), atol=1e-4):
            raise AssertionError(
                "the gates of each image sum to 1 over the channels: that is a softmax. SE uses a sigmoid, "
                "one independent gate in (0, 1) per channel, so several channels can be emphasised at once.")
        if not bool(((s > 0) & (s < 1)).all()):
            raise AssertionError(
                f"the gates (output / input) range from {float(s.min()):.3f} to {float(s.max()):.3f}, "
                "outside (0, 1): the sigmoid after the second FC layer is missing (a negative gate flips a "
                "channel's sign, a gate above 1 amplifies it).")
        with torch.no_grad():
            alone = block(x[:1])
        if not torch.allclose(alone, out[:1], atol=1e-5):
            raise AssertionError(
                "image 0 gets different gates when other images are in the batch: squeeze each image on its "
                "own, x.mean(dim=(2, 3)) (not over dim 0), and apply the sigmoid per entry.")
        g = torch.Generator().manual_seed(channels + 1)
        pixels = torch.stack([torch.randperm(30, generator=g) for _ in range(4 * channels)])
        shuffled = x.flatten(2).reshape(4 * channels, 30).gather(1, pixels).reshape_as(x)
        with torch.no_grad():
            out_shuffled = block(shuffled)
        if not torch.allclose(out_shuffled / shuffled, per_channel.expand_as(x), atol=1e-4):
            raise AssertionError(
                "shuffling the pixels within each channel changed the gates: they must depend on the image "
                "only through the per-channel global average (squeeze over H and W, then FC layers on the "
                "N x C vector).")
        noise = torch.randn(x.shape, generator=g)
        same_means = x + noise - noise.mean(dim=(2, 3), keepdim=True)
        with torch.no_grad():
            out_same = block(same_means)
        if not torch.allclose(out_same, same_means * per_channel, atol=1e-4):
            raise AssertionError(
                "two inputs with the same channel means got different gates: the squeeze is the global "
                "AVERAGE over H and W (x.mean(dim=(2, 3)) or nn.AdaptiveAvgPool2d(1)), not a max or another "
                "statistic.")
        mixed = (x + x.roll(1, dims=0)) / 2  # channel means halfway between two images'
        with torch.no_grad():
            out_mixed = block(mixed)
        s_mixed = (out_mixed * mixed).sum(dim=(2, 3)) / (mixed * mixed).sum(dim=(2, 3))  # least squares
        logit, logit_mixed = torch.logit(s.double()), torch.logit(s_mixed.double())
        # without the ReLU the logits are affine in the channel means (off by < 0.002 here), with it off by ~1
        if torch.allclose(logit_mixed, (logit + logit.roll(1, dims=0)) / 2, atol=0.02):
            raise AssertionError(
                "sigmoid^-1 of your gates is an affine function of the channel means: the ReLU between the "
                "two FC layers is missing, so they collapse into one linear map (of rank C/r) and the "
                "excitation cannot model non-linear dependencies between channels.")
        reference = _reference_weights(block, channels, hidden)
        if reference is not None:
            with torch.no_grad():
                assert torch.allclose(out, reference(x), atol=1e-4), (
                    "with your layers' weights copied into cl.blocks.SEBlock the outputs differ. The "
                    f"steps: {_SE_STEPS}.")


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
