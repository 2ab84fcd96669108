"""CPU thread policy A/B: training-step time on an idle CPU and beside competing processes.

    python benchmarks/bench_threads.py                      # U-Net, 128x128, batch 4, every policy x load
    python benchmarks/bench_threads.py --model dacrse_unet --steps 8 --loads idle spin

On a 2-core laptop a chapter shares the CPU with a browser, a second kernel or a lecture recording.
With OpenMP's default wait policy, torch's worker threads spin while they wait for each other; when
another process holds a core, the spinning thread and the thread that does the work take turns on
it, and each step can get several times slower. This script measures that, per policy:

- ``default``: torch's own choice (one thread per core, OpenMP's default wait policy);
- ``one-thread``: ``torch.set_num_threads(1)``;
- ``passive``: one thread per core, ``OMP_WAIT_POLICY=PASSIVE`` (waiting threads sleep instead of spin);
- ``active``: one thread per core, ``OMP_WAIT_POLICY=ACTIVE`` (spin; shows what the spinning costs);
- ``spin-10k`` / ``spin-100k``: one thread per core, ``GOMP_SPINCOUNT`` 10,000 / 100,000 (a short spin);
- ``course``: torch's defaults plus :class:`course_lib.cpu_policy.ThreadGovernor`, as ``engine.fit``
  runs it on a CPU (one thread while other processes keep half a core busy),

beside each load:

- ``idle``: nothing else runs;
- ``spin``: one process busy on one core (a pure-Python loop: a browser tab, a recording);
- ``spin2``: two such processes (a fully loaded 2-core machine);
- ``train``: a second training process with torch's defaults (a second notebook kernel training).

Each policy has its own worker process (OpenMP reads ``OMP_WAIT_POLICY`` once, when torch is
imported) with the model built and warmed up; the workers take turns of ``--steps`` training steps
(forward + backward + Adam), ``--rounds`` turns each, alternating, so that every comparison is paired in
time. The table gives each policy's median turn (a turn's value is its median step), the median of its
per-turn ratios to ``default``, and its ratio to its own idle time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
POLICIES = {
    "default": ({}, None),
    "one-thread": ({}, 1),
    "passive": ({"OMP_WAIT_POLICY": "PASSIVE"}, None),
    "active": ({"OMP_WAIT_POLICY": "ACTIVE"}, None),
    "spin-10k": ({"GOMP_SPINCOUNT": "10000"}, None),
    "spin-100k": ({"GOMP_SPINCOUNT": "100000"}, None),
    "course": ({}, None),  # torch's defaults plus course_lib's ThreadGovernor, as engine.fit runs it
}
LOADS = ("idle", "spin", "spin2", "train")
_CONTROLLED = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "COURSE_CPU_POLICY", "GOMP_SPINCOUNT")


def _spin() -> list[str]:
    return [sys.executable, "-c", "while True: pass"]


def _train_forever(model: str, size: int, batch: int) -> list[str]:
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); from bench_models import measure\n"
            f"while True: measure({model!r}, {size}, {batch}, 5, 'cpu', False, False, None, macs=False)")
    return [sys.executable, "-c", code]


def start_load(load: str, model: str, size: int, batch: int) -> list[subprocess.Popen]:
    """Start the competing processes of ``load`` (torch defaults for a competing training)."""
    env = {k: v for k, v in os.environ.items() if k not in _CONTROLLED}
    commands = {"idle": [], "spin": [_spin()], "spin2": [_spin(), _spin()],
                "train": [_train_forever(model, size, batch)]}[load]
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for c in commands]
    time.sleep(3.0 if load == "train" else 0.5)  # let a competing training get past its imports
    return procs


def stop_load(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
        p.wait()


_WORKER = """
import sys, json, statistics, time
sys.path.insert(0, {here!r})
import torch
import course_lib as cl
if {threads!r}:
    torch.set_num_threads({threads!r})
governor = cl.cpu_policy.ThreadGovernor(interval=1.0) if {policy!r} == "course" else None
model = cl.create_model({model!r}, in_channels=3, out_channels=1)
x = torch.rand({batch}, 3, {size}, {size})
opt = torch.optim.Adam(model.parameters(), lr=1e-4)

def step():
    loss = model(x).square().mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()

for _ in range(2):
    step()
print(json.dumps({{"threads": torch.get_num_threads(), "governor": governor is not None}}), flush=True)
for line in sys.stdin:
    if governor is not None:
        governor.restart()  # measure only while this worker trains
    times, threads = [], []
    for _ in range(int(line)):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
        threads.append(governor.step() if governor is not None else torch.get_num_threads())
    print(json.dumps([statistics.median(times), statistics.median(threads)]), flush=True)
"""


class Worker:
    """A process with one policy's environment and a built model, timing steps on request.

    Persistent workers let the policies take turns every few seconds, so each comparison is paired in
    time: a shared or throttled virtual machine drifts by 10-20 % over minutes, more than the effects
    measured here.
    """

    def __init__(self, policy: str, model: str, size: int, batch: int) -> None:
        env = {k: v for k, v in os.environ.items() if k not in _CONTROLLED}
        extra, threads = POLICIES[policy]
        env.update(extra)
        code = _WORKER.format(here=str(HERE), threads=threads, model=model, batch=batch, size=size,
                              policy=policy)
        self.policy = policy
        self.proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.info = json.loads(self._read())

    def _read(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.policy} worker died (exit {self.proc.wait()})")
        return line

    def time_steps(self, steps: int) -> tuple[float, float]:
        """Median seconds of ``steps`` training steps, and the median thread count they ran with."""
        self.proc.stdin.write(f"{steps}\n")
        self.proc.stdin.flush()
        seconds, threads = json.loads(self._read())
        return seconds, threads

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="unet")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per turn (median reported)")
    parser.add_argument("--rounds", type=int, default=5, help="turns per policy and load")
    parser.add_argument("--policies", nargs="*", default=list(POLICIES), choices=list(POLICIES))
    parser.add_argument("--loads", nargs="*", default=list(LOADS), choices=LOADS)
    args = parser.parse_args(argv)

    policies = list(dict.fromkeys(["default", *args.policies]))  # ratios are to torch's default
    print(f"{args.model}, {args.size}x{args.size}, batch {args.batch}, cpu ({os.cpu_count()} cores); "
          f"each turn: median of {args.steps} steps (forward + backward + Adam); {args.rounds} turns per "
          "policy, policies alternating")
    workers = {p: Worker(p, args.model, args.size, args.batch) for p in policies}
    try:
        print(f"{'load':<7}{'policy':<12}{'threads':>8}{'median s':>9}{'min s':>8}{'max s':>8}"
              f"{'vs default':>11}{'vs idle':>9}")
        idle: dict[str, float] = {}
        for load in args.loads:
            procs = start_load(load, args.model, args.size, args.batch)
            times: dict[str, list[float]] = {p: [] for p in policies}
            threads: dict[str, list[float]] = {p: [] for p in policies}
            try:
                for r in range(args.rounds):
                    for p in policies[r % len(policies):] + policies[: r % len(policies)]:
                        seconds, used = workers[p].time_steps(args.steps)
                        times[p].append(seconds)
                        threads[p].append(used)
            finally:
                stop_load(procs)
            for p in policies:
                median = statistics.median(times[p])
                paired = statistics.median(t / d for t, d in zip(times[p], times["default"], strict=True))
                if load == "idle":
                    idle[p] = median
                vs_idle = f"x{median / idle[p]:.2f}" if p in idle else "-"
                print(f"{load:<7}{p:<12}{statistics.median(threads[p]):>8g}{median:>9.3f}"
                      f"{min(times[p]):>8.3f}{max(times[p]):>8.3f}"
                      f"{'x' + format(paired, '.2f'):>11}{vs_idle:>9}", flush=True)
    finally:
        for w in workers.values():
            w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
