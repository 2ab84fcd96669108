"""Chapter 05 (dilation, DAC, receptive fields) exercise checkers: the RF formula, gap-free dilation
rates, and a correct DAC branch, each measured with the course's receptive-field tool."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn

from course_lib.exercises import call_answer as _call
from course_lib.exercises import exercise
from course_lib.receptive_field import analytic, bounding_box, conv_stack, footprint


def _side(mask: torch.Tensor) -> int:
    top, left, bottom, right = bounding_box(mask)
    return max(bottom - top, right - left) + 1


@exercise("05.receptive_field")
def check_receptive_field(fn: Callable[[list[tuple[int, int, int]]], int]) -> None:
    """``fn(layers) -> int``: the receptive field of a stack of ``(kernel, stride, dilation)`` layers."""
    rng = random.Random(5)
    cases = [[(3, 1, 1)] * 3, [(3, 1, 2)] * 3, [(3, 2, 1), (3, 2, 1), (3, 1, 1)], [(2, 2, 1)] * 4,
             [(7, 2, 1), (3, 2, 1), (3, 1, 2), (3, 1, 4)], [(1, 1, 3)]]
    for _ in range(20):
        cases.append([(rng.choice((1, 2, 3, 5)), rng.choice((1, 2)), rng.choice((1, 2, 3)))
                      for _ in range(rng.randint(1, 6))])
    for layers in cases:
        expected = analytic(layers)[-1].rf
        got = _call(fn, list(layers))
        if int(got) != expected:
            no_dilation = analytic([(k, s, 1) for k, s, _ in layers])[-1].rf
            hint = (" You ignored the dilation: a k x k kernel with dilation d spans d (k - 1) + 1 pixels."
                    if int(got) == no_dilation and no_dilation != expected else
                    " Each layer adds (k_eff - 1) times the product of the strides of the layers before it "
                    "(not including its own stride).")
            raise AssertionError(f"layers {layers}: receptive field {expected}, you returned {got}.{hint}")


@exercise("05.gap_free_rates")
def check_gap_free_rates(rates: Any) -> None:
    """Three dilation rates for three 3x3 convs: receptive field >= 17 and a footprint without holes."""
    if callable(rates):
        rates = _call(rates)
    rates = tuple(int(r) for r in rates)
    assert len(rates) == 3, f"give three dilation rates (one per 3x3 layer), got {rates}."
    assert min(rates) >= 1, f"dilation rates are >= 1, got {rates}."
    size = 2 * (2 * sum(rates)) + 9
    mask = footprint(conv_stack(3, rates), (1, size, size))
    side = _side(mask)
    assert side >= 17, (f"rates {rates} give a receptive field of {side} px; you need at least 17. "
                        "Each 3x3 layer with dilation d adds 2d pixels.")
    holes = side * side - int(mask.sum())
    assert holes == 0, (
        f"rates {rates} reach {side} px but {holes} of the {side * side} pixels in the box are never seen "
        "(gridding). The earlier layers must fill the gaps a later rate opens: start with dilation 1 and "
        "let each rate be at most the receptive field of the layers before it (Wang et al.'s HDC), with "
        "no common factor > 1.")


@exercise("05.dac_branch")
def check_dac_branch(fn: Callable[[int], nn.Module]) -> None:
    """``fn(channels) -> nn.Module``: DAC branch 2, a 3x3 conv with dilation 3 then a 1x1 conv."""
    for channels in (1, 4):
        branch = _call(fn, channels)
        assert isinstance(branch, nn.Module), f"return an nn.Module, got {type(branch).__name__}."
        x = torch.randn(1, channels, 21, 21)
        try:
            y = branch(x)
        except Exception as err:
            raise AssertionError(f"your branch fails on a 1x{channels}x21x21 input: {err}") from None
        assert tuple(y.shape) == tuple(x.shape), (
            f"the branch must keep the shape {tuple(x.shape)}, got {tuple(y.shape)}: pad the 3x3 dilation-3 "
            "conv by 3 (padding = dilation * (kernel - 1) // 2) and the 1x1 conv by 0.")
        mask = footprint(branch, (channels, 21, 21))
        side, seen = _side(mask), int(mask.sum())
        if side == 1:
            raise AssertionError("the branch sees one pixel only: its dilated layer has a 1x1 kernel, and "
                                 "a 1x1 kernel has no gaps to spread (common bug 1). Use a 3x3 kernel with "
                                 "dilation 3.")
        assert side == 7, (f"branch 2's receptive field is d (k - 1) + 1 = 3 * 2 + 1 = 7 px; yours is {side} "
                           "px. Use one 3x3 conv with dilation 3, then a 1x1 conv (dilation 1).")
        assert seen == 9, f"a 3x3 kernel with dilation 3 reads 9 pixels spread over 7x7; yours reads {seen}."
        convs = [m for m in branch.modules() if isinstance(m, nn.Conv2d)]
        assert convs and convs[-1].kernel_size == (1, 1), (
            "end the branch with the 1x1 conv (it mixes channels after the dilated 3x3, as in CE-Net).")
