"""Try a chapter-06 recipe change without the notebook: train DACRSE-UNet on DRIVE (or the synthetic
fallback) and print the held-out FOV AUC per epoch and the final scores.

    COURSE_DATA_DIR=/path/to/data python scripts/drive_trial.py --epochs 9 --set preprocessing=rgb
"""

from __future__ import annotations

import argparse
import ast
import time

import torch

import course_lib as cl
from course_lib.protocols import drive as protocol


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", default="quick", choices=cl.config.MODES)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--variant", default="dacrse_unet", choices=("unet", "rse_unet", "dacrse_unet"))
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a DriveRecipe field (Python literal or plain string)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0, help="model initialisation and patch sampling seed")
    parser.add_argument("--fold", type=int, default=0,
                        help="cross-validation fold 0-4 (0: the chapter's held-out images; see "
                             "protocol.cross_validation_fold)")
    parser.add_argument("--save", default=None, help="write the trained model's state_dict here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        try:
            overrides[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[key] = value
    cl.config.set_mode(args.mode)
    recipe = cl.recipes.drive_recipe(epochs=args.epochs, **overrides)
    print(recipe, flush=True)
    train, test = protocol.load_vessel_data(preprocessing=recipe.preprocessing,
                                            synthetic_size=recipe.synthetic_size, verbose=args.fold == 0)
    train, test = protocol.cross_validation_fold(train, test, args.fold)
    print(f"{test.split}: {', '.join(test.ids)}", flush=True)
    cl.config.seed_everything(args.seed)
    model = protocol.make_vessel_model(recipe, args.variant)
    start = time.perf_counter()
    history = protocol.fit_vessel_model(model, train, test, recipe, seed=args.seed, progress=False)
    print(f"trained in {(time.perf_counter() - start) / 60:.1f} min; held-out FOV AUC per epoch:",
          ", ".join(f"{v:.4f}" for v in history["val_auc"]))
    if args.save:
        torch.save(model.state_dict(), args.save)
    for flips in (False, True):
        scores, prob = protocol.evaluate_images(model, test, flips=flips)
        per_image = [cl.metrics.roc_auc(prob[j], test.masks[j], test.fovs[j]) for j in range(len(test))]
        print("per image AUC:", ", ".join(f"{name} {auc:.4f}" for name, auc in zip(test.ids, per_image,
                                                                                  strict=True)),
              f"(mean {sum(per_image) / len(per_image):.4f})")
        print(f"{test.split}{' (flip TTA)' if flips else ''}: "
              + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()), flush=True)


if __name__ == "__main__":
    main()
