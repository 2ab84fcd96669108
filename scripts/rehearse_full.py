"""Rehearse every chapter's full-mode path on the CPU: full architectures, full input sizes, real data
where it is present, but every training run capped at a few optimizer steps (``COURSE_MAX_STEPS``) and
every evaluation at a couple of images.

    python scripts/rehearse_full.py                         # every chapter, 2 steps per training run
    python scripts/rehearse_full.py notebooks/06_*.ipynb --max-steps 1
    COURSE_DATA_DIR=../shared/data python scripts/rehearse_full.py   # with the real DRIVE / ISBI 2012

It proves that full mode runs end to end (the numbers it prints are not results). Each chapter runs in a
fresh kernel on a temporary copy, from a temporary working folder, so the stored notebooks and the
repository's ``runs/`` are never touched. Prints each chapter's wall time, its slowest cell and the time
spent outside the cells; exits 1 if any chapter failed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from polling_client import PollingClient  # noqa: E402 - waits for replies in short polls (nbclient#312)


def rehearse(notebook: Path, keep: Path | None = None, timeout: int = 300) -> tuple[bool, float, str]:
    """Run ``notebook`` (full mode and the step cap come from the environment); returns (ok, seconds, a
    one-line failure). ``keep``: a folder to write the executed notebook to, for reading.

    Replies are awaited in short polls (:mod:`polling_client`), which avoids nbclient's occasional stall
    with widgets; a kernel that still stops answering times the cell out after ``timeout`` seconds, and the
    chapter is then run once more."""
    for attempt in (1, 2):
        try:
            return _rehearse_once(notebook, keep, timeout)
        except (CellTimeoutError, DeadKernelError) as err:
            if attempt == 2:
                return False, float(timeout), f"{type(err).__name__} twice: {str(err).splitlines()[0][:200]}"
            print(f"{notebook.name}: {type(err).__name__}, running it once more", flush=True)
    raise AssertionError("unreachable")


def _cell_seconds(cell: nbformat.NotebookNode) -> float | None:
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return None
    return (datetime.fromisoformat(end.replace("Z", "+00:00"))
            - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()


def timing_summary(nb: nbformat.NotebookNode, total: float) -> str:
    """Where an executed notebook's time went: its slowest cell and the time outside the cells (kernel
    start and stop). Printed with every chapter, so that a slow run in CI shows where it waited."""
    cells = [(t, i) for i, cell in enumerate(nb.cells) if (t := _cell_seconds(cell)) is not None]
    if not cells:
        return ""
    slowest, index = max(cells)
    outside = total - sum(t for t, _ in cells)
    return f" (slowest cell {index}: {slowest:.0f} s; outside the cells {outside:.0f} s)"


def _rehearse_once(notebook: Path, keep: Path | None, timeout: int) -> tuple[bool, float, str]:
    nb = nbformat.read(notebook, as_version=4)
    with tempfile.TemporaryDirectory(prefix="rehearsal-") as work:
        shutil.copy(notebook, Path(work) / notebook.name)  # chapters may read files beside themselves
        client = PollingClient(nb, timeout=timeout, kernel_name="python3", record_timing=True,
                                resources={"metadata": {"path": work}})
        start = time.perf_counter()
        try:
            client.execute()
            ok, why = True, ""
        except CellExecutionError as err:
            lines = [line for line in str(err).splitlines() if line.strip()]
            ok, why = False, (lines[-1] if lines else "cell failed")[:300]
        seconds = time.perf_counter() - start
    if ok:
        why = timing_summary(nb, seconds)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, keep / notebook.name)
    return ok, seconds, why


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every chapter")
    parser.add_argument("--max-steps", type=int, default=2, help="optimizer steps per training run")
    parser.add_argument("--keep", type=Path, help="write the executed notebooks to this folder")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    # The kernels inherit this environment.
    os.environ.update(COURSE_MODE="full", COURSE_MAX_STEPS=str(args.max_steps), MPLBACKEND="Agg")
    data = ("COURSE_DATA_DIR (real data where present)" if os.environ.get("COURSE_DATA_DIR")
            else "data/ where present, else the synthetic fallback")
    print(f"full-mode rehearsal, COURSE_MAX_STEPS={args.max_steps}, data: {data}", flush=True)
    failed = 0
    total = time.perf_counter()
    for notebook in notebooks:
        ok, seconds, why = rehearse(notebook.resolve(), args.keep)
        failed += not ok
        print(f"{notebook.name}: {'ok' if ok else 'FAILED'} in {seconds:.0f} s{why if ok else ': ' + why}",
              flush=True)
    print(f"full-mode rehearsal: {len(notebooks) - failed} chapter(s) ran, {failed} failed "
          f"({time.perf_counter() - total:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
