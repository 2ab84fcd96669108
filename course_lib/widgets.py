"""Thin helpers over ``ipywidgets.interactive`` that chapters build their sliders on.

The course's rule: an interactive cell must also work when its function is called with its defaults
(CI, papermill, a reader without widgets). So :func:`make_interact` takes each control's starting value
from the function's default and refuses controls that disagree with it::

    def show(k: int = 3, sigma: float = 1.0):
        return cl.viz.heatmap(blur(image, k, sigma))

    cl.widgets.make_interact(show, k=cl.widgets.int_slider(1, 9, step=2),
                             sigma=cl.widgets.float_slider(0.1, 5))
    show()  # the same figure, headless

Works in JupyterLab and Colab (only core ipywidgets are used, so both ipywidgets 7.7 and 8 do).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as w

__all__ = [
    "dataset_explorer",
    "dropdown",
    "float_slider",
    "int_slider",
    "make_interact",
    "sample_browser",
]

_LAYOUT = {"width": "480px"}
_STYLE = {"description_width": "initial"}


def int_slider(min: int, max: int, step: int = 1, value: int | None = None, description: str | None = None,
               continuous_update: bool = False, **kwargs: Any) -> w.IntSlider:
    """An IntSlider with course defaults (redraw on release). ``value=None``: set by make_interact."""
    if max < min:
        raise ValueError(f"int_slider: max ({max}) < min ({min}).")
    slider = w.IntSlider(value=min if value is None else value, min=min, max=max, step=step,
                         description=description or "", continuous_update=continuous_update,
                         layout=w.Layout(**_LAYOUT), style=_STYLE, **kwargs)
    slider._course_value_unset = value is None
    return slider


def float_slider(min: float, max: float, step: float | None = None, value: float | None = None,
                 description: str | None = None, continuous_update: bool = False,
                 readout_format: str | None = None, **kwargs: Any) -> w.FloatSlider:
    """A FloatSlider with course defaults (100 steps, redraw on release).

    ``value=None``: set by make_interact from the function's default.
    """
    if max <= min:
        raise ValueError(f"float_slider: max ({max}) must exceed min ({min}).")
    step = step if step is not None else (max - min) / 100
    fmt = readout_format or (".3f" if step < 0.01 else ".2f")
    slider = w.FloatSlider(value=min if value is None else value, min=min, max=max, step=step,
                           description=description or "", continuous_update=continuous_update,
                           readout_format=fmt, layout=w.Layout(**_LAYOUT), style=_STYLE, **kwargs)
    slider._course_value_unset = value is None
    return slider


def dropdown(options: Sequence[Any], value: Any | None = None, description: str | None = None,
             **kwargs: Any) -> w.Dropdown:
    """A Dropdown with course layout. ``value=None``: set by make_interact."""
    options = list(options)
    if not options:
        raise ValueError("dropdown: options is empty.")
    box = w.Dropdown(options=options, value=options[0] if value is None else value,
                     description=description or "", style=_STYLE, **kwargs)
    box._course_value_unset = value is None
    return box


def _show_result(result: Any) -> None:
    """Display a returned Figure once and close it (the inline backend would otherwise show it twice)."""
    fig = getattr(result, "figure", None) if not hasattr(result, "savefig") else result
    if fig is None or not hasattr(fig, "savefig"):
        return
    import matplotlib.pyplot as plt
    from IPython import get_ipython
    from IPython.display import display

    if get_ipython() is not None:
        display(fig)
    plt.close(fig)


def _sync_with_defaults(fn: Callable[..., Any], controls: dict[str, Any]) -> None:
    """Give each widget the default of the parameter it drives; refuse parameters without one."""
    params = inspect.signature(fn).parameters
    for name, control in controls.items():
        if name not in params:
            raise TypeError(f"make_interact: {getattr(fn, '__name__', fn)!r} has no parameter {name!r} "
                            f"(its parameters: {list(params)}).")
        default = params[name].default
        if default is inspect.Parameter.empty:
            raise ValueError(f"make_interact: give parameter {name!r} a default so the function also runs "
                             f"headless as {getattr(fn, '__name__', 'fn')}().")
        if not isinstance(control, w.ValueWidget):
            continue  # an ipywidgets abbreviation such as (0, 10) or ["a", "b"]: interact builds it
        if getattr(control, "_course_value_unset", False):
            control.value = default
            if control.value != default:  # traitlets clipped it to the slider's range
                raise ValueError(f"make_interact: default {name}={default!r} is outside the control's range.")
        elif control.value != default:
            raise ValueError(f"make_interact: control {name!r} starts at {control.value!r} but the default "
                             f"is {default!r}; make them equal so fn() shows what the widget shows first.")
        if not control.description:
            control.description = name


def make_interact(fn: Callable[..., Any], **controls: Any) -> w.interactive:
    """The ``ipywidgets.interactive`` widget for ``fn`` (display it, or leave it as a cell's last line).

    Every control must name a parameter of ``fn`` that has a default; sliders made with ``value=None``
    start at that default. A returned Figure is displayed once per update. Without a running IPython
    kernel (scripts, tests) an exception in ``fn`` is raised instead of being logged.

    Works with ipywidgets 7.x (Colab's 7.7.1, which runs ``fn`` only when the widget is displayed) and 8.x
    (which runs it when the widget is built): outside a kernel the first run is forced on both.
    """
    _sync_with_defaults(fn, controls)
    failure: list[BaseException] = []
    runs: list[int] = []

    def run(**kwargs: Any) -> Any:
        runs.append(1)
        try:
            result = fn(**kwargs)
        except Exception as exc:
            failure.append(exc)
            raise
        _show_result(result)
        return result

    run.__signature__ = inspect.signature(fn).replace(  # type: ignore[attr-defined]
        parameters=[p for p in inspect.signature(fn).parameters.values() if p.name in controls])
    run.__name__ = getattr(fn, "__name__", "run")
    widget = w.interactive(run, **controls)
    from IPython import get_ipython

    if get_ipython() is None:
        if not runs:  # ipywidgets 7.x: the first run waits for a display that never comes here
            try:
                widget.update()
            except Exception as exc:
                if not failure:
                    failure.append(exc)
        if failure:
            raise failure[0]
    return widget


def sample_browser(dataset: Any, keys: Sequence[str] = ("image", "mask"), index: int = 0,
                   **show_kwargs: Any) -> w.interactive:
    """A slider over ``dataset`` indices drawing ``cl.viz.show_samples`` for one sample."""
    from course_lib import viz

    if len(dataset) == 0:
        raise ValueError("sample_browser: the dataset is empty.")

    def show(index: int = index):
        return viz.show_samples(dataset[index], keys=keys, **show_kwargs)

    return make_interact(show, index=int_slider(0, len(dataset) - 1, description="sample"))


def dataset_explorer(factory: Callable[..., Any], index_max: int | None = None,
                     keys: Sequence[str] = ("image", "mask"), **knob_sliders: Any) -> w.interactive:
    """Sliders for a dataset factory's knobs plus a sample index; draws one sample.

    ``factory(**knobs)`` returns a dataset and must have a default for every knob. ``index_max``
    defaults to the last index of the dataset built with the defaults. The last few datasets are cached.
    """
    from course_lib import viz

    params = inspect.signature(factory).parameters
    for name in knob_sliders:
        if name not in params or params[name].default is inspect.Parameter.empty:
            raise ValueError(f"dataset_explorer: factory needs a parameter {name!r} with a default "
                             "(so the explorer also runs headless).")
    defaults = {name: params[name].default for name in knob_sliders}
    cache: dict[tuple, Any] = {}

    def build(**knobs: Any) -> Any:
        key = tuple(sorted(knobs.items()))
        if key not in cache:
            if len(cache) >= 8:
                cache.pop(next(iter(cache)))
            cache[key] = factory(**knobs)
        return cache[key]

    if index_max is None:
        index_max = len(build(**defaults)) - 1

    def explore(index: int = 0, **knobs: Any):
        dataset = build(**{**defaults, **knobs})
        if index >= len(dataset):
            raise IndexError(f"index {index} out of range: this dataset has {len(dataset)} samples.")
        return viz.show_samples(dataset[index], keys=keys)

    explore.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("index", inspect.Parameter.KEYWORD_ONLY, default=0)]
        + [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v) for k, v in defaults.items()])
    return make_interact(explore, index=int_slider(0, index_max, description="sample"), **knob_sliders)
