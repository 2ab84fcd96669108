"""Cheap checks of a real dataset's files when it is built: each file's header and its size on disk.

A truncated or corrupt file is then reported as soon as ``cl.data.load`` is called, naming the file,
instead of in the middle of an epoch when that sample is first decoded. Nothing is decoded here: the
header gives the image size, and the end of the file (or, for TIFF, its strip table) shows whether
the file is complete.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

from PIL import Image

from course_lib.data.sources import SOURCES

__all__ = ["ImageReadError", "image_size", "open_image", "refetch_advice"]

_TAIL = 4096


class ImageReadError(OSError):
    """A file exists but cannot be decoded as an image."""


def refetch_advice(dataset: str) -> str:
    """What to do about a damaged file of ``dataset``: download again, or (login-only sets) copy again."""
    source = SOURCES.get(dataset.lower())
    if source is not None and source.login_instructions is not None:
        return (f"Replace it with a fresh copy from your own {source.name} download: the course cannot "
                f"download {source.name} for you (it needs a login at {source.homepage}).")
    key = source.name.lower() if source is not None else dataset.lower()
    return (f"Delete the damaged file (or the dataset folder) and download it again with "
            f"cl.data.download({key!r}) or `python -m course_lib download {key}`.")


def open_image(path: Path) -> tuple[Image.Image, bytes | None, int]:
    """The image (any PIL format, also ``.gz``-compressed) with only its header read, the decompressed
    bytes of a ``.gz`` file (else None), and the size in bytes of the image data."""
    if path.suffix.lower() == ".gz":
        with gzip.open(path, "rb") as stream:
            data = stream.read()  # gzip itself notices a truncated stream
        return Image.open(io.BytesIO(data)), data, len(data)
    return Image.open(path), None, path.stat().st_size


def _tail(path: Path, data: bytes | None, size: int) -> bytes:
    if data is not None:
        return data[-_TAIL:]
    with path.open("rb") as stream:
        stream.seek(max(0, size - _TAIL))
        return stream.read()


def _incomplete(image: Image.Image, path: Path, data: bytes | None, size: int) -> str | None:
    """Why the file looks cut short, or None."""
    fmt = image.format
    if fmt == "PNG" and b"IEND" not in _tail(path, data, size)[-12:]:
        return "the PNG has no end chunk"
    if fmt == "GIF" and not _tail(path, data, size).endswith(b";"):
        return "the GIF has no trailer"
    if fmt == "JPEG" and b"\xff\xd9" not in _tail(path, data, size):
        return "the JPEG has no end-of-image marker"
    if fmt == "TIFF":
        tags = image.tag_v2
        offsets, counts = tags.get(273) or tags.get(324), tags.get(279) or tags.get(325)
        if offsets and counts:
            end = max(int(o) + int(c) for o, c in zip(offsets, counts, strict=False))
            if end > size:
                return f"its image data should end at byte {end:,} but the file has {size:,}"
    if fmt in ("PPM", "BMP") and image.tile and image.tile[0][0] == "raw":
        offset, rawmode = image.tile[0][2], image.tile[0][3][0]
        if rawmode in ("L", "RGB"):
            end = offset + image.size[0] * image.size[1] * len(rawmode)
            if end > size:
                return f"its pixels need {end:,} bytes but the file has {size:,}"
    return None


def image_size(path: Path, dataset: str) -> tuple[int, int]:
    """``(width, height)`` from the header of ``path``; ImageReadError if unreadable or truncated."""
    try:
        image, data, size = open_image(path)
        with image:
            problem = _incomplete(image, path, data, size)
            dims = image.size
    except (OSError, ValueError, EOFError, SyntaxError) as error:
        problem = "the file is empty" if path.stat().st_size == 0 else f"{type(error).__name__}: {error}"
    if problem is not None:
        raise ImageReadError(f"{dataset}: {path} is not a complete image ({problem}); the file is truncated "
                             f"or corrupt. {refetch_advice(dataset)}")
    return dims
