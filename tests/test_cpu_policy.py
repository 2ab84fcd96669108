"""The CPU thread governor: all threads on a free CPU, one while other processes keep a core busy."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch

from course_lib import cpu_policy
from course_lib.cpu_policy import ThreadGovernor

needs_proc = pytest.mark.skipif(not cpu_policy._PROC_STAT.is_file(), reason="no /proc/stat (not Linux)")


class Scripted(ThreadGovernor):
    """A governor fed scripted (wall, busy, own) samples instead of /proc/stat."""

    def __init__(self, samples, **kwargs) -> None:
        self.samples = iter(samples)
        super().__init__(**kwargs)

    def _sample(self):
        return next(self.samples)


@pytest.fixture
def two_threads(monkeypatch):
    monkeypatch.delenv("COURSE_CPU_POLICY", raising=False)
    monkeypatch.setattr(cpu_policy, "enabled", lambda: True)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_switches_to_one_thread_under_load_and_back_with_hysteresis(two_threads):
    # wall seconds, busy CPU seconds on our cores, our own CPU seconds
    samples = [(0, 0, 0),
               (2, 4.0, 3.8),   # others 0.1 core: stay at 2
               (4, 7.0, 5.4),   # others (3.0 - 1.6) / 2 = 0.7 core: 1 thread
               (6, 9.6, 7.2),   # others 0.4: between the thresholds, keep 1
               (8, 11.6, 9.0),  # others 0.1: back to 2
               ]
    governor = Scripted(samples, interval=0.0)
    assert governor.full == 2 and governor.active
    assert [governor.step() for _ in range(4)] == [2, 1, 1, 2]
    assert governor.switches == 2
    torch.set_num_threads(1)
    governor.close()
    assert torch.get_num_threads() == 2  # restored to what it found


def test_measures_only_every_interval(two_threads):
    governor = Scripted([(time.monotonic(), 0, 0)], interval=3600.0)
    assert governor.step() == 2  # no second sample is taken (the script has none)


def test_off_and_single_thread_do_nothing(monkeypatch):
    monkeypatch.setenv("COURSE_CPU_POLICY", "off")
    assert not cpu_policy.enabled()
    assert not ThreadGovernor().active
    assert "COURSE_CPU_POLICY=off" in cpu_policy.describe() or torch.get_num_threads() == 1
    monkeypatch.delenv("COURSE_CPU_POLICY")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert not ThreadGovernor().active and cpu_policy.describe() == "CPU: 1 thread"
    finally:
        torch.set_num_threads(before)


@needs_proc
def test_sees_a_real_busy_process(two_threads):
    governor = ThreadGovernor()
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        governor.restart()
        time.sleep(1.5)  # this process sleeps; the spinner holds a core
        assert governor.others() > 0.5
    finally:
        spinner.kill()
        spinner.wait()
    time.sleep(0.3)
    governor.restart()
    time.sleep(1.0)
    assert governor.others() < 0.5  # nothing else runs now


def test_banner_names_the_policy(two_threads):
    line = cpu_policy.describe()
    assert line.startswith("CPU: 2 threads")
