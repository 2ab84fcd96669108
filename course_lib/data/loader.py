"""``make_loader``: a DataLoader with settings that are safe on a laptop, in Colab and on a GPU box."""

from __future__ import annotations

import os
import random
import warnings

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

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
) -> DataLoader:
    """A seeded DataLoader: the same batches in the same order for the same ``seed``.

    ``num_workers``: default 0 on CPU and up to 2 with a GPU; larger requests are capped at 2 (Colab-safe).
    ``pin_memory`` is on only for CUDA; ``persistent_workers`` whenever workers are used.
    ``device`` defaults to :func:`course_lib.config.get_device`.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    if len(dataset) == 0:  # type: ignore[arg-type]
        raise ValueError("The dataset is empty; check its folder and split.")
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
    )
