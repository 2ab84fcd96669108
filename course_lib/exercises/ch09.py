"""Chapter 09 (U^2-Net) exercise checkers: RSU-4F written flat in the reference code's layout, the
seven-term loss with a term dropped, and the salient-object max F-beta, each against the library."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from course_lib.blocks.rsu import RSU
from course_lib.exercises import call_answer as _call
from course_lib.exercises import exercise, random_weights
from course_lib.metrics import max_f_beta, salient_scores


def _terms(outputs: list[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
    return torch.stack([F.binary_cross_entropy_with_logits(o, mask) for o in outputs])


@exercise("09.u2net_loss")
def check_u2net_loss(fn: Callable[..., torch.Tensor]) -> None:
    """``fn(outputs, mask) -> loss``: the seven-term U^2-Net loss, the SUM of BCE-with-logits over the fused
    output and the six side outputs (logits, fused first)."""
    g = torch.Generator().manual_seed(9)
    for scale in (3.0, 40.0):  # 40: saturated logits, where sigmoid + BCELoss breaks
        outputs = [torch.randn(2, 1, 8, 8, generator=g) * scale for _ in range(7)]
        mask = (torch.rand(2, 1, 8, 8, generator=g) > 0.6).float()
        got = _call(fn, outputs, mask)
        assert isinstance(got, torch.Tensor) and got.dim() == 0, "return one scalar tensor."
        terms = _terms(outputs, mask)
        for dropped in range(7):
            if torch.allclose(got, terms.sum() - terms[dropped], rtol=1e-4):
                name = "the fused output d0" if dropped == 0 else f"side output d{dropped}"
                raise AssertionError(f"one term is missing: {name}. Loop over all seven outputs "
                                     "(for out in outputs), not a slice such as outputs[1:6].")
        if torch.allclose(got, terms.mean(), rtol=1e-4):
            raise AssertionError("you averaged the seven terms; the paper sums them (L = sum_m l_side^(m) + "
                                 "l_fuse), which sets the learning rate's scale.")
        probs_loss = sum(F.binary_cross_entropy(torch.sigmoid(o), mask) for o in outputs)
        if scale > 10 and torch.allclose(got, probs_loss, rtol=1e-4):
            raise AssertionError("sigmoid followed by binary_cross_entropy (the reference code's BCELoss): "
                                 "at logits of +-40 the probability rounds to 0 or 1 and the loss saturates; "
                                 "use F.binary_cross_entropy_with_logits on the logits.")
        assert torch.allclose(got, terms.sum(), rtol=1e-4), (
            "the values differ: sum over the seven outputs of F.binary_cross_entropy_with_logits(out, mask).")


@exercise("09.max_f")
def check_max_f(fn: Callable[..., float]) -> None:
    """``fn(probs, masks) -> float``: max F-beta (beta^2 = 0.3) over the thresholds k/255, with precision
    and recall computed per image and averaged over the images before F is formed."""
    rng = np.random.default_rng(0)
    masks = np.zeros((4, 1, 16, 16), np.float32)
    for i, (r, s) in enumerate(((3, 6), (8, 4), (5, 9), (2, 3))):
        masks[i, 0, r:r + s, r:r + s] = 1
    probs = np.clip(masks * 0.6 + rng.uniform(0, 0.5, masks.shape), 0, 1).astype(np.float32)
    probs[3] *= 0.5  # one image with weaker predictions: pooling and per-image averaging differ
    expected = salient_scores(probs, masks)["max_f"]
    got = float(_call(fn, torch.from_numpy(probs), torch.from_numpy(masks)))
    if abs(got - expected) < 1e-4:
        return
    p, t = probs.reshape(4, -1), masks.reshape(4, -1) > 0.5
    thresholds = np.arange(256) / 255
    pooled, beta1 = [], []
    for th in thresholds:
        pred = p >= th
        tp = (pred & t).sum()
        prec = tp / max(pred.sum(), 1)
        rec = tp / t.sum()
        pooled.append(1.3 * prec * rec / max(0.3 * prec + rec, 1e-12))
        pr = np.array([(pred[i] & t[i]).sum() / max(pred[i].sum(), 1) for i in range(4)]).mean()
        rc = np.array([(pred[i] & t[i]).sum() / t[i].sum() for i in range(4)]).mean()
        beta1.append(2 * pr * rc / max(pr + rc, 1e-12))
    if abs(got - max(pooled)) < 1e-3 or abs(got - max_f_beta(probs, masks)[0]) < 1e-3:
        raise AssertionError("you pooled the pixels of all images; the salient-object convention averages "
                             "precision and recall over the images first (each image counts the same).")
    if abs(got - max(beta1)) < 1e-3:
        raise AssertionError("that is F1 (beta^2 = 1); U^2-Net reports F-beta with beta^2 = 0.3, which "
                             "weighs precision more: (1 + 0.3) P R / (0.3 P + R).")
    raise AssertionError(f"expected {expected:.4f}, got {got:.4f}. For each threshold k/255: per image "
                         "P = TP / predicted (0 when nothing is predicted), R = TP / salient pixels; "
                         "average P and R over the images; F = 1.3 P R / (0.3 P + R); return the maximum "
                         "over thresholds.")



# The reference code's flat RSU-4F: layer name -> (the library block's layer, in, out, dilation) as
# functions of (C_in, M, C_out).
_RSU4F_LAYERS = {
    "rebnconvin": ("conv_in", lambda i, m, o: (i, o, 1)),
    "rebnconv1": ("encoder.0", lambda i, m, o: (o, m, 1)),
    "rebnconv2": ("encoder.1", lambda i, m, o: (m, m, 2)),
    "rebnconv3": ("encoder.2", lambda i, m, o: (m, m, 4)),
    "rebnconv4": ("encoder.3", lambda i, m, o: (m, m, 8)),
    "rebnconv3d": ("decoder.0", lambda i, m, o: (2 * m, m, 4)),
    "rebnconv2d": ("decoder.1", lambda i, m, o: (2 * m, m, 2)),
    "rebnconv1d": ("decoder.2", lambda i, m, o: (2 * m, o, 1)),
}
_RSU4F_HOW = ("hxin = rebnconvin(x); hx1 = rebnconv1(hxin); hx2 = rebnconv2(hx1); hx3 = rebnconv3(hx2); "
              "hx4 = rebnconv4(hx3); hx3d = rebnconv3d(cat(hx4, hx3)); hx2d = rebnconv2d(cat(hx3d, hx2)); "
              "hx1d = rebnconv1d(cat(hx2d, hx1)); return hx1d + hxin (cat along dim 1, the decoder's tensor "
              "first)")


def _conv_and_norm(module: torch.nn.Module) -> tuple[torch.nn.Conv2d | None, torch.nn.BatchNorm2d | None]:
    conv = next((m for m in module.modules() if isinstance(m, torch.nn.Conv2d)), None)
    norm = next((m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)), None)
    return conv, norm


def _rsu4f_layers(block: torch.nn.Module, c_in: int, mid: int, c_out: int) -> None:
    """Check the student's layers by name: a hint for each wrong channel count or dilation."""
    missing = [name for name in _RSU4F_LAYERS if not isinstance(getattr(block, name, None), torch.nn.Module)]
    assert not missing, (f"no layer named {', '.join(missing)}: use the reference code's names (rebnconvin, "
                         "rebnconv1 ... rebnconv4, rebnconv3d, rebnconv2d, rebnconv1d), the keys its weights "
                         "are stored under; the checker reads them.")
    if any(isinstance(m, torch.nn.MaxPool2d | torch.nn.Upsample) for m in block.modules()):
        raise AssertionError("RSU-4F has no pooling and no upsampling (F for flat): every level keeps the "
                             "full resolution; the dilations 1, 2, 4, 8 widen the view instead.")
    for name, (_, shape) in _RSU4F_LAYERS.items():
        conv, norm = _conv_and_norm(getattr(block, name))
        assert conv is not None and norm is not None, (
            f"{name} should be a REBNCONV (3x3 conv, BatchNorm, ReLU): "
            "cl.blocks.rebnconv(in, out, dilation).")
        want_in, want_out, want_d = shape(c_in, mid, c_out)
        got = (conv.in_channels, conv.out_channels)
        if got != (want_in, want_out):
            if name == "rebnconv1" and conv.in_channels == c_in:
                hint = "the encoder starts from x_in = rebnconvin(x), which has out_ch channels, not from x"
            elif name.endswith("d") and conv.in_channels == mid:
                hint = ("a decoder conv takes the concatenation [decoder output, encoder output of its "
                        "level]: 2 * mid_ch channels")
            elif name == "rebnconv1d" and conv.out_channels == mid:
                hint = ("the last decoder conv returns out_ch channels, so that x_in can be added "
                        "(the residual)")
            elif name == "rebnconvin":
                hint = "rebnconvin maps in_ch -> out_ch (x_in, the residual branch)"
            else:
                hint = "the middle layers have mid_ch channels"
            raise AssertionError(f"{name} maps {got[0]} -> {got[1]} channels, expected {want_in} -> "
                                 f"{want_out} for RSU4F({c_in}, {mid}, {c_out}): {hint}.")
        assert conv.kernel_size == (3, 3), (
            f"{name}: REBNCONV is a 3x3 convolution, yours is {conv.kernel_size}.")
        if conv.dilation != (want_d, want_d):
            where = ("the encoder's dilations are 1, 2, 4, 8 (rebnconv1..rebnconv4)" if not name.endswith("d")
                     else
                     "the decoder mirrors the encoder: rebnconv3d dilation 4, rebnconv2d 2, rebnconv1d 1")
            raise AssertionError(f"{name} has dilation {conv.dilation[0]}, expected {want_d}: {where}.")
        assert conv.padding == (want_d, want_d), (
            f"{name}: padding {conv.padding[0]} with dilation {want_d} changes the size; padding = dilation "
            "keeps it (cl.blocks.rebnconv does that).")


@exercise("09.rsu4f")
def check_rsu4f(cls: Callable[..., torch.nn.Module]) -> None:
    """``cls(in_ch, mid_ch, out_ch)``: RSU-4F written flat, in the reference code's layout and names; the
    checker copies the library block's (random) weights into the named layers and compares the outputs."""
    for seed, (c_in, mid, c_out, size) in enumerate(((4, 3, 4, (13, 11)), (3, 5, 6, (9, 17)))):
        block = _call(cls, c_in, mid, c_out)
        assert isinstance(block, torch.nn.Module), (
            f"pass the class (an nn.Module subclass); calling it gave {type(block).__name__}.")
        _rsu4f_layers(block, c_in, mid, c_out)
        torch.manual_seed(seed)
        reference = RSU(4, c_in, mid, c_out, dilated=True)
        random_weights(reference, 90 + seed, scale=0.4)
        with torch.no_grad():
            for name, (target, _) in _RSU4F_LAYERS.items():
                conv, norm = _conv_and_norm(getattr(block, name))
                ref_conv, ref_norm = _conv_and_norm(reference.get_submodule(target))
                conv.weight.copy_(ref_conv.weight)
                if conv.bias is None:  # a REBNCONV written without the conv bias: the same block without it
                    ref_conv.bias.zero_()
                else:
                    conv.bias.copy_(ref_conv.bias)
                for attr in ("weight", "bias", "running_mean", "running_var"):
                    getattr(norm, attr).copy_(getattr(ref_norm, attr))
                norm.eps = ref_norm.eps
        block.eval(), reference.eval()
        x = torch.randn(2, c_in, *size, generator=torch.Generator().manual_seed(90 + seed))
        with torch.no_grad():
            got = _call(block, x)
            expected = reference(x)
        assert isinstance(got, torch.Tensor), f"forward returns a tensor, got {type(got).__name__}."
        assert got.shape == expected.shape, (
            f"RSU4F({c_in}, {mid}, {c_out}) on {size[0]}x{size[1]}: the output must be "
            f"{tuple(expected.shape)} (the input's size, out_ch channels), got {tuple(got.shape)}.")
        if torch.allclose(got, expected, atol=1e-5):
            continue
        with torch.no_grad():
            x_in = reference.conv_in(x)
            e = [x_in]
            for conv in reference.encoder:
                e.append(conv(e[-1]))
            d = e[4]
            swapped = d
            for conv, skip in zip(reference.decoder, (e[3], e[2], e[1]), strict=True):
                d = conv(torch.cat([d, skip], dim=1))
                swapped = conv(torch.cat([skip, swapped], dim=1))
        if torch.allclose(got, d, atol=1e-5):
            raise AssertionError("the residual is missing: RSU-4F returns hx1d + hxin, where hxin = "
                                 "rebnconvin(x).")
        if c_in == c_out and torch.allclose(got, d + x, atol=1e-5):
            raise AssertionError("add hxin = rebnconvin(x), not the input x (their channels differ in "
                                 "general, and x_in is what the inner U refines).")
        if torch.allclose(got, swapped + x_in, atol=1e-5):
            raise AssertionError("the concatenations are swapped: the reference code puts the decoder's "
                                 "tensor first, torch.cat((hx4, hx3), 1), then the encoder output of the "
                                 "level; the same shapes, other weights' meaning (the official weights would "
                                 "not fit).")
        raise AssertionError(f"RSU4F({c_in}, {mid}, {c_out}) differs from the library's RSU-4F with the same "
                             f"weights. {_RSU4F_HOW}.")
