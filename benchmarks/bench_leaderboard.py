"""Chapter 10's leaderboard from the command line: the same protocol code the chapter runs.

    python benchmarks/bench_leaderboard.py --costs-only              # parameters, MACs, speed, memory
    python benchmarks/bench_leaderboard.py                           # train every model x seed, then costs
    python benchmarks/bench_leaderboard.py --mode full --models unet unetpp --seeds 0 1 2
    python benchmarks/bench_leaderboard.py --synthetic               # synthetic vessels, even with DRIVE

Training follows :func:`course_lib.protocols.leaderboard.train_leaderboard` (DRIVE from COURSE_DATA_DIR
when present); costs follow :func:`course_lib.protocols.leaderboard.measure_costs` (each model alone in
its own process, inference at batch 1 on ``measure_size``^2 images).
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("smoke", "quick", "full"), help="default: COURSE_MODE")
    parser.add_argument("--models", nargs="*", help="default: the whole leaderboard")
    parser.add_argument("--seeds", nargs="*", type=int, help="default: the plan's seeds")
    parser.add_argument("--costs-only", action="store_true", help="measure costs, train nothing")
    parser.add_argument("--synthetic", action="store_true", help="train on synthetic vessels")
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)

    import course_lib as cl
    from course_lib.protocols import leaderboard as board

    if args.mode:
        cl.config.set_mode(args.mode)
    plan = board.plan_for()
    models = tuple(args.models or board.LEADERBOARD)
    device = args.device or cl.config.get_device().type
    costs = board.measure_costs(plan, models, device=device)
    print(f"mode {cl.config.get_mode()}, device {device}; inference at batch 1 on {plan.measure_size}x"
          f"{plan.measure_size}, median of 5 passes, each model in its own process")
    header = f"{'model':<16}{'params':>11}{'GMACs':>8}{'ms/img':>8}{'img/s':>7}{'model MB':>9}"
    if args.costs_only:
        print(header)
        for name in models:
            c = costs[name]
            print(f"{board.label(name, plan):<16}{c['params']:>11,}{c['gmacs']:>8.2f}"
                  f"{c['ms_per_image']:>8.0f}{c['images_per_s']:>7.1f}{c['model_mb']:>9.0f}")
        return 0
    train, test = board.load_task(plan, real=False if args.synthetic else None)
    runs = board.train_leaderboard(train, test, plan, models, seeds=args.seeds, keep_seed=None, device=device)
    rows = board.leaderboard_rows(board.summarise(runs), costs, plan)
    print(f"\n{plan.steps} steps of {plan.batch_size} patches of {plan.patch_size} px; {len(test)} held-out "
          f"images ({train.source})")
    print(header + f"{'train s':>8}{'Dice':>16}{'AUC':>16}")
    for r in rows:
        print(f"{r['model']:<16}{r['params']:>11,}{r['gmacs']:>8.2f}{r['ms_per_image']:>8.0f}"
              f"{r['images_per_s']:>7.1f}{r['model_mb']:>9.0f}{r['train_step_s']:>8.3f}"
              f"{r['dice'][0]:>9.3f} ± {r['dice'][1]:.3f}{r['auc'][0]:>9.3f} ± {r['auc'][1]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
