"""Small helpers every chapter calls: a setup banner, showing library source, Colab detection."""

from __future__ import annotations

import inspect
import platform
import sys
from dataclasses import dataclass
from typing import Any

import torch

from course_lib import config


@dataclass(frozen=True)
class ChapterSetup:
    """What a chapter needs to know about where it runs."""

    mode: str
    device: torch.device
    seed: int
    in_colab: bool


def in_colab() -> bool:
    """True when running inside Google Colab."""
    return "google.colab" in sys.modules


def setup(expected_minutes: dict[str, float] | None = None, *, mode: str | None = None,
          seed: int = 0) -> ChapterSetup:
    """Apply ``mode`` (if given), seed everything, and print the mode, device and expected time."""
    if mode:
        config.set_mode(mode)
    config.seed_everything(seed)
    current = config.get_mode()
    device = config.get_device()
    print(config.describe(expected_minutes))
    print(f"python {platform.python_version()} · torch {torch.__version__} · seed {seed}")
    return ChapterSetup(mode=current, device=device, seed=seed, in_colab=in_colab())


def show_source(obj: Any) -> Any:
    """Display the source of a library object with syntax highlighting (falls back to plain text)."""
    source = inspect.getsource(obj)
    try:
        from IPython.display import Code
    except ImportError:  # pragma: no cover - IPython ships with Jupyter
        print(source)
        return None
    return Code(source, language="python")
