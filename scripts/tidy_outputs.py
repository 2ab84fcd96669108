"""Shorten the stored tracebacks of executed chapters: a cell tagged ``raises-exception`` keeps only
its last line (``ValueError: ...``), so stored notebooks show the error a student should read and no
paths of the machine that ran them.

    python scripts/tidy_outputs.py notebooks/07_attention_gates.ipynb [...]

``scripts/execute_chapters.sh`` runs it after every chapter it executes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat


def tidy(path: Path) -> int:
    """Shorten the error outputs of ``path`` in place; returns how many were shortened."""
    nb = nbformat.read(path, as_version=4)
    changed = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                short = [f"\x1b[31m{output['ename']}\x1b[39m: {output['evalue']}"]
                if output.get("traceback") != short:
                    output["traceback"] = short
                    changed += 1
    if changed:
        nbformat.write(nb, path)
    return changed


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    for name in argv:
        print(f"{name}: {tidy(Path(name))} traceback(s) shortened")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
