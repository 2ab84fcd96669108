"""Chapter 06 (DACRSE-UNet on DRIVE) exercise checkers: the DAC block from its shared convolutions, FOV
sensitivity and specificity, and the source material's bottleneck rebuilt as DACRSE-UNet's."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from course_lib.blocks.dac import DACBlock
from course_lib.blocks.se import RSEBlock
from course_lib.exercises import call_answer as _call
from course_lib.exercises import exercise, random_weights
from course_lib.metrics import confusion_counts, scores_from_counts


def _vessel_scene(seed: int, size: int = 40) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A random probability map, a sparse 'vessel' target and a disc FOV (1 x 1 x size x size)."""
    g = torch.Generator().manual_seed(seed)
    target = (torch.rand(1, 1, size, size, generator=g) < 0.12).float()
    prob = (0.35 * target + 0.65 * torch.rand(1, 1, size, size, generator=g)).clamp(0, 1)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    fov = (((yy - size / 2) ** 2 + (xx - size / 2) ** 2) <= (0.45 * size) ** 2).float()[None, None]
    return prob, target * fov, fov


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _refuse(*_: object) -> None:
    raise AssertionError("build the output from block.dilate1, block.dilate2, block.dilate3 and "
                         "block.conv1x1: calling block(x) or block.branch(...) is what you replace here.")


@exercise("06.dac_forward")
def check_dac_forward(fn: Callable[[DACBlock, torch.Tensor], torch.Tensor]) -> None:
    """``fn(block, x)``: the DAC block's output from its four shared convolutions ``block.dilate1`` (3x3
    d=1), ``block.dilate2`` (3x3 d=3), ``block.dilate3`` (3x3 d=5) and ``block.conv1x1``."""
    block = random_weights(DACBlock(4), 6, scale=0.3, norm_stats=False)
    x = torch.randn(2, 4, 15, 17, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        expected = block(x)
        d1, d3, d5, mix = block.dilate1, block.dilate2, block.dilate3, block.conv1x1
        branches = [d1(x), mix(d3(x)), mix(d3(d1(x))), mix(d5(d3(d1(x))))]
        block.forward, block.branch = _refuse, _refuse  # the student must not call the block itself
        got = _call(fn, block, x)
        assert isinstance(got, torch.Tensor), f"return a tensor, got {type(got).__name__}."
        assert got.shape == expected.shape, (
            f"DAC keeps the shape {tuple(expected.shape)}, got {tuple(got.shape)}: pad each 3x3 conv by its "
            "dilation (the block's convolutions already do).")
        relu = torch.relu
        per_branch = "the ReLU acts on each branch on its own, before the sum, not on the total."
        mistakes = [
            (sum(relu(b) for b in branches), "the input itself is missing: DAC(x) = x + Σ ReLU(branch(x))."),
            (x + sum(branches), "each branch goes through a ReLU before the sum."),
            (relu(x + sum(branches)), per_branch),
            (x + relu(sum(branches)), per_branch),
            (x + relu(branches[0]) + relu(d3(x)) + relu(d3(d1(x))) + relu(d5(d3(d1(x)))),
             "branches 2-4 end with the 1x1 convolution (block.conv1x1), which mixes the channels."),
            (x + relu(branches[0]) + relu(mix(d3(x))) + relu(mix(d3(x))) + relu(mix(d5(x))),
             "branches 3 and 4 are cascades: branch 3 is 1x1(d3(d1(x))), branch 4 is "
             "1x1(d5(d3(d1(x)))), each conv applied to the previous one's output."),
        ]
        for wrong, hint in mistakes:
            if torch.allclose(got, wrong, atol=1e-5) and not torch.allclose(wrong, expected, atol=1e-5):
                raise AssertionError(hint)
        assert torch.allclose(got, expected, atol=1e-5), (
            "the values differ. Branch 1: d1(x); branch 2: 1x1(d3(x)); branch 3: 1x1(d3(d1(x))); branch 4: "
            "1x1(d5(d3(d1(x)))), with d1, d3, d5 = block.dilate1, block.dilate2, block.dilate3 and 1x1 = "
            "block.conv1x1; the output is x + the sum of the four ReLU'd branches.")


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


@exercise("06.bottleneck")
def check_bottleneck(fn: Callable[[int, int, int], nn.Module]) -> None:
    """``fn(in_channels, out_channels, reduction) -> nn.Module``: DACRSE-UNet's bottleneck, a 2x2 max-pool,
    an RSE unit ``in -> out`` (SE reduction ``reduction``) and CE-Net's DAC block on ``out`` channels."""
    for cin, cout, r in ((8, 16, 4), (12, 24, 8)):
        rse, dac = RSEBlock(cin, cout, reduction=r), DACBlock(cout)
        reference = random_weights(nn.Sequential(nn.MaxPool2d(2), rse, dac), cin, scale=0.3, norm_stats=False)
        module = _call(fn, cin, cout, r)
        assert isinstance(module, nn.Module), f"return an nn.Module, got {type(module).__name__}."
        got, want = _count(module), _count(reference)
        unshared = _count(rse) + _count(DACBlock(cout, shared=False))
        counts = {
            _count(rse): "the DAC block is missing: it follows the RSE unit, at the bottleneck's width.",
            _count(DACBlock(cout)): "the RSE unit is missing (the source material's mistake): the bottleneck "
                                    "level has its own RSE unit in -> out before the DAC block.",
            _count(DACBlock(cin)) + _count(rse): "the DAC block works on the RSE unit's output: "
                                                 "DACBlock(out_channels), not in_channels.",
            unshared: "CE-Net's DAC shares its four convolutions between the branches: "
                      "DACBlock(out_channels, shared=True).",
        }
        if got != want:
            generic = (f"expected {want:,} parameters (RSE unit {_count(rse):,} + DAC {_count(dac):,}), got "
                       f"{got:,}: check the widths and the SE reduction.")
            raise AssertionError(counts.get(got, generic))
        student = list(module.parameters())
        if [p.shape for p in student] != [p.shape for p in reference.parameters()]:
            raise AssertionError("the right parts in the wrong order: max-pool, then the RSE unit, then DAC.")
        with torch.no_grad():
            for mine, theirs in zip(student, reference.parameters(), strict=True):
                mine.copy_(theirs)
            module.eval()
            x = torch.randn(2, cin, 16, 16, generator=torch.Generator().manual_seed(cout))
            out = _call(module, x)
            expected = reference(x)
            if tuple(out.shape) == (2, cout, 16, 16):
                raise AssertionError("the 2x2 max-pool is missing: the bottleneck works at half the "
                                     "resolution of the level above (1/8 of the input after three pools).")
            assert tuple(out.shape) == tuple(expected.shape), (
                f"for a (2, {cin}, 16, 16) input expected {tuple(expected.shape)}, got {tuple(out.shape)}.")
            late_pool = reference[0](dac(rse(x)))
            if torch.allclose(out, late_pool, atol=1e-5) and not torch.allclose(late_pool, expected,
                                                                                 atol=1e-5):
                raise AssertionError("pool first: the RSE unit and the DAC block work on the pooled map.")
            assert torch.allclose(out, expected, atol=1e-5), (
                "the values differ from MaxPool2d(2) -> RSEBlock(in, out, reduction=r) -> DACBlock(out).")
