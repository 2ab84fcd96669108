"""fit draws one progress bar per run (a notebook stores every bar it drew), and none without progress."""

from __future__ import annotations

import pytest
from test_engine import DictDataset, tiny_net
from tqdm import tqdm as plain_tqdm

from course_lib import engine
from course_lib.training import progress as progress_module


@pytest.fixture
def bars(monkeypatch):
    """Every bar RunProgress creates, recorded."""
    made = []

    class Recording(plain_tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(progress_module, "tqdm", Recording)
    return made


def test_one_bar_per_run_advancing_per_step(bars, capsys):
    history = engine.fit(tiny_net(), DictDataset(10), DictDataset(4, seed=1), epochs=3, batch_size=4,
                         device="cpu", progress=True)
    assert len(bars) == 1, "one bar for the whole run, not one per epoch"
    bar = bars[0]
    assert bar.total == 9 and bar.n == 9  # 3 epochs of ceil(10 / 4) steps, complete
    assert sum(history["steps"]) == 9
    assert "epoch=3/3" in bar.postfix and "val_dice" in bar.postfix and "loss" in bar.postfix
    assert "fit" in capsys.readouterr().err


def test_bar_total_honours_the_step_caps(bars, monkeypatch):
    engine.fit(tiny_net(), DictDataset(10), None, epochs=4, batch_size=4, device="cpu", progress=True,
               max_steps_per_epoch=2)
    assert bars[0].total == 8 and bars[0].n == 8
    monkeypatch.setenv("COURSE_MAX_STEPS", "3")
    engine.fit(tiny_net(), DictDataset(10), None, epochs=4, batch_size=4, device="cpu", progress=True)
    assert len(bars) == 2 and bars[1].total == 3 and bars[1].n == 3


def test_no_bar_without_progress(capsys):
    engine.fit(tiny_net(), DictDataset(8), None, epochs=2, batch_size=4, device="cpu", progress=False)
    assert capsys.readouterr().err == ""


def test_resumed_run_counts_only_the_steps_left(bars, tmp_path):
    kwargs = {"batch_size": 4, "device": "cpu", "progress": True, "out_dir": tmp_path}
    engine.fit(tiny_net(), DictDataset(8), None, epochs=1, **kwargs)
    engine.fit(tiny_net(), DictDataset(8), None, epochs=3, **kwargs)
    assert bars[1].total == 4 and bars[1].n == 4 and "epoch=3/3" in bars[1].postfix
