"""One rule for every comparison of two arms trained with the same seeds.

A chapter trains arm A and arm B with the same seeds (same initial data order and patches), so the
scores come in pairs. :func:`compare` takes the per-seed differences A - B, their mean and a 95 %
t-interval (Student's t with n - 1 degrees of freedom, the paired t-test's interval), and reads it:

- ``"A better"`` / ``"A worse"`` only when the interval excludes 0;
- otherwise ``"no difference detected at this budget"``: not "no difference", only none this budget
  can tell from seed noise.

"Better on every seed" is not a finding: with 3 seeds it happens 1 time in 8 with no effect at all.
When one chapter makes ``m`` comparisons at once (a leaderboard against one baseline), pass
``comparisons=m``: each interval then has confidence ``1 - 0.05 / m`` (Bonferroni), so the chance of
any false finding stays at most 5 %.

    >>> cl.stats.compare([0.62, 0.61, 0.63], [0.55, 0.58, 0.57], names=("grid gate", "U-Net"),
    ...                  metric="Dice", budget="240 steps")
    grid gate vs U-Net, Dice: +0.053 [+0.002, +0.105] (95 % t-interval, 3 paired seeds): grid gate better
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as _scipy_stats

__all__ = ["Comparison", "compare", "compare_arms", "compare_to_baseline", "paired_scores"]

NO_DIFFERENCE = "no difference detected at this budget"


def _signed(x: float, digits: int) -> str:
    text = f"{x:+.{digits}f}"
    return text.replace("-", "−") if text.startswith("-") else text


@dataclass(frozen=True)
class Comparison:
    """The paired comparison of arm ``a`` against arm ``b`` on ``metric`` (differences are a - b)."""

    a: str
    b: str
    metric: str
    seeds: tuple[Any, ...]
    differences: tuple[float, ...]
    mean: float
    low: float
    high: float
    confidence: float
    higher_is_better: bool
    budget: str | None
    comparisons: int
    digits: int

    @property
    def n(self) -> int:
        return len(self.differences)

    @property
    def degenerate(self) -> bool:
        """Every seed gave exactly the same non-zero difference: the interval has no width, which says more
        about the seeds (identical runs?) than about the arms. (All differences 0: no difference.)"""
        spread = self.high - self.low
        return self.n > 1 and spread <= 1e-9 * max(1.0, abs(self.mean)) and abs(self.mean) > 1e-12

    @property
    def finding(self) -> bool:
        """Whether the interval excludes 0 (a difference this budget can tell from seed noise)."""
        return self.n > 1 and not self.degenerate and (self.low > 0 or self.high < 0)

    @property
    def verdict(self) -> str:
        if self.n < 2:
            return "one seed: no interval, so no verdict (a comparison needs at least 2 seeds)"
        if self.degenerate:
            return ("every seed gave the same difference, so the interval has no width and no verdict is "
                    "drawn: check that the seeds really differ")
        if not self.finding:
            return NO_DIFFERENCE if self.budget is None else f"no difference detected at {self.budget}"
        a_higher = self.low > 0
        return f"{self.a} {'better' if a_higher == self.higher_is_better else 'worse'}"

    def interval_text(self) -> str:
        d = self.digits
        if self.n < 2:
            return _signed(self.mean, d)
        return f"{_signed(self.mean, d)} [{_signed(self.low, d)}, {_signed(self.high, d)}]"

    def line(self) -> str:
        """The one-line reading a chapter's prose quotes."""
        if self.n < 2:
            return f"{self.a} vs {self.b}, {self.metric}: {self.interval_text()} (1 seed): {self.verdict}"
        level = f"{100 * self.confidence:.4g} %"
        correction = f", Bonferroni over {self.comparisons}" if self.comparisons > 1 else ""
        lower = "" if self.higher_is_better else ", lower is better"
        return (f"{self.a} vs {self.b}, {self.metric}{lower}: {self.interval_text()} "
                f"({level} t-interval{correction}, {self.n} paired seeds): {self.verdict}")

    def per_seed_text(self) -> str:
        return " / ".join(_signed(d, self.digits) for d in self.differences)

    def __str__(self) -> str:
        return self.line()


Scores = Sequence[float] | Mapping[Any, float]


def _as_pairs(scores_a: Scores, scores_b: Scores) -> tuple[tuple[Any, ...], np.ndarray, np.ndarray]:
    if isinstance(scores_a, Mapping) != isinstance(scores_b, Mapping):
        raise TypeError("Give both arms' scores the same way: two lists in seed order, or two {seed: score} "
                        "dicts.")
    if isinstance(scores_a, Mapping):
        if set(scores_a) != set(scores_b):
            raise ValueError(f"The arms were not trained with the same seeds ({sorted(scores_a)} against "
                             f"{sorted(scores_b)}); a paired comparison needs the same seeds in both.")
        seeds = tuple(sorted(scores_a))
        a = [scores_a[s] for s in seeds]
        b = [scores_b[s] for s in seeds]
    else:
        a, b = list(scores_a), list(scores_b)
        if len(a) != len(b):
            raise ValueError(f"The arms have {len(a)} and {len(b)} scores; a paired comparison needs one "
                             "score per seed in each, in the same seed order.")
        seeds = tuple(range(len(a)))
    try:
        a_arr, b_arr = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(f"Scores must be numbers, one per seed ({err}).") from None
    if a_arr.ndim != 1 or a_arr.size == 0:
        raise ValueError("Give each arm's scores as a flat list with one number per seed (got none or a "
                         "nested list).")
    if not (np.isfinite(a_arr).all() and np.isfinite(b_arr).all()):
        raise ValueError("A score is NaN or infinite: a run diverged or was not scored. Fix or rerun it; "
                         "a comparison cannot drop a seed silently.")
    return seeds, a_arr, b_arr


def compare(scores_a: Scores, scores_b: Scores,
            *, names: tuple[str, str] = ("A", "B"), metric: str = "score", higher_is_better: bool = True,
            budget: str | None = None, confidence: float = 0.95, comparisons: int = 1, digits: int = 3,
            show: bool = True) -> Comparison:
    """Compare arm A with arm B on paired seeds; print (``show``) and return the reading.

    ``scores_*``: one score per seed, as lists in the same seed order or ``{seed: score}`` dicts.
    ``budget`` names what was trained ("240 steps of 4 patches"), so that a null reads
    "no difference detected at 240 steps of 4 patches". ``comparisons``: how many comparisons the
    chapter makes at once (Bonferroni). ``higher_is_better=False`` for errors and false positives.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1 (got {confidence}); 0.95 is usual.")
    if not isinstance(comparisons, int) or comparisons < 1:
        raise ValueError(f"comparisons counts the comparisons made at once: a positive integer "
                         f"(got {comparisons!r}).")
    seeds, a, b = _as_pairs(scores_a, scores_b)
    diff = a - b
    n = diff.size
    mean = float(diff.mean())
    level = 1 - (1 - confidence) / comparisons
    if n > 1:
        half = float(_scipy_stats.t.ppf(0.5 + level / 2, n - 1) * diff.std(ddof=1) / math.sqrt(n))
        low, high = mean - half, mean + half
    else:
        low = high = float("nan")
    result = Comparison(a=names[0], b=names[1], metric=metric, seeds=seeds,
                        differences=tuple(float(d) for d in diff), mean=mean, low=low, high=high,
                        confidence=level, higher_is_better=higher_is_better, budget=budget,
                        comparisons=comparisons, digits=digits)
    if show:
        print(result.line())
    return result


def paired_scores(results: Sequence[Any], arm: str, key: str) -> dict[Any, float]:
    """``{seed: score}`` of one arm from a sweep's results (objects with ``arm``, ``seed``, ``scores``)."""
    runs = {r.seed: float(r.scores[key]) for r in results if r.arm == arm}
    if not runs:
        arms = sorted({r.arm for r in results})
        raise KeyError(f"No run of arm {arm!r}; the sweep has {arms}.")
    return runs


def compare_arms(results: Sequence[Any], a: str, b: str, key: str, **kwargs: Any) -> Comparison:
    """:func:`compare` for two arms of a sweep's results, paired by seed; names default to the arms'."""
    kwargs.setdefault("names", (a, b))
    kwargs.setdefault("metric", key)
    return compare(paired_scores(results, a, key), paired_scores(results, b, key), **kwargs)


def compare_to_baseline(results: Sequence[Any], baseline: str, key: str, arms: Sequence[str] | None = None,
                        **kwargs: Any) -> list[Comparison]:
    """Every arm against ``baseline`` with a Bonferroni correction for their number; prints one line each
    (and a line saying what the correction is) unless ``show=False``."""
    arms = [a for a in (arms or dict.fromkeys(r.arm for r in results)) if a != baseline]
    show = kwargs.pop("show", True)
    m = len(arms)
    if show and m > 1:
        print(f"{m} comparisons against {baseline}: each interval at {100 * (1 - 0.05 / m):.4g} % "
              f"(Bonferroni), so that all {m} hold together with 95 % confidence.")
    return [compare_arms(results, arm, baseline, key, comparisons=m, show=show, **kwargs) for arm in arms]
