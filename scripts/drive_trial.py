"""Try a chapter-06 recipe change without the notebook: train DACRSE-UNet on DRIVE (or the synthetic
fallback) and print the held-out FOV AUC per epoch and the final scores.

    COURSE_DATA_DIR=/path/to/data python scripts/drive_trial.py --epochs 9 --set preprocessing=rgb
"""

from __future__ import annotations

import argparse
import ast
import time

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
    args = parser.parse_args()
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
                                            synthetic_size=recipe.synthetic_size)
    cl.config.seed_everything(0)
    model = protocol.make_vessel_model(recipe, args.variant)
    start = time.perf_counter()
    history = protocol.fit_vessel_model(model, train, test, recipe, seed=0, progress=False)
    print(f"trained in {(time.perf_counter() - start) / 60:.1f} min; held-out FOV AUC per epoch:",
          ", ".join(f"{v:.4f}" for v in history["val_auc"]))
    scores, _ = protocol.evaluate_images(model, test)
    print(f"{test.split}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))


if __name__ == "__main__":
    main()
