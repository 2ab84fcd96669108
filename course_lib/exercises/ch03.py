"""Chapter 03 (DropBlock) exercise checkers: growing seeds into blocks, the DropBlock forward pass, the
overlap-corrected keep_prob."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from course_lib.blocks.dropblock import expected_drop_rate, grow_blocks
from course_lib.exercises import call_answer as _call
from course_lib.exercises import exercise


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


def _covered_by_blocks(dropped: torch.Tensor, block_size: int) -> torch.Tensor:
    """True where a dropped unit lies inside some all-dropped ``block_size`` square that fits in the map."""
    full = torch.nn.functional.avg_pool2d(dropped.float(), block_size, stride=1) > 1 - 1e-6
    return grow_blocks(full, block_size).bool() | ~dropped


@exercise("03.dropblock")
def check_dropblock(fn: Callable[..., torch.Tensor]) -> None:
    """``fn(x, keep_prob, block_size, training=True)``: Algorithm 1 of the paper with Eq. (1)'s gamma (seeds
    on the valid grid, blocks grown from them, independent per channel, output rescaled by
    count(M) / count_ones(M)); the identity when not training or when keep_prob is 1."""
    x = torch.randn(2, 3, 16, 16)
    for keep_prob, training, why in ((0.9, False, "in evaluation mode"), (1.0, True, "with keep_prob 1")):
        out = _call(fn, x.clone(), keep_prob, 5, training)
        assert isinstance(out, torch.Tensor) and torch.equal(out, x), (
            f"{why} DropBlock must return its input unchanged (Algorithm 1, step 1).")
    for block_size, shape in ((7, (32, 32)), (4, (16, 16)), (3, (9, 12)), (2, (8, 8))):
        out = _call(fn, torch.ones(2, 4, *shape), 0.9, block_size, True)
        assert isinstance(out, torch.Tensor), f"return a tensor, got {type(out).__name__}."
        assert tuple(out.shape) == (2, 4, *shape), (
            f"block_size {block_size} on a {shape[0]}x{shape[1]} map: the output must keep the input's "
            f"shape (2, 4, {shape[0]}, {shape[1]}), got {tuple(out.shape)}. Grow blocks from their top-left "
            "corners (pad block_size - 1, max-pool with stride 1), not with a centred window (even sizes "
            "break).")
    torch.manual_seed(0)
    keep_prob, block_size, feat = 0.9, 7, 32
    out = _call(fn, torch.ones(64, 8, feat, feat), keep_prob, block_size, True)
    dropped = out == 0
    rate = float(dropped.float().mean())
    target = expected_drop_rate(keep_prob, block_size, feat)
    naive = expected_drop_rate(keep_prob, block_size, feat, gamma=(1 - keep_prob) / block_size**2)
    if abs(rate - target) > 0.012:
        hint = "use gamma = (1 - keep_prob) / b^2 * f^2 / (f - b + 1)^2 with seeds on the valid grid."
        if rate > 0.5:
            hint = "keep_prob is the fraction KEPT: the seeds fire with a rate derived from 1 - keep_prob."
        elif rate < 0.005:
            hint = ("almost nothing was dropped: are the seeds sampled with probability gamma and grown into "
                    "blocks?")
        elif abs(rate - naive) < 0.012:
            hint = ("you left out Eq. 1's border factor f^2 / (f - b + 1)^2: seeds only fall where a whole "
                    "block fits, so each valid position must fire more often.")
        raise AssertionError(f"keep_prob {keep_prob}, block {block_size}, {feat}x{feat} maps: {rate:.1%} of "
                             f"the units were dropped; Eq. 1 gives {target:.1%}. {hint}")
    if not bool(_covered_by_blocks(dropped, block_size).all()):
        raise AssertionError(f"some dropped units are not inside a whole {block_size}x{block_size} block "
                             "within the map: drop squares grown from seeds on the valid (f - b + 1)^2 grid, "
                             "not single units or blocks cut at the border.")
    if bool((dropped[:, :1] == dropped).all()):
        raise AssertionError("every channel got the same mask: DropBlock samples each channel's seeds "
                             "independently (share_channels=False in the paper's default).")
    if not math.isclose(float(out.mean()), 1.0, abs_tol=0.01):
        unscaled = math.isclose(float(out[~dropped].mean()), 1.0, rel_tol=1e-3)
        hint = (" The kept units were not rescaled: multiply by count(M) / count_ones(M) so that the "
                "expected sum is unchanged." if unscaled else "")
        raise AssertionError(f"on an all-ones input the output's mean should stay 1 (the rescaling), got "
                             f"{float(out.mean()):.4f}.{hint}")
