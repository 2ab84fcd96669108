"""The prose check (scripts/check_prose.py): every decimal number in a chapter's markdown (and the README's
chapter table) is printed by that chapter's stored run, or declared with a source that the check verifies."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def prose():
    spec = importlib.util.spec_from_file_location("check_prose", ROOT / "scripts" / "check_prose.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_prose"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _notebook(path: Path, markdown: str, output: str, sources: dict | None = None) -> Path:
    md = {"cell_type": "markdown", "metadata": {"course": {"sources": sources}} if sources else {},
          "source": markdown}
    code = {"cell_type": "code", "metadata": {}, "source": "print(...)", "execution_count": 1,
            "outputs": [{"output_type": "stream", "name": "stdout", "text": output}]}
    path.write_text(json.dumps({"cells": [code, md], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def _texts(prose, markdown):
    return [n.text for n, _ in prose.prose_numbers(markdown)]


def test_what_counts_as_a_decimal_number(prose):
    text = ("Dice 0.958 and 1.5x the time, a gradient of −4.2e-6, 37.2 %, 12 images; "
            "[paper](https://arxiv.org/abs/1505.04597) arXiv:1807.10165, doi:10.23915/distill.00021, "
            "ipywidgets 7.7.1, Python ≥ 3.10.\n```python\nbest = 1.3 * p\n```\n")
    assert _texts(prose, text) == ["0.958", "1.5", "4.2e-6", "37.2"]


@pytest.mark.parametrize(("prose_text", "printed", "ok"), [
    ("0.958", "AUC 0.9581", True),       # rounding allowed
    ("0.958", "AUC 0.9586", False),      # rounds to 0.959
    ("0.96", "AUC 0.9581", True),
    ("2.5x", "ratio 2.46", True),
    ("2.5x", "ratio 2.4", False),
    ("−4.2e-6", "grad -4.2e-06", True),  # signs are not compared; scientific notation is
    ("0.020", "0.1-0.02", True),         # a printed range
])
def test_rounding_rule(prose, prose_text, printed, ok):
    (number, _), = prose.prose_numbers(prose_text)
    assert prose.supported(number, prose.output_numbers(printed)) is ok


def test_a_number_not_printed_is_reported_with_its_cell(prose, tmp_path):
    nb = _notebook(tmp_path / "01_x.ipynb", "Dice 0.846 against 0.622.", "Dice 0.8462")
    total, misses = prose.Checker(tmp_path).check_notebook(nb)
    assert total == 2
    assert [(m.cell, m.number) for m in misses] == [(1, "0.622")]


@pytest.mark.parametrize(("source", "ok"), [
    ("Oktay et al. 2018 (Attention U-Net), Table 2", True),
    ("Isensee et al. 2024, nnU-Net Revisited, Table 3", True),
    ("definition: beta^2 of the F-beta measure", True),
    ("the paper", False),                    # no year, no table
    ("Oktay et al. 2018", False),            # no place in the paper
    ("definition:", False),
])
def test_declared_paper_sources_must_say_where(prose, tmp_path, source, ok):
    nb = _notebook(tmp_path / "07_x.ipynb", "Pancreas Dice 0.840.", "nothing", {"0.840": source})
    _, misses = prose.Checker(tmp_path).check_notebook(nb)
    assert (not misses) is ok


def test_a_quote_from_another_chapter_is_checked_against_its_stored_outputs(prose, tmp_path):
    _notebook(tmp_path / "06_src.ipynb", "", "AUC U-Net 0.9697")
    quoting = _notebook(tmp_path / "10_x.ipynb", "Chapter 06 measured AUC 0.970; once 0.958.", "",
                        {"0.970": "chapter 06", "0.958": "chapter 06"})
    _, misses = prose.Checker(tmp_path).check_notebook(quoting)
    assert [m.number for m in misses] == ["0.958"]
    assert "06_src.ipynb" in misses[0].why
    missing = _notebook(tmp_path / "09_y.ipynb", "0.5 here", "", {"0.5": "chapter 42"})
    assert "does not exist" in prose.Checker(tmp_path).check_notebook(missing)[1][0].why


def test_fails_on_chapter_10s_stale_quote_of_a_chapter_06_ablation(prose):
    """The "When to use which" row of chapter 10 as it stood before this check (cell 44): it quoted a
    chapter-06 DRIVE ablation that no stored run contains, even when declared as a quote from chapter 06."""
    stale = ("| thin structures | chapter 06, DRIVE, same budget: AUC U-Net 0.958, RSE-U-Net 0.958, "
             "DACRSE-UNet 0.956; |")
    checker = prose.Checker()
    chapter06 = checker.chapter_path("06")
    misses = checker.check_markdown("10", 44, stale, [], {"0.958": "chapter 06", "0.956": "chapter 06"})
    assert {m.number for m in misses} == {"0.958", "0.956"}
    assert all(chapter06.name in m.why for m in misses)


def test_readme_rows_are_checked_against_their_chapter(prose, tmp_path):
    _notebook(tmp_path / "03_x.ipynb", "", "Dice 0.453 ± 0.022")
    readme = tmp_path / "README.md"
    readme.write_text("| 03 | [DropBlock](notebooks/03_x.ipynb) | none 0.453 ± 0.022, DropBlock 0.471 | "
                      "<!-- 1.6: Ghiasi et al. 2018, Table 1 --> +1.6 top-1 |\n")
    total, misses = prose.Checker(tmp_path).check_readme(readme)
    assert total == 4
    assert [m.number for m in misses] == ["0.471"]


CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_every_number_in_a_chapter_comes_from_its_stored_run(prose, path):
    _, misses = prose.Checker().check_notebook(path)
    assert not misses, "numbers the stored run does not print (declare a source, or fix the prose):\n" + \
        "\n".join(map(str, misses))


def test_every_number_in_the_readme_chapter_table_comes_from_a_stored_run(prose):
    total, misses = prose.Checker().check_readme(ROOT / "README.md")
    assert total > 0, "the README's chapter table has no numbers: is it still a table of rows '| NN | ...'?"
    assert not misses, "\n".join(map(str, misses))


def test_results_page_is_generated_from_the_stored_runs():
    import subprocess

    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "write_results.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_numbers_written_without_a_leading_zero_count_too(prose):
    assert _texts(prose, "F1 .647 against .665 (ISIC); see notes.md and `run.py`.") == [".647", ".665"]
