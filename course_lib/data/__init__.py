"""Datasets: synthetic generators (offline default), real-dataset loaders and downloaders,
joint image/mask transforms and tiling. ``cl.data.load(name, split="train", root=None, **cfg)``.

Every module in this package is imported here, so ``@register_dataset`` in a new file is enough,
and each module's ``__all__`` is re-exported.
"""

import sys as _sys

from course_lib._autoimport import import_submodules as _import_submodules
from course_lib.data.registry import check_dataset_name, data_root, list_datasets, load, register_dataset

__all__ = ["check_dataset_name", "data_root", "list_datasets", "load", "register_dataset"]
__all__ += _import_submodules(_sys.modules[__name__], export_into=globals())
