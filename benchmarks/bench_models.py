"""Per-model training-step benchmark: parameters, MACs, forward+backward time, images/s, peak memory.

    python benchmarks/bench_models.py                       # every registered model, current mode's size
    python benchmarks/bench_models.py --models unet u2netp --size 256 --batch 4 --steps 5
    python benchmarks/bench_models.py --mode full --device cuda --amp --channels-last

Each model runs in its own subprocess so the peak memory is its own: on CUDA the allocator's peak
(``torch.cuda.max_memory_allocated``), on CPU the process's peak resident set size minus the resident
size measured just before the model was built.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

MODE_SIZES = {"smoke": (64, 2), "quick": (128, 4), "full": (256, 8)}
# In-channel counts the models are usually built with in the course.
IN_CHANNELS = {"unet_original": 1}
MIN_SIZE = {"unet_original": 188}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(name: str, size: int, batch: int, steps: int, device: str, amp: bool, channels_last: bool,
            threads: int | None, macs: bool = True) -> dict:
    """Time ``steps`` forward+backward+Adam steps of model ``name`` after one warm-up step (``macs``: also
    count multiply-adds with torchinfo)."""
    import torch

    import course_lib as cl

    if threads:
        torch.set_num_threads(threads)
    size = max(size, MIN_SIZE.get(name, 0))
    if name == "unet_original":
        size = 16 * round((size - 12) / 16) + 12  # nearest valid input size (16k + 12)
    dev = torch.device(device)
    in_channels = IN_CHANNELS.get(name, 3)
    base_rss = _rss_mb()
    model = cl.create_model(name, in_channels=in_channels, out_channels=1 if name != "unet_original" else 2)
    params = sum(p.numel() for p in model.parameters())
    mult_adds = None
    try:
        from torchinfo import summary

        if macs:
            mult_adds = summary(model, input_size=(1, in_channels, size, size), verbose=0,
                                device="cpu").total_mult_adds
    except Exception:  # MACs are a nicety; some graphs confuse torchinfo
        mult_adds = None
    model.to(dev)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=memory_format)
    x = torch.rand(batch, in_channels, size, size, device=dev).to(memory_format=memory_format)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def step() -> None:
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp and dev.type == "cuda"):
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
    peak = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else _rss_mb() - base_rss
    gmacs = None if mult_adds is None else mult_adds / 1e9
    return {"model": name, "params": params, "gmacs_per_image": gmacs,
            "size": size, "batch": batch, "step_s": median, "images_per_s": batch / median,
            "peak_mb": peak, "device": dev.type}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", help="default: every registered model")
    parser.add_argument("--mode", choices=tuple(MODE_SIZES),
                        help="sets --size/--batch (default: COURSE_MODE)")
    parser.add_argument("--size", type=int)
    parser.add_argument("--batch", type=int)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--device", default=None)
    parser.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA only)")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    import course_lib as cl

    mode = args.mode or cl.config.get_mode()
    size = args.size or MODE_SIZES[mode][0]
    batch = args.batch or MODE_SIZES[mode][1]
    device = args.device or cl.config.get_device().type
    if args.one:
        print(json.dumps(measure(args.one, size, batch, args.steps, device, args.amp, args.channels_last,
                                 args.threads)))
        return 0

    names = args.models or cl.list_models()
    print(f"device {device}, input {size}x{size}, batch {batch}, median of {args.steps} steps "
          f"(forward + backward + Adam){', bf16 autocast' if args.amp else ''}"
          f"{', channels_last' if args.channels_last else ''}")
    header = f"{'model':<16}{'params':>13}{'GMACs/img':>11}{'size':>6}{'step s':>9}{'img/s':>8}{'peak MB':>9}"
    print(header)
    print("-" * len(header))
    failed = 0
    for name in names:
        cmd = [sys.executable, __file__, "--one", name, "--size", str(size), "--batch", str(batch),
               "--steps", str(args.steps), "--device", device]
        cmd += ["--amp"] * args.amp + ["--channels-last"] * args.channels_last
        cmd += ["--threads", str(args.threads)] if args.threads else []
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            failed += 1
            print(f"{name:<16} failed: {result.stderr.strip().splitlines()[-1] if result.stderr else '?'}")
            continue
        r = json.loads(result.stdout.strip().splitlines()[-1])
        macs = "-" if r["gmacs_per_image"] is None else f"{r['gmacs_per_image']:.2f}"
        print(f"{name:<16}{r['params']:>13,}{macs:>11}{r['size']:>6}{r['step_s']:>9.3f}"
              f"{r['images_per_s']:>8.1f}{r['peak_mb']:>9.0f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
