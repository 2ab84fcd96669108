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
- ``course``: whatever ``import course_lib`` sets up by default (see ``course_lib.config.cpu_policy``),

beside each load:

- ``idle``: nothing else runs;
- ``spin``: one process busy on one core (a pure-Python loop: a browser tab, a recording);
- ``spin2``: two such processes (a fully loaded 2-core machine);
- ``train``: a second training process with torch's defaults (a second notebook kernel training).

Each cell runs in a fresh subprocess, because OpenMP reads ``OMP_WAIT_POLICY`` once, when torch is
imported. The step is forward + backward + Adam (``benchmarks/bench_models.py``'s ``measure``); the
median of ``--steps`` steps after one warm-up step is reported.
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
    "course": (None, None),  # None: let course_lib choose (import it before torch)
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


def measure_policy(policy: str, model: str, size: int, batch: int, steps: int) -> dict:
    """One policy's median step time, in a fresh subprocess with the policy's environment."""
    env = {k: v for k, v in os.environ.items() if k not in _CONTROLLED}
    extra, threads = POLICIES[policy]
    if extra is not None:
        env.update(extra)
        env["COURSE_CPU_POLICY"] = "off"  # the A/B arms: course_lib must not change what they set
    code = (
        "import sys, json\n"
        f"sys.path.insert(0, {str(HERE)!r})\n"
        "import course_lib\n"  # first, as in the chapters: its CPU policy applies before torch loads
        "import torch\n"
        "from bench_models import measure\n"
        f"row = measure({model!r}, {size}, {batch}, {steps}, 'cpu', False, False, {threads!r}, macs=False)\n"
        "row['threads'] = torch.get_num_threads()\n"
        "print(json.dumps(row))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise RuntimeError(f"policy {policy} failed: {result.stderr.strip()[-500:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="unet")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per cell (median reported)")
    parser.add_argument("--policies", nargs="*", default=list(POLICIES), choices=list(POLICIES))
    parser.add_argument("--loads", nargs="*", default=list(LOADS), choices=LOADS)
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat every policy this many times, alternating, per load (median shown last)")
    args = parser.parse_args(argv)

    print(f"{args.model}, {args.size}x{args.size}, batch {args.batch}, cpu ({os.cpu_count()} cores), "
          f"median of {args.steps} steps (forward + backward + Adam)")
    print(f"{'load':<7}{'policy':<12}{'round':>6}{'threads':>8}{'step s':>9}{'img/s':>8}{'vs idle':>9}")
    idle: dict[str, float] = {}
    for load in args.loads:
        procs = start_load(load, args.model, args.size, args.batch)
        times: dict[str, list[float]] = {policy: [] for policy in args.policies}
        try:
            for round_ in range(1, args.rounds + 1):
                for policy in args.policies:
                    row = measure_policy(policy, args.model, args.size, args.batch, args.steps)
                    times[policy].append(row["step_s"])
                    _print_row(load, policy, str(round_), row["threads"], row["step_s"], args.batch, idle)
        finally:
            stop_load(procs)
        for policy, values in times.items():
            median = statistics.median(values)
            if load == "idle":
                idle[policy] = median
            if args.rounds > 1:
                _print_row(load, policy, "median", "", median, args.batch, idle)
    return 0


def _print_row(load: str, policy: str, round_: str, threads, step_s: float, batch: int,
               idle: dict[str, float]) -> None:
    ratio = f"x{step_s / idle[policy]:.2f}" if policy in idle else "-"
    print(f"{load:<7}{policy:<12}{round_:>6}{threads!s:>8}{step_s:>9.3f}{batch / step_s:>8.1f}{ratio:>9}",
          flush=True)


if __name__ == "__main__":
    sys.exit(main())
