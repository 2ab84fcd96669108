"""A real dataset described as data (:class:`DatasetSpec`), and the one loader that serves them all.

A spec names the dataset's download source (name, folder, licence, checksums, from
:mod:`course_lib.data.sources`), where its files lie (:class:`Part`, :class:`Label`), how it splits and
how its files read. What a dataset does its own way stays in its module: STARE lists its samples by
label (a ``Lister``), and ISBI 2012 refuses ``split="test"`` without ``unlabeled=True`` before it calls
:func:`build`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course_lib.data.real.common import (
    RealSegmentationDataset,
    Record,
    check_split,
    dataset_dir,
    holdout_split,
    list_matching,
    require_dir,
    require_file,
    seeded_split,
)
from course_lib.data.sources import DatasetSource

__all__: list[str] = []

Steps = tuple[str, ...]
"""A folder as steps from the dataset folder; each must exist, and a missing one is reported with what
the folder before it holds (so ``("training", "images")`` and ``("DUTS-TR/DUTS-TR-Image",)`` differ)."""


@dataclass(frozen=True)
class Label:
    """The label file of each image: ``Record`` field ``key`` ("mask" or "fov") at ``folder / file``;
    ``what`` names it in errors ("the vessel label")."""

    key: str
    folder: Steps
    file: str
    what: str


@dataclass(frozen=True)
class Part:
    """The images of one part of a dataset, and their labels.

    ``pattern`` is the regex an image's file name must fully match. ``id`` and the names of label files
    and folders are templates over its groups (``{0}``, ``{1}``..), the image's file name ``{name}``,
    that name up to its first dot ``{head}``, ``{id}`` and the loader's options (``{annotator}``).
    """

    images: Steps
    pattern: str
    labels: tuple[Label, ...] = ()
    id: str = "{0}"


Lister = Callable[[Path, Mapping[str, str]], list[Record]]
"""A dataset's own listing, ``(dataset folder, options) -> records``, where no :class:`Part` fits."""


@dataclass(frozen=True)
class DatasetSpec:
    """One real dataset as data.

    ``train`` holds the labelled images; ``test`` is the official test part, or None where there is no
    official split (then ``test`` is held out of ``train``: its last ``n_test`` images, or ``test_ids``).
    ``annotators`` maps each allowed ``annotator`` to who drew it ("" if unnamed). ``image_mode``,
    ``invert_mask``, ``fov`` and ``instances`` say how the files read (:class:`RealSegmentationDataset`).
    """

    source: DatasetSource
    layout: str
    train: Part | Lister
    test: Part | Lister | None = None
    annotators: Mapping[str, str] = field(default_factory=dict)
    image_mode: str = "RGB"
    invert_mask: bool = False
    fov: str | None = None
    instances: bool = False

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def folder(self) -> str:
        return self.source.folder


def list_records(spec: DatasetSpec, part: Part | Lister, top: Path,
                 options: Mapping[str, str] | None = None) -> list[Record]:
    """The records of ``part`` under the dataset folder ``top``, naturally sorted by image name."""
    options = dict(options or {})
    if not isinstance(part, Part):
        return part(top, options)
    images = _folder(spec, top, part.images, options)
    folders = [_folder(spec, top, label.folder, options) for label in part.labels]
    records = []
    for match, path in list_matching(spec.name, images, part.pattern, spec.layout):
        names = {**options, "name": path.name, "head": path.name.split(".")[0]}
        names["id"] = part.id.format(*match.groups(), **names)
        files = {
            label.key: require_file(spec.name, folder / label.file.format(*match.groups(), **names),
                                    f"{label.what} of {path.name}", spec.layout)
            for label, folder in zip(part.labels, folders, strict=True)
        }
        records.append(Record(id=names["id"], image=path, **files))
    return records


def _folder(spec: DatasetSpec, top: Path, steps: Steps, options: Mapping[str, str]) -> Path:
    path = top
    for step in steps:
        path = require_dir(spec.name, path / step.format(**options), spec.layout, path)
    return path


def open_folder(spec: DatasetSpec, split: str, root: str | os.PathLike | None,
                annotator: str | None = None) -> tuple[str, Path]:
    """Check ``split`` and ``annotator``; the split and the dataset folder (``root``, else the default)."""
    split = check_split(spec.name, split)
    if annotator is not None and annotator not in spec.annotators:
        choices = " or ".join(f"{k!r} ({who})" if who else repr(k) for k, who in spec.annotators.items())
        raise ValueError(f"{spec.name}: annotator must be {choices}, got {annotator!r}.")
    return split, require_dir(spec.name, dataset_dir(spec.name, spec.folder, root), spec.layout)


def build(spec: DatasetSpec, split: str, top: Path, *, val_fraction: float, seed: int,
          transform: Callable | None, cache: bool, n_test: int | None = None,
          test_ids: Sequence[str] | None = None, annotator: str | None = None) -> RealSegmentationDataset:
    """The dataset of ``split`` (as :func:`open_folder` returns it) from the folder ``top``, split by
    ``spec``'s rule."""
    options = {} if annotator is None else {"annotator": annotator}
    if spec.test is None:
        records = holdout_split(list_records(spec, spec.train, top, options), split, n_test=n_test,
                                test_ids=test_ids, val_fraction=val_fraction, seed=seed, name=spec.name)
    elif split == "test":
        records = list_records(spec, spec.test, top, options)
    else:
        records = seeded_split(list_records(spec, spec.train, top, options), split, val_fraction, seed,
                               spec.name)
    return RealSegmentationDataset(
        spec.name, records, split=split, root=top, image_mode=spec.image_mode, invert_mask=spec.invert_mask,
        fov=spec.fov, instances=spec.instances, transform=transform, seed=seed, cache=cache,
    )


def load_spec(spec: DatasetSpec, split: str, root: str | os.PathLike | None, *,
              annotator: str | None = None, **settings: Any) -> RealSegmentationDataset:
    """:func:`open_folder`, then :func:`build` with ``settings`` (``val_fraction``, ``seed``...)."""
    split, top = open_folder(spec, split, root, annotator)
    return build(spec, split, top, annotator=annotator, **settings)
