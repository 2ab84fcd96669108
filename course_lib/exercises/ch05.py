"""Chapter 05 (dilation, DAC, receptive fields) exercise checkers: the RF formula, the offsets a dilated
stack reads (and its holes), and a correct DAC branch, each measured with the course's receptive-field
tool."""

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


def _measured_offsets(kernel: int, rates: tuple[int, ...]) -> list[int]:
    """The column offsets the centre pixel of ``conv_stack(kernel, rates)`` reads, by the footprint tool."""
    reach = sum(d * (kernel - 1) // 2 for d in rates)
    size = 2 * reach + 9
    row = footprint(conv_stack(kernel, rates), (1, size, size))[size // 2]
    return [int(c) - size // 2 for c in torch.nonzero(row).flatten()]


@exercise("05.reachable_offsets")
def check_reachable_offsets(fn: Callable[[int, tuple[int, ...]], Any]) -> None:
    """``fn(kernel, rates)``: the sorted offsets a stack of ``kernel``-tap convs with dilations ``rates``
    reads, checked against the footprint tool on stacks with and without holes."""
    cases = [(3, (1,)), (3, (2,)), (3, (1, 1, 1)), (3, (2, 2, 2)), (3, (1, 2, 5)), (3, (1, 2, 9)),
             (3, (1, 3, 5)), (5, (1, 3)), (1, (3, 3)), (3, (3, 1)), (5, (2, 2))]
    for kernel, rates in cases:
        expected = _measured_offsets(kernel, rates)
        got = _call(fn, kernel, tuple(rates))
        try:
            got = sorted(int(o) for o in got)
        except TypeError:
            raise AssertionError(f"return a list of integer offsets, got {type(got).__name__}.") from None
        if got == expected:
            continue
        hint = ""
        half = sum(d * (kernel - 1) // 2 for d in rates)
        union = sorted({d * (t - (kernel - 1) // 2) for d in rates for t in range(kernel)})
        no_dilation = _measured_offsets(kernel, (1,) * len(rates))
        if got == list(range(-half, half + 1)) and got != expected:
            hint = (" You returned every offset of the analytic box; a dilated kernel reads only every d-th "
                    "pixel, so a stack can leave holes.")
        elif got == union:
            hint = (" That is the union of the layers' own taps. A later layer reads around *every* offset "
                    "the layers before it read: the stack's offsets are all sums o_1 + o_2 + ..., one tap "
                    "per layer.")
        elif got == no_dilation:
            hint = " You ignored the dilation: a tap t of a kernel with dilation d sits at d * t."
        elif got and min(got) == 0:
            hint = (" Centre each kernel: its taps are d * (t - (k - 1) // 2) for t = 0 .. k - 1 ('same' "
                    "padding), so offsets run from -reach to +reach.")
        raise AssertionError(f"kernel {kernel}, rates {rates}: the stack reads offsets {expected}, you "
                             f"returned {got}.{hint}")


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
