"""Chapter 07 (attention gates, recurrent residual U-Nets) exercise checkers: the paper's grid gate in 3D
built as a module, and a shared-BatchNorm recurrent layer split into one BatchNorm per step with
statistics measured on a calibration batch."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable

import torch
import torch.nn.functional as F

from course_lib.blocks.recurrent import RecurrentConv
from course_lib.exercises import call_answer as _call
from course_lib.exercises import exercise, random_weights

_GATE3D_HOW = ("alpha = sigmoid(psi(relu(theta(x) + phi(g)))) on g's grid (phi(g) resampled to theta(x)'s "
               "size when they differ), then F.interpolate(alpha, size=x.shape[2:], mode='trilinear', "
               "align_corners=False); return self.W(x * alpha)")


def _gate3d_parts(gate: torch.nn.Module, f_g: int, f_l: int, f_int: int) -> None:
    """Check the layers of a student's 3D grid gate by their attribute names, with a hint per mistake."""
    missing = [name for name in ("theta", "phi", "psi", "W") if not isinstance(getattr(gate, name, None),
                                                                                torch.nn.Module)]
    assert not missing, (f"no module named {', '.join(missing)}: name the parts as in the paper's code "
                         "(self.theta, self.phi, self.psi, self.W); the checker reads them.")
    convs = {name: getattr(gate, name) for name in ("theta", "phi", "psi")}
    for name, conv in convs.items():
        if isinstance(conv, torch.nn.Conv2d):
            raise AssertionError(f"{name} is an nn.Conv2d; the 3D gate works on volumes (N x C x D x H x W): "
                                 "use nn.Conv3d.")
        assert isinstance(conv, torch.nn.Conv3d), (
            f"{name} should be one nn.Conv3d, got {type(conv).__name__}.")
    theta, phi, psi = convs["theta"], convs["phi"], convs["psi"]
    if theta.in_channels == f_g and phi.in_channels == f_l and f_g != f_l:
        raise AssertionError("theta and phi are swapped: theta takes the skip x (skip_channels), phi the "
                             "gating signal g (gate_channels).")
    assert (theta.in_channels, theta.out_channels) == (f_l, f_int), (
        f"theta maps the skip x ({f_l} channels here) to inter_channels ({f_int}); yours maps "
        f"{theta.in_channels} -> {theta.out_channels}.")
    assert theta.kernel_size == (2, 2, 2) and theta.stride == (2, 2, 2) and theta.padding == (0, 0, 0), (
        f"theta brings x down to g's grid: a 2x2x2 convolution with stride 2 and no padding "
        f"(kernel_size=2, stride=2); yours has kernel {theta.kernel_size}, stride {theta.stride}, padding "
        f"{theta.padding}.")
    assert theta.bias is None, ("theta has no bias in the paper's code (bias=False): phi's bias is added to "
                                "theta(x) anyway, so a second one is redundant.")
    assert (phi.in_channels, phi.out_channels, phi.kernel_size) == (f_g, f_int, (1, 1, 1)), (
        f"phi is a 1x1x1 convolution from g's {f_g} channels to inter_channels ({f_int}); yours maps "
        f"{phi.in_channels} -> {phi.out_channels} with kernel {phi.kernel_size}.")
    assert phi.bias is not None, "phi keeps its bias (the paper's code: bias=True), the gate's b_g."
    assert (psi.in_channels, psi.out_channels, psi.kernel_size) == (f_int, 1, (1, 1, 1)), (
        f"psi is a 1x1x1 convolution from inter_channels ({f_int}) to ONE channel (one coefficient per "
        f"voxel); yours maps {psi.in_channels} -> {psi.out_channels} with kernel {psi.kernel_size}.")
    w_convs = [m for m in gate.W.modules() if isinstance(m, torch.nn.Conv3d)]
    w_norms = [m for m in gate.W.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    assert len(w_convs) == 1 and (w_convs[0].in_channels, w_convs[0].out_channels,
                                  w_convs[0].kernel_size) == (f_l, f_l, (1, 1, 1)), (
        f"W is a 1x1x1 nn.Conv3d from the skip's {f_l} channels to {f_l}, then a BatchNorm3d: "
        f"nn.Sequential(nn.Conv3d({f_l}, {f_l}, 1), nn.BatchNorm3d({f_l})).")
    assert len(w_norms) == 1 and w_norms[0].num_features == f_l, (
        f"W ends with a BatchNorm3d({f_l}) after its 1x1x1 conv (the paper's code); "
        + ("yours has none." if not w_norms else "yours has another."))


def _gate3d_expected(gate: torch.nn.Module, x: torch.Tensor, g: torch.Tensor, *, mode: str = "trilinear",
                     align: bool | None = False, relu: bool = True, sigmoid: bool = True,
                     w: str = "after") -> torch.Tensor:
    theta_x, phi_g = gate.theta(x), gate.phi(g)
    if phi_g.shape[2:] != theta_x.shape[2:]:
        phi_g = F.interpolate(phi_g, size=theta_x.shape[2:], mode="trilinear", align_corners=False)
    q = theta_x + phi_g
    alpha = gate.psi(F.relu(q) if relu else q)
    alpha = torch.sigmoid(alpha) if sigmoid else alpha
    alpha = F.interpolate(alpha, size=x.shape[2:], mode=mode, align_corners=align)
    if w == "none":
        return x * alpha
    if w == "before":
        return gate.W(x) * alpha
    return gate.W(x * alpha)


@exercise("07.grid_gate_3d")
def check_grid_gate_3d(cls: Callable[..., torch.nn.Module]) -> None:
    """``cls(gate_channels, skip_channels, inter_channels)``: a module ``forward(x, g)``, the paper's 3D grid
    gate with parts ``theta`` (2x2x2 conv, stride 2, no bias), ``phi`` and ``psi`` (1x1x1 convs) and ``W``
    (1x1x1 conv + BatchNorm3d); ``g`` on the coarse grid, coefficients resampled trilinearly."""
    f_g, f_l, f_int = 8, 6, 3
    gate = _call(cls, f_g, f_l, f_int)
    assert isinstance(gate, torch.nn.Module), (
        f"pass the class (an nn.Module subclass); calling it gave {type(gate).__name__}.")
    _gate3d_parts(gate, f_g, f_l, f_int)
    gate = random_weights(gate, 3)
    cases = (((2, 8, 10, 6), (4, 5, 3)),  # g exactly half of x
             ((9, 7, 10), (5, 4, 5)))     # odd sizes: g has ceil(n / 2), theta(x) floor(n / 2)
    for k, (size, coarse) in enumerate(cases):
        n = 2 - k
        gen = torch.Generator().manual_seed(40 + k)
        x = torch.randn(n, f_l, *size[-3:], generator=gen)
        g = torch.randn(n, f_g, *coarse, generator=gen)
        with torch.no_grad():
            try:
                out = _call(gate, x, g)
            except AssertionError as err:
                if "size of tensor" not in str(err) and "must match" not in str(err):
                    raise
                sizes = re.search(r"size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\)",
                                  str(err))
                at_skip = sizes is not None and int(sizes.group(1)) in x.shape[2:]
                if k == 1 and at_skip:
                    raise AssertionError(
                        f"x {tuple(x.shape[2:])} and g {tuple(g.shape[2:])}: alpha does not have x's size. "
                        "With odd sizes, resample with size=x.shape[2:], not scale_factor=2 (twice the "
                        "coarse grid is one voxel short).") from None
                if k == 0:
                    raise AssertionError("a size mismatch: alpha is computed on g's grid (half x's size); "
                                         "resample it to x's size, F.interpolate(alpha, size=x.shape[2:], "
                                         "mode='trilinear', align_corners=False), before multiplying. "
                                         f"({err})") from None
                raise AssertionError(
                    f"x {tuple(x.shape[2:])} and g {tuple(g.shape[2:])}: on odd sizes g has ceil(n / 2) "
                    "voxels per axis but theta(x) floor(n / 2), so theta(x) + phi(g) does not fit. Resample "
                    "phi(g) to theta(x)'s size first (trilinear), as the paper's code does.") from None
            expected = _gate3d_expected(gate, x, g)
            if not isinstance(out, torch.Tensor):
                raise AssertionError(f"forward returns a tensor, got {type(out).__name__}.")
            if tuple(out.shape) != tuple(x.shape):
                if out.dim() == 5 and out.shape[1] == 1:
                    raise AssertionError(f"your output has shape {tuple(out.shape)}, one channel like the "
                                         f"coefficients alpha; the gate returns W(x * alpha), of x's shape "
                                         f"{tuple(x.shape)}.")
                hint = (" With odd sizes, resample with size=x.shape[2:], not scale_factor=2."
                        if k == 1 else "")
                raise AssertionError(f"the output has the skip's shape {tuple(x.shape)}, got "
                                     f"{tuple(out.shape)}.{hint}")
            mistakes = {
                "alpha was resampled with nearest neighbour; the paper's 3D gate resamples trilinearly "
                "(mode='trilinear', align_corners=False)": {"mode": "nearest", "align": None},
                "align_corners=True: the course (and PyTorch's default) resamples with align_corners=False, "
                "which keeps each coarse voxel's centre where it belongs": {"align": True},
                "W (1x1x1 conv + BatchNorm3d) is missing after the gating: return self.W(x * alpha)":
                    {"w": "none"},
                "W comes after the multiplication: self.W(x * alpha), not self.W(x) * alpha":
                    {"w": "before"},
                "the sigmoid is missing: alpha = sigmoid(psi(...)) lies in [0, 1]": {"sigmoid": False},
                "the ReLU is missing: q = relu(theta(x) + phi(g)) before psi": {"relu": False},
            }
            for hint, options in mistakes.items():
                if torch.allclose(out, _gate3d_expected(gate, x, g, **options), atol=1e-5):
                    raise AssertionError(hint + ".")
        assert torch.allclose(out, expected, atol=1e-5), (
            f"x {tuple(x.shape[2:])}, g {tuple(g.shape[2:])}: the values differ. {_GATE3D_HOW}.")


def _bn_input_stats(layer: RecurrentConv, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Mean and (biased) variance per channel of the shared BatchNorm's input at each unrolled step, with
    every step normalised by its own batch statistics (what training mode computes)."""
    conv, bn = layer.conv[0], layer.conv[1]
    stats, x1 = [], None
    for _ in range(layer.t + 1):
        z = conv(x if x1 is None else x + x1)
        mean, var = z.mean((0, 2, 3)), z.var((0, 2, 3), unbiased=False)
        stats.append((mean, var))
        zn = (z - mean[None, :, None, None]) / torch.sqrt(var[None, :, None, None] + bn.eps)
        x1 = F.relu(zn * bn.weight[None, :, None, None] + bn.bias[None, :, None, None])
    return stats


@exercise("07.split_norms")
def check_split_norms(fn: Callable[..., torch.nn.Module]) -> None:
    """``fn(shared, x) -> RecurrentConv(step_norm=True)``: the shared layer's conv and BN affine, with each
    step's running statistics measured on the calibration batch ``x`` (the input of the BN at that step)."""
    channels = 4
    for seed, t in ((0, 2), (1, 1)):
        shared = random_weights(RecurrentConv(channels, t), seed)
        bn = shared.conv[1]
        with torch.no_grad():
            bn.weight.abs_().add_(0.3)  # scales of either sign work; away from 0 so the steps differ
        gen = torch.Generator().manual_seed(50 + seed)
        x = torch.randn(4, channels, 16, 16, generator=gen) * 1.5
        x = x + torch.randn(1, channels, 1, 1, generator=gen)
        before = {k: v.clone() for k, v in shared.state_dict().items()}
        with torch.no_grad():
            fixed = _call(fn, shared, x.clone())
        changed = [k for k, v in shared.state_dict().items() if not torch.equal(v, before[k])]
        if changed or shared.training:
            what = ", ".join(changed[:3]) if changed else "it is left in training mode"
            raise AssertionError(
                f"your function changed the layer it was given ({what}): running it in training mode updates "
                "its BatchNorm's running statistics. Work on new modules, or on a copy "
                "(copy.deepcopy(shared)).")
        assert isinstance(fixed, RecurrentConv), (
            f"return a cl.blocks.RecurrentConv(channels, t, step_norm=True), got {type(fixed).__name__}.")
        assert fixed.norms is not None, ("the layer you returned still shares one BatchNorm: build it with "
                                         "step_norm=True (one BatchNorm per step, fixed.norms[k]).")
        assert fixed.t == t and len(fixed.norms) == t + 1, (
            f"the layer was unrolled over t = {t} steps (shared.t): {t + 1} BatchNorms, one per application; "
            f"yours has t = {fixed.t}.")
        conv = shared.conv[0]
        assert torch.equal(fixed.conv.weight, conv.weight) and (
            fixed.conv.bias is not None and torch.equal(fixed.conv.bias, conv.bias)), (
            "fixed.conv must hold the trained convolution: copy shared.conv[0]'s weight and bias "
            "(fixed.conv.load_state_dict(shared.conv[0].state_dict())).")
        for k, norm in enumerate(fixed.norms):
            assert norm.weight is not None and norm.running_mean is not None, (
                f"norms[{k}] has no affine parameters or no running statistics: keep RecurrentConv's own "
                "BatchNorm2d (affine, tracking statistics) and fill it.")
            if not (torch.allclose(norm.weight, bn.weight) and torch.allclose(norm.bias, bn.bias)):
                raise AssertionError(f"norms[{k}] has other scale and shift (weight, bias) than the trained "
                                     "BatchNorm shared.conv[1]: copy them into every step's BatchNorm; only "
                                     "the running statistics are new.")
        with torch.no_grad():
            stats = _bn_input_stats(shared, x)
        n_voxels = x.shape[0] * x.shape[2] * x.shape[3]
        for k, (norm, (mean, var)) in enumerate(zip(fixed.norms, stats, strict=True)):
            rm, rv = norm.running_mean, norm.running_var
            if torch.allclose(rm, bn.running_mean) and torch.allclose(rv, bn.running_var):
                raise AssertionError(f"norms[{k}] kept the shared BatchNorm's running statistics, the blend "
                                     "that fits no step (the bug itself). Measure each step's own mean and "
                                     "variance on the calibration batch x.")
            if torch.allclose(rm, 0.1 * mean, atol=1e-4) and torch.allclose(rv, 0.9 + 0.1 * var * n_voxels /
                                                                            (n_voxels - 1), atol=1e-3):
                raise AssertionError(
                    f"norms[{k}]: running mean = 0.1 x the batch mean. BatchNorm's momentum 0.1 blended "
                    "one batch into the initial statistics (mean 0, variance 1); after "
                    "norm.reset_running_stats(), set norm.momentum = None (a cumulative average: after one "
                    "batch, its statistics) before the calibration pass, or copy the measured mean and "
                    "variance into running_mean and running_var.")
            mean_ok = torch.allclose(rm, mean, atol=1e-4, rtol=1e-3)
            var_ok = torch.allclose(rv, var, atol=1e-4, rtol=3e-3) or torch.allclose(
                rv, var * n_voxels / (n_voxels - 1), atol=1e-4, rtol=3e-3)
            if mean_ok and var_ok:
                continue
            if k > 0 and torch.allclose(rm, stats[0][0], atol=1e-4, rtol=1e-3):
                raise AssertionError(f"norms[{k}] holds step 0's statistics: the BatchNorm's input at step 0 "
                                     f"is conv(x), at step {k} it is conv(x + x1), a different distribution. "
                                     "Measure every step on its own input.")
            if k > 0 and torch.allclose(fixed.norms[0].running_mean, stats[0][0], atol=1e-4, rtol=1e-3):
                raise AssertionError(
                    f"step 0 is right, step {k} is not. Its input is conv(x + x1) with x1 the previous "
                    "step's output as training computed it: each step normalised with its own batch "
                    "statistics (not with the shared running statistics of eval mode). One way: run the new "
                    "layer in training mode over x, once.")
            raise AssertionError(
                f"norms[{k}]: the running mean or variance differs from the statistics of that step's "
                "BatchNorm input on x (per channel, over batch, height and width). The input of step 0's "
                f"BatchNorm is conv(x), of step {k}'s conv(x + x1).")
        with torch.no_grad():
            fixed.eval()
            out = fixed(x)
            batch_stats = copy.deepcopy(shared).train()(x)
        assert torch.allclose(out, batch_stats, atol=2e-3, rtol=2e-3), (
            "the statistics are right but the layer's eval-mode output on x differs from the shared layer's "
            "training-mode output; check the BatchNorms' eps and that fixed is in eval mode.")
