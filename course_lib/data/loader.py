"""``make_loader``: a DataLoader with settings that are safe on a laptop, in Colab and on a GPU box."""

from __future__ import annotations

import os
import random
import warnings

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

__all__ = ["make_loader"]

MAX_WORKERS = 2  # Colab gives 2 CPU cores; more workers only add memory and warnings


def _seed_worker(worker_id: int) -> None:
    """Seed NumPy and ``random`` in each worker from the torch seed the DataLoader assigned it."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def default_num_workers(device: torch.device) -> int:
    """0 on CPU (the cores are busy training), else ``min(2, cpu_count - 1)``."""
    if device.type == "cpu":
        return 0
    return max(0, min(MAX_WORKERS, (os.cpu_count() or 1) - 1))


def make_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    num_workers: int | None = None,
    device: str | torch.device | None = None,
    drop_last: bool = False,
    what: str = "data",
) -> DataLoader:
    """A seeded DataLoader: the same batches in the same order for the same ``seed``.

    ``num_workers``: default 0 on CPU and up to 2 with a GPU; larger requests are capped at 2 (Colab-safe).
    ``pin_memory`` is on only for CUDA; ``persistent_workers`` whenever workers are used.
    ``device`` defaults to :func:`course_lib.config.get_device`. ``what`` names the data in errors
    ("training data", "validation data"). A batch whose samples differ in size stops with a clear error.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    if len(dataset) == 0:  # type: ignore[arg-type]
        raise ValueError(f"The {what} is empty (0 samples); check its folder, its split and any filter "
                         "that selects its images.")
    if device is None:
        from course_lib.config import get_device

        device = get_device()
    device = torch.device(device)
    if num_workers is None:
        num_workers = default_num_workers(device)
    elif num_workers > MAX_WORKERS:
        warnings.warn(
            f"num_workers={num_workers} capped at {MAX_WORKERS} (Colab has 2 cores; more only cost memory).",
            stacklevel=2,
        )
        num_workers = MAX_WORKERS
    num_workers = max(0, int(num_workers))
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=num_workers > 0,
        worker_init_fn=_seed_worker if num_workers > 0 else None,
        generator=generator,
        collate_fn=same_size_collate,
    )


def _size_of(sample: object) -> tuple[int, ...] | None:
    if isinstance(sample, dict):
        image = sample.get("image")
    else:
        image = sample[0] if isinstance(sample, (tuple, list)) and sample else None
    return tuple(image.shape) if hasattr(image, "shape") else None


def same_size_collate(batch: list) -> object:
    """torch's default collate, with a clear error when the samples of a batch differ in size."""
    try:
        return default_collate(batch)
    except RuntimeError:
        sizes = list(dict.fromkeys(s for s in map(_size_of, batch) if s is not None))
        if len(sizes) < 2:
            raise
        shown = ", ".join(" x ".join(map(str, s)) for s in sizes[:4])
        raise ValueError(
            f"The samples of one batch have different sizes ({shown}), and a batch stacks samples of one "
            "size. Cut patches of one size (cl.data.transforms.RandomCrop or RandomPatches), pad every "
            "sample to one size (cl.data.transforms.PadTo), or use batch_size=1.") from None
