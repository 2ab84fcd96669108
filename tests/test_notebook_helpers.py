"""cl.notebook: the chapter setup banner, inline figures in a kernel, showing library source."""

import pytest

import course_lib as cl
from course_lib import notebook


class FakeKernelShell:
    """Stands in for an ipykernel shell: records the magics it is asked to run."""

    kernel = object()

    def __init__(self):
        self.magics = []

    def run_line_magic(self, name, line):
        self.magics.append((name, line))


def test_setup_prints_the_mode_and_returns_it(capsys, monkeypatch):
    monkeypatch.delenv("COURSE_MODE", raising=False)
    course = notebook.setup({"smoke": 0.5, "quick": 5, "full": 15}, mode="smoke", seed=3)
    out = capsys.readouterr().out
    assert course.mode == "smoke" and course.seed == 3 and course.in_colab is False
    assert "smoke" in out and "torch" in out
    with pytest.raises(ValueError):
        notebook.setup(mode="fast")


def test_inline_figures_only_inside_a_kernel(monkeypatch):
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    assert notebook.use_inline_figures() is False
    shell = FakeKernelShell()
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    assert notebook.use_inline_figures("jpeg", quality=80) is True
    names = [name for name, _ in shell.magics]
    assert names[0] == "matplotlib" and shell.magics[0][1] == "inline"
    assert any("figure_formats = ['jpeg']" in line for _, line in shell.magics)
    assert any("'quality': 80" in line for _, line in shell.magics)
    shell.magics.clear()
    notebook.use_inline_figures("png")
    assert not any("quality" in line for _, line in shell.magics)


def test_show_source_is_the_library_code():
    code = notebook.show_source(cl.blocks.DoubleConv)
    assert "class DoubleConv" in code.data and repr(code) == code.data


def test_show_source_is_one_small_output_with_inline_styles():
    code = notebook.show_source(cl.blocks.DoubleConv)
    html = code._repr_html_()
    assert "<style" not in html and "class DoubleConv" not in html  # highlighted: keyword and name split
    assert 'style="color: #008000; font-weight: bold">class</span>' in html
    assert len(html) < 4 * len(code.data)  # no style sheet: a few times the source, not kilobytes more


def test_shows_error_prints_instead_of_raising(capsys):
    import course_lib as cl

    with cl.notebook.shows_error(ValueError):
        raise ValueError("input height 570 does not fit")
    assert capsys.readouterr().out == "ValueError: input height 570 does not fit\n"
    with cl.notebook.shows_error():
        pass
    assert capsys.readouterr().out.startswith("no error")
    with pytest.raises(KeyError), cl.notebook.shows_error(ValueError):  # not the lesson's error: a real bug
        raise KeyError("x")
