"""Every hidden solution in a chapter passes its checker, and checkers reject wrong answers."""

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

import course_lib as cl

ROOT = Path(__file__).resolve().parents[1]
SOLUTION_RE = re.compile(r"<details>\s*<summary>\s*Solution.*?```python\n(.*?)```", re.S | re.I)


def _solutions():
    for path in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "markdown":
                for i, code in enumerate(SOLUTION_RE.findall("".join(cell["source"]))):
                    yield pytest.param(code, id=f"{path.stem}-{len(code)}-{i}")


SOLUTIONS = list(_solutions())


@pytest.mark.parametrize("code", SOLUTIONS)
def test_hidden_solution_passes_its_checker(code, monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "smoke")
    assert "cl.exercises.check(" in code, "a solution must end with its checker call"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<solution>", "exec"), {"__name__": "__solution__"})
    verdicts = re.findall(r"^\[(\S+)\] (.*)$", out.getvalue(), re.M)
    assert verdicts, out.getvalue()
    assert all(v.startswith("correct") for _, v in verdicts), out.getvalue()


def test_check_reports_without_raising(capsys):
    @cl.exercises.exercise("test.double")
    def _check(fn):
        assert fn(2) == 4, "double(2) should be 4"

    def stub(x):
        raise NotImplementedError

    assert cl.exercises.check("test.double", stub) is False
    assert "not attempted" in capsys.readouterr().out
    assert cl.exercises.check("test.double", lambda x: x + 1) is False
    assert "should be 4" in capsys.readouterr().out
    assert cl.exercises.check("test.double", lambda x: 2 * x) is True
    with pytest.raises(ValueError, match="No exercise"):
        cl.exercises.check("test.nothing", None)
