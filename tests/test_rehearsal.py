"""scripts/rehearse_full.py: chapters run in full mode under the step cap, failures are reported."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("rehearse_full", ROOT / "scripts" / "rehearse_full.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nbformat.write(nb, path)
    return path


def test_rehearsal_runs_in_full_mode_with_the_cap_and_reports_failures(tmp_path, monkeypatch, capsys):
    good = _notebook(tmp_path / "01_good.ipynb",
                     "import course_lib as cl\nassert cl.config.get_mode() == 'full'\n"
                     "assert cl.config.max_steps() == 1 and cl.config.eval_limit() == 2\n"
                     "open('runs_here.txt', 'w').write('x')")  # written in a temporary folder
    bad = _notebook(tmp_path / "02_bad.ipynb", "raise ValueError('this chapter is broken')")
    for name in ("COURSE_MODE", "COURSE_MAX_STEPS", "MPLBACKEND"):  # main() sets them: restored after
        monkeypatch.setenv(name, "smoke" if name == "COURSE_MODE" else "Agg" if name == "MPLBACKEND" else "5")
    monkeypatch.chdir(tmp_path)
    assert _script().main([str(good), str(bad), "--max-steps", "1", "--keep", str(tmp_path / "ran")]) == 1
    out = capsys.readouterr().out
    assert "01_good.ipynb: ok" in out and "slowest cell 0:" in out and "outside the cells" in out
    assert "02_bad.ipynb: FAILED" in out and "this chapter is broken" in out
    assert "1 chapter(s) ran, 1 failed" in out
    assert not (tmp_path / "runs_here.txt").exists()  # the chapter ran elsewhere
    assert (tmp_path / "ran" / "01_good.ipynb").exists()


def test_a_cell_that_never_returns_is_retried_once_then_reported(tmp_path, capsys):
    stuck = _notebook(tmp_path / "03_stuck.ipynb", "import time\ntime.sleep(30)")
    ok, _, why = _script().rehearse(stuck, timeout=2)
    assert not ok and "CellTimeoutError twice" in why
    assert "running it once more" in capsys.readouterr().out


def test_polling_client_executes_and_still_times_out(tmp_path):
    """The executor of the rehearsal and of execute_chapters.sh waits for replies in 1-s polls
    (nbclient#312); a cell that runs longer than the timeout still times out."""
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    from nbclient.exceptions import CellTimeoutError
    from polling_client import execute_in_place

    path = tmp_path / "nb.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import time\ntime.sleep(1.5)\nprint('done')")]
    nbformat.write(nb, path)
    execute_in_place(path, timeout=20)
    assert nbformat.read(path, as_version=4).cells[0].outputs[0]["text"] == "done\n"
    nb.cells = [nbformat.v4.new_code_cell("import time\ntime.sleep(30)")]
    nbformat.write(nb, path)
    with pytest.raises(CellTimeoutError):
        execute_in_place(path, timeout=3)
