"""The shared seed-comparison runner: order, kept runs, the rehearsal's single seed, the summary."""

from __future__ import annotations

import pytest
import torch

from course_lib.protocols import sweep
from course_lib.training.history import History


def fake_train(arm: str, seed: int) -> sweep.ArmResult:
    history = History(metric="train_loss")
    history.append({"epoch": 1, "train_loss": 1.0, "step_seconds": 0.1 * (seed + 1)})
    return sweep.ArmResult(arm, seed, {"dice": 0.5 + 0.1 * seed + (0.2 if arm == "b" else 0.0)}, 10, 1.0,
                           history, model=torch.nn.Identity(), prob=torch.zeros(1))


def test_run_sweep_is_seed_major_and_keeps_one_seed(monkeypatch):
    monkeypatch.delenv("COURSE_MAX_STEPS", raising=False)
    results = sweep.run_sweep(["a", "b"], [0, 1, 2], fake_train, keep_seed=1, progress=False)
    assert [(r.arm, r.seed) for r in results] == [(a, s) for s in (0, 1, 2) for a in ("a", "b")]
    assert [r.model is not None for r in results] == [False, False, True, True, False, False]
    summary = sweep.summarise(results, ["dice"])
    assert summary["a"]["dice"] == pytest.approx((0.6, 0.1))
    assert summary["b"]["dice"][0] == pytest.approx(0.8) and summary["b"]["seeds"] == [0, 1, 2]
    assert summary["a"]["step_seconds"] == pytest.approx(0.2)


def test_a_rehearsal_trains_the_first_seed_only(monkeypatch):
    monkeypatch.setenv("COURSE_MAX_STEPS", "1")
    assert sweep.sweep_seeds([3, 4, 5]) == (3,)
    results = sweep.run_sweep(["a"], [3, 4], fake_train, progress=False)
    assert [r.seed for r in results] == [3]
    assert sweep.summarise(results, ["dice"])["a"]["dice"][1] == 0.0
    with pytest.raises(ValueError, match="at least one seed"):
        sweep.sweep_seeds([])
