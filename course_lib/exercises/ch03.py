"""Chapter 03 (DropBlock) exercise checkers: gamma, growing seeds into blocks, the overlap-corrected
keep_prob."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from course_lib.blocks.dropblock import dropblock_gamma, grow_blocks
from course_lib.exercises import call_answer as _call
from course_lib.exercises import exercise

_GRID = [(kp, bs, feat) for kp in (0.5, 0.8, 0.9, 0.95) for bs in (1, 3, 4, 7, 9) for feat in (9, 14, 32, 48)
         if bs <= feat]


@exercise("03.gamma")
def check_gamma(fn: Callable[[float, int, int], float]) -> None:
    """``fn(keep_prob, block_size, feat_size) -> gamma`` of the paper's Eq. (1) for a square map."""
    for keep_prob, block_size, feat in _GRID:
        expected = dropblock_gamma(keep_prob, block_size, feat)
        got = float(_call(fn, keep_prob, block_size, feat))
        if math.isclose(got, expected, rel_tol=1e-9):
            continue
        valid = (feat - block_size + 1) ** 2
        hint = "gamma = (1 - keep_prob) / block_size**2 * feat**2 / (feat - block_size + 1)**2."
        if math.isclose(got, (1 - keep_prob) / block_size**2, rel_tol=1e-9):
            hint = ("you left out the second factor feat**2 / (feat - block_size + 1)**2: seeds may only "
                    "fall where a whole block fits, so each of those positions must fire more often.")
        elif math.isclose(got, keep_prob / block_size**2 * feat**2 / valid, rel_tol=1e-9):
            hint = "keep_prob is the fraction KEPT; the drop fraction is 1 - keep_prob."
        elif feat > block_size and math.isclose(
                got, (1 - keep_prob) / block_size**2 * feat**2 / (feat - block_size) ** 2, rel_tol=1e-9):
            hint = ("a map of size feat has feat - block_size + 1 valid positions per axis, "
                    "not feat - block_size.")
        raise AssertionError(f"keep_prob {keep_prob}, block_size {block_size}, feat_size {feat}: expected "
                             f"gamma {expected:.6g}, got {got:.6g}. {hint}")


@exercise("03.grow_blocks")
def check_grow_blocks(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> None:
    """``fn(seeds, block_size)``: bool seeds (N, C, H - bs + 1, W - bs + 1), each a block's top-left
    corner, -> float (N, C, H, W) map with 1 on every unit inside a block."""
    g = torch.Generator().manual_seed(3)
    for block_size, (height, width) in ((3, (12, 12)), (4, (12, 15)), (1, (6, 6)), (2, (9, 7)), (7, (7, 10))):
        seeds = torch.rand(2, 3, height - block_size + 1, width - block_size + 1, generator=g) < 0.05
        seeds[0, 0, 0, 0] = seeds[1, 2, -1, -1] = True  # corners: blocks must reach the map's borders
        out = _call(fn, seeds.clone(), block_size)
        assert isinstance(out, torch.Tensor), f"return a tensor, got {type(out).__name__}."
        expected = grow_blocks(seeds, block_size)
        assert tuple(out.shape) == tuple(expected.shape), (
            f"block_size {block_size}, seeds {tuple(seeds.shape)}: the output must be the map's size "
            f"{tuple(expected.shape)} (seed size + block_size - 1), got {tuple(out.shape)}. For an even "
            "block size a centred pooling window cannot do it; pad block_size - 1 on every side and max-pool "
            "with stride 1."
        )
        if not torch.equal(out.float(), expected):
            wrong = int((out.float() != expected).sum())
            raise AssertionError(
                f"block_size {block_size}, map {height}x{width}: {wrong} units differ. A seed at (i, j) "
                f"drops rows i..i+{block_size - 1} and columns j..j+{block_size - 1}; output pixel y is "
                "covered by seeds y - block_size + 1 .. y."
            )


def interior_drop_rate(keep_prob: float, block_size: int) -> float:
    """Expected drop rate far from the borders of a large map (no seed among the bs^2 covering a unit
    fires), with the paper's gamma for such a map, ``(1 - keep_prob) / bs^2``."""
    return 1 - (1 - (1 - keep_prob) / block_size**2) ** (block_size**2)


@exercise("03.keep_prob_for_rate")
def check_keep_prob_for_rate(fn: Callable[[float, int], float]) -> None:
    """``fn(drop_rate, block_size) -> keep_prob`` whose expected drop rate, overlaps included, is
    ``drop_rate`` on a large map (where Eq. (1)'s border factor is 1): solve
    ``1 - (1 - gamma)**(block_size**2) = drop_rate`` for gamma, then ``keep_prob = 1 - gamma * bs**2``."""
    for rate, block_size in ((0.1, 7), (0.1, 9), (0.3, 5), (0.05, 3), (0.2, 1), (0.39, 9)):
        got = float(_call(fn, rate, block_size))
        expected = 1 - block_size**2 * (1 - (1 - rate) ** (1 / block_size**2))
        if math.isclose(got, expected, abs_tol=1e-9):
            assert math.isclose(interior_drop_rate(got, block_size), rate, abs_tol=1e-9)
            continue
        hint = ""
        if math.isclose(got, 1 - rate, abs_tol=1e-9):
            hint = ("1 - drop_rate is the paper's keep_prob, which ignores overlaps: it drops only "
                    f"{interior_drop_rate(1 - rate, block_size):.2%} here. ")
        raise AssertionError(
            f"drop rate {rate}, block {block_size}: expected keep_prob {expected:.6f}, got {got:.6f}. {hint}"
            "A unit survives only if none of the block_size**2 seed positions covering it fires: "
            "1 - rate = (1 - gamma)**(block_size**2); then keep_prob = 1 - gamma * block_size**2."
        )
