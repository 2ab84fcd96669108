"""Widget helpers construct without a display, start at the function's defaults and run headless."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

import course_lib as cl

W = cl.widgets


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _controls(widget):
    return {c.description: c for c in widget.kwargs_widgets}


def test_slider_defaults():
    s = W.int_slider(1, 9, step=2)
    assert (s.min, s.max, s.step, s.continuous_update) == (1, 9, 2, False)
    f = W.float_slider(0.0, 2.0)
    assert f.step == pytest.approx(0.02) and f.continuous_update is False
    assert W.dropdown(["a", "b"]).value == "a"
    with pytest.raises(ValueError):
        W.int_slider(5, 1)


def test_make_interact_takes_values_from_defaults_and_runs():
    calls = []

    def draw(k: int = 5, sigma: float = 0.5, cmap: str = "magma", title: str = "x"):
        calls.append((k, sigma, cmap, title))
        return cl.viz.heatmap(np.full((4, 4), k * sigma), cmap=cmap, title=title)

    widget = W.make_interact(draw, k=W.int_slider(1, 9), sigma=W.float_slider(0.1, 2.0),
                             cmap=W.dropdown(["viridis", "magma"]))
    assert calls == [(5, 0.5, "magma", "x")]  # ran once with the defaults; title is no control
    assert isinstance(widget.result, Figure)
    controls = _controls(widget)
    assert set(controls) == {"k", "sigma", "cmap"}
    controls["k"].value = 7
    assert calls[-1] == (7, 0.5, "magma", "x")
    assert isinstance(draw(), Figure)  # the headless call of the course's rule


def test_make_interact_rejects_inconsistent_controls():
    def f(k: int = 3, n=None):
        return None

    with pytest.raises(ValueError, match="starts at 4"):
        W.make_interact(f, k=W.int_slider(0, 9, value=4))
    with pytest.raises(ValueError, match="outside"):
        W.make_interact(f, k=W.int_slider(5, 9))
    with pytest.raises(TypeError, match="no parameter"):
        W.make_interact(f, q=W.int_slider(0, 9))

    def g(k):
        return None

    with pytest.raises(ValueError, match="default"):
        W.make_interact(g, k=W.int_slider(0, 9))
    assert W.make_interact(f, k=(0, 9)).kwargs == {"k": 3}  # ipywidgets abbreviations pass through


def test_make_interact_raises_headless_errors():
    def broken(k: int = 1):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        W.make_interact(broken, k=W.int_slider(0, 3))


def _sample(i, difficulty=0.0):
    rng = np.random.default_rng(i)
    return {"image": torch.from_numpy(rng.random((1, 16, 16), dtype=np.float32) * (1 - difficulty)),
            "mask": torch.from_numpy((rng.random((1, 16, 16)) > 0.5).astype(np.float32))}


def test_sample_browser():
    dataset = [_sample(i) for i in range(4)]
    widget = W.sample_browser(dataset)
    slider = _controls(widget)["sample"]
    assert (slider.min, slider.max, slider.value) == (0, 3, 0)
    assert len(widget.result.axes) == 2
    slider.value = 3
    assert widget.kwargs == {"index": 3}
    with pytest.raises(ValueError, match="empty"):
        W.sample_browser([])


def test_dataset_explorer_builds_with_knobs_and_caches():
    built = []

    def factory(difficulty: float = 0.2, size: int = 3):
        built.append((difficulty, size))
        return [_sample(i, difficulty) for i in range(size)]

    widget = W.dataset_explorer(factory, difficulty=W.float_slider(0.0, 1.0))
    controls = _controls(widget)
    assert controls["sample"].max == 2 and controls["difficulty"].value == pytest.approx(0.2)
    assert built == [(0.2, 3)]  # index_max from the default dataset, reused for the first draw
    controls["difficulty"].value = 0.9
    controls["sample"].value = 1
    assert built == [(0.2, 3), (0.9, 3)] and widget.kwargs == {"index": 1, "difficulty": 0.9}
    assert isinstance(widget.result, Figure)
    with pytest.raises(ValueError, match="default"):
        W.dataset_explorer(lambda difficulty: [], index_max=2, difficulty=W.float_slider(0, 1))
