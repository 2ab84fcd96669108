"""The project's own promises: one install definition, consistent notebooks, a usable registry."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
CONDA_TO_PIP = {"pytorch": "torch"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _bound(requirement: str) -> str:
    found = re.search(r">=\s*([\w.]+)", requirement)
    return found.group(1) if found else ""


def test_environment_yml_matches_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(pyproject["dependencies"])
    for extra in ("test", "notebooks", "dev"):
        extras = pyproject["optional-dependencies"][extra]
        requirements += [r for r in extras if not r.startswith("course_lib")]
    wanted = {_name(r): _bound(r) for r in requirements}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"], "conda-forge serves PyTorch; the pytorch channel is retired"
    listed = [d for d in env["dependencies"] if isinstance(d, str)]
    conda = {CONDA_TO_PIP.get(_name(d), _name(d)): _bound(d) for d in listed}
    for key in ("python", "pip"):
        conda.pop(key)
    assert conda == wanted, (f"only in environment.yml: {set(conda.items()) - set(wanted.items())}; "
                             f"only in pyproject: {set(wanted.items()) - set(conda.items())}")
    assert any("python=3.11" in d for d in env["dependencies"] if isinstance(d, str))
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert any(line.startswith("-e .") for line in pip_section), "the pip section must install the course"


def test_install_commands_never_upgrade_torch():
    for script in ("scripts/install.sh", ".ci/run"):
        text = (ROOT / script).read_text()
        for line in text.splitlines():
            if "pip install" in line and "torch" not in line and "-e ." in line:
                assert "-c " in line, f"{script}: an install without the torch constraint: {line}"
    assert "torch==${torch_version}" in (ROOT / "scripts/install.sh").read_text()


@pytest.mark.skipif(not NOTEBOOKS, reason="no notebooks yet")
def test_notebooks_agree_with_the_repository_setting():
    result = subprocess.run([sys.executable, str(ROOT / "scripts/set_repository.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_follows_the_chapter_rules(path):
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    text = "\n".join("".join(c["source"]) for c in cells)
    assert any("parameters" in c.get("metadata", {}).get("tags", []) for c in code), "no parameters cell"
    assert "google.colab" in text, "no Colab install cell"
    assert all(c.get("execution_count") for c in code if "".join(c["source"]).strip()), "not stored executed"
    errors = [c for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"
              and "raises-exception" not in c.get("metadata", {}).get("tags", [])]
    assert not errors, "error outputs stored in cells not tagged raises-exception"
    assert "NBVAL_CHECK_OUTPUT" in text, "no deterministic cell is checked by nbval"
    assert "jupytext" not in nb.get("metadata", {}), "jupytext metadata (scripts/tidy_outputs.py drops it)"
    assert not [c for c in cells if "lines_to_next_cell" in c.get("metadata", {})], "jupytext cell metadata"
    for heading in ("Learning objectives", "Common bugs", "References", "Exercise"):
        assert heading.lower() in text.lower(), f"missing section: {heading}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_stored_errors_are_one_line_without_machine_paths(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                assert len(output["traceback"]) == 1, "long traceback stored: run scripts/tidy_outputs.py"
                line = output["traceback"][0]
                assert "site-packages" not in line and "/work/" not in line


def _run_install_cell(source: str, monkeypatch, installed: str | None) -> list[str]:
    """Run a chapter's Colab install cell as Colab would (google.colab imported), recording %pip."""
    import importlib.metadata
    import types

    from IPython.core.inputtransformer2 import TransformerManager

    calls: list[str] = []
    shell = types.SimpleNamespace(run_line_magic=lambda name, line: calls.append(f"%{name} {line}"))

    def version(name):
        if installed is None:
            raise importlib.metadata.PackageNotFoundError(name)
        return installed

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(importlib.metadata, "version", version)
    exec(TransformerManager().transform_cell(source), {"get_ipython": lambda: shell})
    return calls


@pytest.mark.parametrize("path", NOTEBOOKS[:1] + NOTEBOOKS[-1:], ids=lambda p: p.name)
def test_colab_install_cell_pins_a_release_and_installs_once(path, monkeypatch):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    cell = next("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                if "".join(c["source"]).startswith("# Colab only"))
    assert _run_install_cell(cell, monkeypatch, installed=version) == []  # the second chapter of a session
    first = _run_install_cell(cell, monkeypatch, installed=None)
    assert len(first) == 1 and first[0].startswith("%pip install")
    assert f"@v{version}" in first[0] and "@main" not in first[0]
    assert _run_install_cell(cell, monkeypatch, installed="0.0.1") == first  # an older course: replaced


def test_links_to_the_repository_become_absolute(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("set_repository", ROOT / "scripts" / "set_repository.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source":
                     "See [the log](../docs/chapter03_development.md) and "
                     "[old](https://github.com/old/place/blob/dev/scripts/drive_trial.py)."}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "03_x.ipynb"
    path.write_text(json.dumps(nb))
    _, new = module.rewrite(path, "https://github.com/me/course", "main", version="1.2.3")
    text = "".join(json.loads(new)["cells"][0]["source"])
    assert "(https://github.com/me/course/blob/main/docs/chapter03_development.md)" in text
    assert "(https://github.com/me/course/blob/main/scripts/drive_trial.py)" in text
    assert "../" not in text
