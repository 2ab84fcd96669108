"""Architectures, one file each, built from :mod:`course_lib.blocks`; all return logits.

Every module in this package is imported here, so a ``@register_model`` in a new file is enough.
"""

import sys as _sys

from course_lib._autoimport import import_submodules as _import_submodules
from course_lib.models.registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
__all__ += _import_submodules(_sys.modules[__name__], export_into=globals())
