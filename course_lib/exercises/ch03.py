"""Chapter 03 (DropBlock) exercise checkers: growing seeds into blocks, the DropBlock forward pass, a
broken linear keep_prob schedule to repair."""

from __future__ import annotations

import math
from collections.abc import Callable
from types import SimpleNamespace

import torch
import torch.nn as nn

from course_lib.blocks.dropblock import DropBlock2d, LinearKeepProbSchedule, expected_drop_rate, grow_blocks
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


_UNSET = 0.5  # every DropBlock of the checker's model starts here, a value no schedule of the checks sets


def _ramp_model() -> tuple[nn.Module, list[DropBlock2d]]:
    """A small network with DropBlocks at the top level and nested two levels deep, as in a U-Net's levels."""
    level = nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), DropBlock2d(_UNSET, 3))
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), DropBlock2d(_UNSET, 3), level,
                          nn.Sequential(nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), DropBlock2d(_UNSET, 3))),
                          nn.Conv2d(2, 1, 1))
    return model, [m for m in model.modules() if isinstance(m, DropBlock2d)]


def _ramp_value(start: float, end: float, ramp: int, epoch: int) -> float:
    return start + (end - start) * min((epoch - 1) / ramp, 1.0)


@exercise("03.keep_prob_ramp")
def check_keep_prob_ramp(cls: Callable[..., object]) -> None:
    """``cls(model, start, end, ramp_epochs)``: an engine callback whose ``on_epoch_start(ctx)`` sets the
    keep_prob of every DropBlock2d in ``model`` (nested ones too) for epoch ``ctx.epoch`` (from 1): ``start``
    at epoch 1, falling linearly to ``end`` at epoch ``ramp_epochs + 1``, then constant; computed from the
    epoch number, so that a resumed run gets the right value."""
    from course_lib.training.history import History

    def make(start: float, end: float, ramp: int) -> tuple[object, nn.Module, list[DropBlock2d]]:
        model, layers = _ramp_model()
        schedule = _call(cls, model, start, end, ramp)
        if isinstance(schedule, LinearKeepProbSchedule):
            raise AssertionError("that is the library's LinearKeepProbSchedule: repair the class of the "
                                 "exercise instead.")
        if not callable(getattr(schedule, "on_epoch_start", None)):
            raise AssertionError(f"{type(schedule).__name__} has no method on_epoch_start(ctx): the engine "
                                 "calls it before each epoch.")
        for layer in layers:  # whatever the constructor set: the checks start from a known value
            layer.keep_prob = _UNSET
        return schedule, model, layers

    def run_epoch(schedule: object, model: nn.Module, epoch: int, epochs: int) -> None:
        ctx = SimpleNamespace(epoch=epoch, epochs=epochs, model=model, optimizer=None, history=History())
        _call(schedule.on_epoch_start, ctx)

    def values(layers: list[DropBlock2d], where: str) -> float:
        got = [float(layer.keep_prob) for layer in layers]
        if all(math.isclose(v, _UNSET) for v in got):
            raise AssertionError(f"{where}: no DropBlock2d changed its keep_prob. on_epoch_start must set "
                                 "the attribute keep_prob of each DropBlock2d layer of the model.")
        missed = sum(math.isclose(v, _UNSET) for v in got)
        if missed:
            raise AssertionError(
                f"{where}: {missed} of the model's {len(layers)} DropBlock2d layers kept their keep_prob. "
                "model.children() lists only the top-level layers; the DropBlocks of a U-Net sit inside its "
                "levels. Collect them with model.modules(), which walks the whole tree.")
        if max(got) - min(got) > 1e-9:
            raise AssertionError(f"{where}: the DropBlock2d layers got different keep_probs {got}; they all "
                                 "follow one schedule.")
        return got[0]

    for start, end, ramp in ((1.0, 0.9, 5), (0.95, 0.8, 3), (1.0, 0.75, 1)):
        epochs = ramp + 4
        schedule, model, layers = make(start, end, ramp)
        for epoch in range(1, epochs + 1):  # a whole run, epoch by epoch
            where = f"start {start}, end {end}, ramp_epochs {ramp}, epoch {epoch}"
            run_epoch(schedule, model, epoch, epochs)
            got, want = values(layers, where), _ramp_value(start, end, ramp, epoch)
            if math.isclose(got, want, abs_tol=1e-9):
                continue
            hint = ""
            if epoch == 1 and math.isclose(got, _ramp_value(start, end, ramp, 2), abs_tol=1e-9):
                hint = ("Epoch 1 already runs one step down the ramp (off by one): ctx.epoch counts from 1, "
                        "so the fraction of the ramp done before epoch e is (e - 1) / ramp_epochs.")
            elif math.isclose(got, end, abs_tol=1e-9) and epoch <= ramp:
                hint = "it starts at end: keep_prob goes from start to end."
            elif epoch > ramp + 1 and got < end:
                hint = ("After the ramp keep_prob keeps falling below end (and would turn negative in a long "
                        "run): cap the fraction of the ramp at 1, min((e - 1) / ramp_epochs, 1).")
            elif epoch <= ramp and math.isclose(got, start, abs_tol=1e-9):
                hint = ("keep_prob stays at start during the ramp: an integer division (//) rounds the "
                        "fraction of the ramp down to 0.")
            elif math.isclose(got, _ramp_value(start, end, epochs, epoch), abs_tol=1e-9):
                hint = "the ramp lasts ramp_epochs epochs, not the whole run (ctx.epochs)."
            raise AssertionError(f"{where}: keep_prob should be {want:.4f}, got {got:.4f}. {hint}".rstrip())
    for start, end, ramp, first in ((1.0, 0.9, 5, 8), (1.0, 0.9, 5, 3)):  # a run resumed at epoch `first`
        epochs = ramp + 4
        schedule, model, layers = make(start, end, ramp)
        for epoch in range(first, epochs + 1):
            where = (f"a run resumed at epoch {first} (start {start}, end {end}, ramp_epochs {ramp}), "
                     f"epoch {epoch}")
            run_epoch(schedule, model, epoch, epochs)
            got, want = values(layers, where), _ramp_value(start, end, ramp, epoch)
            if not math.isclose(got, want, abs_tol=1e-9):
                raise AssertionError(
                    f"{where}: keep_prob should be {want:.4f}, got {got:.4f}. Compute it from ctx.epoch, the "
                    "number of the epoch about to run: a callback that counts its own calls starts the ramp "
                    "again when cl.engine.fit resumes a run from its checkpoint.")
