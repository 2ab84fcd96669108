"""Tidy the stored outputs of executed chapters, so a stored notebook shows what a student should read:

- a cell's error output keeps only its last line (``ValueError: ...``), no traceback;
- no machine paths: the data folder (``$COURSE_DATA_DIR``), the project, the home directory, the
  temporary folder and installed packages are replaced by placeholders in every text output;
- no widget views whose widget is not stored (a progress bar closed during the run), and no stored
  widget state that no output shows;
- widgets are stored as plain text, with no widget state (JupyterLab and Colab show a stored widget's
  text anyway; the state only held a second copy of each explorer's figure), and that text says what the
  widget showed: a finished progress bar reads ``models x seeds: 100%|##########| 30/30
  [05:35<00:00, ...]`` instead of the ``0%`` it had when it was first displayed, and an explorer says that
  it comes alive when its cell runs, instead of ``interactive(children=(...``;
- a kernelspec (python3), and no ``jupytext`` metadata left by a conversion.

    python scripts/tidy_outputs.py notebooks/07_attention_gates.ipynb [...]

``scripts/execute_chapters.sh`` runs it after every chapter it executes.
"""

from __future__ import annotations

import html
import os
import re
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
TEXT_TYPES = ("text/plain", "text/html", "text/markdown", "text/latex")

# what is left after the known folders: install trees, then any home or temporary folder
_START = r"(?<![\w.~-])"  # a path starts the text or follows a space, a quote, a bracket (not a URL)
GENERIC_PATHS = [
    (re.compile(r"""[^\s'"(<>=]*[/\\](?:site|dist)-packages(?=[/\\])"""), "<site-packages>"),
    (re.compile(_START + r"(?:(?:/home|/Users)/[^/\s'\"]+|/root(?=/)|[A-Z]:\\Users\\[^\\\s'\"]+)", re.I),
     "~"),
    (re.compile(_START + r"/(?:private/)?(?:tmp|var/folders/[^\s'\"]+?/T)(?=/)"), "<tmp>"),
]


def known_folders() -> list[tuple[str, str]]:
    """(folder, placeholder) for this machine, longest folder first so the most specific one wins."""
    folders = {
        sysconfig.get_paths()["purelib"]: "<site-packages>",
        sysconfig.get_paths()["platlib"]: "<site-packages>",
        sysconfig.get_paths()["stdlib"]: "<stdlib>",
        str(ROOT): "<project>",
        tempfile.gettempdir(): "<tmp>",
        str(Path.home()): "~",
    }
    data_dir = os.environ.get("COURSE_DATA_DIR", "").strip()
    if data_dir:
        folders[str(Path(data_dir).expanduser())] = "$COURSE_DATA_DIR"
        folders[str(Path(data_dir).expanduser().resolve())] = "$COURSE_DATA_DIR"
    pairs = [(str(Path(f)), label) for f, label in folders.items() if f and len(Path(f).parts) > 1]
    return sorted(pairs, key=lambda pair: -len(pair[0]))


def scrub_paths(text: str, folders: list[tuple[str, str]] | None = None) -> str:
    """``text`` with machine folders replaced by placeholders (``$COURSE_DATA_DIR/DRIVE``, ``~``, ...)."""
    for folder, label in known_folders() if folders is None else folders:
        text = re.sub(re.escape(folder) + r"(?=[/\\\s'\"),:;]|$)", lambda _, label=label: label, text,
                      flags=re.M)
    for pattern, label in GENERIC_PATHS:
        text = pattern.sub(label, text)
    return text


def shorten_tracebacks(nb: nbformat.NotebookNode) -> int:
    """Error outputs keep one line, ``ename: evalue``; returns how many were shortened."""
    changed = 0
    for output in _outputs(nb):
        if output.get("output_type") == "error":
            short = [f"\x1b[31m{output['ename']}\x1b[39m: {output['evalue']}"]
            if output.get("traceback") != short:
                output["traceback"] = short
                changed += 1
    return changed


def scrub_outputs(nb: nbformat.NotebookNode, folders: list[tuple[str, str]] | None = None) -> int:
    """Replace machine paths in every text output (streams, text data, errors); returns how many changed."""
    folders = known_folders() if folders is None else folders
    changed = 0
    for output in _outputs(nb):
        before = repr(output)
        if "text" in output:
            output["text"] = _scrub(output["text"], folders)
        for key in TEXT_TYPES:
            if key in output.get("data", {}):
                output["data"][key] = _scrub(output["data"][key], folders)
        if output.get("output_type") == "error":
            output["evalue"] = scrub_paths(output["evalue"], folders)
            output["traceback"] = [scrub_paths(line, folders) for line in output["traceback"]]
        changed += repr(output) != before
    return changed


def drop_orphan_widget_views(nb: nbformat.NotebookNode) -> int:
    """Remove widget outputs whose widget is not in the stored state (they render as an error or a bar
    frozen mid-run); returns how many were removed."""
    state = _widget_state(nb)
    removed = 0
    for cell in nb.cells:
        outputs = cell.get("outputs", [])
        kept = [o for o in outputs
                if WIDGET_VIEW not in o.get("data", {}) or o["data"][WIDGET_VIEW].get("model_id") in state]
        if len(kept) < len(outputs):
            removed += len(outputs) - len(kept)
            cell["outputs"] = kept
    return removed


def _plain_text(state: dict, model_id: str) -> str | None:
    """The text a stored widget should show when it cannot be rendered, or None to leave it."""
    model = state.get(model_id, {})
    children = [state.get(ref.replace("IPY_MODEL_", ""), {})
                for ref in model.get("state", {}).get("children", [])]
    names = [c.get("model_name") for c in children]
    if model.get("model_name") == "HBoxModel" and names == ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
        left, right = (html.unescape(str(c["state"].get("value", ""))).replace("\u2007", " ")
                       for c in (children[0], children[2]))
        progress = children[1]["state"]
        done = progress.get("value", 0) / progress["max"] if progress.get("max") else 0
        if re.search(r"\d+%\s*$", left):  # tqdm puts the percentage into the left text
            left = re.sub(r"\s*\d+%\s*$", "", left)
        filled = round(10 * min(max(done, 0), 1))
        return f"{left} {100 * done:.0f}%|{'#' * filled}{' ' * (10 - filled)}| {right.strip()}".strip()
    if "widget-interact" in model.get("state", {}).get("_dom_classes", []):
        controls = [c["state"].get("description") for c in children
                    if c.get("model_name", "").endswith(("SliderModel", "DropdownModel", "CheckboxModel",
                                                         "ToggleButtonsModel", "RadioButtonsModel"))]
        controls = [c for c in controls if c]
        shown = f" ({', '.join(controls)})" if controls else ""
        return (f"[interactive explorer{shown}: its controls come alive when this cell runs; "
                "the static figure below shows its default view]")
    return None


def set_widget_text(nb: nbformat.NotebookNode) -> int:
    """Give every stored widget view the plain text of what it shows (see the module docstring); returns
    how many changed."""
    state = _widget_state(nb)
    changed = 0
    for output in _outputs(nb):
        data = output.get("data", {})
        if WIDGET_VIEW not in data:
            continue
        text = _plain_text(state, data[WIDGET_VIEW].get("model_id"))
        if text is not None and data.get("text/plain") != text:
            data["text/plain"] = text
            changed += 1
    return changed


def drop_widget_state(nb: nbformat.NotebookNode) -> int:
    """Store widgets as the text they show, and no widget state: JupyterLab does not render a stored
    widget's state anyway (it shows the text/plain), Colab neither, and the state held a second copy of
    each explorer's figure (about 100-180 KB per chapter). Returns how many widget outputs were turned into
    text. Run after :func:`set_widget_text`."""
    turned = 0
    for output in _outputs(nb):
        data = output.get("data", {})
        if WIDGET_VIEW in data:
            del data[WIDGET_VIEW]
            data.setdefault("text/plain", "")
            turned += 1
    nb.metadata.pop("widgets", None)
    return turned


def prune_widget_state(nb: nbformat.NotebookNode) -> int:
    """Keep only the stored widgets that an output shows, and the widgets they refer to (children, layouts,
    styles); returns how many were dropped."""
    state = _widget_state(nb)
    if not state:
        return 0
    todo = [o["data"][WIDGET_VIEW]["model_id"] for o in _outputs(nb) if WIDGET_VIEW in o.get("data", {})]
    keep: set[str] = set()
    while todo:
        model_id = todo.pop()
        if model_id in keep or model_id not in state:
            continue
        keep.add(model_id)
        todo.extend(re.findall(r"IPY_MODEL_([0-9a-f]+)", repr(state[model_id].get("state", {}))))
    dropped = [m for m in state if m not in keep]
    for model_id in dropped:
        del state[model_id]
    if not state:
        del nb.metadata["widgets"]
    return len(dropped)


def fix_metadata(nb: nbformat.NotebookNode) -> list[str]:
    """Give the notebook a python3 kernelspec and drop ``jupytext`` metadata (the notebook's and the cells'
    ``lines_to_next_cell``); returns what changed."""
    changed = []
    if nb.metadata.get("kernelspec", {}).get("name") != KERNELSPEC["name"]:
        nb.metadata["kernelspec"] = dict(KERNELSPEC)
        changed.append("kernelspec")
    if nb.metadata.pop("jupytext", None) is not None:
        changed.append("jupytext")
    for cell in nb.cells:
        if cell.get("metadata", {}).pop("lines_to_next_cell", None) is not None:
            changed.append("lines_to_next_cell")
    return changed


def tidy(path: Path) -> dict[str, int]:
    """Tidy ``path`` in place (written only if something changed); returns the count per kind of change."""
    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    report = {
        "tracebacks shortened": shorten_tracebacks(nb),
        "outputs with machine paths": scrub_outputs(nb),
        "orphan widget views removed": drop_orphan_widget_views(nb),
        "widget texts set": set_widget_text(nb),
        "unused widget states removed": prune_widget_state(nb),
        "widgets stored as text": drop_widget_state(nb),
        "metadata fixed": len(fix_metadata(nb)),
    }
    if nbformat.writes(nb) != before:
        nbformat.write(nb, path)
    return report


def _scrub(value: str | list[str], folders: list[tuple[str, str]]) -> str | list[str]:
    if isinstance(value, list):
        return [scrub_paths(line, folders) for line in value]
    return scrub_paths(value, folders)


def _outputs(nb: nbformat.NotebookNode) -> Iterator[dict]:
    for cell in nb.cells:
        yield from cell.get("outputs", [])


def _widget_state(nb: nbformat.NotebookNode) -> dict:
    return nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    for name in argv:
        report = tidy(Path(name))
        print(f"{name}: " + (", ".join(f"{n} {what}" for what, n in report.items() if n) or "already tidy"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
