"""Chapter 07 (attention gates, recurrent residual U-Nets) exercise checkers: the additive gate, the grid
gate and the unrolled recurrent convolution, each against the library's module on random tensors."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from course_lib.blocks.attention import AttentionGate, GridAttentionGate
from course_lib.blocks.recurrent import RecurrentConv
from course_lib.exercises import call_answer as _call
from course_lib.exercises import exercise


def _randomise(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random weights and BatchNorm statistics, in eval mode (so BN is a fixed affine map)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return module.eval()


def _tensor(out: object, expected_shape: tuple[int, ...]) -> torch.Tensor:
    assert isinstance(out, torch.Tensor), f"return a tensor, got {type(out).__name__}."
    assert tuple(out.shape) == expected_shape, (
        f"the output has the skip's shape {expected_shape}, got {tuple(out.shape)}.")
    return out


@exercise("07.gate_forward")
def check_gate_forward(fn: Callable[..., torch.Tensor]) -> None:
    """``fn(gate, x, g)``: the additive gate from ``gate.W_x``, ``gate.W_g`` and ``gate.psi[0]``."""
    for seed, (n, fl, fg, h, w) in enumerate(((2, 8, 16, 12, 10), (1, 4, 4, 7, 9))):
        gate = _randomise(AttentionGate(fg, fl), seed)
        gen = torch.Generator().manual_seed(10 + seed)
        x, g = torch.randn(n, fl, h, w, generator=gen), torch.randn(n, fg, h, w, generator=gen)
        with torch.no_grad():
            out = _call(fn, gate, x, g)
            expected = gate(x, g)
            q = gate.W_x(x) + gate.W_g(g)
            alpha = gate.psi(F.relu(q))
            mistakes = {
                "you returned x * alpha without the ReLU: q = ReLU(W_x x + W_g g) before psi":
                    x * torch.sigmoid(gate.psi[0](q)),
                "you gated g instead of the skip: the output is alpha * x (x = the skip features)":
                    g * alpha if g.shape == x.shape else None,
                "you applied the sigmoid twice (gate.psi[0] is conv + BN only; apply torch.sigmoid once)":
                    x * torch.sigmoid(alpha),
            }
        if isinstance(out, torch.Tensor) and tuple(out.shape) == tuple(alpha.shape):
            if out.dtype.is_floating_point and torch.allclose(out.float(), alpha, atol=1e-5):
                raise AssertionError("you returned the coefficients alpha; the gate returns alpha * x.")
            raise AssertionError(f"your output has shape {tuple(out.shape)}, one channel like the "
                                 f"coefficients alpha; the gate returns alpha * x, of x's shape "
                                 f"{tuple(x.shape)}.")
        out = _tensor(out, tuple(x.shape))
        for hint, wrong in mistakes.items():
            if wrong is not None and torch.allclose(out, wrong, atol=1e-5):
                raise AssertionError(hint + ".")
        assert torch.allclose(out, expected, atol=1e-5), (
            "the values differ: q = relu(W_x(x) + W_g(g)); alpha = sigmoid(psi[0](q)) (N x 1 x H x W); "
            "return x * alpha.")


@exercise("07.grid_gate")
def check_grid_gate(fn: Callable[..., torch.Tensor]) -> None:
    """``fn(gate, x, g)``: the grid gate from ``gate.theta``, ``gate.phi``, ``gate.psi`` and ``gate.W``."""
    for seed, (n, fl, fg, h, w) in enumerate(((2, 8, 16, 16, 12), (1, 4, 8, 14, 10))):
        gate = _randomise(GridAttentionGate(fg, fl), seed)
        gen = torch.Generator().manual_seed(20 + seed)
        x, g = torch.randn(n, fl, h, w, generator=gen), torch.randn(n, fg, h // 2, w // 2, generator=gen)
        with torch.no_grad():
            out = _tensor(_call(fn, gate, x, g), tuple(x.shape))
            expected = gate(x, g)
            coarse = torch.sigmoid(gate.psi(F.relu(gate.theta(x) + gate.phi(g))))
            nearest = F.interpolate(coarse, size=(h, w), mode="nearest")
            bilinear = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
            mistakes = {
                "alpha was resampled with nearest neighbour; the gate resamples bilinearly "
                "(mode='bilinear', align_corners=False)": gate.W(x * nearest),
                "W (1x1 conv + BN) is missing after the gating: return gate.W(x * alpha)": x * bilinear,
                "W comes after the multiplication: gate.W(x * alpha), not gate.W(x) * alpha":
                    gate.W(x) * bilinear,
            }
        for hint, wrong in mistakes.items():
            if torch.allclose(out, wrong, atol=1e-5):
                raise AssertionError(hint + ".")
        assert torch.allclose(out, expected, atol=1e-5), (
            "the values differ: alpha = sigmoid(psi(relu(theta(x) + phi(g)))) on g's grid, then "
            "F.interpolate(alpha, size=x.shape[-2:], mode='bilinear', align_corners=False); "
            "return gate.W(x * alpha).")


@exercise("07.recurrent")
def check_recurrent(fn: Callable[..., torch.Tensor]) -> None:
    """``fn(conv, x, t)``: a recurrent convolution unrolled with the ONE shared ``conv``."""
    for seed, t in enumerate((0, 1, 2, 3)):
        layer = _randomise(RecurrentConv(4, t), seed)
        x = torch.randn(2, 4, 9, 9, generator=torch.Generator().manual_seed(30 + seed))
        calls = 0

        def counted(z: torch.Tensor, _conv=layer.conv) -> torch.Tensor:
            nonlocal calls
            calls += 1
            return _conv(z)

        with torch.no_grad():
            out = _tensor(_call(fn, counted, x, t), tuple(x.shape))
            expected = layer(x)
        assert calls == t + 1, (
            f"with t = {t} the shared conv runs t + 1 = {t + 1} times (once on x, then t times on x + x1); "
            f"yours called it {calls} time(s).")
        with torch.no_grad():
            no_reinjection = layer.conv(x)
            for _ in range(t):
                no_reinjection = layer.conv(no_reinjection)
        if t and torch.allclose(out, no_reinjection, atol=1e-5):
            raise AssertionError("each step adds the input back: x1 = conv(x + x1), not conv(x1).")
        assert torch.allclose(out, expected, atol=1e-5), (
            "the values differ: x1 = conv(x); then t times x1 = conv(x + x1); return x1.")
