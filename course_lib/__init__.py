"""course_lib: the library behind the U-Net course.

    import course_lib as cl
    model = cl.create_model("unet", in_channels=1, out_channels=1)
    data = cl.data.load("synthetic-vessels", split="train")
"""

import importlib as _importlib

from course_lib import blocks, config, cpu_policy, data, models
from course_lib.models import create_model, list_models

__version__ = "0.1.0"

# Heavier submodules load on first use (``cl.viz`` pulls in matplotlib, ``cl.widgets`` ipywidgets).
_LAZY_SUBMODULES = (
    "engine", "losses", "metrics", "viz", "widgets", "receptive_field", "notebook", "exercises", "sizes",
    "recipes", "inspect_model", "tour", "cli", "explorers", "protocols",
    "instance_metrics", "lesion_metrics", "benchmark", "stats",
)

__all__ = [
    "blocks", "config", "cpu_policy", "create_model", "data", "list_models", "models", *_LAZY_SUBMODULES,
]


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        return _importlib.import_module(f"course_lib.{name}")
    raise AttributeError(f"module 'course_lib' has no attribute {name!r}")
