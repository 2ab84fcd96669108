"""How torch's CPU threads wait for each other: set once, before torch is imported.

torch's CPU build runs its parallel work on GNU OpenMP (libgomp). A thread that finishes its share of
an operation spins (busy-waits) for the next one, about 300,000 iterations by default, before it
sleeps. On an idle machine that saves a wake-up per operation; on a laptop where a browser, a second
kernel or a recording holds a core, the spinning thread takes turns on that core with the thread that
does the work, and a training step gets 1.5-2.5x slower (``benchmarks/bench_threads.py``,
``docs/benchmarks.md``). A short spin, ``GOMP_SPINCOUNT=10000``, measured as fast as the default on an
idle 2-core machine and as fast as never spinning (``OMP_WAIT_POLICY=PASSIVE``) beside a busy process,
so it is the course's default. Two threads stay: one thread is half as fast on an idle machine.

libgomp reads the setting once, when torch loads it, so ``import course_lib`` must come before
``import torch`` (the chapters import it in their first cell). Your own ``GOMP_SPINCOUNT`` or
``OMP_WAIT_POLICY`` always wins, and ``COURSE_CPU_POLICY=off`` leaves everything as torch has it.
Other OpenMP runtimes (Intel's or LLVM's, as in some conda and macOS builds) ignore the setting.
This module imports nothing heavy, so ``course_lib`` can apply it before torch loads.
"""

from __future__ import annotations

import os
import sys

__all__ = ["CPU_POLICY_ENV", "SPINCOUNT", "apply", "describe", "status"]

CPU_POLICY_ENV = "COURSE_CPU_POLICY"
SPINCOUNT = "10000"
_USER_SETTINGS = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")
_status = "not applied"


def apply() -> str:
    """Set the short spin if nothing else decides it; returns (and remembers) what happened.

    ``"applied"``, ``"yours"`` (you set GOMP_SPINCOUNT or OMP_WAIT_POLICY), ``"off"``
    (``COURSE_CPU_POLICY=off``) or ``"too late"`` (torch was imported first: the setting could not apply).
    """
    global _status
    if os.environ.get(CPU_POLICY_ENV, "").strip().lower() in ("off", "0", "no", "false"):
        _status = "off"
    elif any(os.environ.get(name, "").strip() for name in _USER_SETTINGS):
        _status = "yours"
    elif "torch" in sys.modules:
        _status = "too late"
    else:
        os.environ["GOMP_SPINCOUNT"] = SPINCOUNT
        _status = "applied"
    return _status


def status() -> str:
    """What :func:`apply` did when ``course_lib`` was imported."""
    return _status


def describe() -> str:
    """One line for a chapter's banner: the threads and how they wait."""
    import torch

    threads = torch.get_num_threads()
    line = {
        "applied": f"short OpenMP spin (GOMP_SPINCOUNT={SPINCOUNT}), so a busy machine slows training less",
        "yours": "your own " + ", ".join(f"{n}={os.environ[n]}" for n in _USER_SETTINGS if os.environ.get(n)),
        "off": f"torch's default waiting ({CPU_POLICY_ENV}=off)",
        "too late": ("torch's default waiting: torch was imported before course_lib, so the course's "
                     "setting could not apply (import course_lib first, then restart the kernel)"),
        "not applied": "torch's default waiting",
    }[_status]
    return f"CPU: {threads} thread(s), {line}"
