"""Chapter 09 (U^2-Net) exercise checkers: the RSU-L forward pass, the seven-term loss with a term
dropped, and the salient-object max F-beta, each against the library."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from course_lib.blocks.rsu import RSU
from course_lib.exercises import call_answer as _call
from course_lib.exercises import exercise
from course_lib.metrics import max_f_beta, salient_scores


@exercise("09.rsu_forward")
def check_rsu_forward(fn: Callable[..., torch.Tensor]) -> None:
    """``fn(block, x) -> y``: RSU-L's forward pass from ``block.conv_in``, ``block.encoder``,
    ``block.decoder`` and ``block.pool`` (pool before e_2..e_{L-1}; e_L is dilated, not pooled)."""
    for seed, (height, size) in enumerate(((4, 16), (5, 20), (7, 33))):
        torch.manual_seed(seed)
        block = RSU(height, 3, 4, 6).eval()
        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            got = _call(fn, block, x)
            expected = block(x)
        assert isinstance(got, torch.Tensor), f"return a tensor, got {type(got).__name__}."
        assert got.shape == expected.shape, (
            f"RSU-{height} on {size}x{size}: the output must be {tuple(expected.shape)} (the input's size, "
            f"C_out = {block.conv_in[0].out_channels} channels), got {tuple(got.shape)}. Resize each decoder "
            "output to its skip's size with upsample_like(d, skip) before concatenating (odd sizes!).")
        if torch.allclose(got, expected, atol=1e-5):
            continue
        with torch.no_grad():
            x_in = block.conv_in(x)
            without_residual = expected - x_in
        if torch.allclose(got, without_residual, atol=1e-5):
            raise AssertionError("the residual is missing: RSU returns U(x_in) + x_in, where x_in = "
                                 "block.conv_in(x) (not x itself, whose channels differ).")
        if torch.allclose(got, without_residual + x[:, :1].expand_as(x_in), atol=1e-5):
            raise AssertionError("add x_in = block.conv_in(x), not the input x.")
        raise AssertionError(
            f"RSU-{height} differs from the block's own forward. Encoder: h = conv_in(x) = x_in; for k, "
            "conv in enumerate(block.encoder): pool first when 1 <= k <= L-2; keep every output as a skip. "
            "Decoder: d = last encoder output; for conv, skip in zip(block.decoder, reversed(skips[:-1])): "
            "d = conv(torch.cat([upsample_like(d, skip), skip], 1)) (upsampled first, then the skip).")


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

