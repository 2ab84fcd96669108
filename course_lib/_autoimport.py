"""Import every submodule of a package so registrations and ``__all__`` exports happen."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def import_submodules(package: ModuleType, export_into: dict | None = None) -> list[str]:
    """Import all modules below ``package``; if ``export_into`` is given, copy each ``__all__`` there.

    Returns the exported names.
    """
    exported: list[str] = []
    for info in sorted(pkgutil.walk_packages(package.__path__, package.__name__ + "."),
                       key=lambda i: i.name):
        module = importlib.import_module(info.name)
        if export_into is not None:
            for name in getattr(module, "__all__", ()):
                export_into[name] = getattr(module, name)
                exported.append(name)
    return exported
