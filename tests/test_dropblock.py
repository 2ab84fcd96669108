"""DropBlock: the paper's gamma, measured drop rates, block shapes, eval identity, the schedule."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib.blocks.dropblock import (
    DropBlock2d,
    LinearKeepProbSchedule,
    bernoulli_mask,
    dropblock_gamma,
    expected_drop_rate,
    grow_blocks,
    measured_drop_rate,
)

UNITS = 2**19  # activations per measurement


def measure(keep_prob: float, block_size: int, size: int, seed: int = 0) -> float:
    generator = torch.Generator().manual_seed(seed)
    return measured_drop_rate(keep_prob, block_size, size, channels=UNITS // size**2, generator=generator)


def sampling_tolerance(rate: float, block_size: int) -> float:
    """Five standard errors of a measured rate: blocks make about UNITS / bs^2 independent draws."""
    return 5 * math.sqrt(rate * (1 - rate) * block_size**2 / UNITS) + 0.002


def test_gamma_is_the_papers_formula() -> None:
    assert dropblock_gamma(0.9, 7, 64) == pytest.approx(0.1 / 49 * 64**2 / 58**2)
    assert dropblock_gamma(0.9, 7, (32, 64)) == pytest.approx(0.1 / 49 * 32 * 64 / (26 * 58))
    assert dropblock_gamma(0.8, 1, 10) == pytest.approx(0.2)  # block 1 is dropout
    with pytest.raises(ValueError, match="does not fit"):
        dropblock_gamma(0.9, 9, 8)
    with pytest.raises(ValueError, match="keep_prob"):
        dropblock_gamma(1.5, 3, 8)


@pytest.mark.parametrize("keep_prob", [0.8, 0.9, 0.95])
@pytest.mark.parametrize("block_size", [1, 2, 3, 4, 7, 8])
@pytest.mark.parametrize("size", [8, 16, 33])
def test_measured_drop_rate(keep_prob: float, block_size: int, size: int) -> None:
    """Two tolerances. (1) Sampling: the measured rate is within five standard errors of the exact
    expectation (at most 0.024 absolute, for 8x8 blocks). (2) Overlap bias: the expectation is within
    15 % (relative) of the target 1 - keep_prob; the paper's gamma ignores overlapping blocks, so the
    rate falls short, by about (1 - keep_prob)^2 / 2 in the interior (at most 14.1 % relative for
    keep_prob >= 0.8, any block up to 11 and map up to 99 px)."""
    measured = measure(keep_prob, block_size, size)
    expected = expected_drop_rate(keep_prob, block_size, size)
    target = 1.0 - keep_prob
    assert measured == pytest.approx(expected, abs=sampling_tolerance(expected, block_size))
    assert expected == pytest.approx(target, rel=0.15)
    assert expected <= target + 1e-12


def test_source_configuration_drops_about_37_percent() -> None:
    """Common bug 3: p = 0.5, block 9 drops ~37-39 %, not the ~10 % DropBlock is meant for, and not
    50 % either: 1 - (1 - gamma)^81 saturates at 1 - exp(-0.5) = 39.3 % in the interior."""
    measured = measure(0.5, 9, 48)
    assert expected_drop_rate(0.5, 9, 48) == pytest.approx(0.376, abs=0.001)
    assert measured == pytest.approx(0.376, abs=sampling_tolerance(0.376, 9))
    assert expected_drop_rate(0.5, 9, 592) == pytest.approx(1 - math.exp(-0.5), abs=0.002)
    # The naive gamma = p / bs^2 with seeds anywhere (many public versions) lands in the same range.
    naive = expected_drop_rate(0.5, 9, 48, gamma=0.5 / 81, valid_seeds=False)
    assert 0.35 < naive < 0.38
    assert expected_drop_rate(0.9, 7, 74) == pytest.approx(0.095, abs=0.001)


@pytest.mark.parametrize("block_size", [2, 3, 4, 5, 6, 8])
@pytest.mark.parametrize("shape", [(17, 17), (16, 23), (9, 30)])
def test_blocks_are_exact_squares_and_shape_is_kept(block_size: int, shape: tuple[int, int]) -> None:
    torch.manual_seed(1)
    layer = DropBlock2d(0.8, block_size).train()
    x = torch.randn(4, 3, *shape)
    y = layer(x)
    assert y.shape == x.shape
    dropped = 1.0 - layer.last_mask
    assert dropped.sum() > 0
    # Morphological opening with a bs x bs square leaves a union of whole bs x bs blocks unchanged.
    bs = min(block_size, *shape)
    eroded = -F.max_pool2d(-dropped, bs, stride=1)
    opened = F.max_pool2d(F.pad(eroded, (bs - 1,) * 4), bs, stride=1)
    assert torch.equal(opened, dropped)


def test_tiny_maps_clamp_the_block() -> None:
    torch.manual_seed(2)
    layer = DropBlock2d(0.9, 7).train()
    y = layer(torch.ones(20000, 1, 3, 5))
    assert y.shape == (20000, 1, 3, 5)
    kept = layer.last_mask.sum(dim=(2, 3)).long()
    # The block is clamped to 3x3: seeds at columns 0, 1, 2 drop 3x3 squares of the 3x5 map, so a channel
    # keeps 15 (no seed), 6 (one), 3 (two adjacent) or 0 pixels.
    assert set(kept.unique().tolist()) == {0, 3, 6, 15}
    assert 1 - layer.last_mask.mean().item() == pytest.approx(expected_drop_rate(0.9, 7, (3, 5)), abs=0.01)


def test_eval_and_keep_prob_one_are_identity() -> None:
    x = torch.randn(2, 4, 16, 16)
    layer = DropBlock2d(0.5, 3).eval()
    assert layer(x) is x
    assert DropBlock2d(1.0, 3).train()(x) is x


def test_rescaling_keeps_the_sum() -> None:
    torch.manual_seed(3)
    y = DropBlock2d(0.7, 5).train()(torch.ones(8, 4, 20, 20))
    assert y.mean().item() == pytest.approx(1.0, abs=1e-5)
    assert (y == 0).any()


def test_gradients_flow_through_kept_units_only() -> None:
    torch.manual_seed(4)
    layer = DropBlock2d(0.8, 3).train()
    x = torch.randn(2, 3, 12, 12, requires_grad=True)
    layer(x).sum().backward()
    mask = layer.last_mask
    scale = mask.numel() / mask.sum()
    assert torch.allclose(x.grad, mask * scale)


def test_linear_schedule() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), DropBlock2d(0.5, 3), nn.Sequential(DropBlock2d(0.5, 5)))
    schedule = LinearKeepProbSchedule(model, start=1.0, end=0.9, steps=10)
    layers = [m for m in model.modules() if isinstance(m, DropBlock2d)]
    assert [m.keep_prob for m in layers] == [1.0, 1.0]
    for _ in range(5):
        schedule.step()
    assert all(m.keep_prob == pytest.approx(0.95) for m in layers)
    for _ in range(20):
        schedule.step()
    assert all(m.keep_prob == pytest.approx(0.9) for m in layers)
    fresh = LinearKeepProbSchedule(layers, start=1.0, end=0.9, steps=10)
    fresh.load_state_dict({**schedule.state_dict(), "count": 3})
    assert layers[0].keep_prob == pytest.approx(0.97)
    assert fresh.set_count(6) == pytest.approx(0.94) and fresh.count == 6
    assert all(m.keep_prob == pytest.approx(0.94) for m in layers)
    assert fresh.set_count(40) == pytest.approx(0.9) and fresh.set_count(-2) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no DropBlock2d"):
        LinearKeepProbSchedule(nn.Conv2d(1, 1, 3))


def test_bad_arguments_are_explained() -> None:
    with pytest.raises(ValueError, match="KEPT"):
        DropBlock2d(0.0, 3)
    with pytest.raises(ValueError, match="block_size"):
        DropBlock2d(0.9, 0)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        DropBlock2d(0.9, 3).train()(torch.ones(3, 8, 8))


@pytest.mark.parametrize("block_size", [1, 2, 3, 6])
def test_grow_blocks_matches_a_direct_loop(block_size: int) -> None:
    generator = torch.Generator().manual_seed(5)
    seeds = torch.rand(1, 2, 11 - block_size + 1, 9 - block_size + 1, generator=generator) < 0.1
    seeds[0, 0, -1, 0] = True
    expected = torch.zeros(1, 2, 11, 9)
    for c, i, j in seeds[0].nonzero().tolist():
        expected[0, c, i:i + block_size, j:j + block_size] = 1
    assert torch.equal(grow_blocks(seeds, block_size), expected)


@pytest.mark.parametrize("p", [0.002, 0.05, 0.3])
def test_bernoulli_mask_has_independent_entries_with_rate_p(p: float) -> None:
    generator = torch.Generator().manual_seed(11)
    draws = torch.stack([bernoulli_mask((40, 50), p, generator=generator) for _ in range(400)]).double()
    counts = draws.flatten(1).sum(1)  # Binomial(2000, p) per draw
    n = 2000
    assert counts.mean().item() == pytest.approx(n * p, rel=0.05 if p > 0.01 else 0.15)
    assert counts.var().item() == pytest.approx(n * p * (1 - p), rel=0.25)
    per_position = draws.flatten(1).mean(0)  # every position, first and last included, fires at rate p
    assert per_position[:50].mean().item() == pytest.approx(p, rel=0.2 if p > 0.01 else 0.5)
    assert per_position[-50:].mean().item() == pytest.approx(p, rel=0.2 if p > 0.01 else 0.5)
    if p >= 0.05:  # the very first and last positions, and neighbours uncorrelated (not a regular grid)
        tolerance = 4 * math.sqrt(p * (1 - p) / len(draws))
        assert per_position[0].item() == pytest.approx(p, abs=tolerance)
        assert per_position[-1].item() == pytest.approx(p, abs=tolerance)
        flat = draws.flatten(1)
        corr = torch.corrcoef(torch.stack([flat[:, :-1].flatten(), flat[:, 1:].flatten()]))[0, 1]
        assert abs(corr.item()) < 0.02


def test_bernoulli_mask_edge_cases_and_determinism() -> None:
    assert not bernoulli_mask((3, 4), 0.0).any()
    assert bernoulli_mask((3, 4), 1.0).all()
    assert bernoulli_mask((0, 4), 0.5).shape == (0, 4)
    assert bernoulli_mask((2, 3, 5, 7), 0.2).shape == (2, 3, 5, 7)
    a = bernoulli_mask((64, 64), 0.01, generator=torch.Generator().manual_seed(3))
    b = bernoulli_mask((64, 64), 0.01, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_share_channels_drops_the_same_blocks() -> None:
    torch.manual_seed(6)
    layer = DropBlock2d(0.7, 3, share_channels=True).train()
    layer(torch.ones(2, 5, 16, 16))
    assert layer.last_mask.shape == (2, 5, 16, 16)
    assert torch.equal(layer.last_mask[:, :1].expand(-1, 5, -1, -1), layer.last_mask)


def test_schedule_as_an_engine_callback_steps_per_epoch_and_resumes(tmp_path) -> None:
    import course_lib as cl

    data = [{"image": torch.rand(1, 16, 16), "mask": (torch.rand(1, 16, 16) > 0.5).float()} for _ in range(2)]
    model = cl.create_model("unet", widths=(4, 8), regularizer=lambda level, c: DropBlock2d(1.0, 3))
    seen = []

    class Spy:
        def on_epoch_start(self, ctx) -> None:  # runs after the schedule (it comes first in callbacks)
            seen.append(model.regularizers["encoder_0"].keep_prob)

    schedule = LinearKeepProbSchedule(model, 1.0, 0.8, steps=2)
    history = cl.engine.fit(model, data, data, epochs=3, batch_size=2, progress=False,
                            callbacks=[schedule, Spy()])
    assert seen == pytest.approx([1.0, 0.9, 0.8])
    assert history["keep_prob"] == pytest.approx([1.0, 0.9, 0.8])
    assert schedule.values() == pytest.approx([1.0, 0.9, 0.8])
    # resumed: epoch 3 of a fresh run (after 2 checkpointed epochs) gets the epoch-3 keep_prob
    cl.engine.fit(model, data, epochs=2, batch_size=2, progress=False, out_dir=tmp_path)
    fresh = LinearKeepProbSchedule(model, 1.0, 0.8, steps=2)
    seen.clear()
    cl.engine.fit(model, data, epochs=3, batch_size=2, progress=False, out_dir=tmp_path,
                  callbacks=[fresh, Spy()])
    assert seen == pytest.approx([0.8])
