"""Training and evaluation protocols of the chapters that reproduce a paper's setup on real data
(``cl.protocols.drive`` for DACRSE-UNet on DRIVE, ``cl.protocols.isbi`` for the U-Net weight map on
ISBI 2012). Each module is imported on first use."""

import importlib as _importlib


def __getattr__(name: str):
    try:
        return _importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as err:
        if err.name == f"{__name__}.{name}":
            raise AttributeError(f"course_lib.protocols has no protocol {name!r}") from None
        raise
