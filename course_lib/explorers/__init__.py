"""Interactive explorers the chapters project in class: one module per topic, each built on
:mod:`course_lib.widgets` and usable headless (every explorer's drawing function runs with its defaults).

Each module lists its public names in ``__all__``; they are re-exported here
(``cl.explorers.size_explorer`` ...).
"""

import sys as _sys

from course_lib._autoimport import import_submodules as _import_submodules

__all__ = _import_submodules(_sys.modules[__name__], export_into=globals())
