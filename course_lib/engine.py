"""The training engine: one small fit loop used by every chapter.

    history = cl.engine.fit(model, train_set, val_set, epochs=20, lr=1e-3, loss="bce_dice",
                            out_dir="runs/unet")
    cl.viz.plot_learning_curves(history)             # learning curves
    prob = cl.engine.predict(model, test_set)        # N x 1 x H x W foreground probabilities
    scores = cl.engine.evaluate(model, test_set)     # dice, iou, ..., auc (inside the FOV if given)

Each epoch of :func:`fit` trains on every batch (forward, loss, backward, optimizer step), then scores
the validation set with :func:`course_lib.metrics.segmentation_scores` (inside ``"fov"`` when the
samples have one), appends a record to the :class:`History`, and writes ``last.pt`` (and ``best.pt``
when the validation metric improved) atomically to ``out_dir``.

- **Data**: Datasets of dict samples ``{"image": C x H x W, "mask": 1 x H x W, optional "fov",
  "weight"}`` (or ``(image, mask)`` tuples), or ready DataLoaders.
- **Models** return logits: 1 channel (sigmoid) or 2 (softmax, foreground = channel 1); a list of
  outputs (deep supervision, U^2-Net side outputs, final output first) gets the loss on every output
  and the metrics on the first.
- **Reproducible**: epoch ``e`` reseeds every generator from ``(seed, e)``, so the data order and any
  randomness in the model depend on ``(seed, e)`` and the weights at the epoch's start only. That is why
  a run resumed after a disconnect ends with bit-identical weights (on the same device, with the same
  thread count: on a CPU, :class:`course_lib.cpu_policy.ThreadGovernor` drops to one thread while other
  programs keep a core busy, which changes float rounding; ``COURSE_CPU_POLICY=off`` fixes the count).
- **Resume**: with ``out_dir`` and ``resume=True`` a run continues from ``out_dir/last.pt``; a finished
  run called again loads its weights and returns its history without training.
- **Mixed precision** on CUDA only (bf16 where supported, else fp16 with a gradient scaler).
- **Clear errors** (:class:`TrainingError`) for shape mismatches, wrong channel counts, input sizes the
  model cannot take, and a NaN/inf loss.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset

from course_lib.blocks.conv import center_crop_to
from course_lib.config import MAX_STEPS_ENV, batch_limit, eval_limit, get_device, max_steps, seed_everything
from course_lib.cpu_policy import ThreadGovernor
from course_lib.data import loader as data_loader
from course_lib.losses import MultiOutputLoss, foreground_probability
from course_lib.metrics import SCORE_NAMES, segmentation_scores
from course_lib.training.checkpoint import (
    RESTART_HINT,
    atomic_save,
    check_compatible,
    load_checkpoint,
    load_weights,
    restore_rng,
    rng_state,
)
from course_lib.training.checks import (
    TrainingError,
    check_finite_batch,
    check_finite_loss,
    check_input,
    explain_forward_error,
)
from course_lib.training.history import TIMING_KEYS, History
from course_lib.training.interrupt import InterruptFlag, TrainingInterrupted, catch_interrupt
from course_lib.training.progress import RunProgress
from course_lib.training.run_folder import check_same_run, prepare_run_folder

__all__ = [
    "TIMING_KEYS", "EpochContext", "History", "TrainingError", "TrainingInterrupted", "evaluate", "fit",
    "load_weights", "make_loader", "make_optimizer", "predict", "time_training_step", "train_one_epoch",
]

Data = Dataset | DataLoader


@dataclass
class EpochContext:
    """What a callback sees: ``callback(ctx)`` runs after each epoch (``on_epoch_start(ctx)`` before)."""

    epoch: int
    epochs: int
    model: nn.Module
    optimizer: torch.optim.Optimizer
    history: History


def fit(
    model: nn.Module,
    train_data: Data,
    val_data: Data | None = None,
    *,
    epochs: int,
    batch_size: int = 4,
    lr: float = 1e-3,
    loss: str | Callable = "bce",
    optimizer: str | Callable = "adam",
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    out_dir: str | Path | None = None,
    resume: bool = True,
    seed: int = 0,
    device: str | torch.device | None = None,
    amp: str | bool = "auto",
    channels_last: bool = False,
    metric: str = "dice",
    deep_supervision_weights: Sequence[float] | None = None,
    max_steps_per_epoch: int | None = None,
    num_workers: int = 0,
    progress: bool = True,
    callbacks: Sequence[Callable] | None = None,
    run: Mapping[str, Any] | None = None,
) -> History:
    """Train ``model`` for ``epochs`` epochs (in total, counting resumed ones) and return its History.

    ``loss``: ``"bce"``, ``"dice"``, ``"bce_dice"``, ``"weighted_ce"`` or ``loss(logits, mask, weight)``.
    ``optimizer``: ``"adam"``, ``"adamw"``, ``"sgd"`` (with ``momentum``) or ``factory(params)``.
    ``metric``: a score name (``"dice"``, ``"auc"`` ...) or ``"loss"``; the best validation value picks
    ``best.pt`` (without ``val_data``: the lowest training loss). ``amp``: ``"auto"``, ``"bf16"``,
    ``"fp16"`` or ``False`` (used on CUDA only). ``max_steps_per_epoch`` caps an epoch (smoke runs).
    ``callbacks``: callables ``cb(ctx: EpochContext)`` run after each epoch; objects may instead define
    ``on_epoch_start(ctx)`` / ``on_epoch_end(ctx)`` (e.g. to schedule DropBlock's keep_prob or the lr).

    ``COURSE_MAX_STEPS=N`` (a rehearsal) stops the run after N optimizer steps in all, trains on batches
    of at most two samples and validates on a couple of samples. Ctrl-C finishes the current step and
    raises :class:`TrainingInterrupted`; ``last.pt``
    keeps the last completed epoch, and calling ``fit`` again with the same ``out_dir`` resumes.

    ``out_dir`` is checked before training: it must be a writable folder, and files of the run's
    (``last.pt``, ``best.pt``, ``history.json``) that no course run wrote are never overwritten. ``run``:
    what else defines the run (e.g. ``{"dataset": "drive"}``); it is saved in the checkpoint, and a
    checkpoint written for another ``run`` is refused instead of resumed.
    """
    if metric != "loss" and metric not in SCORE_NAMES:
        raise ValueError(f"Unknown metric {metric!r}; use 'loss' or one of {', '.join(SCORE_NAMES)}.")
    _check_positive(epochs=epochs, batch_size=batch_size)
    if max_steps_per_epoch is not None:
        _check_positive(max_steps_per_epoch=max_steps_per_epoch)
    step_cap = max_steps()
    if (limit := batch_limit()) is not None:
        batch_size = min(batch_size, limit)
    device = get_device(device)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    loss_fn = MultiOutputLoss(loss, deep_supervision_weights)
    opt = make_optimizer(model, optimizer, lr=lr, weight_decay=weight_decay, momentum=momentum)
    amp_dtype = _amp_dtype(amp, device)
    scaler = _grad_scaler(enabled=amp_dtype == torch.float16)
    config = _run_config(model, loss, optimizer, lr, weight_decay, batch_size, seed, amp_dtype, metric)
    config["max_steps"] = step_cap
    config["run"] = dict(run) if run else None
    history = History(metric=f"val_{metric}" if val_data is not None else "train_loss")
    out_dir = prepare_run_folder(out_dir) if out_dir is not None else None

    if resume and out_dir is not None and (out_dir / "last.pt").exists():
        history = _resume(out_dir / "last.pt", model, opt, scaler, config, history.metric, progress)
        if history.epochs >= epochs:
            _say(progress, f"{out_dir / 'last.pt'} already holds {history.epochs} epoch(s) "
                           f"(epochs={epochs}): loaded its weights and history, nothing to train.")
            return history

    check_input(model, _first_image_shape(train_data))
    val_loader = None if val_data is None else make_loader(val_data, batch_size, num_workers=num_workers,
                                                           device=device, what="validation data")
    ctx = EpochContext(history.epochs, epochs, model, opt, history)
    steps_left = step_cap
    # one bar for the whole run, advancing per optimizer step (a notebook keeps every bar it drew)
    run_bar = RunProgress(epochs, history.epochs, _epoch_steps(train_data, batch_size, max_steps_per_epoch),
                          max_steps=step_cap, enabled=progress)
    governor = ThreadGovernor() if device.type == "cpu" else None  # one thread while others load the CPU
    restore_threads = contextlib.closing(governor) if governor else contextlib.nullcontext()
    with catch_interrupt() as interrupt, restore_threads, contextlib.closing(run_bar):
        for epoch in range(history.epochs + 1, epochs + 1):
            seed_everything(_epoch_seed(seed, epoch))
            ctx.epoch = epoch
            run_bar.start_epoch(epoch)
            _run_callbacks(callbacks, "on_epoch_start", ctx)
            start = time.perf_counter()
            loader = make_loader(train_data, batch_size, shuffle=True, seed=seed, epoch=epoch,
                                 num_workers=num_workers, device=device, what="training data")
            cap = _min_cap(max_steps_per_epoch, steps_left)
            record = {"epoch": epoch, **train_one_epoch(
                model, loader, loss_fn, opt, scaler, device=device, amp_dtype=amp_dtype, epoch=epoch,
                max_steps=cap, progress=run_bar, channels_last=channels_last, interrupt=interrupt,
                governor=governor)}
            if interrupt.raised:
                raise _interrupted(epoch, record.pop("steps"), history.epochs, out_dir)
            if val_loader is not None:
                record.update(_validate(model, val_loader, loss_fn, device, amp_dtype, channels_last))
            if steps_left is not None:
                steps_left -= record["steps"]
            record.update(lr=opt.param_groups[0]["lr"], seconds=time.perf_counter() - start)
            history.append(record)
            if out_dir is not None:
                _save_checkpoints(out_dir, model, opt, scaler, history, config)
            run_bar.end_epoch(_summary(record, history.metric))
            _run_callbacks(callbacks, "on_epoch_end", ctx)
            if interrupt.raised:  # Ctrl-C during validation: this epoch is complete and saved
                raise _interrupted(epoch + 1, 0, history.epochs, out_dir)
            if steps_left is not None and steps_left <= 0:
                run_bar.close()
                _say(progress, f"{MAX_STEPS_ENV}={step_cap}: stopped after {history.epochs} epoch(s) "
                               f"of {epochs} (a rehearsal, not a result).")
                break
    return history


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader,
    loss_fn: Callable,
    optimizer: torch.optim.Optimizer,
    scaler: Any,
    *,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
    epoch: int = 1,
    max_steps: int | None = None,
    progress: bool | RunProgress = True,
    channels_last: bool = False,
    interrupt: InterruptFlag | None = None,
    governor: ThreadGovernor | None = None,
) -> dict[str, float]:
    """One pass over ``loader``; returns ``train_loss``, ``step_seconds``, ``images_per_s``, ``steps`` and
    ``threads`` (the mean CPU thread count of its steps).

    ``progress``: a :class:`~course_lib.training.progress.RunProgress` to advance per step (what
    :func:`fit` passes: one bar per run), True for a bar of this epoch alone, False for none.
    ``interrupt`` (set by a Ctrl-C, see :func:`course_lib.training.interrupt.catch_interrupt`) ends the
    pass after the current step; ``governor`` (:class:`course_lib.cpu_policy.ThreadGovernor`) adjusts
    the CPU threads after each step.
    """
    model.train()
    total_loss, seen, step, thread_steps = 0.0, 0, 0, 0
    n_steps = len(loader) if max_steps is None else min(len(loader), max_steps)
    start = time.perf_counter()
    if isinstance(progress, RunProgress):
        bar = contextlib.nullcontext(progress)
    else:
        own = RunProgress(None, per_epoch=n_steps, enabled=progress, desc=f"epoch {epoch}")
        bar = contextlib.closing(own)
    with bar as shown:
        shown.start_epoch(epoch)
        for step, batch in enumerate(loader, start=1):
            images, mask, weight, _ = _to_device(batch, device, channels_last)
            check_finite_batch(images, mask, "training", step)
            with _autocast(device, amp_dtype):
                outputs = _forward(model, images)
            mask, weight = _crop_targets(model, outputs, mask, weight, images=images)
            loss = _compute_loss(loss_fn, outputs, mask, weight)
            check_finite_loss(loss.item(), epoch, step, optimizer.param_groups[0]["lr"])
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            thread_steps += governor.step() if governor is not None else torch.get_num_threads()
            total_loss += loss.item() * len(images)
            seen += len(images)
            shown.step(total_loss / seen, seen / (time.perf_counter() - start))
            if step == n_steps or (interrupt is not None and interrupt.raised):
                break
    if step == 0:
        raise TrainingError("The training data is empty: there is nothing to train on.")
    seconds = time.perf_counter() - start
    return {"train_loss": total_loss / seen, "step_seconds": seconds / step, "images_per_s": seen / seconds,
            "steps": step, "threads": thread_steps / step}


def time_training_step(
    model: nn.Module,
    images: torch.Tensor,
    masks: torch.Tensor,
    *,
    loss: str | Callable = "bce",
    lr: float = 1e-3,
    steps: int = 5,
    channels_last: bool = False,
    device: str | torch.device | None = None,
) -> float:
    """Seconds per optimizer step (forward, loss, backward, Adam) on one batch, before training.

    Runs ``steps`` steps on a copy of ``model`` (the model itself is not changed) and returns the median
    of all but the first two, which pay one-off costs (kernel selection, memory allocation). Under a
    ``COURSE_MAX_STEPS`` rehearsal it runs at most that many steps plus one, on at most two samples.
    """
    cap = max_steps()
    steps = max(1, steps if cap is None else min(steps, cap + 1))
    if (limit := batch_limit()) is not None:
        images, masks = images[:limit], masks[:limit]
    device = get_device(device) if device is not None else next(model.parameters()).device
    probe = copy.deepcopy(model).to(device).train()
    images, masks = images.to(device).float(), masks.to(device).float()
    if channels_last:
        probe = probe.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    loss_fn = MultiOutputLoss(loss, None)
    opt = torch.optim.Adam(probe.parameters(), lr=lr)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        outputs = _forward(probe, images)
        value = _compute_loss(loss_fn, outputs, *_crop_targets(probe, outputs, masks, images=images), None)
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times[min(2, steps - 1):]))


# -- inference ----------------------------------------------------------------------------------------

def predict(
    model: nn.Module,
    data: Data | torch.Tensor,
    batch_size: int = 8,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Foreground probabilities ``N x 1 x H x W`` (CPU, float32) for a Dataset, DataLoader or tensor.

    A tensor must be ``N x C x H x W``. The model runs in eval mode under ``torch.inference_mode()``
    (its train/eval mode is restored afterwards); a multi-output model contributes its first output.
    ``device=None`` keeps the model where it is.
    """
    return _collect(model, data, batch_size, device, need_mask=False)["prob"]


def evaluate(
    model: nn.Module,
    data: Data,
    threshold: float = 0.5,
    batch_size: int = 8,
    device: str | torch.device | None = None,
) -> dict[str, float]:
    """:func:`course_lib.metrics.segmentation_scores` of the model on ``data`` (inside ``"fov"`` if any).

    Under a ``COURSE_MAX_STEPS`` rehearsal only the first couple of samples are scored.
    """
    out = _collect(model, data, batch_size, device, limit=eval_limit())
    return segmentation_scores(out["prob"], out["mask"], out["fov"], threshold=threshold)


@torch.inference_mode()
def _collect(
    model: nn.Module,
    data: Data | torch.Tensor,
    batch_size: int,
    device: str | torch.device | None,
    *,
    need_mask: bool = True,
    loss_fn: Callable | None = None,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    limit: int | None = None,
    what: str = "evaluation",
) -> dict[str, Any]:
    """Run the model over ``data`` (its first ``limit`` samples if given); gather probabilities, masks,
    FOVs (CPU) and the mean loss."""
    if device is None:
        device = next(model.parameters(), torch.empty(0)).device  # keep the model where it is
    device = torch.device(device)
    model.to(device)
    if isinstance(data, torch.Tensor):
        if data.dim() not in (4, 5):
            raise ValueError(f"predict needs an N x C x H x W tensor (N x C x D x H x W for volumes), got "
                             f"shape {tuple(data.shape)}; add the batch axis with x[None].")
        loader = data.split(batch_size)
    else:
        loader = make_loader(data, batch_size, device=device)
    was_training = model.training
    model.eval()
    parts: dict[str, list] = {"prob": [], "mask": [], "fov": []}
    loss_sum, seen = 0.0, 0
    try:
        for index, batch in enumerate(loader):
            images, mask, weight, fov = _to_device(batch, device, channels_last, need_mask=need_mask)
            if index == 0:
                check_input(model, tuple(images.shape[1:]))
            check_finite_batch(images, mask, what, index + 1)
            if limit is not None and seen + len(images) > limit:
                images, mask, weight, fov = (None if t is None else t[:limit - seen]
                                             for t in (images, mask, weight, fov))
            with _autocast(device, amp_dtype):
                outputs = _forward(model, images)
            mask, weight, fov = _crop_targets(model, outputs, mask, weight, fov, images=images)
            if loss_fn is not None:
                loss_sum += _compute_loss(loss_fn, outputs, mask, weight).item() * len(images)
            final = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
            parts["prob"].append(_probability(final.float()).cpu())
            for key, value in (("mask", mask), ("fov", fov)):
                if value is not None:
                    parts[key].append(value.float().cpu())
            seen += len(images)
            if limit is not None and seen >= limit:
                break
    finally:
        model.train(was_training)
    if seen == 0:
        raise ValueError("The data is empty: there is nothing to predict.")
    out: dict[str, Any] = {k: torch.cat(v) if v else None for k, v in parts.items()}
    out["loss"] = loss_sum / seen
    return out


def _validate(model, loader, loss_fn, device, amp_dtype, channels_last) -> dict[str, float]:
    """Validation loss and scores, as history columns ``val_loss``, ``val_dice`` ..."""
    out = _collect(model, loader, loader.batch_size or 1, device, loss_fn=loss_fn, amp_dtype=amp_dtype,
                   channels_last=channels_last, limit=eval_limit(), what="validation")
    try:
        scores = segmentation_scores(out["prob"], out["mask"], out["fov"])
    except ValueError as err:
        raise TrainingError(f"Could not score the validation set: {err}") from None
    return {"val_loss": out["loss"], **{f"val_{k}": v for k, v in scores.items()}}


# -- building blocks ----------------------------------------------------------------------------------

def make_optimizer(
    model: nn.Module, name: str | Callable = "adam", *, lr: float = 1e-3, weight_decay: float = 0.0,
    momentum: float = 0.9,
) -> torch.optim.Optimizer:
    """``"adam"``, ``"adamw"`` or ``"sgd"`` (with momentum) over the trainable parameters; or a factory."""
    params = [p for p in model.parameters() if p.requires_grad]
    if callable(name):
        return name(params)
    key = str(name).lower()
    if key == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if key == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if key == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"Unknown optimizer {name!r}; use 'adam', 'adamw', 'sgd' or a factory(params).")


def _check_positive(**values: Any) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive whole number, got {value!r}: nothing was trained.")


def _min_cap(*caps: int | None) -> int | None:
    present = [c for c in caps if c is not None]
    return min(present) if present else None


def _interrupted(epoch: int, step: int, epochs_done: int, out_dir: Path | None) -> TrainingInterrupted:
    where = f"during epoch {epoch} (after step {step})" if step else f"after epoch {epoch - 1}"
    if out_dir is None:
        kept = ("Nothing was saved (no out_dir): the model keeps the weights of its last step, and the "
                "history of this call is lost.")
    elif epochs_done == 0:
        kept = f"No epoch had finished, so {out_dir} holds no checkpoint yet: a rerun starts from scratch."
    else:
        kept = (f"{out_dir / 'last.pt'} holds the {epochs_done} completed epoch(s); the unfinished epoch was "
                "dropped. To resume, run the same fit call again (same out_dir, resume=True) or, on the "
                "command line, the same command: it continues from there with the same result as an "
                "uninterrupted run.")
    return TrainingInterrupted(f"Training interrupted (Ctrl-C) {where}. {kept}", epochs_done)


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def make_loader(
    data: Data, batch_size: int, *, shuffle: bool = False, seed: int = 0, epoch: int = 0,
    num_workers: int | None = 0, device: torch.device | None = None, what: str = "data",
) -> DataLoader:
    """A DataLoader whose order is a function of ``(seed, epoch)``; a DataLoader is returned unchanged.

    Datasets with ``set_epoch`` (augmentation and patch wrappers) are told the epoch first, so their
    random draws differ between epochs yet stay reproducible.
    """
    if isinstance(data, DataLoader):
        return data
    if hasattr(data, "set_epoch"):
        data.set_epoch(epoch)
    return data_loader.make_loader(data, max(1, batch_size), shuffle=shuffle, seed=_epoch_seed(seed, epoch),
                                   num_workers=num_workers, device=device, what=what)


def _crop_targets(model: nn.Module, outputs: Any, *targets: torch.Tensor | None,
                  images: torch.Tensor | None = None) -> tuple:
    """Valid-convolution models (the original U-Net, the 3D U-Net) predict only the centre of their input,
    so the targets are centre-cropped to the output; other models must already match (checked by the loss).
    A target must have the input's size before cropping: a wrong-sized mask is refused, not cropped."""
    if not getattr(model, "context_margin", 0):
        return targets
    if images is not None:
        names = ("mask", "loss weight", "FOV")
        for name, t in zip(names, targets, strict=False):
            if t is not None and tuple(t.shape[2:]) != tuple(images.shape[2:]):
                raise TrainingError(
                    f"The {name} is {'x'.join(map(str, t.shape[2:]))} but the input is "
                    f"{'x'.join(map(str, images.shape[2:]))}. Give every target at the input's size: this "
                    "valid-convolution model predicts only the centre of its input, and the engine crops "
                    "the targets to it (a target cropped from another size would no longer line up).")
    final = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
    return tuple(None if t is None else center_crop_to(t, tuple(final.shape[2:])) for t in targets)


def _amp_dtype(amp: str | bool, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda" or amp in (False, None, "off", "none", "no"):
        return None
    if amp in (True, "auto"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    dtypes = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
              "fp16": torch.float16, "float16": torch.float16}
    if amp not in dtypes:
        raise ValueError(f"Unknown amp setting {amp!r}; use 'auto', 'bf16', 'fp16' or False.")
    return dtypes[amp]


def _grad_scaler(enabled: bool):
    """Loss scaling for fp16 (bf16 and fp32 need none; a disabled scaler is a no-op)."""
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda", enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled)  # torch < 2.3


def _autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def _to_device(batch: Any, device: torch.device, channels_last: bool = False, need_mask: bool = True):
    """``(images, mask, weight, fov)`` on ``device`` from a dict batch, an (image, mask[, weight]) tuple
    or a bare image tensor; absent entries are None."""
    if isinstance(batch, Mapping):
        if "image" not in batch or (need_mask and "mask" not in batch):
            raise TrainingError(f"Each sample must be a dict with 'image' and 'mask' (the cl.data "
                                f"convention); got keys {sorted(batch)}.")
        parts = [batch["image"], batch.get("mask"), batch.get("weight"), batch.get("fov")]
    elif isinstance(batch, torch.Tensor):
        parts = [batch, None, None, None]
    elif isinstance(batch, (list, tuple)) and 1 <= len(batch) <= 3:
        image, mask, weight = [*batch, None, None][:3]
        parts = [image, mask, weight, None]
    else:
        raise TrainingError("Each sample must be a dict {'image', 'mask', ...} or an (image, mask) tuple.")
    if need_mask and parts[1] is None:
        raise TrainingError("The samples have no mask; training and evaluation need 'mask'.")
    images, mask, weight, fov = (None if p is None else p.to(device, non_blocking=True) for p in parts)
    images = images.float()
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return images, mask, weight, fov


def _forward(model: nn.Module, images: torch.Tensor):
    try:
        return model(images)
    except (RuntimeError, ValueError) as err:
        explained = explain_forward_error(err, images)
        if explained is None:
            raise
        raise explained from None


def _compute_loss(loss_fn: Callable, outputs, mask: torch.Tensor, weight: torch.Tensor | None):
    """The loss in float32 (outside autocast); loss ValueErrors become TrainingErrors."""
    outputs = [o.float() for o in outputs] if isinstance(outputs, (list, tuple)) else outputs.float()
    try:
        return loss_fn(outputs, mask.float(), None if weight is None else weight.float())
    except ValueError as err:
        raise TrainingError(str(err)) from None


def _probability(logits: torch.Tensor) -> torch.Tensor:
    try:
        return foreground_probability(logits)
    except ValueError as err:
        raise TrainingError(str(err)) from None


def _epoch_steps(data: Data, batch_size: int, cap: int | None) -> int | None:
    """Optimizer steps per epoch (the last batch may be short), at most ``cap``; ``cap`` when the data
    has no length."""
    try:
        steps = len(data) if isinstance(data, DataLoader) else math.ceil(len(data) / max(1, batch_size))
    except TypeError:
        return cap
    return _min_cap(steps, cap)


def _first_image_shape(data: Data) -> tuple[int, ...]:
    dataset = data.dataset if isinstance(data, DataLoader) else data
    try:
        sample = dataset[0]
    except (TypeError, IndexError, NotImplementedError):
        raise TrainingError("The training data is empty or not indexable; pass a Dataset of samples "
                            "or a DataLoader.") from None
    image = sample["image"] if isinstance(sample, Mapping) else sample[0]
    return tuple(image.shape)


def _run_config(model, loss, optimizer, lr, weight_decay, batch_size, seed, amp_dtype, metric) -> dict:
    def name(x):
        return x if isinstance(x, str) else getattr(x, "__name__", type(x).__name__)

    return {"model": type(model).__name__, "parameters": sum(p.numel() for p in model.parameters()),
            "loss": name(loss), "optimizer": name(optimizer), "lr": lr, "weight_decay": weight_decay,
            "batch_size": batch_size, "seed": seed, "amp": str(amp_dtype), "metric": metric}


def _save_checkpoints(out_dir: Path, model, optimizer, scaler, history: History, config: dict) -> None:
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
             "epoch": history.epochs, "history": history.state(), "rng": rng_state(), "config": config}
    atomic_save(state, out_dir / "last.pt")
    if history.is_best(history.records[-1]):
        atomic_save(state, out_dir / "best.pt")
    history.save(out_dir / "history.json")


def _resume(path: Path, model, optimizer, scaler, config: dict, metric: str, progress: bool) -> History:
    """Load ``last.pt`` into model/optimizer/scaler/RNGs (checking it fits first); return its History."""
    state = load_checkpoint(path)
    check_same_run(state.get("config", {}).get("run"), config.get("run"), path.parent, RESTART_HINT)
    check_compatible(model, state["model"], path)
    try:
        optimizer.load_state_dict(state["optimizer"])
    except (ValueError, KeyError) as err:
        raise TrainingError(f"The optimizer state in {path} does not fit this optimizer ({err}). "
                            f"{RESTART_HINT}") from None
    model.load_state_dict(state["model"])
    if state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    restore_rng(state["rng"])
    capped = state.get("config", {}).get("max_steps")
    if capped != config.get("max_steps"):
        now = f"{MAX_STEPS_ENV}={config['max_steps']}" if config.get("max_steps") else "no step cap"
        what = (f"{path} was written by a rehearsal capped at {MAX_STEPS_ENV}={capped}, and this run has "
                f"{now}" if capped else f"{path} holds a real run, and this one is a rehearsal ({now})")
        raise TrainingError(f"{what}; the two must not be mixed, so nothing was loaded. {RESTART_HINT}")
    changed = {k: (v, config[k]) for k, v in state.get("config", {}).items() if config.get(k) != v}
    if changed:
        warnings.warn(f"Resuming {path} with changed settings (checkpoint -> now): {changed}", stacklevel=3)
    history = History.from_state(state["history"])
    history.metric = metric
    _say(progress, f"Resuming from {path}: {history.epochs} epoch(s) done.")
    return history


def _run_callbacks(callbacks: Sequence[Callable] | None, hook: str, ctx: EpochContext) -> None:
    for callback in callbacks or ():
        fn = getattr(callback, hook, None)
        if fn is None and hook == "on_epoch_end" and callable(callback):
            fn = callback
        if fn is not None:
            fn(ctx)


def _summary(record: dict, metric: str) -> dict[str, str]:
    """The validation loss and metric the run's bar shows after an epoch (loss and speed: per step)."""
    keys = dict.fromkeys(["val_loss", metric]) if metric != "train_loss" else {}
    return {k: f"{record[k]:.4g}" for k in keys if k in record and not math.isnan(record[k])}


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message)
