"""DropBlock (Ghiasi, Lin and Le, NeurIPS 2018): drop contiguous ``block_size x block_size`` regions.

Dropout removes single activations, which a convolution's neighbours can fill back in; DropBlock
removes whole square regions so the network must use context from elsewhere. Algorithm 1 of the paper:

1. in eval mode (or with ``keep_prob == 1``) return the input unchanged;
2. sample block centres ("seeds") M ~ Bernoulli(gamma), only where a whole block fits;
3. grow every seed into a ``block_size x block_size`` block of zeros;
4. multiply and rescale by ``count(M) / count_ones(M)`` so the expected sum is unchanged.

The seed rate is the paper's Eq. (1), with the feature map's two sides kept apart:

    gamma = (1 - keep_prob) / block_size^2 * (H * W) / ((H - block_size + 1) * (W - block_size + 1))

``(1 - keep_prob) / block_size^2`` seeds per position, each dropping ``block_size^2`` units, would drop
``1 - keep_prob`` if blocks never overlapped; the second factor compensates for seeds being allowed
only in the ``(H - bs + 1) x (W - bs + 1)`` valid region. Overlapping blocks are *not* compensated
(as in the paper), so the measured drop rate is a little below the target: about
``1 - exp(-(1 - keep_prob))`` in the interior (9.5 % for keep_prob 0.9, 39 % for keep_prob 0.5); see
:func:`expected_drop_rate` for the exact figure at any size.

Two decisions the paper leaves open:

- **Maps smaller than the block**: the block is clamped to ``min(block_size, H, W)`` (a map of 5x5
  with ``block_size=7`` uses 5x5 blocks, i.e. each seed drops the whole channel), instead of failing.
- **Even block sizes**: seeds are placed at a block's top-left corner and grown with a stride-1 max
  pool after padding ``block_size - 1`` on every side, so every block is exactly ``bs x bs`` and the
  output has the input's shape for odd and even sizes alike.

Masks are sampled independently for every channel; ``share_channels=True`` drops the same blocks
in all channels.

Common bug 3 (the course's source material): "p = 0.5, block 9" means keep_prob 0.5, which drops
37.6 % of a 48x48 map and 38-39 % of the maps of a 592-px input, nearly four times the paper's
~10 %; the nominal 50 % is never reached because overlapping blocks are counted once. A naive
``gamma = p / block_size^2`` with seeds anywhere gives about the same (36.4 % at 48x48). The source
also crashed on maps smaller than the block and mis-shaped outputs for even block sizes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "DropBlock2d", "LinearKeepProbSchedule", "bernoulli_mask", "dropblock_gamma", "expected_drop_rate",
    "grow_blocks", "measured_drop_rate",
]


def _pair(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    height, width = size
    return int(height), int(width)


def _check_keep_prob(keep_prob: float) -> float:
    if not 0.0 < keep_prob <= 1.0:
        raise ValueError(
            f"keep_prob={keep_prob} is outside (0, 1]: it is the fraction of activations KEPT "
            f"(the paper uses 0.9; a drop probability p corresponds to keep_prob = 1 - p)."
        )
    return float(keep_prob)


def dropblock_gamma(keep_prob: float, block_size: int, feat_size: int | tuple[int, int]) -> float:
    """The seed probability of the paper's Eq. (1) for a ``feat_size`` map (an int or ``(H, W)``).

    ``block_size`` must fit in the map here (the layer itself clamps it; this function does not, so a
    formula cell in a notebook cannot silently compute something else).
    """
    keep_prob = _check_keep_prob(keep_prob)
    height, width = _pair(feat_size)
    if block_size < 1:
        raise ValueError(f"block_size must be at least 1, got {block_size}.")
    if block_size > min(height, width):
        raise ValueError(
            f"block_size={block_size} does not fit in a {height}x{width} map; "
            f"use block_size <= {min(height, width)}."
        )
    valid = (height - block_size + 1) * (width - block_size + 1)
    return (1.0 - keep_prob) / block_size**2 * (height * width) / valid


def _seed_coverage(length: int, block_size: int, valid_seeds: bool) -> torch.Tensor:
    """How many seed positions along one axis produce a block covering each index."""
    index = torch.arange(length)
    if valid_seeds:  # top-left corners 0 .. length - bs
        low, high = (index - block_size + 1).clamp(min=0), index.clamp(max=length - block_size)
    else:  # centred blocks, seeds anywhere, blocks cut at the border
        half = block_size // 2
        low, high = (index - (block_size - 1 - half)).clamp(min=0), (index + half).clamp(max=length - 1)
    return (high - low + 1).clamp(min=0)


def expected_drop_rate(
    gamma_or_keep_prob: float,
    block_size: int,
    feat_size: int | tuple[int, int],
    *,
    gamma: float | None = None,
    valid_seeds: bool = True,
) -> float:
    """The exact expected fraction of dropped activations, overlaps included.

    A unit is dropped unless none of the ``n`` seed positions whose block covers it fires, so
    ``E[drop] = mean over units of 1 - (1 - gamma)^n``. By default ``gamma`` is the paper's value for
    ``keep_prob = gamma_or_keep_prob``; pass ``gamma=`` to evaluate another rule, e.g. a naive
    ``gamma = p / block_size^2`` with seeds anywhere (``valid_seeds=False``, blocks centred on seeds
    and cut at the border, the way many public implementations do it).
    """
    height, width = _pair(feat_size)
    block_size = min(block_size, height, width)
    if gamma is None:
        gamma = dropblock_gamma(gamma_or_keep_prob, block_size, (height, width))
    rows = _seed_coverage(height, block_size, valid_seeds).double()
    cols = _seed_coverage(width, block_size, valid_seeds).double()
    covering = rows[:, None] * cols[None, :]
    return float((1.0 - (1.0 - min(gamma, 1.0)) ** covering).mean())


class DropBlock2d(nn.Module):
    """DropBlock for ``(N, C, H, W)`` maps; ``keep_prob`` is an attribute a schedule may change.

    Args:
        keep_prob: fraction of activations kept in training (paper: 0.9). 1.0 disables the layer.
        block_size: side of the dropped squares (paper: 7); clamped to ``min(H, W)`` on small maps.
        share_channels: drop the same blocks in every channel instead of independent masks.
    """

    def __init__(self, keep_prob: float = 0.9, block_size: int = 7, *, share_channels: bool = False) -> None:
        super().__init__()
        if block_size < 1:
            raise ValueError(f"block_size must be at least 1, got {block_size}.")
        self.keep_prob = _check_keep_prob(keep_prob)
        self.block_size = int(block_size)
        self.share_channels = share_channels
        self.last_mask: torch.Tensor | None = None  # kept for visualisation: 1 = kept, 0 = dropped

    def extra_repr(self) -> str:
        return (f"keep_prob={self.keep_prob}, block_size={self.block_size}, "
                f"share_channels={self.share_channels}")

    def sample_seeds(self, shape: torch.Size | tuple[int, ...], device=None, generator=None) -> torch.Tensor:
        """Bool seeds (block top-left corners) for an input of ``shape`` = (N, C, H, W): shape
        ``(N, C or 1, H - bs + 1, W - bs + 1)`` with ``bs = min(block_size, H, W)``, each True with
        probability gamma. Only positions where a whole block fits exist at all."""
        if len(shape) != 4:
            raise ValueError(f"DropBlock2d expects (N, C, H, W) input, got shape {tuple(shape)}.")
        n, c, height, width = shape
        bs = min(self.block_size, height, width)
        gamma = dropblock_gamma(_check_keep_prob(self.keep_prob), bs, (height, width))
        seed_shape = (n, 1 if self.share_channels else c, height - bs + 1, width - bs + 1)
        return bernoulli_mask(seed_shape, gamma, device=device, generator=generator)

    def block_mask(self, shape: torch.Size | tuple[int, ...], device=None, generator=None) -> torch.Tensor:
        """Sample a float mask (1 = keep, 0 = drop) for an input of ``shape`` = (N, C, H, W)."""
        seeds = self.sample_seeds(shape, device=device, generator=generator)
        bs = min(self.block_size, *shape[-2:])
        return 1.0 - grow_blocks(seeds, bs).expand(*shape[:2], -1, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.keep_prob >= 1.0:
            return x
        mask = self.block_mask(x.shape, device=x.device).to(x.dtype)
        self.last_mask = mask.detach()
        kept = mask.sum()
        # numel / count_ones (Algorithm 1, step 6); with every unit dropped the output is simply zero.
        scale = mask.numel() / kept.clamp(min=1.0)
        return x * mask * scale


def bernoulli_mask(shape: tuple[int, ...], p: float, *, device=None, generator=None) -> torch.Tensor:
    """A bool tensor of ``shape`` whose entries are independently True with probability ``p``.

    The same distribution as ``torch.rand(shape) < p``, but DropBlock's seed rate is tiny (about 0.002
    for keep_prob 0.9, block 7), so instead of one random number per position it draws the gaps
    between consecutive seeds, which are geometric: ``gap = 1 + floor(log(1 - u) / log(1 - p))``.
    That needs about ``p * numel`` random numbers instead of ``numel`` (measured: 3 ms -> 0.15 ms for
    a 16 x 16 x 58 x 58 seed map on a 2-core CPU).
    """
    total = math.prod(shape)
    flat = torch.zeros(total, dtype=torch.bool, device=device)
    if p >= 1.0:
        return flat.fill_(True).view(shape)
    if p <= 0.0 or total == 0:
        return flat.view(shape)
    log_q = math.log1p(-p)
    last = -1  # index of the last seed placed
    while True:
        expected = (total - last - 1) * p
        draws = int(expected + 6.0 * math.sqrt(expected + 1.0) + 16)  # rarely needs a second round
        u = torch.rand(draws, device=device, dtype=torch.float64, generator=generator)
        positions = last + (torch.floor(torch.log1p(-u) / log_q).long() + 1).cumsum(0)
        flat[positions[positions < total]] = True
        if bool(positions[-1] >= total):
            return flat.view(shape)
        last = int(positions[-1])


def grow_blocks(seeds: torch.Tensor, block_size: int) -> torch.Tensor:
    """Grow seeds (block top-left corners, ``(N, C, H - bs + 1, W - bs + 1)``) into a float map of
    dropped units (1 = dropped) of shape ``(N, C, H, W)``: every seed becomes a ``bs x bs`` square."""
    bs = int(block_size)
    if seeds.dim() != 4:
        raise ValueError(f"grow_blocks expects seeds of shape (N, C, h, w), got {tuple(seeds.shape)}.")
    # Output pixel y is covered by seeds y - bs + 1 .. y: pad bs - 1 zeros on both sides and count the
    # seeds in every bs-wide window, once along each axis, as differences of running sums (exact for
    # these integer counts). A stride-1 max-pool gives the same map; the running sums are faster on a
    # CPU (docs/chapter03_development.md). A pixel is dropped when its count is positive; blocks are
    # exactly bs x bs for odd and even bs.
    counts = F.pad(seeds.float(), (bs, bs - 1, bs, bs - 1))  # + one leading zero for the difference
    running = counts.cumsum(-1)
    counts = running[..., bs:] - running[..., :-bs]
    running = counts.cumsum(-2)
    counts = running[..., bs:, :] - running[..., :-bs, :]
    return (counts > 0.5).float()


def measured_drop_rate(
    keep_prob: float,
    block_size: int,
    feat_size: int | tuple[int, int],
    *,
    channels: int = 256,
    generator: torch.Generator | None = None,
) -> float:
    """The fraction of units one sampled mask drops, over ``channels`` independent ``feat_size`` maps."""
    height, width = _pair(feat_size)
    mask = DropBlock2d(keep_prob, block_size).block_mask((1, channels, height, width), generator=generator)
    return 1.0 - mask.mean().item()


def _dropblocks(target: nn.Module | Iterable[nn.Module]) -> list[DropBlock2d]:
    modules = [target] if isinstance(target, nn.Module) else list(target)
    found = [m for module in modules for m in module.modules() if isinstance(m, DropBlock2d)]
    if not found:
        raise ValueError("LinearKeepProbSchedule found no DropBlock2d layer in what it was given.")
    return found


class LinearKeepProbSchedule:
    """The paper's schedule: keep_prob falls linearly from ``start`` to ``end`` over ``steps`` steps.

    ``target`` is a model (every :class:`DropBlock2d` inside is updated) or a list of modules.
    In a hand-written loop call :meth:`step` once per optimizer step; after ``steps`` steps keep_prob
    stays at ``end``. As a callback of :func:`course_lib.engine.fit` (``callbacks=[schedule]``) the
    schedule moves once per EPOCH (``steps`` then counts epochs): epoch ``e`` runs with
    ``count = e - 1``, set from the epoch number, so a resumed run picks up where it stopped, and each
    epoch's keep_prob is recorded in the history as the column ``keep_prob``.
    """

    def __init__(self, target: nn.Module | Iterable[nn.Module], start: float = 1.0, end: float = 0.9,
                 steps: int = 1000) -> None:
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}.")
        self.layers = _dropblocks(target)
        self.start, self.end = _check_keep_prob(start), _check_keep_prob(end)
        self.steps = int(steps)
        self.count = 0
        self._apply()

    @property
    def keep_prob(self) -> float:
        """The keep_prob in force now."""
        fraction = min(self.count / self.steps, 1.0)
        return self.start + (self.end - self.start) * fraction

    def _apply(self) -> None:
        for layer in self.layers:
            layer.keep_prob = self.keep_prob

    def step(self) -> float:
        """Advance one step; returns the new keep_prob."""
        return self.set_count(self.count + 1)

    def set_count(self, count: int) -> float:
        """Jump to step ``count`` (e.g. to continue a resumed run); returns the keep_prob in force."""
        self.count = max(int(count), 0)
        self._apply()
        return self.keep_prob

    def on_epoch_start(self, ctx: Any) -> None:
        """Engine hook: set the keep_prob of epoch ``ctx.epoch`` (1-based), i.e. ``count = epoch - 1``."""
        self.set_count(int(ctx.epoch) - 1)

    def on_epoch_end(self, ctx: Any) -> None:
        """Engine hook: record the keep_prob the epoch ran with in its history record."""
        if ctx.history.records:
            ctx.history.records[-1]["keep_prob"] = self.keep_prob

    def values(self, n: int | None = None) -> list[float]:
        """The keep_prob at counts ``0 .. n - 1`` (default ``steps + 1``), for plotting the schedule."""
        n = self.steps + 1 if n is None else n
        return [self.start + (self.end - self.start) * min(i / self.steps, 1.0) for i in range(n)]

    def state_dict(self) -> dict[str, float]:
        return {"count": self.count, "start": self.start, "end": self.end, "steps": self.steps}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.count, self.start, self.end = int(state["count"]), float(state["start"]), float(state["end"])
        self.steps = int(state["steps"])
        self._apply()

