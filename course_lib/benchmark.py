"""Speed and memory of a model on the current device: parameters, multiply-adds, time per step or per
forward pass, images/s and peak memory.

    row = measure("u2netp", size=320, batch=1, inference=True)              # in this process
    row = measure_isolated("unet", size=320, cfg={"widths": [12, 24, 48, 96, 192]}, inference=True)

:func:`measure_isolated` runs :func:`measure` in a fresh Python process so that the peak memory is the
model's own: on CUDA the allocator's peak (``torch.cuda.max_memory_allocated``), on a CPU the process's
peak resident set size (its high-water mark, reset first where Linux allows) minus the resident size just
before the model was built. ``benchmarks/`` and the
chapters use it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["measure", "measure_isolated", "measure_many_isolated"]

# In-channel counts the models are usually built with in the course.
IN_CHANNELS = {"unet_original": 1}
MIN_SIZE = {"unet_original": 188}


def _proc_status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        return None
    return None


def _start_peak_tracking() -> float:
    """Resident MB now, with the peak reset where the OS allows (Linux: ``/proc/self/clear_refs``).
    ``ru_maxrss`` is not used on Linux: it survives ``exec``, so a child of a big notebook kernel would
    start with the kernel's peak."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass
    now = _proc_status_mb("VmRSS")
    return now if now is not None else _peak_mb()


def _peak_mb() -> float:
    peak = _proc_status_mb("VmHWM")
    if peak is not None:
        return peak
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024  # bytes on macOS, kB elsewhere


def measure(name: str, size: int, batch: int = 1, steps: int = 3, device: str | None = None,
            amp: bool = False, channels_last: bool = False, threads: int | None = None, macs: bool = True,
            inference: bool = False, cfg: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Median time of ``steps`` training steps (forward + backward + Adam) or, with ``inference``,
    forward passes under ``torch.inference_mode`` in eval mode, after one warm-up; ``amp``: bf16 autocast
    (CUDA only). ``cfg`` goes to ``create_model``. Returns a dict: ``model, params, gmacs_per_image, size,
    batch, step_s, images_per_s, peak_mb, device, inference``."""
    import torch

    from course_lib.config import get_device
    from course_lib.inspect_model import count_macs
    from course_lib.models import create_model

    if threads:
        torch.set_num_threads(threads)
    size = max(size, MIN_SIZE.get(name, 0))
    if name == "unet_original":
        size = 16 * round((size - 12) / 16) + 12  # nearest valid input size (16k + 12)
    dev = get_device(device)
    kwargs = {"in_channels": IN_CHANNELS.get(name, 3), "out_channels": 1 if name != "unet_original" else 2,
              **dict(cfg or {})}
    in_channels = kwargs["in_channels"]
    base_rss = _start_peak_tracking()
    model = create_model(name, **kwargs)
    params = sum(p.numel() for p in model.parameters())
    gmacs = count_macs(model, (1, in_channels, size, size)) / 1e9 if macs else None
    model.to(dev)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=memory_format)
    x = torch.rand(batch, in_channels, size, size, device=dev).to(memory_format=memory_format)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train(not inference)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def autocast():
        return torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp and dev.type == "cuda")

    def step() -> None:
        if inference:
            with torch.inference_mode(), autocast():
                model(x)
            return
        with autocast():
            out = model(x)
            outputs = out if isinstance(out, list | tuple) else [out]
            loss = sum(o.float().square().mean() for o in outputs)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    step()
    sync()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    peak = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else _peak_mb() - base_rss
    return {"model": name, "params": params, "gmacs_per_image": gmacs, "size": size, "batch": batch,
            "step_s": median, "images_per_s": batch / median, "peak_mb": peak, "device": dev.type,
            "inference": inference}


def measure_isolated(name: str, size: int, batch: int = 1, steps: int = 3, device: str | None = None,
                     amp: bool = False, channels_last: bool = False, threads: int | None = None,
                     inference: bool = False, cfg: Mapping[str, Any] | None = None, macs: bool = True
                     ) -> dict[str, Any]:
    """:func:`measure` in a fresh Python process (its own peak memory); raises ``RuntimeError`` with the
    child's last error line if the measurement fails. A ``COURSE_MAX_STEPS`` rehearsal (which proves the
    path, not the speed) times one pass at no more than 64 px."""
    from course_lib.config import max_steps

    if max_steps() is not None:
        steps, size = 1, min(size, 64)
    cmd = [sys.executable, "-m", "course_lib.benchmark", name, "--size", str(size), "--batch", str(batch),
           "--steps", str(steps)]
    cmd += ["--device", device] if device else []
    cmd += ["--amp"] * amp + ["--channels-last"] * channels_last + ["--inference"] * inference
    cmd += ["--threads", str(threads)] if threads else []
    cmd += ["--cfg", json.dumps(dict(cfg))] if cfg else []
    cmd += [] if macs else ["--no-macs"]
    return _child_json(cmd, name)


def _child_json(cmd: list[str], what: str) -> Any:
    """Run ``cmd`` and return the JSON of its last output line, or raise its last error line."""
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        last = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "no message"
        raise RuntimeError(f"measuring {what} failed: {last}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _rehearsal_job(job: Mapping[str, Any]) -> dict[str, Any]:
    from course_lib.config import max_steps

    job = dict(job)
    if max_steps() is not None:
        job.update(steps=1, size=min(int(job["size"]), 64))
    return job


def measure_many_isolated(jobs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """:func:`measure` for each job (a dict of its arguments), each with its own peak memory, cheaply: on
    Linux one fresh interpreter imports torch once and forks a process per job (no torch op runs before
    the fork, so its thread pool is not copied half-started); elsewhere one fresh process per job. Raises
    ``RuntimeError`` naming the job that failed."""
    jobs = [_rehearsal_job(job) for job in jobs]
    if not sys.platform.startswith("linux"):
        return [measure_isolated(**job) for job in jobs]
    cmd = [sys.executable, "-m", "course_lib.benchmark", "--jobs", json.dumps(jobs)]
    return _child_json(cmd, "the models")


def _forked(job: Mapping[str, Any]) -> dict[str, Any]:
    """Run ``measure(**job)`` in a forked child and return its result (or raise its error)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: measure, send one JSON line, leave without running the parent's cleanup
        os.close(read)
        try:
            payload = {"ok": measure(**job)}
        except Exception as err:
            payload = {"error": f"{type(err).__name__}: {err}"}
        with os.fdopen(write, "w") as out:
            out.write(json.dumps(payload))
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as source:
        payload = json.loads(source.read() or '{"error": "the measuring process died"}')
    os.waitpid(pid, 0)
    if "error" in payload:
        raise RuntimeError(f"measuring {job.get('name')} failed: {payload['error']}")
    return payload["ok"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure one model (prints one JSON line).")
    parser.add_argument("name", nargs="?")
    parser.add_argument("--jobs", type=json.loads, help="a JSON list of measure() arguments, one fork each")
    parser.add_argument("--size", type=int)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--device")
    parser.add_argument("--amp", action="store_true")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--inference", action="store_true")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--cfg", type=json.loads, default=None)
    parser.add_argument("--no-macs", action="store_true", help="skip counting multiply-adds")
    a = parser.parse_args(argv)
    if a.jobs is not None:
        import torch  # noqa: F401 - imported once here, shared by every forked child

        import course_lib.inspect_model
        import course_lib.models  # noqa: F401

        print(json.dumps([_forked(job) for job in a.jobs]))
        return 0
    if a.name is None or a.size is None:
        parser.error("give a model name and --size (or --jobs)")
    print(json.dumps(measure(a.name, a.size, a.batch, a.steps, a.device, a.amp, a.channels_last, a.threads,
                             macs=not a.no_macs, inference=a.inference, cfg=a.cfg)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
