"""Small helpers every chapter calls: a setup banner, showing library source, Colab detection."""

from __future__ import annotations

import contextlib
import inspect
import platform
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from course_lib import config


@dataclass(frozen=True)
class ChapterSetup:
    """What a chapter needs to know about where it runs."""

    mode: str
    device: torch.device
    seed: int
    in_colab: bool


def in_colab() -> bool:
    """True when running inside Google Colab."""
    return "google.colab" in sys.modules


def use_inline_figures(figure_format: str = "jpeg", quality: int = 80) -> bool:
    """In a Jupyter kernel, show figures inline in a compact format; returns whether it applied.

    Inline figures are the only kind nbconvert and nbval store, and JPEG keeps an executed chapter about
    2 MB instead of tens (photographs and heatmaps dominate the course's figures; quality 80 is a quarter
    smaller than 90 and looks the same on a projector). Outside IPython (a script, the tests) nothing
    changes.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with Jupyter
        return False
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return False
    shell.run_line_magic("matplotlib", "inline")
    shell.run_line_magic("config", f"InlineBackend.figure_formats = [{figure_format!r}]")
    kwargs = {"bbox_inches": "tight"}
    if figure_format in ("jpeg", "jpg"):
        kwargs["pil_kwargs"] = {"quality": quality}
    shell.run_line_magic("config", f"InlineBackend.print_figure_kwargs = {kwargs!r}")
    return True


def setup(expected_minutes: dict[str, float] | None = None, *, mode: str | None = None,
          seed: int = 0, figure_format: str = "jpeg") -> ChapterSetup:
    """Apply ``mode`` (if given), seed everything, show figures inline and print the mode, device and
    expected time."""
    use_inline_figures(figure_format)
    if mode:
        config.set_mode(mode)
    config.seed_everything(seed)
    current = config.get_mode()
    device = config.get_device()
    print(config.describe(expected_minutes))
    print(f"python {platform.python_version()} · torch {torch.__version__} · seed {seed}")
    return ChapterSetup(mode=current, device=device, seed=seed, in_colab=in_colab())


_COLOURED_SPACE = re.compile(r'<span style="[^"]*">(\s+)</span>')


class SourceCode:
    """Python source that a notebook shows highlighted: one small HTML output with inline styles (no
    ``<style>`` block, which would be stored again with every call and restyle the whole page), plain
    text elsewhere. ``data`` is the source."""

    # dark text on a light box, so the code stays readable under JupyterLab's and Colab's dark themes
    BOX = "color: #1f1f1f; padding: 0.2em 0.6em; border-radius: 4px; overflow-x: auto"

    def __init__(self, source: str) -> None:
        self.data = source

    def _repr_html_(self) -> str:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer

        html = highlight(self.data, PythonLexer(), HtmlFormatter(noclasses=True, cssstyles=self.BOX))
        return _COLOURED_SPACE.sub(r"\1", html)  # whitespace needs no colour

    def __repr__(self) -> str:
        return self.data


def show_source(obj: Any) -> SourceCode:
    """The source of a library object, shown with syntax highlighting when it is a cell's last value."""
    return SourceCode(inspect.getsource(obj))


@contextlib.contextmanager
def shows_error(*expected: type[BaseException]) -> Iterator[None]:
    """Run a block that is meant to fail and print its error instead of raising it, so that a chapter
    shows the library's message and Run all (which stops at a raised error in Colab) goes on::

        with cl.notebook.shows_error(ValueError):
            model(torch.zeros(1, 1, 570, 570))

    ``expected``: the error types the lesson is about (default: any ``Exception``); anything else is
    raised as usual, since it is a real bug. Prints ``"no error"`` if the block ran without one."""
    kinds = expected or (Exception,)
    try:
        yield
    except kinds as err:
        print(f"{type(err).__name__}: {err}")
    else:
        print("no error: the block ran without raising (is the mistake it shows already fixed?)")
