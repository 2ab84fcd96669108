"""Per-model benchmark: parameters, MACs, time per training step (or forward pass), images/s, peak memory.

    python benchmarks/bench_models.py                       # every registered model, current mode's size
    python benchmarks/bench_models.py --models unet u2netp --size 256 --batch 4 --steps 5
    python benchmarks/bench_models.py --models u2net u2netp --size 320 --batch 1 --inference
    python benchmarks/bench_models.py --mode full --device cuda --amp --channels-last

Each model runs in its own process (:func:`course_lib.benchmark.measure_isolated`) so the peak memory is
its own: on CUDA the allocator's peak, on CPU the growth of the process's resident memory.
"""

from __future__ import annotations

import argparse
import sys

MODE_SIZES = {"smoke": (64, 2), "quick": (128, 4), "full": (256, 8)}


def measure(name: str, size: int, batch: int, steps: int, device: str, amp: bool, channels_last: bool,
            threads: int | None, macs: bool = True, inference: bool = False) -> dict:
    """:func:`course_lib.benchmark.measure` (training steps unless ``inference``)."""
    from course_lib.benchmark import measure as measure_model

    return measure_model(name, size, batch, steps, device, amp, channels_last, threads, macs, inference)


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
    parser.add_argument("--inference", action="store_true", help="time forward passes (eval mode) instead")
    args = parser.parse_args(argv)

    import course_lib as cl

    mode = args.mode or cl.config.get_mode()
    size = args.size or MODE_SIZES[mode][0]
    batch = args.batch or MODE_SIZES[mode][1]
    device = args.device or cl.config.get_device().type
    names = args.models or cl.list_models()
    what = "forward passes (eval)" if args.inference else "steps (forward + backward + Adam)"
    print(f"device {device}, input {size}x{size}, batch {batch}, median of {args.steps} {what}"
          f"{', bf16 autocast' if args.amp else ''}"
          f"{', channels_last' if args.channels_last else ''}")
    header = f"{'model':<16}{'params':>13}{'GMACs/img':>11}{'size':>6}{'step s':>9}{'img/s':>8}{'peak MB':>9}"
    print(header)
    print("-" * len(header))
    failed = 0
    for name in names:
        try:
            r = cl.benchmark.measure_isolated(name, size, batch, args.steps, device, args.amp,
                                              args.channels_last, args.threads, args.inference)
        except RuntimeError as err:
            failed += 1
            print(f"{name:<16} {err}")
            continue
        macs = "-" if r["gmacs_per_image"] is None else f"{r['gmacs_per_image']:.2f}"
        print(f"{name:<16}{r['params']:>13,}{macs:>11}{r['size']:>6}{r['step_s']:>9.3f}"
              f"{r['images_per_s']:>8.1f}{r['peak_mb']:>9.0f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
