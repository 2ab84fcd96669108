"""Run modes, device selection and seeding: the three settings every chapter starts from.

``COURSE_MODE`` picks how big a chapter's training is:

- ``smoke``: CI. Tiny data, a few optimizer steps; every code path still runs.
- ``quick``: the default without a GPU. The full architecture on reduced data/epochs (minutes on 2 CPU cores).
- ``full``:  the default with a GPU (CUDA or Apple MPS). The paper-like protocol.

Each chapter states its own expected time per mode (:func:`describe` prints the one for the mode in force).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

MODES = ("smoke", "quick", "full")
MODE_ENV = "COURSE_MODE"
MAX_STEPS_ENV = "COURSE_MAX_STEPS"
DATA_DIR_ENV = "COURSE_DATA_DIR"
REHEARSAL_EVAL_SAMPLES = 2  # what evaluation scores when a step cap is set
REHEARSAL_BATCH = 2  # the largest training batch when a step cap is set

MODE_DESCRIPTIONS = {  # what each mode runs; the time is each chapter's own (see describe)
    "smoke": "CI check: tiny data, a few optimizer steps",
    "quick": "full architectures on reduced data and epochs, for a CPU",
    "full": "the paper-like protocol, for a GPU",
}

T = TypeVar("T")


def _accelerator_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return torch.cuda.is_available() or bool(mps and mps.is_available())


def default_mode() -> str:
    """The mode used when ``COURSE_MODE`` is unset: ``full`` with a GPU, else ``quick``."""
    return "full" if _accelerator_available() else "quick"


def check_mode(mode: str) -> str:
    """Return ``mode`` normalised, or raise a ValueError that lists the valid modes."""
    normalised = str(mode).strip().lower()
    if normalised not in MODES:
        raise ValueError(
            f"Unknown course mode {mode!r}. Use one of {', '.join(MODES)} "
            f"(set it with the {MODE_ENV} environment variable or cl.config.set_mode)."
        )
    return normalised


def get_mode() -> str:
    """The current mode: ``COURSE_MODE`` if set, else :func:`default_mode`."""
    value = os.environ.get(MODE_ENV, "").strip()
    return check_mode(value) if value else default_mode()


def set_mode(mode: str | None) -> str:
    """Set the mode for this process (``None`` clears the override); returns the mode in force."""
    if mode is None or str(mode).strip() == "":
        os.environ.pop(MODE_ENV, None)
    else:
        os.environ[MODE_ENV] = check_mode(mode)
    return get_mode()


def by_mode(smoke: T, quick: T, full: T, mode: str | None = None) -> T:
    """Pick the value for the current (or given) mode: ``by_mode(smoke=2, quick=200, full=2000)``."""
    return {"smoke": smoke, "quick": quick, "full": full}[check_mode(mode or get_mode())]


def max_steps() -> int | None:
    """The rehearsal step cap ``COURSE_MAX_STEPS`` (None when unset): every training run of the course
    stops after this many optimizer steps in all, and evaluation scores only a couple of samples.

    It exists to prove a mode's code path end to end (full mode on a CPU, say); the numbers of a capped
    run are not results.
    """
    value = os.environ.get(MAX_STEPS_ENV, "").strip()
    if not value:
        return None
    try:
        steps = int(value)
    except ValueError:
        steps = 0
    if steps < 1:
        raise ValueError(f"{MAX_STEPS_ENV}={value!r} is not a positive whole number of steps; set it to "
                         f"e.g. 2 for a rehearsal, or unset it (`unset {MAX_STEPS_ENV}`) for real training.")
    return steps


def eval_limit() -> int | None:
    """How many samples evaluation scores: all (None), or a couple under a ``COURSE_MAX_STEPS`` cap."""
    return REHEARSAL_EVAL_SAMPLES if max_steps() is not None else None


def batch_limit() -> int | None:
    """The largest training batch: any (None), or a couple of samples under a ``COURSE_MAX_STEPS`` cap.

    A rehearsal proves the code path (shapes, sizes, memory format), not the memory a full batch needs,
    and a full-size batch of full-width models costs minutes per step on a CPU."""
    return REHEARSAL_BATCH if max_steps() is not None else None


def get_device(prefer: str | None = None) -> torch.device:
    """CUDA if available, then Apple MPS, then CPU; ``prefer`` (e.g. ``"cpu"``) forces one."""
    if prefer is not None:
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("CUDA was requested but is not available; use 'cpu' or leave it unset.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0, deterministic: bool = False) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (all devices); return a torch Generator seeded the same way.

    ``deterministic=True`` also asks cuDNN for deterministic kernels (slower on a GPU).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    os.environ["PYTHONHASHSEED"] = str(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def describe(expected_minutes: dict[str, float] | None = None) -> str:
    """A line naming the mode, what it runs, the device and (if given) the chapter's expected time in this
    mode, e.g. ``COURSE_MODE=quick: full architectures on reduced data and epochs, for a CPU; device: cpu;
    expected time for this chapter: about 1 min``; on a CPU a line on its threads
    (:mod:`course_lib.cpu_policy`), and under ``COURSE_MAX_STEPS`` a rehearsal banner."""
    mode = get_mode()
    device = get_device()
    line = f"COURSE_MODE={mode}: {MODE_DESCRIPTIONS[mode]}; device: {device.type}"
    if device.type == "cuda":
        line += f" ({torch.cuda.get_device_name(0)})"
    if expected_minutes and mode in expected_minutes:
        line += f"; expected time for this chapter: about {expected_minutes[mode]:g} min"
    if device.type == "cpu":
        from course_lib import cpu_policy

        line += "\n" + cpu_policy.describe()
    cap = max_steps()
    if cap is not None:
        line += (f"\nREHEARSAL: {MAX_STEPS_ENV}={cap} caps every training run at {cap} optimizer step(s) and "
                 f"batches at {REHEARSAL_BATCH} and evaluation at {REHEARSAL_EVAL_SAMPLES} samples; the "
                 "figures below are not results")
    return line


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Where datasets (and downloaded weights) live: ``root`` if given, else ``$COURSE_DATA_DIR``, else
    ``data/`` in the project."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    project_data = Path(__file__).resolve().parents[1] / "data"
    return project_data if project_data.parent.joinpath("pyproject.toml").exists() else Path("data")
