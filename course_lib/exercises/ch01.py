"""Chapter 01 (U-Net) exercise checkers: level shapes, skip concatenation, parameter counts, Dice vs IoU."""

from __future__ import annotations

from collections.abc import Callable

import torch

from course_lib.blocks.conv import DoubleConv, center_crop
from course_lib.exercises import call_answer as _call
from course_lib.exercises import exercise


@exercise("01.level_shape")
def check_level_shape(fn: Callable[..., tuple[int, int]]) -> None:
    """``fn(level, input_size, base_width) -> (channels, side)`` of a padded U-Net's encoder level."""
    for size in (64, 256, 572 - 60):
        for base in (8, 32, 64):
            for level in range(5):
                expected = (base * 2**level, size // 2**level)
                got = _call(fn, level, size, base)
                assert tuple(got) == expected, (
                    f"level {level}, input {size}, base width {base}: expected (channels, side) {expected}, "
                    f"got {tuple(got)}. Channels double at every level (base * 2**level); padded 3x3 convs "
                    "keep the size and each max-pool halves it (input / 2**level)."
                )


@exercise("01.skip_concat")
def check_skip_concat(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """``fn(skip, up)``: centre-crop ``skip`` to ``up``'s size, concatenate ``[skip, up]`` on channels."""
    g = torch.Generator().manual_seed(1)
    for skip_hw, up_hw, c_skip, c_up in (((8, 8), (8, 8), 3, 2), ((64, 64), (56, 56), 4, 4),
                                         ((17, 20), (12, 16), 2, 5), ((136, 136), (104, 104), 1, 1)):
        skip = torch.randn(2, c_skip, *skip_hw, generator=g)
        up = torch.randn(2, c_up, *up_hw, generator=g)
        out = _call(fn, skip, up)
        assert isinstance(out, torch.Tensor), f"return a tensor, got {type(out).__name__}."
        expected = torch.cat([center_crop(skip, *up_hw), up], dim=1)
        assert tuple(out.shape) == tuple(expected.shape), (
            f"skip {tuple(skip.shape)} and up {tuple(up.shape)} should give {tuple(expected.shape)}, got "
            f"{tuple(out.shape)}. Crop the skip to up's height and width, then torch.cat along dim=1."
        )
        if skip_hw != up_hw and torch.equal(out, torch.cat([skip[..., :up_hw[0], :up_hw[1]], up], dim=1)):
            raise AssertionError("you cropped the top-left corner; crop the centre: start at "
                                 "(H_skip - H_up) // 2 and (W_skip - W_up) // 2.")
        if torch.equal(out, torch.cat([up, center_crop(skip, *up_hw)], dim=1)) and c_skip != c_up:
            raise AssertionError("the channels are in the order [up, skip]; the course (and the paper's "
                                 "figure) puts the copied skip first: torch.cat([skip, up], dim=1).")
        assert torch.equal(out, expected), (
            f"the values differ for skip {tuple(skip.shape)} and up {tuple(up.shape)}: crop the centre "
            "of the skip (top = (H_skip - H_up) // 2, left = (W_skip - W_up) // 2), then cat [skip, up]."
        )


@exercise("01.double_conv_params")
def check_double_conv_params(fn: Callable[..., int]) -> None:
    """``fn(c_in, c_out, batch_norm) -> int``: the parameters of a double 3x3 conv, by formula."""
    for c_in, c_out in ((1, 64), (3, 32), (64, 128), (512, 256), (7, 5)):
        for batch_norm in (False, True):
            expected = sum(p.numel() for p in DoubleConv(c_in, c_out, batch_norm=batch_norm).parameters())
            got = _call(fn, c_in, c_out, batch_norm)
            hint = ("each conv has 3*3*c_in*c_out weights plus c_out biases" if not batch_norm else
                    "with BatchNorm the convs have no bias (BN's shift replaces it), each BN has 2 * c_out "
                    "parameters (scale and shift; running mean/var are buffers, not parameters)")
            assert int(got) == expected, (
                f"DoubleConv({c_in}, {c_out}, batch_norm={batch_norm}) has {expected:,} parameters, "
                f"you computed {int(got):,}: {hint}; the second conv maps c_out -> c_out."
            )


@exercise("01.iou_from_dice")
def check_iou_from_dice(fn: Callable[[float], float]) -> None:
    """``fn(dice) -> iou`` for the same prediction (IoU = Dice / (2 - Dice))."""
    for dice in (0.0, 0.25, 0.5, 0.8, 0.9, 1.0):
        expected = dice / (2 - dice)
        got = float(_call(fn, dice))
        assert abs(got - expected) < 1e-9, (
            f"Dice {dice} should give IoU {expected:.6f}, got {got:.6f}. Write both with TP, FP, FN: "
            "Dice = 2TP / (2TP + FP + FN), IoU = TP / (TP + FP + FN), and eliminate FP + FN."
        )
