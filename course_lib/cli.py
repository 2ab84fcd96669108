"""The command line: ``python -m course_lib train --model unet --dataset synthetic-vessels``.

Trains any registered model on any dataset name in the current mode (or ``--mode``), then writes to
the output folder: ``metrics.json`` (validation scores, recipe, timings), ``learning_curves.png``,
``predictions.png`` and the engine's ``last.pt`` / ``best.pt`` / ``history.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from course_lib import config
from course_lib.models import create_model, list_models
from course_lib.models.registry import check_model_name
from course_lib.recipes import Recipe, recipe_for
from course_lib.training.checks import TrainingError
from course_lib.training.interrupt import TrainingInterrupted
from course_lib.training.run_folder import prepare_run_folder

SYNTHETIC_PREFIX = "synthetic-"


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _model_args(pairs: list[str]) -> dict[str, Any]:
    args = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--model-arg expects key=value (e.g. batch_norm=false), got {pair!r}.")
        value = _parse_value(value)
        args[key.strip()] = tuple(value) if isinstance(value, list) else value
    return args


def build_datasets(name: str, recipe: Recipe, seed: int, root: str | None) -> tuple[Dataset, Dataset]:
    """Train and validation sets for ``name`` sized by ``recipe``.

    Synthetic sets are generated at ``recipe.size``; real sets are cut into random patches of that size
    for training and padded to a multiple of 16 for validation on whole images.
    """
    from course_lib import data

    if name.startswith(SYNTHETIC_PREFIX):
        train = data.load(name, split="train", n=recipe.n_train, size=recipe.size, seed=seed)
        val = data.load(name, split="val", n=recipe.n_val, size=recipe.size, seed=seed)
        return train, val
    from course_lib.data.transforms import Compose, PadToMultiple, RandomFlip, RandomPatches

    train_full = data.load(name, split="train", root=root, seed=seed)
    per_image = max(1, recipe.n_train // max(1, len(train_full)))
    train = RandomPatches(train_full, patch_size=recipe.size, patches_per_image=per_image,
                          foreground_fraction=0.5, transform=Compose([RandomFlip()]), seed=seed)
    val = data.load(name, split="val", root=root, seed=seed, transform=PadToMultiple(16))
    return train, val


def build_model(name: str, in_channels: int, recipe: Recipe, **model_args: Any) -> torch.nn.Module:
    """``create_model`` with the sample's channel count and, if the model takes ``widths``, the recipe's."""
    cfg: dict[str, Any] = {"in_channels": in_channels, "out_channels": 1, **model_args}
    model = create_model(name, **cfg)
    factory_params = inspect.signature(type(model).__init__).parameters
    if "widths" in factory_params and "widths" not in model_args:
        depth = len(getattr(model, "widths", ())) or 5
        cfg["widths"] = tuple(recipe.base_width * 2**i for i in range(depth))
        model = create_model(name, **cfg)
    return model


def _output_folder(path: Path) -> bool:
    """Check that ``path`` can be the run's folder (a writable folder, empty or holding a course run);
    create it and return True if it did not exist."""
    existed = path.is_dir()
    try:
        prepare_run_folder(path, whole_folder=True, option="--out")
    except TrainingError as err:
        if not existed:
            _remove_if_empty(path)
        raise ValueError(str(err)) from None
    return not existed


def _remove_if_empty(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()  # only succeeds for an empty folder: nothing the user made is removed


def train_command(args: argparse.Namespace) -> dict[str, Any]:
    """Train, evaluate and write the figures; returns the metrics written to ``metrics.json``."""
    from course_lib import data

    check_model_name(args.model)
    data.check_dataset_name(args.dataset)
    mode = config.set_mode(args.mode) if args.mode else config.get_mode()
    recipe = recipe_for(args.dataset, mode, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                        size=args.size, n_train=args.n_train)
    out_dir = Path(args.out or f"runs/{args.model}-{args.dataset}-{mode}")
    created = _output_folder(out_dir)
    try:
        return _train(args, mode, recipe, out_dir)
    except BaseException:
        if created:
            _remove_if_empty(out_dir)
        raise


def _run_identity(args: argparse.Namespace, mode: str, recipe: Recipe) -> dict[str, Any]:
    """What defines a command-line run besides the model's weights: resuming is refused when it differs."""
    return {"model": args.model, "dataset": args.dataset, "mode": mode, "seed": args.seed,
            "data_root": args.data_root,
            "model_args": sorted(args.model_arg or []), "size": recipe.size, "n_train": recipe.n_train}


def _train(args: argparse.Namespace, mode: str, recipe: Recipe, out_dir: Path) -> dict[str, Any]:
    from course_lib import engine, viz

    print(config.describe())
    print(f"recipe: {recipe.to_dict()}")
    config.seed_everything(args.seed)
    train, val = build_datasets(args.dataset, recipe, args.seed, args.data_root)
    in_channels = int(train[0]["image"].shape[0])
    model = build_model(args.model, in_channels, recipe, **_model_args(args.model_arg))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {args.model} ({n_params:,} parameters); data: {len(train)} train / {len(val)} val")

    start = time.perf_counter()
    history = engine.fit(model, train, val, epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr,
                         loss=args.loss, seed=args.seed, out_dir=out_dir, resume=not args.no_resume,
                         max_steps_per_epoch=recipe.max_steps_per_epoch, progress=not args.quiet,
                         run=_run_identity(args, mode, recipe))
    seconds = time.perf_counter() - start
    scores = engine.evaluate(model, val, batch_size=1)
    metrics = {
        "model": args.model, "dataset": args.dataset, "mode": mode, "device": str(config.get_device()),
        "parameters": n_params, "recipe": recipe.to_dict(), "train_seconds": round(seconds, 1),
        "epochs_trained": history.epochs, "validation": scores,
    }
    if config.max_steps() is not None:
        metrics["rehearsal"] = {"max_steps": config.max_steps(), "note": "step-capped: not a result"}
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    curves = viz.plot_learning_curves(history, metrics=("dice", "auc"))
    viz.save_figure(curves, out_dir / "learning_curves.png")
    n_show = min(4, len(val))
    samples = [val[i] for i in range(n_show)]
    images = torch.stack([s["image"] for s in samples])
    probs = engine.predict(model, images)
    fovs = torch.stack([s["fov"] for s in samples]) if "fov" in samples[0] else None
    masks = torch.stack([s["mask"] for s in samples])
    fig = viz.show_predictions(images, probs, masks, fovs=fovs, n=n_show)
    viz.save_figure(fig, out_dir / "predictions.png")
    print("validation: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
    print(f"trained in {seconds:.0f} s; wrote metrics.json, learning_curves.png and predictions.png "
          f"to {out_dir}")
    return metrics


def list_command(_: argparse.Namespace) -> None:
    from course_lib import data

    print("models:   " + ", ".join(list_models()))
    print("datasets: " + ", ".join(data.list_datasets()))
    print(f"mode:     {config.get_mode()} (COURSE_MODE); data root: {data.data_root()}")


def download_command(args: argparse.Namespace) -> None:
    from course_lib import data

    print(f"downloaded to {data.download(args.name, root=args.data_root)}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_lib", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model on a dataset and write metrics and figures")
    train.add_argument("--model", default="unet", help="a registered model name (see `list`)")
    train.add_argument("--dataset", default="synthetic-vessels", help="a dataset name (see `list`)")
    train.add_argument("--mode", choices=config.MODES, help="default: COURSE_MODE, else by device")
    train.add_argument("--out", help="output folder (default runs/<model>-<dataset>-<mode>)")
    train.add_argument("--epochs", type=_positive(int))
    train.add_argument("--batch-size", type=_positive(int))
    train.add_argument("--lr", type=_positive(float))
    train.add_argument("--size", type=_positive(int), help="image (synthetic) or patch (real) size")
    train.add_argument("--n-train", type=_positive(int), help="training images (synthetic) or patches (real)")
    train.add_argument("--loss", default="bce_dice", help="bce, dice, bce_dice or weighted_ce")
    train.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                       help="extra create_model argument, JSON values (repeatable)")
    train.add_argument("--data-root", help="a real dataset's own folder, e.g. data/DRIVE (default: its "
                       "folder under COURSE_DATA_DIR, else under data/)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--no-resume", action="store_true", help="start afresh even if last.pt exists")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(func=train_command)

    sub.add_parser("list", help="list models and datasets").set_defaults(func=list_command)
    download = sub.add_parser("download", help="download a real dataset (asks nothing of you first)")
    download.add_argument("name")
    download.add_argument("--data-root", help="the folder to put the dataset in (default: its folder "
                          "under COURSE_DATA_DIR, else under data/)")
    download.set_defaults(func=download_command)
    return parser


def _positive(kind: type) -> Any:
    """An argparse type: ``kind(text)`` > 0 (0 epochs would write results for an untrained model)."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except TrainingInterrupted as stop:
        print(f"\n{stop}\nOn the command line: run the same command again to resume.", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("\nInterrupted before training started; nothing was written.", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
