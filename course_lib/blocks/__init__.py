"""Reusable layers the course's models are built from.

Each module lists its public layers in ``__all__``; they are all re-exported here
(``cl.blocks.DACBlock``, ``cl.blocks.DropBlock2d`` ...).
"""

import sys as _sys

from course_lib._autoimport import import_submodules as _import_submodules

__all__ = _import_submodules(_sys.modules[__name__], export_into=globals())
