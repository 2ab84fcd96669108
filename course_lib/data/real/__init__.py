"""Loaders for the real datasets (DRIVE, STARE, CHASE_DB1, ISBI 2012, ECSSD, DUTS), one module each.

Each describes its dataset's standard layout as data (a :class:`~.spec.DatasetSpec`), served by the one
loader in :mod:`.spec`, and registers itself: ``cl.data.load("drive", split="train")``.
Download helpers live in :mod:`course_lib.data.download`.
"""
