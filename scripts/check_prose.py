"""Every number in a chapter's prose comes from its stored run, or says where it comes from.

A decimal number in a markdown cell of a stored notebook (and in the README's chapter table) must
appear in that notebook's stored outputs, rounded as the prose rounds it, or be *declared* in the cell's
metadata under ``course.sources``::

    "metadata": {"course": {"sources": {
        "0.9755": "Alom et al. 2018 (R2U-Net), Table 2",      # a paper: name it, with a table or section
        "0.950": "chapter 06"                                 # another chapter's stored outputs
    }}}

A source that starts with ``chapter NN`` is checked too: the number must appear in that chapter's stored
outputs, so a quote from another chapter cannot go stale. Any other source must name a paper or manual
with a year (``... 2018 ...``) and where in it (``Table``, ``Fig.``, ``Sec.``, ``eq.``, ``p.``), or be a
fixed constant of a formula (``definition: ...``).

What counts as a decimal number: ``0.958``, ``3.9``, ``1.5x``, ``−4.2e-6``, ``37.2 %``; not URLs, DOIs,
arXiv ids (``1505.04597``), version numbers (``7.7.1``, ``Python ≥ 3.10``), code fenced inside the markdown
(a hidden solution), or integers. Signs are ignored (outputs print ranges
such as ``0.1-0.2``). An output number matches when it rounds to the prose's number at the prose's
precision.

    python scripts/check_prose.py                 # every chapter and the README: counts, then each miss
    python scripts/check_prose.py notebooks/10_the_family.ipynb
"""

from __future__ import annotations

import bisect
import json
import math
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"

_URL = re.compile(r"https?://\S+|\]\([^)]*\)|<[^>]*>|\bdoi:\s*\S+", re.I)
_FENCED = re.compile(r"^```.*?^```", re.M | re.S)  # code inside markdown (a hidden solution) is not prose
_VERSION = re.compile(r"\b(?:Python|PyTorch|torch|numpy|NumPy|ipywidgets|matplotlib|scipy|CUDA)"
                      r"\s*(?:[≥>=<~]+\s*)?\d+(?:\.\d+)+")
_ARXIV = re.compile(r"(?:arXiv[:\s]*|abs/)\d{4}\.\d{4,5}(?:v\d+)?|\b\d{4}\.\d{5}\b", re.I)
_DOTTED = re.compile(r"\d+(?:\.\d+){2,}")  # versions, section numbers
# a decimal number, optionally in scientific notation; not glued to a word or to another number
_PROSE_NUMBER = re.compile(r"(?<![\w.])(\d*\.\d+)(?:[eE]([-−+]?\d+))?(?![\w]*\.\d)(?!\d)")
_OUTPUT_NUMBER = re.compile(r"(?<![\d.])(\d*\.?\d+(?:[eE][-+]?\d+)?)")
_CHAPTER_SOURCE = re.compile(r"^chapter\s+(\d{2})\b", re.I)
_PAPER_SOURCE = re.compile(r"(19|20)\d\d.*\b(Table|Tab\.|Fig\.|Figure|Sec\.|Section|eq\.|Eq\.|p\.|"
                           r"README|model zoo|abstract)", re.I | re.S)


@dataclass(frozen=True)
class ProseNumber:
    """A decimal number as the prose writes it: its value and the half-width rounding allows."""

    text: str
    value: float
    tolerance: float


@dataclass(frozen=True)
class Miss:
    """A number the check could not support: where it is and why."""

    notebook: str
    cell: int
    number: str
    why: str
    context: str

    def __str__(self) -> str:
        return f"{self.notebook} cell {self.cell}: {self.number} ({self.why}) ... {self.context} ..."


def prose_numbers(markdown: str) -> Iterator[tuple[ProseNumber, str]]:
    """The decimal numbers of ``markdown`` with a little context each."""
    text = _ARXIV.sub(" ", _URL.sub(" ", _FENCED.sub(" ", markdown)))
    text = _VERSION.sub(" ", text)
    text = _DOTTED.sub(" ", text)
    for m in _PROSE_NUMBER.finditer(text):
        mantissa, exponent = m.group(1), m.group(2)
        if mantissa.startswith(".") and m.start() > 0 and text[m.start() - 1] not in " (/[|,;:-−~≈":
            continue  # the end of a sentence or a file name (".py"), not a number such as ".647"
        decimals = len(mantissa.split(".")[1])
        scale = 10.0 ** int(exponent.replace("−", "-")) if exponent else 1.0
        value = float(mantissa) * scale
        context = " ".join(text[max(0, m.start() - 40): m.end() + 25].split())
        yield ProseNumber(m.group(0), value, 0.5 * 10.0 ** -decimals * scale * (1 + 1e-9)), context


def output_numbers(text: str) -> list[float]:
    """Every number printed in ``text`` (signs dropped), sorted."""
    values = []
    for m in _OUTPUT_NUMBER.finditer(text):
        try:
            value = float(m.group(1))
        except ValueError:
            continue
        if math.isfinite(value):
            values.append(value)
    return sorted(values)


def supported(number: ProseNumber, printed: list[float]) -> bool:
    """Whether some printed number rounds to ``number``."""
    lo = bisect.bisect_left(printed, number.value - number.tolerance)
    return lo < len(printed) and printed[lo] <= number.value + number.tolerance


def _source_text(source: str | list[str]) -> str:
    return "".join(source) if isinstance(source, list) else source


def stored_output_text(nb: dict) -> str:
    """All the text a stored notebook's outputs show (streams, plain text, HTML, markdown, errors)."""
    parts = []
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            if "text" in output:
                parts.append(_source_text(output["text"]))
            for mime in ("text/plain", "text/html", "text/markdown"):
                if mime in output.get("data", {}):
                    parts.append(_source_text(output["data"][mime]))
            if output.get("output_type") == "error":
                parts.append(output.get("evalue", ""))
    return "\n".join(parts)


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


class Checker:
    """Checks prose against stored outputs; caches each chapter's printed numbers. ``notebooks``: the
    folder whose ``NN_*.ipynb`` a ``chapter NN`` source names."""

    def __init__(self, notebooks: Path = NOTEBOOKS) -> None:
        self.notebooks = Path(notebooks)
        self._printed: dict[Path, list[float]] = {}

    def chapter_path(self, number: str) -> Path | None:
        found = sorted(self.notebooks.glob(f"{number}_*.ipynb"))
        return found[0] if found else None

    def printed(self, path: Path) -> list[float]:
        if path not in self._printed:
            self._printed[path] = output_numbers(stored_output_text(load(path)))
        return self._printed[path]

    def check_source(self, number: ProseNumber, source: str) -> str | None:
        """``None`` when ``source`` supports ``number``, else why not."""
        source = source.strip()
        chapter = _CHAPTER_SOURCE.match(source)
        if chapter:
            path = self.chapter_path(chapter.group(1))
            if path is None:
                return f"declared from chapter {chapter.group(1)}, which does not exist"
            if not supported(number, self.printed(path)):
                return f"declared from {path.name}, whose stored outputs do not print it"
            return None
        if source.lower().startswith("definition:") and len(source) > len("definition:") + 3:
            return None
        if _PAPER_SOURCE.search(source):
            return None
        return "declared source names no chapter, nor a paper with a year and a table/figure/section"

    def check_markdown(self, name: str, cell_index: int, markdown: str, printed: list[float],
                       sources: dict[str, str]) -> list[Miss]:
        misses = []
        for number, context in prose_numbers(markdown):
            if supported(number, printed):
                continue
            key = number.text.replace("−", "-")
            source = sources.get(number.text) or sources.get(key)
            if source is None:
                misses.append(Miss(name, cell_index, number.text, "not in the stored outputs", context))
                continue
            why = self.check_source(number, source)
            if why:
                misses.append(Miss(name, cell_index, number.text, why, context))
        return misses

    def check_notebook(self, path: Path) -> tuple[int, list[Miss]]:
        """(decimal numbers in the prose, the unsupported ones)."""
        nb = load(path)
        printed = self.printed(path)
        total, misses = 0, []
        for index, cell in enumerate(nb["cells"]):
            if cell["cell_type"] != "markdown":
                continue
            text = _source_text(cell["source"])
            sources = cell.get("metadata", {}).get("course", {}).get("sources", {})
            total += sum(1 for _ in prose_numbers(text))
            misses += self.check_markdown(path.name, index, text, printed, sources)
        return total, misses

    def check_readme(self, readme: Path) -> tuple[int, list[Miss]]:
        """The README's chapter table: each row's numbers against its chapter's stored outputs. A row
        may declare a source inline as an HTML comment ``<!-- 0.9755: Alom et al. 2018, Table 2 -->``."""
        total, misses = 0, []
        for line_no, line in enumerate(readme.read_text(encoding="utf-8").splitlines(), 1):
            row = re.match(r"\|\s*\[?(\d{2})\b", line)
            if not row:
                continue
            path = self.chapter_path(row.group(1))
            if path is None:
                continue
            sources = dict(re.findall(r"<!--\s*([\d.]+)\s*:\s*(.*?)\s*-->", line))
            visible = re.sub(r"<!--.*?-->", " ", line)
            total += sum(1 for _ in prose_numbers(visible))
            misses += self.check_markdown(f"README.md (line {line_no}, {path.name})", line_no, visible,
                                          self.printed(path), sources)
        return total, misses


def chapters() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def report(paths: Iterable[Path], readme: bool = True) -> int:
    checker = Checker()
    all_misses: list[Miss] = []
    print(f"{'where':<44} {'numbers':>8} {'unsupported':>12}")
    for path in paths:
        total, misses = checker.check_notebook(path)
        print(f"{path.name:<44} {total:>8} {len(misses):>12}")
        all_misses += misses
    if readme:
        total, misses = checker.check_readme(ROOT / "README.md")
        print(f"{'README.md chapter table':<44} {total:>8} {len(misses):>12}")
        all_misses += misses
    for miss in all_misses:
        print(miss)
    return 1 if all_misses else 0


if __name__ == "__main__":
    args = [Path(a) for a in sys.argv[1:]]
    sys.exit(report(args or chapters(), readme=not args))
