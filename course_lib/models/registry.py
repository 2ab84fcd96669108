"""A name -> constructor registry so chapters, the CLI and benchmarks build models by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch.nn as nn

from course_lib.models.input_checks import check_config

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str, replace: bool = False
                   ) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: ``@register_model("unet")`` makes ``create_model("unet", **cfg)`` call it.
    ``replace=True`` lets a notebook cell that registers a model be run again."""

    def decorator(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS and not replace:
            raise ValueError(f"A model named {name!r} is registered already; pick another name, or pass "
                             "replace=True to register_model to redefine it (e.g. when re-running a cell).")
        _MODELS[name] = factory
        return factory

    return decorator


def list_models() -> list[str]:
    """The names :func:`create_model` accepts, sorted."""
    return sorted(_MODELS)


def check_model_name(name: str) -> str:
    """The registry key for ``name`` (case and ``-``/``_`` do not matter), or a ValueError listing them."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in _MODELS:
        raise ValueError(f"Unknown model {name!r}. Registered models: {', '.join(list_models())}.")
    return key


def create_model(name: str, **cfg: Any) -> nn.Module:
    """Build a registered model: ``create_model("unet", in_channels=1, out_channels=1)``."""
    key = check_model_name(name)
    check_config(key, cfg)
    try:
        return _MODELS[key](**cfg)
    except TypeError as err:
        raise TypeError(f"create_model({name!r}, ...): {err}") from err
