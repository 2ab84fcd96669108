"""Chapter 08's protocol parts: UNet++ inference modes and pruning, measured.

- :func:`predict`: ``"accurate"`` mode averages the probabilities of all deep-supervision heads
  X^{0,1..D}; ``"fast"`` mode runs the network pruned to level L and uses the one head on X^{0,L}
  (Zhou et al. 2018, Sec. 3, "model pruning").
- :func:`measure_pruning`: for L1..LD and the accurate mode, on the given images: the parameters that
  actually run, the inference time per image on the current device (median of repeats, after a warm-up)
  and Dice/IoU.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
import torch.nn as nn

from course_lib.metrics import segmentation_scores

__all__ = ["MODES", "measure_pruning", "predict"]

MODES = ("fast", "accurate")


def _check_model(model: nn.Module) -> None:
    if not (hasattr(model, "nodes_for_level") and hasattr(model, "heads")):
        raise TypeError(f"{type(model).__name__} is not a UNet++ (cl.create_model('unetpp', ...)).")


@torch.inference_mode()
def predict(model: nn.Module, images: torch.Tensor, mode: str = "fast", level: int | None = None,
            batch_size: int = 4) -> torch.Tensor:
    """Foreground probabilities N x 1 x H x W (CPU) of a UNet++ in eval mode (its mode is restored).

    ``mode="fast"``: the head on X^{0,L} of the network pruned to ``level`` (None: the deepest head).
    ``mode="accurate"``: the mean of all heads' probabilities (deep supervision needed; ``level`` unused).
    """
    _check_model(model)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
    if mode == "accurate" and not model.deep_supervision:
        raise ValueError("The accurate mode averages the deep-supervision heads: build the model with "
                         "deep_supervision=True (and train it so).")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        out = []
        for chunk in images.split(batch_size):
            chunk = chunk.to(device)
            if mode == "accurate":
                heads = model(chunk, prune_level=None)
                probs = torch.stack([torch.sigmoid(o.float()) for o in heads]).mean(0)
            else:
                level_used = model.depth if level is None else level
                probs = torch.sigmoid(model(chunk, prune_level=level_used).float())
            out.append(probs.cpu())
    finally:
        model.train(was_training)
    return torch.cat(out)


def _seconds_per_image(model: nn.Module, images: torch.Tensor, mode: str, level: int | None, repeats: int,
                       batch_size: int) -> float:
    predict(model, images[:batch_size], mode, level, batch_size)  # warm-up: allocation, kernel choice
    times = []
    for _ in range(repeats):
        start = time.perf_counter()  # predict() returns CPU tensors, so GPU work has finished by the end
        predict(model, images, mode, level, batch_size)
        times.append(time.perf_counter() - start)
    return statistics.median(times) / len(images)


def measure_pruning(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, repeats: int = 5,
                    batch_size: int = 4, threshold: float = 0.5) -> list[dict[str, Any]]:
    """One row per pruned network L1..LD (``fast`` mode) and one for the ``accurate`` mode: ``name``,
    ``level``, ``mode``, ``parameters`` (that run), ``ms_per_image`` (median of ``repeats`` passes over
    ``images``), ``dice`` and ``iou`` against ``masks``."""
    _check_model(model)
    if not model.deep_supervision:
        raise ValueError("Pruning needs a model trained with deep supervision (deep_supervision=True).")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}.")
    runs: list[tuple[str, str, int | None]] = [(f"L{L}", "fast", L) for L in range(1, model.depth + 1)]
    runs.append(("accurate", "accurate", None))
    rows = []
    for name, mode, level in runs:
        prob = predict(model, images, mode, level, batch_size)
        scores = segmentation_scores(prob, masks, threshold=threshold)
        seconds = _seconds_per_image(model, images, mode, level, repeats, batch_size)
        rows.append({"name": name, "level": level, "mode": mode, "parameters": model.parameters_used(level),
                     "ms_per_image": 1000 * seconds, "dice": scores["dice"], "iou": scores["iou"]})
    return rows
