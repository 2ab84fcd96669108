"""Chapter 06 (DACRSE-UNet on DRIVE) exercise checkers: the RSE forward pass, FOV metrics, and the
accuracy of a model that finds no vessel at all."""

from __future__ import annotations

from collections.abc import Callable

import torch

from course_lib.blocks.se import RSEBlock
from course_lib.exercises import call_answer as _call
from course_lib.exercises import exercise
from course_lib.metrics import confusion_counts, scores_from_counts


def _vessel_scene(seed: int, size: int = 40) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A random probability map, a sparse 'vessel' target and a disc FOV (1 x 1 x size x size)."""
    g = torch.Generator().manual_seed(seed)
    target = (torch.rand(1, 1, size, size, generator=g) < 0.12).float()
    prob = (0.35 * target + 0.65 * torch.rand(1, 1, size, size, generator=g)).clamp(0, 1)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    fov = (((yy - size / 2) ** 2 + (xx - size / 2) ** 2) <= (0.45 * size) ** 2).float()[None, None]
    return prob, target * fov, fov


@exercise("06.rse_forward")
def check_rse_forward(fn: Callable[[RSEBlock, torch.Tensor], torch.Tensor]) -> None:
    """``fn(block, x)``: the RSE unit's output from its parts ``block.residual``, ``block.se``,
    ``block.shortcut`` (without calling ``block(x)``)."""
    torch.manual_seed(0)
    for cin, cout in ((8, 8), (4, 8)):
        block = RSEBlock(cin, cout, keep_prob=1.0, reduction=2).eval()
        x = torch.randn(2, cin, 12, 12)
        with torch.no_grad():
            expected = block(x)
            got = _call(fn, block, x)
            assert isinstance(got, torch.Tensor), f"return a tensor, got {type(got).__name__}."
            assert got.shape == expected.shape, (
                f"expected shape {tuple(expected.shape)}, got {tuple(got.shape)}.")
            features = block.residual(x)
            squared = block.shortcut(x) + block.se(features) * features
            if torch.allclose(got, squared, atol=1e-5) and not torch.allclose(squared, expected):
                raise AssertionError("you multiplied se(F(x)) by F(x) again: block.se already returns "
                                     "F(x) * weights, so this squares the features (common bug 2).")
            if torch.allclose(got, block.shortcut(x) + features, atol=1e-5):
                raise AssertionError("the SE re-weighting is missing: add block.se(F(x)), not F(x).")
            assert torch.allclose(got, expected, atol=1e-5), (
                f"wrong values for {cin} -> {cout} channels: the unit is shortcut(x) + se(residual(x)); "
                "the shortcut is a 1x1 conv when the width changes (use block.shortcut)."
            )


@exercise("06.fov_rates")
def check_fov_rates(fn: Callable[..., tuple[float, float]]) -> None:
    """``fn(prob, target, fov) -> (sensitivity, specificity)`` at threshold 0.5, inside the FOV only."""
    for seed in range(3):
        prob, target, fov = _vessel_scene(seed)
        counts = confusion_counts(prob, target, fov)
        expected = scores_from_counts(**counts)
        got = _call(fn, prob, target, fov)
        assert isinstance(got, tuple | list) and len(got) == 2, "return a pair (sensitivity, specificity)."
        se, sp = (float(v) for v in got)
        everywhere = scores_from_counts(**confusion_counts(prob, target))
        if abs(se - expected["precision"]) < 1e-6:
            raise AssertionError("your sensitivity is TP / (TP + FP): that is precision (common bug 6). "
                                 "Sensitivity is TP / (TP + FN), the fraction of vessel pixels found.")
        if abs(sp - everywhere["specificity"]) < 1e-6 and abs(sp - expected["specificity"]) > 1e-6:
            raise AssertionError("your specificity counts the black corners outside the field of view; "
                                 "keep only pixels where fov > 0.5.")
        assert abs(se - expected["sensitivity"]) < 1e-6, (
            f"sensitivity should be {expected['sensitivity']:.4f}, got {se:.4f}: TP / (TP + FN) over the "
            "FOV pixels, with prediction = prob >= 0.5 and vessel = target > 0.5.")
        assert abs(sp - expected["specificity"]) < 1e-6, (
            f"specificity should be {expected['specificity']:.4f}, got {sp:.4f}: TN / (TN + FP) inside "
            "the FOV.")


@exercise("06.background_accuracy")
def check_background_accuracy(fn: Callable[..., float]) -> None:
    """``fn(target, fov) -> float``: the FOV accuracy of a model that predicts "background" everywhere."""
    for seed in range(3):
        _, target, fov = _vessel_scene(seed)
        expected = scores_from_counts(**confusion_counts(torch.zeros_like(target), target, fov))["accuracy"]
        got = float(_call(fn, target, fov))
        whole = 1.0 - float(target.mean())
        if abs(got - whole) < 1e-6 and abs(whole - expected) > 1e-6:
            raise AssertionError("you counted every pixel of the image; count only pixels inside the FOV.")
        assert abs(got - expected) < 1e-6, (
            f"expected {expected:.4f}, got {got:.4f}: predicting no vessel is right on every background "
            "pixel, so the accuracy is the background fraction of the FOV = 1 - (vessel pixels in FOV) / "
            "(FOV pixels).")
