"""Try a chapter-06 recipe change without the notebook: train DACRSE-UNet on DRIVE (or the synthetic
fallback) and print the held-out FOV AUC per epoch and the final scores.

    COURSE_DATA_DIR=/path/to/data python scripts/drive_trial.py --epochs 9 --set preprocessing=rgb
    COURSE_DATA_DIR=/path/to/data python scripts/drive_trial.py --fold 0 1 2 3 4 --seed 0 1

With several folds or seeds every (seed, fold) pair is trained in turn and a summary table follows:
one row per run, then the mean over the folds for each seed (the cross-validation estimate).
"""

from __future__ import annotations

import argparse
import ast
import statistics
import time

import torch

import course_lib as cl
from course_lib.protocols import drive as protocol


def parse_overrides(items: list[str]) -> dict[str, object]:
    """``FIELD=VALUE`` strings as recipe overrides; values are Python literals or plain strings."""
    overrides: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set needs FIELD=VALUE (e.g. --set batch_size=12), got {item!r}.")
        try:
            overrides[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[key] = value
    return overrides


def run_one(recipe: cl.recipes.DriveRecipe, split: tuple, fold: int, seed: int, variant: str,
            save: str | None) -> dict[str, float]:
    """Train one model on ``split`` (fold ``fold``'s train and test data) with ``seed``, print its scores;
    return AUC, TTA AUC and F1."""
    train, test = split
    print(f"\n== fold {fold}, seed {seed}. {test.split}: {', '.join(test.ids)}", flush=True)
    cl.config.seed_everything(seed)
    model = protocol.make_vessel_model(recipe, variant)
    start = time.perf_counter()
    history = protocol.fit_vessel_model(model, train, test, recipe, seed=seed, progress=False)
    minutes = (time.perf_counter() - start) / 60
    print(f"trained in {minutes:.1f} min; held-out FOV AUC per epoch:",
          ", ".join(f"{v:.4f}" for v in history["val_auc"]))
    if save:
        torch.save(model.state_dict(), save.format(fold=fold, seed=seed))
    result = {"minutes": minutes}
    for flips in (False, True):
        scores, prob = protocol.evaluate_images(model, test, flips=flips)
        per_image = [cl.metrics.roc_auc(prob[j], test.masks[j], test.fovs[j]) for j in range(len(test))]
        print("per image AUC:", ", ".join(f"{name} {auc:.4f}" for name, auc in zip(test.ids, per_image,
                                                                                  strict=True)),
              f"(mean {statistics.mean(per_image):.4f})")
        print(f"{test.split}{' (flip TTA)' if flips else ''}: "
              + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()), flush=True)
        if flips:
            result["auc_tta"] = scores["auc"]
        else:
            result.update(auc=scores["auc"], f1=scores["f1"])
    return result


def summary(results: dict[tuple[int, int], dict[str, float]]) -> str:
    """One row per (seed, fold), then each seed's mean over its folds (and over all runs)."""
    lines = ["seed  fold     AUC  AUC, 4 flips     F1   minutes"]
    for (seed, fold), r in sorted(results.items()):
        lines.append(f"{seed:4d}  {fold:4d}  {r['auc']:.4f}  {r['auc_tta']:12.4f}  {r['f1']:.4f}"
                     f"  {r['minutes']:8.1f}")
    groups = {f"seed {seed}": [r for (s, _), r in results.items() if s == seed] for seed, _ in results}
    if len(groups) > 1:
        groups["all seeds"] = list(results.values())
    for label, runs in groups.items():
        if len(runs) > 1:
            means = [statistics.mean(r[k] for r in runs) for k in ("auc", "auc_tta", "f1")]
            lines.append(f"mean of {len(runs)} runs ({label}): AUC {means[0]:.4f}, with 4 flips "
                         f"{means[1]:.4f}, F1 {means[2]:.4f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", default="quick", choices=cl.config.MODES)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--variant", default="dacrse_unet", choices=("unet", "rse_unet", "dacrse_unet"))
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a DriveRecipe field (Python literal or plain string)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--seed", type=int, nargs="+", default=[0],
                        help="model initialisation and patch sampling seed(s)")
    parser.add_argument("--fold", type=int, nargs="+", default=[0],
                        help="cross-validation fold(s) 0-4 (0: the chapter's held-out images; see "
                             "protocol.cross_validation_fold)")
    parser.add_argument("--save", default=None,
                        help="write each trained model's state_dict here ({fold} and {seed} are filled in)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cl.config.set_mode(args.mode)
    recipe = cl.recipes.drive_recipe(epochs=args.epochs, **parse_overrides(args.set))
    print(recipe, flush=True)
    data = protocol.load_vessel_data(preprocessing=recipe.preprocessing, synthetic_size=recipe.synthetic_size)
    # every fold split up front: a fold that does not exist for this data fails before any training
    splits = {fold: protocol.cross_validation_fold(*data, fold) for fold in args.fold}
    results = {(seed, fold): run_one(recipe, splits[fold], fold, seed, args.variant, args.save)
               for seed in args.seed for fold in args.fold}
    if len(results) > 1:
        print("\n" + summary(results))


if __name__ == "__main__":
    main()
