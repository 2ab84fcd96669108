"""Training on a CPU that is not idle: one thread while other programs keep a core busy.

torch runs its CPU work on one thread per core. When another program (a browser, a second kernel, a
lecture recording) holds one of a laptop's two cores, torch's threads must wait for each other at
every operation, and OpenMP makes the waiting thread spin on the contended core: a training step
gets 2-5x slower (``benchmarks/bench_threads.py``, ``docs/benchmarks.md``). One thread does not wait
for anyone and keeps most of its speed beside such a load, but on an idle machine it is half as fast.

So :class:`ThreadGovernor`, which :func:`course_lib.engine.fit` runs on the CPU, watches how much CPU
*other* processes used in the last couple of seconds (Linux's ``/proc/stat`` minus this process's own
CPU time) and trains with all of torch's threads while they leave the cores free, and with one thread
while they keep at least half a core busy. On an idle machine nothing changes. ``COURSE_CPU_POLICY=off``
turns it off; without ``/proc/stat`` (macOS, Windows) it does nothing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

__all__ = ["CPU_POLICY_ENV", "ThreadGovernor", "describe", "enabled"]

CPU_POLICY_ENV = "COURSE_CPU_POLICY"
_PROC_STAT = Path("/proc/stat")
_BUSY_FIELDS = (0, 1, 2, 5, 6)  # user, nice, system, irq, softirq (not idle, iowait or the VM's steal)


def enabled() -> bool:
    """True unless ``COURSE_CPU_POLICY=off`` or the system has no ``/proc/stat``."""
    off = os.environ.get(CPU_POLICY_ENV, "").strip().lower() in ("off", "0", "no", "false")
    return not off and _PROC_STAT.is_file()


def _cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return list(range(os.cpu_count() or 1))


class ThreadGovernor:
    """Switch torch between ``torch.get_num_threads()`` threads (as found) and one, by the others' load.

    Call :meth:`step` after every training step; at most every ``interval`` seconds it measures the CPU
    time other processes used on this process's cores since the last measurement and switches to one
    thread above ``busy`` cores, back to all threads below ``free`` cores. :meth:`close` restores the
    thread count it found.
    """

    def __init__(self, interval: float = 2.0, busy: float = 0.5, free: float = 0.25) -> None:
        self.full = torch.get_num_threads()
        self.interval, self.busy, self.free = interval, busy, free
        self.cpus = {f"cpu{i}" for i in _cpus()}
        self.active = enabled() and self.full > 1
        self.switches = 0
        self._last = self._sample() if self.active else None

    def _sample(self) -> tuple[float, float, float]:
        """(wall seconds, busy CPU seconds on our cores, this process's CPU seconds)."""
        ticks = os.sysconf("SC_CLK_TCK")
        busy = 0
        for line in _PROC_STAT.read_text().splitlines():
            name, *fields = line.split()
            if name in self.cpus:
                busy += sum(int(fields[i]) for i in _BUSY_FIELDS if i < len(fields))
        return time.monotonic(), busy / ticks, time.process_time()

    def restart(self) -> None:
        """Start a fresh measuring window (after a pause in which this process did not train)."""
        if self.active:
            self._last = self._sample()

    def others(self) -> float | None:
        """Cores' worth of CPU that other processes used since the last measurement (and restart it)."""
        if not self.active:
            return None
        now = self._sample()
        wall, busy, own = (b - a for a, b in zip(self._last, now, strict=True))
        self._last = now
        return max(0.0, (busy - own) / wall) if wall > 0 else 0.0

    def step(self) -> int:
        """Measure if ``interval`` has passed and set the thread count; returns the count in force."""
        if not self.active or time.monotonic() - self._last[0] < self.interval:
            return torch.get_num_threads()
        others = self.others()
        threads = torch.get_num_threads()
        wanted = 1 if others >= self.busy else self.full if others <= self.free else threads
        if wanted != threads:
            torch.set_num_threads(wanted)
            self.switches += 1
        return wanted

    def close(self) -> None:
        if self.active and torch.get_num_threads() != self.full:
            torch.set_num_threads(self.full)


def describe() -> str:
    """One line for a chapter's banner: the threads and the policy."""
    threads = torch.get_num_threads()
    if threads == 1:
        return "CPU: 1 thread"
    if os.environ.get(CPU_POLICY_ENV, "").strip().lower() in ("off", "0", "no", "false"):
        return f"CPU: {threads} threads ({CPU_POLICY_ENV}=off: always all of them)"
    if not _PROC_STAT.is_file():
        return f"CPU: {threads} threads"
    return (f"CPU: {threads} threads, 1 while other programs keep a core busy (so they slow training "
            f"less; {CPU_POLICY_ENV}=off to keep {threads})")
