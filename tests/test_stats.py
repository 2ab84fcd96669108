"""cl.stats: the paired comparison rule, checked against scipy's paired t-test and by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

import course_lib as cl
from course_lib.stats import NO_DIFFERENCE

rng = np.random.default_rng(0)
CASES = [(rng.normal(0.7, 0.05, n), rng.normal(0.68, 0.05, n)) for n in (2, 3, 5, 8)] + [
    ([0.62, 0.61, 0.63], [0.55, 0.58, 0.57]),   # a clear gain
    ([0.62, 0.61, 0.63], [0.55, 0.58, 0.67]),   # better on 2 of 3 seeds: no finding
    ([0.51, 0.52, 0.53], [0.50, 0.50, 0.50]),   # better on every seed
]


@pytest.mark.parametrize(("a", "b"), CASES)
def test_interval_matches_scipy_paired_t_test(a, b):
    result = cl.stats.compare(a, b, show=False)
    ref = scipy_stats.ttest_rel(a, b)
    low, high = ref.confidence_interval(0.95)
    assert result.mean == pytest.approx(np.mean(np.subtract(a, b)))
    assert (result.low, result.high) == (pytest.approx(low), pytest.approx(high))
    # the interval excludes 0 exactly when the two-sided p-value is below 0.05
    assert result.finding == (ref.pvalue < 0.05)


def test_interval_by_hand():
    d = np.array([0.07, 0.03, 0.06])
    half = 4.302652729911275 * d.std(ddof=1) / math.sqrt(3)  # t_{0.975, 2}
    result = cl.stats.compare([0.62, 0.61, 0.63], [0.55, 0.58, 0.57], show=False)
    assert result.low == pytest.approx(d.mean() - half)
    assert result.high == pytest.approx(d.mean() + half)
    assert result.differences == pytest.approx(tuple(d))


def test_better_on_every_seed_is_not_by_itself_a_finding():
    # 3 of 3 seeds higher, yet the differences vary too much for the interval to exclude 0
    result = cl.stats.compare([0.60, 0.52, 0.70], [0.50, 0.51, 0.69], show=False)
    assert all(d > 0 for d in result.differences)
    assert not result.finding
    assert result.verdict == NO_DIFFERENCE


def test_verdict_words_and_printed_line(capsys):
    result = cl.stats.compare([0.62, 0.61, 0.63], [0.55, 0.58, 0.57], names=("grid gate", "U-Net"),
                              metric="Dice", budget="240 steps")
    line = capsys.readouterr().out.strip()
    assert line == result.line()
    assert line == ("grid gate vs U-Net, Dice: +0.053 [+0.002, +0.105] (95 % t-interval, 3 paired seeds): "
                    "grid gate better")
    worse = cl.stats.compare([0.55, 0.58, 0.57], [0.62, 0.61, 0.63], names=("A", "B"), show=False)
    assert worse.verdict == "A worse"
    null = cl.stats.compare([0.6, 0.5, 0.7], [0.55, 0.6, 0.6], budget="60 steps", show=False)
    assert null.verdict == "no difference detected at 60 steps"


def test_lower_is_better_flips_the_verdict():
    errors_a, errors_b = [0.10, 0.12, 0.11], [0.20, 0.21, 0.22]
    result = cl.stats.compare(errors_a, errors_b, names=("weighted", "plain"), metric="Rand error",
                              higher_is_better=False, show=False)
    assert result.verdict == "weighted better"
    assert "lower is better" in result.line()


def test_bonferroni_widens_each_interval():
    a, b = [0.62, 0.61, 0.63], [0.55, 0.58, 0.57]
    one = cl.stats.compare(a, b, show=False)
    nine = cl.stats.compare(a, b, comparisons=9, show=False)
    assert nine.confidence == pytest.approx(1 - 0.05 / 9)
    assert nine.high - nine.low > one.high - one.low
    ref_low, ref_high = scipy_stats.ttest_rel(a, b).confidence_interval(1 - 0.05 / 9)
    assert (nine.low, nine.high) == (pytest.approx(ref_low), pytest.approx(ref_high))
    assert "Bonferroni over 9" in nine.line()


def test_seed_dicts_are_paired_by_seed():
    by_seed = cl.stats.compare({2: 0.6, 0: 0.5, 1: 0.7}, {0: 0.4, 1: 0.65, 2: 0.58}, show=False)
    assert by_seed.seeds == (0, 1, 2)
    assert by_seed.differences == pytest.approx((0.1, 0.05, 0.02))


def test_one_seed_gives_no_verdict():
    result = cl.stats.compare([0.6], [0.5], show=False)
    assert not result.finding
    assert "no verdict" in result.verdict
    assert "[" not in result.line()


class _Run:
    def __init__(self, arm, seed, dice):
        self.arm, self.seed, self.scores = arm, seed, {"dice": dice}


def test_sweep_results_against_a_baseline(capsys):
    arms = (("U-Net", 0.5, 0), ("gate", 0.6, 0.001), ("x", 0.5, 0))
    runs = [_Run(arm, s, base + 0.01 * s + bump * s) for s in range(3) for arm, base, bump in arms]
    out = cl.stats.compare_to_baseline(runs, "U-Net", "dice", budget="10 steps")
    printed = capsys.readouterr().out
    assert [c.a for c in out] == ["gate", "x"]
    assert all(c.comparisons == 2 for c in out)
    assert "2 comparisons against U-Net" in printed
    assert out[0].verdict == "gate better"
    assert out[1].verdict == "no difference detected at 10 steps"


@pytest.mark.parametrize(("a", "b", "kwargs", "message"), [
    ([0.5, 0.6], [0.5], {}, "one score per seed"),
    ({0: 0.5, 1: 0.6}, {0: 0.5, 2: 0.6}, {}, "same seeds"),
    ([0.5, float("nan")], [0.5, 0.6], {}, "NaN"),
    ([], [], {}, "flat list"),
    ([0.5, 0.6], {0: 0.5, 1: 0.6}, {}, "same way"),
    (["a", "b"], [0.5, 0.6], {}, "numbers"),
    ([0.5, 0.6], [0.4, 0.5], {"confidence": 95}, "between 0 and 1"),
    ([0.5, 0.6], [0.4, 0.5], {"comparisons": 0}, "positive integer"),
])
def test_bad_input_gets_a_clear_error(a, b, kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        cl.stats.compare(a, b, show=False, **kwargs)


def test_unknown_arm_names_the_arms():
    with pytest.raises(KeyError, match="the sweep has"):
        cl.stats.compare_arms([_Run("U-Net", 0, 0.5)], "gate", "U-Net", "dice")


def test_identical_differences_are_not_a_finding():
    result = cl.stats.compare([0.5, 0.6], [0.2, 0.3], show=False)  # +0.3 on both seeds: no spread at all
    assert result.degenerate and not result.finding
    assert "no verdict" in result.verdict


def test_differences_equal_up_to_rounding_are_degenerate_too():
    # one lesion of 68 fewer on every seed: the same difference, computed from different scores
    a, b = [50 / 68, 44 / 68, 61 / 68], [51 / 68, 45 / 68, 62 / 68]
    result = cl.stats.compare(a, b, show=False)
    assert result.degenerate and not result.finding and "no verdict" in result.verdict
