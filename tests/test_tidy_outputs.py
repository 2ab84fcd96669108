"""scripts/tidy_outputs.py: short tracebacks, no machine paths, no stale widgets, a kernelspec."""

from __future__ import annotations

import importlib.util
import sysconfig
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def tidy_outputs():
    spec = importlib.util.spec_from_file_location("tidy_outputs", ROOT / "scripts" / "tidy_outputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _widget(model_id: str, children: tuple[str, ...] = ()) -> dict:
    state = {"children": [f"IPY_MODEL_{c}" for c in children]} if children else {"value": 1.0}
    return {"model_name": "HBoxModel" if children else "FloatProgressModel",
            "model_module": "@jupyter-widgets/controls", "model_module_version": "2.0.0", "state": state}


def _view(model_id: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("display_data", data={
        WIDGET_VIEW: {"model_id": model_id, "version_major": 2, "version_minor": 0}, "text/plain": "HBox()"})


def _notebook(data_dir: Path) -> nbformat.NotebookNode:
    site = sysconfig.get_paths()["purelib"]
    nb = nbformat.v4.new_notebook()
    state = {"aa01": _widget("aa01", ("bb02",)), "bb02": _widget("bb02"), "cc03": _widget("cc03")}
    nb.metadata = {"jupytext": {"text_representation": {"format_name": "percent"}},
                   "widgets": {"application/vnd.jupyter.widget-state+json":
                               {"version_major": 2, "version_minor": 0, "state": state}}}
    fails = nbformat.v4.new_code_cell("raise ValueError('bad')", metadata={"tags": ["raises-exception"]})
    traceback = ["\x1b[31m---\x1b[39m", f'File "{site}/torch/nn.py", line 3', "ValueError: bad"]
    fails.outputs = [nbformat.v4.new_output("error", ename="ValueError", evalue=f"bad input in {site}/x.py",
                                            traceback=traceback)]
    prints = nbformat.v4.new_code_cell("print(folder)", metadata={"lines_to_next_cell": 2})
    text = (f"DRIVE -> {data_dir}/DRIVE\nsaved to /tmp/run1/best.pt\n"
            "see https://example.org/home/page and /home/alice/data\n")
    prints.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=text),
        nbformat.v4.new_output("execute_result", data={"text/plain": f"PosixPath('{data_dir}')"},
                               execution_count=1),
    ]
    bars = nbformat.v4.new_code_cell("fit(...)")
    bars.outputs = [_view("aa01"), _view("ffff")]  # ffff: a bar closed during the run, not stored
    nb.cells = [fails, prints, bars]
    return nb


def test_tidy_cleans_a_synthetic_notebook(tidy_outputs, tmp_path, monkeypatch):
    data_dir = tmp_path / "shared" / "data"
    monkeypatch.setenv("COURSE_DATA_DIR", str(data_dir))
    path = tmp_path / "nb.ipynb"
    nbformat.write(_notebook(data_dir), path)

    report = tidy_outputs.tidy(path)
    assert report == {"tracebacks shortened": 1, "outputs with machine paths": 3,
                      "orphan widget views removed": 1, "widget texts set": 0,
                      "unused widget states removed": 1, "widgets stored as text": 1, "metadata fixed": 3}
    nb = nbformat.read(path, as_version=4)
    error = nb.cells[0].outputs[0]
    assert error.traceback == ["\x1b[31mValueError\x1b[39m: bad input in <site-packages>/x.py"]
    text = nb.cells[1].outputs[0].text
    assert text.splitlines() == ["DRIVE -> $COURSE_DATA_DIR/DRIVE", "saved to <tmp>/run1/best.pt",
                                 "see https://example.org/home/page and ~/data"]
    assert nb.cells[1].outputs[1].data["text/plain"] == "PosixPath('$COURSE_DATA_DIR')"
    # the orphan view (ffff) is gone; the shown bar is stored as its text, with no widget state left
    assert [sorted(o.data) for o in nb.cells[2].outputs] == [["text/plain"]]
    assert "widgets" not in nb.metadata
    assert tidy_outputs.tidy(path)["widgets stored as text"] == 0  # idempotent
    assert nb.metadata.kernelspec["name"] == "python3" and "jupytext" not in nb.metadata
    assert not any("lines_to_next_cell" in c.metadata for c in nb.cells)
    nbformat.validate(nb)

    written = path.read_bytes()
    assert set(tidy_outputs.tidy(path).values()) == {0} and path.read_bytes() == written  # idempotent


def test_scrub_paths_knows_this_machine(tidy_outputs):
    scrub = tidy_outputs.scrub_paths
    assert scrub(f"{ROOT}/notebooks/01_unet.ipynb") == "<project>/notebooks/01_unet.ipynb"
    assert scrub(f"in {ROOT}2/x") != "in <project>2/x"  # a folder with a longer name is not the project
    assert scrub(f"{sysconfig.get_paths()['stdlib']}/contextlib.py") == "<stdlib>/contextlib.py"
    assert scrub("/usr/lib/python3/dist-packages/numpy/core.py") == "<site-packages>/numpy/core.py"
    assert scrub(r"C:\Users\bob\data\DRIVE") == r"~\data\DRIVE"
    plain = "no path here: 3/4 of 1/2, <a href='/docs/x'>"
    assert scrub(plain) == plain


def test_main_reports_per_notebook(tidy_outputs, tmp_path, capsys):
    path = tmp_path / "clean.ipynb"
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": dict(tidy_outputs.KERNELSPEC)})
    nbformat.write(nb, path)
    assert tidy_outputs.main([str(path)]) == 0
    assert "already tidy" in capsys.readouterr().out


def _model(name: str, state: dict) -> dict:
    return {"model_name": name, "model_module": "@jupyter-widgets/controls", "model_module_version": "2.0.0",
            "state": state}


def test_stored_widgets_read_as_what_they_show(tidy_outputs):
    """GitHub and nbviewer show a widget's text/plain: a finished bar, not "0%", and an explorer that says
    it comes alive when run, not ``interactive(children=(...``."""
    state = {
        "bar": _model("HBoxModel", {"children": ["IPY_MODEL_l", "IPY_MODEL_p", "IPY_MODEL_r"]}),
        "l": _model("HTMLModel", {"value": "models\u2007x\u2007seeds:\u2007100%"}),
        "p": _model("FloatProgressModel", {"value": 30.0, "max": 30.0, "bar_style": "success"}),
        "r": _model("HTMLModel", {"value": "\u200730/30\u2007[05:35&lt;00:00,\u200711.2s/it]"}),
        "ex": _model("VBoxModel", {"_dom_classes": ["widget-interact"],
                                   "children": ["IPY_MODEL_s", "IPY_MODEL_o"]}),
        "s": _model("IntSliderModel", {"description": "block_size", "value": 7}),
        "o": _model("OutputModel", {}),
    }
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"widgets": {"application/vnd.jupyter.widget-state+json":
                               {"version_major": 2, "version_minor": 0, "state": state}}}
    cell = nbformat.v4.new_code_cell("fit(...)")
    cell.outputs = [_view("bar"), _view("ex")]
    nb.cells = [cell]
    assert tidy_outputs.set_widget_text(nb) == 2
    bar, explorer = (o.data["text/plain"] for o in nb.cells[0].outputs)
    assert bar == "models x seeds: 100%|##########| 30/30 [05:35<00:00, 11.2s/it]"
    assert explorer.startswith("[interactive explorer (block_size): its controls come alive when this cell")
    assert tidy_outputs.set_widget_text(nb) == 0  # idempotent
