"""Loaders for the real datasets (DRIVE, STARE, CHASE_DB1, ISBI 2012, ECSSD, DUTS), one module each.

Each reads its dataset's standard layout and registers itself: ``cl.data.load("drive", split="train")``.
Download helpers live in :mod:`course_lib.data.download`.
"""
