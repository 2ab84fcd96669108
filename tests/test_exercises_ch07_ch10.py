"""The exercises of chapters 07-10 whose solution is not on screen (issue 33): the 3D grid gate as a module,
splitting a shared-BatchNorm recurrent layer into one BatchNorm per step, UNet++'s anytime forward pass,
RSU-4F written flat, and the class-balanced sparse loss. For each: the reference solution passes, every
recognised mistake gets its own hint, and a stub is "not attempted"."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import course_lib as cl


def verdict(name: str, answer, capsys) -> str:
    cl.exercises.check(name, answer)
    return capsys.readouterr().out


def _stub(*args):
    raise NotImplementedError


class _StubModule(nn.Module):
    def __init__(self, *args) -> None:
        super().__init__()
        raise NotImplementedError


# --- 07.grid_gate_3d ----------------------------------------------------------------------------------


class GridGate3D(nn.Module):
    """The paper's 3D grid gate, with switchable mistakes (the defaults are right)."""

    def __init__(self, gate_channels: int, skip_channels: int, inter_channels: int, *,
                 mode: str = "trilinear", align: bool = False, w: str = "after", resample_phi: bool = True,
                 scale: bool = False, relu: bool = True, sigmoid: bool = True) -> None:
        super().__init__()
        self.theta = nn.Conv3d(skip_channels, inter_channels, kernel_size=2, stride=2, bias=False)
        self.phi = nn.Conv3d(gate_channels, inter_channels, kernel_size=1)
        self.psi = nn.Conv3d(inter_channels, 1, kernel_size=1)
        self.W = nn.Sequential(nn.Conv3d(skip_channels, skip_channels, kernel_size=1),
                               nn.BatchNorm3d(skip_channels))
        self.mode, self.align, self.w, self.resample_phi = mode, align, w, resample_phi
        self.scale, self.relu, self.sigmoid = scale, relu, sigmoid

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        theta_x, phi_g = self.theta(x), self.phi(g)
        if self.resample_phi and phi_g.shape[2:] != theta_x.shape[2:]:
            phi_g = F.interpolate(phi_g, size=theta_x.shape[2:], mode="trilinear", align_corners=False)
        q = theta_x + phi_g
        alpha = self.psi(F.relu(q) if self.relu else q)
        alpha = torch.sigmoid(alpha) if self.sigmoid else alpha
        align = None if self.mode == "nearest" else self.align
        if self.scale:
            alpha = F.interpolate(alpha, scale_factor=2, mode=self.mode, align_corners=align)
        else:
            alpha = F.interpolate(alpha, size=x.shape[2:], mode=self.mode, align_corners=align)
        if self.w == "none":
            return x * alpha
        if self.w == "before":
            return self.W(x) * alpha
        return self.W(x * alpha)


def _built_with(cls, **changes):
    """An answer class ``cls`` whose named parts are replaced by ``make(*args)`` after construction."""
    def build(*args):
        module = cls(*args)
        for name, make in changes.items():
            setattr(module, name, make(*args))
        return module

    return build


def _gate_with(**changes):
    return _built_with(GridGate3D, **changes)


def test_grid_gate_3d_solution_passes(capsys) -> None:
    assert "[07.grid_gate_3d] correct." in verdict("07.grid_gate_3d", GridGate3D, capsys)


@pytest.mark.parametrize(("answer", "hint"), [
    (lambda a, b, c: GridGate3D(a, b, c, mode="nearest"), "nearest neighbour"),
    (lambda a, b, c: GridGate3D(a, b, c, align=True), "align_corners=True"),
    (lambda a, b, c: GridGate3D(a, b, c, w="none"), "W (1x1x1 conv + BatchNorm3d) is missing"),
    (lambda a, b, c: GridGate3D(a, b, c, w="before"), "W comes after the multiplication"),
    (lambda a, b, c: GridGate3D(a, b, c, sigmoid=False), "the sigmoid is missing"),
    (lambda a, b, c: GridGate3D(a, b, c, relu=False), "the ReLU is missing"),
    (lambda a, b, c: GridGate3D(a, b, c, resample_phi=False), "Resample phi(g) to theta(x)'s size"),
    (lambda a, b, c: GridGate3D(a, b, c, scale=True), "not scale_factor=2"),
    (_gate_with(theta=lambda a, b, c: nn.Conv2d(b, c, 2, stride=2, bias=False)), "use nn.Conv3d"),
    (_gate_with(theta=lambda a, b, c: nn.Conv3d(b, c, 2, stride=2)), "theta has no bias"),
    (_gate_with(theta=lambda a, b, c: nn.Conv3d(b, c, 3, stride=2, padding=1, bias=False)),
     "a 2x2x2 convolution with stride 2"),
    (_gate_with(theta=lambda a, b, c: nn.Conv3d(a, c, 2, stride=2, bias=False),
                phi=lambda a, b, c: nn.Conv3d(b, c, 1)), "theta and phi are swapped"),
    (_gate_with(psi=lambda a, b, c: nn.Conv3d(c, b, 1)), "to ONE channel"),
    (_gate_with(W=lambda a, b, c: nn.Conv3d(b, b, 1)), "BatchNorm3d"),
    (_gate_with(W=lambda a, b, c: None), "no module named W"),
], ids=["nearest", "align-corners", "no-W", "W-first", "no-sigmoid", "no-relu", "odd-phi", "scale-factor",
        "conv2d", "theta-bias", "theta-kernel", "swapped", "psi-channels", "no-bn", "missing"])
def test_grid_gate_3d_mistakes(answer, hint, capsys) -> None:
    out = verdict("07.grid_gate_3d", answer, capsys)
    assert "not yet" in out and hint in out, out


def test_grid_gate_3d_stub(capsys) -> None:
    assert "not attempted yet" in verdict("07.grid_gate_3d", _StubModule, capsys)


# --- 07.split_norms -----------------------------------------------------------------------------------


def split_norms(shared, x):
    conv, bn = shared.conv[0], shared.conv[1]
    fixed = cl.blocks.RecurrentConv(conv.in_channels, shared.t, step_norm=True)
    fixed.conv.load_state_dict(conv.state_dict())
    for norm in fixed.norms:
        norm.load_state_dict(bn.state_dict())
        norm.reset_running_stats()
        norm.momentum = None
    with torch.no_grad():
        fixed.train()(x)
    for norm in fixed.norms:
        norm.momentum = bn.momentum
    return fixed.eval()


def split_by_hand(shared, x):
    """Another correct answer: the statistics computed directly (biased variance), step by step."""
    conv, bn = shared.conv[0], shared.conv[1]
    fixed = cl.blocks.RecurrentConv(conv.in_channels, shared.t, step_norm=True)
    fixed.conv.load_state_dict(conv.state_dict())
    x1 = None
    for k, norm in enumerate(fixed.norms):
        norm.load_state_dict(bn.state_dict())
        z = conv(x if k == 0 else x + x1)
        norm.running_mean.copy_(z.mean((0, 2, 3)))
        norm.running_var.copy_(z.var((0, 2, 3), unbiased=False))
        x1 = torch.relu(norm.eval()(z))
    return fixed.eval()


def _keep_shared(shared, x):
    fixed = cl.blocks.RecurrentConv(shared.conv[0].in_channels, shared.t, step_norm=True)
    fixed.conv.load_state_dict(shared.conv[0].state_dict())
    for norm in fixed.norms:
        norm.load_state_dict(shared.conv[1].state_dict())
    return fixed.eval()


def _momentum(shared, x):
    fixed = cl.blocks.RecurrentConv(shared.conv[0].in_channels, shared.t, step_norm=True)
    fixed.conv.load_state_dict(shared.conv[0].state_dict())
    for norm in fixed.norms:
        norm.weight.data.copy_(shared.conv[1].weight)
        norm.bias.data.copy_(shared.conv[1].bias)
    fixed.train()(x)
    return fixed.eval()


def _no_affine(shared, x):
    fixed = cl.blocks.RecurrentConv(shared.conv[0].in_channels, shared.t, step_norm=True)
    fixed.conv.load_state_dict(shared.conv[0].state_dict())
    for norm in fixed.norms:
        norm.momentum = None
    fixed.train()(x)
    return fixed.eval()


def _no_conv(shared, x):
    fixed = split_norms(shared, x)
    fixed.conv = nn.Conv2d(fixed.conv.in_channels, fixed.conv.out_channels, 3, padding=1)
    return fixed


def _step0(shared, x):
    fixed = split_norms(shared, x)
    for norm in fixed.norms[1:]:
        norm.running_mean.copy_(fixed.norms[0].running_mean)
        norm.running_var.copy_(fixed.norms[0].running_var)
    return fixed


def _eval_mode_steps(shared, x):
    """Step k's input computed with the shared layer in eval mode (its blended statistics)."""
    fixed = split_norms(shared, x)
    x1 = None
    for norm in fixed.norms:
        z = shared.conv[0](x if x1 is None else x + x1)
        norm.running_mean.copy_(z.mean((0, 2, 3)))
        norm.running_var.copy_(z.var((0, 2, 3)))
        x1 = shared.conv(x if x1 is None else x + x1)
    return fixed


def _mutates(shared, x):
    shared.train()(x)
    return split_norms(shared, x)


def test_split_norms_solutions_pass(capsys) -> None:
    for answer in (split_norms, split_by_hand):
        assert "[07.split_norms] correct." in verdict("07.split_norms", answer, capsys)


@pytest.mark.parametrize(("answer", "hint"), [
    (_keep_shared, "kept the shared BatchNorm's running statistics"),
    (_momentum, "momentum 0.1 blended one batch"),
    (_no_affine, "other scale and shift"),
    (_no_conv, "must hold the trained convolution"),
    (_step0, "holds step 0's statistics"),
    (_eval_mode_steps, "step 0 is right, step 1 is not"),
    (_mutates, "changed the layer it was given"),
    (lambda shared, x: copy.deepcopy(shared), "still shares one BatchNorm"),
    (lambda shared, x: split_norms(cl.blocks.RecurrentConv(4, 3), x), "t = 2 steps"),
], ids=["shared-stats", "momentum", "affine", "conv", "step0", "eval-steps", "mutates", "shared", "wrong-t"])
def test_split_norms_mistakes(answer, hint, capsys) -> None:
    out = verdict("07.split_norms", answer, capsys)
    assert "not yet" in out and hint in out, out


def test_split_norms_stub(capsys) -> None:
    assert "not attempted yet" in verdict("07.split_norms", _stub, capsys)


# --- 08.anytime_forward -------------------------------------------------------------------------------


def anytime_forward(model, x):
    X, outputs = {}, []
    X[0, 0] = model.nodes["x_0_0"](x)
    for level in range(1, model.depth + 1):
        X[level, 0] = model.nodes[f"x_{level}_0"](model.pool(X[level - 1, 0]))
        for j in range(1, level + 1):
            i = level - j
            skips = torch.cat([X[i, k] for k in range(j)], dim=1)
            X[i, j] = model.nodes[f"x_{i}_{j}"](X[i + 1, j - 1], skips)
        outputs.append(model.heads[f"out_{level}"](X[0, level]))
    return outputs


def _by_columns(model, x):
    X, depth = {}, model.depth
    for i in range(depth + 1):
        X[i, 0] = model.nodes[f"x_{i}_0"](x if i == 0 else model.pool(X[i - 1, 0]))
    for j in range(1, depth + 1):
        for i in range(depth + 1 - j):
            skips = torch.cat([X[i, k] for k in range(j)], dim=1)
            X[i, j] = model.nodes[f"x_{i}_{j}"](X[i + 1, j - 1], skips)
    return [model.heads[f"out_{j}"](X[0, j]) for j in range(1, depth + 1)]


def _downward(model, x):
    X, outputs = {}, []
    X[0, 0] = model.nodes["x_0_0"](x)
    for level in range(1, model.depth + 1):
        for j in range(level, -1, -1):
            i = level - j
            if j == 0:
                X[level, 0] = model.nodes[f"x_{level}_0"](model.pool(X[level - 1, 0]))
            else:
                skips = torch.cat([X[i, k] for k in range(j)], dim=1)
                X[i, j] = model.nodes[f"x_{i}_{j}"](X[i + 1, j - 1], skips)
        outputs.append(model.heads[f"out_{level}"](X[0, level]))
    return outputs


def _not_dense(model, x):
    X, outputs = {}, []
    X[0, 0] = model.nodes["x_0_0"](x)
    for level in range(1, model.depth + 1):
        X[level, 0] = model.nodes[f"x_{level}_0"](model.pool(X[level - 1, 0]))
        for j in range(1, level + 1):
            i = level - j
            X[i, j] = model.nodes[f"x_{i}_{j}"](X[i + 1, j - 1], X[i, j - 1])
        outputs.append(model.heads[f"out_{level}"](X[0, level]))
    return outputs


def _final_head(model, x):
    outputs = anytime_forward(model, x)
    return [model(x)[0] for _ in outputs]


def test_anytime_forward_solution_passes(capsys) -> None:
    assert "[08.anytime_forward] correct." in verdict("08.anytime_forward", anytime_forward, capsys)


@pytest.mark.parametrize(("answer", "hint"), [
    (lambda model, x: [model(x, prune_level=level) for level in range(1, model.depth + 1)],
     "ran more than once"),
    (_by_columns, "ran before the output of L1 was emitted"),
    (lambda model, x: anytime_forward(model, x)[::-1], "deep-supervision order"),
    (_downward, "SAME anti-diagonal"),
    (_not_dense, "takes ALL the nodes to its left"),
    (_final_head, "output L1 differs"),
    (lambda model, x: anytime_forward(model, x)[:2], "return 4 outputs"),
], ids=["recompute", "columns", "reversed", "downward", "not-dense", "wrong-head", "too-few"])
def test_anytime_forward_mistakes(answer, hint, capsys) -> None:
    out = verdict("08.anytime_forward", answer, capsys)
    assert "not yet" in out and hint in out, out


def test_anytime_forward_stub_and_no_leftover_hooks(capsys) -> None:
    assert "not attempted yet" in verdict("08.anytime_forward", _stub, capsys)
    model = cl.create_model("unetpp", in_channels=1, widths=(4, 8), deep_supervision=True)
    cl.exercises.check("08.anytime_forward", lambda m, x: (model, 1 / 0))
    assert not any(m._forward_hooks for m in model.modules())
    assert "ZeroDivisionError" in capsys.readouterr().out


# --- 09.rsu4f -----------------------------------------------------------------------------------------


class RSU4F(nn.Module):
    """RSU-4F in the reference code's layout, with switchable mistakes (the defaults are right)."""

    def __init__(self, in_ch: int, mid_ch: int, out_ch: int, *, dilations=(1, 2, 4, 8),
                 decoder_dilations=(4, 2, 1), residual: str = "x_in", decoder_first: bool = True,
                 concat: int = 2) -> None:
        super().__init__()
        self.rebnconvin = cl.blocks.rebnconv(in_ch, out_ch)
        self.rebnconv1 = cl.blocks.rebnconv(out_ch, mid_ch, dilations[0])
        self.rebnconv2 = cl.blocks.rebnconv(mid_ch, mid_ch, dilations[1])
        self.rebnconv3 = cl.blocks.rebnconv(mid_ch, mid_ch, dilations[2])
        self.rebnconv4 = cl.blocks.rebnconv(mid_ch, mid_ch, dilations[3])
        self.rebnconv3d = cl.blocks.rebnconv(concat * mid_ch, mid_ch, decoder_dilations[0])
        self.rebnconv2d = cl.blocks.rebnconv(concat * mid_ch, mid_ch, decoder_dilations[1])
        self.rebnconv1d = cl.blocks.rebnconv(concat * mid_ch, out_ch, decoder_dilations[2])
        self.residual, self.decoder_first = residual, decoder_first

    def _cat(self, d: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        return torch.cat((d, e) if self.decoder_first else (e, d), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hxin = self.rebnconvin(x)
        hx1 = self.rebnconv1(hxin)
        hx2 = self.rebnconv2(hx1)
        hx3 = self.rebnconv3(hx2)
        hx4 = self.rebnconv4(hx3)
        hx3d = self.rebnconv3d(self._cat(hx4, hx3))
        hx2d = self.rebnconv2d(self._cat(hx3d, hx2))
        hx1d = self.rebnconv1d(self._cat(hx2d, hx1))
        return hx1d + {"x_in": hxin, "x": x, "none": 0}[self.residual]


def _rsu4f_with(**changes):
    return _built_with(RSU4F, **changes)


def test_rsu4f_solution_passes(capsys) -> None:
    assert "[09.rsu4f] correct." in verdict("09.rsu4f", RSU4F, capsys)


@pytest.mark.parametrize(("answer", "hint"), [
    (lambda a, b, c: RSU4F(a, b, c, dilations=(1, 2, 3, 4)), "the encoder's dilations are 1, 2, 4, 8"),
    (lambda a, b, c: RSU4F(a, b, c, decoder_dilations=(1, 1, 1)), "the decoder mirrors the encoder"),
    (lambda a, b, c: RSU4F(a, b, c, residual="x"), "not the input x"),
    (lambda a, b, c: RSU4F(a, b, c, residual="none"), "the residual is missing"),
    (lambda a, b, c: RSU4F(a, b, c, decoder_first=False), "the concatenations are swapped"),
    (lambda a, b, c: RSU4F(a, b, c, concat=1), "2 * mid_ch channels"),
    (_rsu4f_with(rebnconv1=lambda a, b, c: cl.blocks.rebnconv(a, b)), "not from x"),
    (_rsu4f_with(rebnconv1d=lambda a, b, c: cl.blocks.rebnconv(2 * b, b)), "so that x_in can be added"),
    (_rsu4f_with(pool=lambda a, b, c: nn.MaxPool2d(2, ceil_mode=True)), "no pooling"),
    (_rsu4f_with(rebnconv2=lambda a, b, c: cl.blocks.ConvNormAct(b, b, 3, dilation=2, padding=1)),
     "padding = dilation"),
    (lambda a, b, c: cl.blocks.RSU4F(a, b, c), "no layer named rebnconvin"),
], ids=["encoder-dilation", "decoder-dilation", "residual-x", "no-residual", "swapped", "no-concat", "from-x",
        "out-channels", "pooling", "padding", "library-layout"])
def test_rsu4f_mistakes(answer, hint, capsys) -> None:
    out = verdict("09.rsu4f", answer, capsys)
    assert "not yet" in out and hint in out, out


def test_rsu4f_stub(capsys) -> None:
    assert "not attempted yet" in verdict("09.rsu4f", _StubModule, capsys)


# --- 10.balanced_sparse_bce ---------------------------------------------------------------------------


def balanced_sparse_bce(logits, mask, labelled):
    n_fg = (labelled * mask).sum()
    n_bg = (labelled * (1 - mask)).sum()
    weight = labelled * (mask / n_fg.clamp_min(1) + (1 - mask) / n_bg.clamp_min(1))
    return cl.losses.masked_cross_entropy(logits, mask, weight)


def balanced_as_two_means(logits, mask, labelled):
    loss = F.binary_cross_entropy_with_logits(logits, mask, reduction="none")
    means = [(loss * labelled * c).sum() / (labelled * c).sum() for c in (mask, 1 - mask)
             if (labelled * c).sum()]
    return torch.stack(means).mean()


def _weights(mask, labelled, *, count=None, inverse=True):
    count = labelled if count is None else count
    n_fg, n_bg = (count * mask).sum().clamp_min(1), (count * (1 - mask)).sum().clamp_min(1)
    if inverse:
        return mask / n_fg + (1 - mask) / n_bg
    return mask * n_fg + (1 - mask) * n_bg


def _bce(logits, mask):
    return F.binary_cross_entropy_with_logits(logits, mask, reduction="none")


def test_balanced_sparse_bce_solutions_pass(capsys) -> None:
    for answer in (balanced_sparse_bce, balanced_as_two_means):
        assert "[10.balanced_sparse_bce] correct." in verdict("10.balanced_sparse_bce", answer, capsys)


def _masked(lg, m, weight):
    return cl.losses.masked_cross_entropy(lg, m, weight)


def _unguarded(lg, m, lab):
    weight = lab * (m / (lab * m).sum() + (1 - m) / (lab * (1 - m)).sum())  # 0 / 0 without foreground
    return (weight * _bce(lg, m)).sum() / weight.sum()


def _with_sigmoid(lg, m, lab):
    weight = lab * _weights(m, lab)
    return (weight * F.binary_cross_entropy(torch.sigmoid(lg), m, reduction="none")).sum() / weight.sum()


@pytest.mark.parametrize(("answer", "hint"), [
    (lambda lg, m, lab: _masked(lg, m, lab), "without the class weights"),
    (lambda lg, m, lab: _masked(lg, m, lab * _weights(m, lab, count=torch.ones_like(lab))),
     "counted the classes over ALL voxels"),
    (lambda lg, m, lab: _masked(lg, m, _weights(m, lab, count=torch.ones_like(lab))),
     "the unlabelled voxels are in the loss"),
    (lambda lg, m, lab: _masked(lg, m, lab * _weights(m, lab, inverse=False)), "INVERSE count"),
    (lambda lg, m, lab: (lab * _weights(m, lab) * _bce(lg, m)).sum(), "summed the classes' mean losses"),
    (lambda lg, m, lab: (lab * _weights(m, lab) * _bce(lg, m)).mean(), "divided by the number of voxels"),
    (_with_sigmoid, "binary_cross_entropy_with_logits"),
    (_unguarded, "your loss is nan"),
    (lambda lg, m, lab: balanced_sparse_bce(lg, m * lab, torch.ones_like(lab)), "trained as background"),
], ids=["unweighted", "count-all", "unlabelled-in", "not-inverse", "summed", "per-voxel", "sigmoid", "nan",
        "unlabelled-as-background"])
def test_balanced_sparse_bce_mistakes(answer, hint, capsys) -> None:
    out = verdict("10.balanced_sparse_bce", answer, capsys)
    assert "not yet" in out and hint in out, out


def test_balanced_sparse_bce_stub(capsys) -> None:
    assert "not attempted yet" in verdict("10.balanced_sparse_bce", _stub, capsys)
