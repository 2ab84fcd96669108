"""The folder a run writes to: checked before any training, so that nothing a user made is overwritten
and no training is wasted on a folder that cannot be written.

- :func:`prepare_run_folder`: the folder exists (or is created), is a folder, is writable, and none of
  the files the run will write is already there unless a course run wrote it (its ``last.pt`` is a course
  checkpoint). A folder holding someone else's ``history.json`` or ``metrics.json`` is refused.
- :func:`check_same_run`: a checkpoint written for another run (another dataset, another mode, ...) is
  refused on resume, naming the folder and the fix, instead of being resumed as if it were this one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from course_lib.training.checks import TrainingError

__all__ = ["ENGINE_FILES", "check_same_run", "prepare_run_folder"]

ENGINE_FILES = ("last.pt", "best.pt", "history.json")


def _is_course_run(folder: Path) -> bool:
    return (folder / "last.pt").is_file()


def prepare_run_folder(out_dir: str | os.PathLike, *, writes: Iterable[str] = ENGINE_FILES,
                       whole_folder: bool = False, option: str = "out_dir") -> Path:
    """Check (and create) the run folder before training. ``writes``: the file names the run will write;
    ``whole_folder``: refuse any non-empty folder that holds no course run (the command line's ``--out``).
    ``option`` names the setting in messages (``out_dir`` or ``--out``)."""
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise TrainingError(f"{option}={folder} is an existing file, not a folder. Give a folder path "
                            "(it is created if missing); nothing was trained.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TrainingError(f"Cannot create the run folder {folder} ({err.strerror}). Choose another "
                            f"{option}; nothing was trained.") from None
    probe = folder / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
    except OSError as err:
        raise TrainingError(f"Cannot write to the run folder {folder} ({err.strerror}): the checkpoints "
                            f"could not be saved. Choose a writable {option}; nothing was trained.") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    if not _is_course_run(folder):
        others = sorted(p.name for p in folder.iterdir() if not p.name.startswith(".write-test-"))
        clashes = others if whole_folder else [name for name in writes if name in others]
        if clashes:
            shown = ", ".join(clashes[:5]) + (" ..." if len(clashes) > 5 else "")
            raise TrainingError(
                f"The run folder {folder} already holds files that no course run wrote ({shown}) and "
                f"that this run would overwrite or mix with. Nothing was changed. Choose a new or empty "
                f"{option}, or move those files away first.")
    return folder


def check_same_run(saved: Mapping[str, Any] | None, now: Mapping[str, Any] | None, path: Path,
                   restart_hint: str) -> None:
    """Refuse to resume ``path`` when the run it was written for differs from this one."""
    if not saved or not now:
        return
    keys = sorted(set(saved) | set(now))
    differ = {k: (saved.get(k), now.get(k)) for k in keys if saved.get(k) != now.get(k)}
    if differ:
        what = "; ".join(f"{k}: {a!r} in the checkpoint, {b!r} now" for k, (a, b) in differ.items())
        raise TrainingError(
            f"{path} belongs to another run ({what}). Resuming it would continue that run's weights under "
            f"this run's name, so nothing was loaded or overwritten. {restart_hint}")
