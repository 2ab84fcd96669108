"""Checkpoints that survive a Colab disconnect: atomic writes, safe loads, exact resume.

A checkpoint is one ``torch.save``-d dict: ``model``, ``optimizer``, ``scaler`` (state dicts),
``epoch`` (epochs completed), ``history``, ``rng`` (Python, NumPy and torch generator states) and a
small ``config`` dict describing the run.

**Atomic writing.** The file is first written to a temporary file in the same folder and then renamed
over the old one with ``os.replace`` (atomic on POSIX and Windows). A crash or a full disk mid-write
leaves the previous ``last.pt`` intact instead of a truncated file.

**Safe loading.** Before any weight is copied, the checkpoint's parameter names and shapes are compared
with the model's; a checkpoint of a different model raises :class:`TrainingError` and touches nothing.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from course_lib.training.checks import TrainingError

__all__ = [
    "RESTART_HINT", "atomic_save", "check_compatible", "load_checkpoint", "load_weights", "restore_rng",
    "rng_state",
]

# Said by every error about an unusable checkpoint, in the words of both the API and the command line.
RESTART_HINT = ("Use another out_dir (--out on the command line), or start from "
                "scratch with resume=False (--no-resume on the command line), which overwrites that folder's "
                "checkpoints.")


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save(obj, path)`` that never leaves a partial file at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) random states, in a form ``torch.load`` accepts safely."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": (name, keys.tolist(), pos, has_gauss, cached),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint dict (on the CPU), with a clear error for unreadable files."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any failure here means the same thing to the user
        raise TrainingError(
            f"Could not read the checkpoint {path} ({type(err).__name__}: {_first_line(err)}). "
            f"It may be from an older course version or damaged (a truncated copy?). {RESTART_HINT}"
        ) from None


def _first_line(err: Exception) -> str:
    lines = str(err).strip().splitlines()
    return lines[0][:200] if lines else "no message"


def check_compatible(model: nn.Module, state_dict: dict[str, torch.Tensor], path: str | os.PathLike) -> None:
    """Raise TrainingError (changing nothing) unless ``state_dict`` fits ``model`` exactly."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    wrong = [f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
             for k, v in own.items() if k in state_dict and state_dict[k].shape != v.shape]
    if missing or unexpected or wrong:
        problems = [f"{len(missing)} missing (e.g. {missing[0]})" if missing else "",
                    f"{len(unexpected)} unexpected (e.g. {unexpected[0]})" if unexpected else "",
                    f"{len(wrong)} with other shapes (e.g. {wrong[0]})" if wrong else ""]
        raise TrainingError(
            f"The checkpoint {path} was written by a different model: parameters "
            f"{'; '.join(p for p in problems if p)}. Nothing was loaded or overwritten. {RESTART_HINT}"
        )


def load_weights(model: nn.Module, path: str | os.PathLike) -> dict[str, Any]:
    """Load the model weights of a course checkpoint (e.g. ``best.pt``) into ``model``; return the dict."""
    state = load_checkpoint(path)
    weights = state.get("model", state)  # also accept a bare state_dict
    check_compatible(model, weights, path)
    model.load_state_dict(weights)
    return state
