"""Dataset registry and the data folder: ``cl.data.load(name, split, root, **cfg)``."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from course_lib.config import DATA_DIR_ENV, data_root  # noqa: F401 - data_root is re-exported here

_DATASETS: dict[str, Callable[..., Dataset]] = {}


def register_dataset(name: str) -> Callable[[Callable[..., Dataset]], Callable[..., Dataset]]:
    """Decorator: the factory is called as ``factory(split=..., root=..., **cfg)``."""

    def decorator(factory: Callable[..., Dataset]) -> Callable[..., Dataset]:
        if name in _DATASETS:
            raise ValueError(f"A dataset named {name!r} is registered already.")
        _DATASETS[name] = factory
        return factory

    return decorator


def list_datasets() -> list[str]:
    """The names :func:`load` accepts, sorted."""
    return sorted(_DATASETS)


def shown_path(path: str | os.PathLike) -> str:
    """``path`` as a chapter prints it: relative to ``$COURSE_DATA_DIR`` or to the project when it lies
    inside them (so that stored outputs carry no machine's folders), else as given."""
    path = Path(path).expanduser()
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    bases = [("$COURSE_DATA_DIR", Path(env).expanduser())] if env else []
    bases.append(("<project>", Path(__file__).resolve().parents[2]))
    for label, base in bases:
        try:
            relative = path.resolve().relative_to(base.resolve())
        except ValueError:
            continue
        return label if str(relative) == "." else f"{label}/{relative.as_posix()}"
    return str(path)


def load(name: str, split: str = "train", root: str | os.PathLike | None = None, **cfg: Any) -> Dataset:
    """A torch Dataset of dict samples ``{"image": CxHxW float, "mask": 1xHxW, ...}``.

    ``root`` is only used by real datasets (default: :func:`data_root`).
    """
    return _DATASETS[check_dataset_name(name)](split=split, root=root, **cfg)


def check_dataset_name(name: str) -> str:
    """The registry key for ``name`` (case does not matter), or a ValueError listing the datasets."""
    key = str(name).strip().lower()
    if key not in _DATASETS:
        raise ValueError(f"Unknown dataset {name!r}. Available: {', '.join(list_datasets())}.")
    return key
