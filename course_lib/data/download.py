"""Download the real datasets on request: ``cl.data.download("isbi2012")``.

Nothing here runs on import. Each call prints the dataset's licence terms, then for every file:
streams it to ``<file>.part`` (resuming with an HTTP Range request after an interruption, restarting
when the server ignores ranges), verifies its checksum, and only then renames it to its final name,
so a file under its final name is always complete and verified. A checksum failure deletes the
``.part`` file. Archives are unpacked into a temporary folder and moved into place.

Checksums come from :mod:`course_lib.data.sources`; where none is published the sha256 is recorded
on first use in ``<dataset folder>/SHA256SUMS`` and checked on later calls. Only ``urllib`` is used.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

from course_lib.data.registry import data_root, shown_path
from course_lib.data.sources import SOURCES, DatasetSource, RemoteFile

__all__ = [
    "ChecksumError",
    "DownloadError",
    "LoginRequiredError",
    "OfflineError",
    "download",
    "download_file",
]

RECORD_NAME = "SHA256SUMS"
USER_AGENT = "course_lib-downloader/0.1 (+python-urllib)"
CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """A download failed; the message says why and what to do."""


class OfflineError(DownloadError):
    """The source could not be reached (no network, DNS failure, refused connection, timeout)."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not match the expected checksum (the partial file was deleted)."""


class LoginRequiredError(DownloadError):
    """The source needs an account; the message explains how to place the files by hand."""


def _say(quiet: bool, *parts: object) -> None:
    if not quiet:
        print(*parts, flush=True)


def _digests(path: Path) -> tuple[str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            sha.update(block)
            md5.update(block)
    return sha.hexdigest(), md5.hexdigest()


def _offline(url: str, reason: object, stand_in: str) -> OfflineError:
    host = urlsplit(url).netloc
    return OfflineError(
        f"Could not reach {host} ({reason}). You seem to be offline, or the site is down.\n"
        "A partial download is kept only as a .part file and resumes next time. Try again later, or "
        f"work offline with the synthetic stand-in: cl.data.load({stand_in!r})."
    )


def _open(url: str, start: int, timeout: float):
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if start:
        request.add_header("Range", f"bytes={start}-")
    return urllib.request.urlopen(request, timeout=timeout)


def _stream(url: str, part: Path, timeout: float, quiet: bool) -> int | None:
    """Append the rest of ``url`` to ``part``; return the expected total size if the server said it."""
    have = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, have, timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # nothing left to fetch: the part may already be complete
            return None
        raise
    with response:
        length = response.headers.get("Content-Length")
        content_range = response.headers.get("Content-Range", "")
        if have and (response.status != 206 or not content_range.startswith(f"bytes {have}-")):
            have = 0  # the server ignored the Range header: start over
        total = have + int(length) if length is not None else None
        progress = None
        if not quiet:
            from tqdm.auto import tqdm

            progress = tqdm(
                total=total, initial=have, unit="B", unit_scale=True, desc=part.name[:-5], leave=False
            )
        try:
            with part.open("ab" if have else "wb") as out:
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    if progress is not None:
                        progress.update(len(block))
        finally:
            if progress is not None:
                progress.close()
    return total


def download_file(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    size: int | None = None,
    retries: int = 3,
    timeout: float = 30.0,
    quiet: bool = False,
    stand_in: str = "synthetic-vessels",
) -> str:
    """Fetch ``url`` to ``dest`` atomically and return its sha256.

    The bytes go to ``dest.part`` first; an interrupted transfer is resumed (up to ``retries`` times
    here, and on the next call); the file is renamed to ``dest`` only after its size and checksums
    (``sha256`` / ``md5`` when given) match. A mismatch deletes the partial file and raises
    :class:`ChecksumError`.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        interrupted = False
        try:
            total = _stream(url, part, timeout, quiet)
        except urllib.error.HTTPError as error:
            if error.code in (401, 403):
                raise LoginRequiredError(
                    f"{url} answered {error.code} ({error.reason}): this source needs a login or refuses "
                    f"automatic downloads. Download the file in a browser and save it as {dest}."
                ) from error
            raise DownloadError(
                f"{url} answered HTTP {error.code} ({error.reason}). The file may have moved; check the "
                f"dataset's homepage, download it by hand and save it as {dest}."
            ) from error
        except urllib.error.URLError as error:
            raise _offline(url, error.reason, stand_in) from error
        except (http.client.HTTPException, ConnectionError, TimeoutError) as error:
            interrupted, total, reason = True, None, error  # mid-transfer: resume below
        else:
            reason = "connection closed early"
        got = part.stat().st_size if part.exists() else 0
        expected = size if size is not None else total
        if not interrupted and (expected is None or got == expected):
            break
        if expected is not None and got > expected:
            part.unlink()  # longer than the file can be: not a resumable prefix
        if attempt == retries:
            raise DownloadError(
                f"Downloading {url} was interrupted ({reason}) after {retries + 1} tries; {got} bytes are "
                f"kept in {part} and the next call resumes from there."
            )
        _say(quiet, f"  interrupted ({reason}); resuming at byte {got} ...")
    sha, md = _digests(part)
    for kind, want, have in (("sha256", sha256, sha), ("md5", md5, md)):
        if want is not None and want.lower() != have:
            part.unlink()
            raise ChecksumError(
                f"Checksum mismatch for {url}: expected {kind} {want}, got {have}. The download is corrupt "
                "or the source changed the file; the partial file was deleted. Try again; if it fails "
                "again, the source has changed (report it, or pass verify=False to accept the new file)."
            )
    os.replace(part, dest)
    return sha


# ----------------------------------------------------------------------------- checksum record (TOFU)


def _read_record(folder: Path) -> dict[str, str]:
    path = folder / RECORD_NAME
    if not path.is_file():
        return {}
    entries = (line.split(maxsplit=1) for line in path.read_text().splitlines() if line.strip())
    return {name.strip(): digest for digest, name in entries}


def _write_record(folder: Path, record: dict[str, str]) -> None:
    tmp = folder / (RECORD_NAME + ".tmp")
    tmp.write_text("".join(f"{digest}  {name}\n" for name, digest in sorted(record.items())))
    os.replace(tmp, folder / RECORD_NAME)


# ----------------------------------------------------------------------------- archives


def _safe_members(names: list[str], archive: Path) -> None:
    for name in names:
        parts = Path(name).parts
        if Path(name).is_absolute() or ".." in parts:
            raise DownloadError(f"{archive} contains an unsafe path {name!r}; refusing to extract it.")


def _merge_into(source: Path, target: Path) -> None:
    """Move the content of ``source`` into ``target`` (replacing files of the same name)."""
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        destination = target / entry.name
        if entry.is_dir() and destination.is_dir():
            _merge_into(entry, destination)
        else:
            if destination.is_dir():
                shutil.rmtree(destination)
            os.replace(entry, destination)


def extract_archive(archive: Path, target: Path) -> None:
    """Unpack a zip/tar into a temporary folder next to ``target``, then move it into place.

    A single top-level folder in the archive is stripped (``images.zip`` holds ``images/...``).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".extract-", dir=target.parent) as tmp:
        tmp_dir = Path(tmp)
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                _safe_members(zf.namelist(), archive)
                zf.extractall(tmp_dir)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                _safe_members(tf.getnames(), archive)
                members = [m for m in tf.getmembers() if m.isfile() or m.isdir()]
                extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tf.extractall(tmp_dir, members=members, **extra)
        else:
            raise DownloadError(
                f"{archive} is neither a zip nor a tar archive; delete it and download again."
            )
        entries = [e for e in tmp_dir.iterdir() if e.name != "__MACOSX"]
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else tmp_dir
        _merge_into(root, target)


# ----------------------------------------------------------------------------- the public entry point


def _fetch(
    spec: RemoteFile,
    source: DatasetSource,
    folder: Path,
    record: dict[str, str],
    *,
    force: bool,
    quiet: bool,
    verify: bool,
) -> bool:
    """Make ``folder / spec.path`` present and verified; return True if it was (re)downloaded."""
    dest = folder / spec.path
    known = spec.sha256 or record.get(spec.path)
    if dest.is_file() and not force:
        if known is None or not verify or _digests(dest)[0] == known:
            return False
        _say(quiet, f"  {spec.path}: checksum differs from the expected one; downloading it again.")
        dest.unlink()
    if force and dest.exists():
        dest.unlink()
    _say(quiet, f"  fetching {spec.url}")
    sha = download_file(
        spec.url,
        dest,
        sha256=spec.sha256 if verify else None,
        md5=spec.md5 if verify else None,
        size=spec.size,
        quiet=quiet,
        stand_in=source.stand_in,
    )
    if spec.sha256 is None:
        previous = record.get(spec.path)
        if previous is not None and previous != sha and verify:
            dest.unlink()
            raise ChecksumError(
                f"{spec.url} now has sha256 {sha}, but {folder / RECORD_NAME} recorded {previous} on first "
                "use: the source changed or the download is corrupt (the file was deleted). Pass "
                "verify=False to accept the new file."
            )
        if previous != sha:
            record[spec.path] = sha
            _write_record(folder, record)
            print(f"  {spec.path}: no published sha256; recorded sha256 = {sha} in {RECORD_NAME}")
    return True


def download(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    force: bool = False,
    quiet: bool = False,
    verify: bool = True,
) -> Path:
    """Download dataset ``name`` ("drive", "stare", "chase_db1", "isbi2012", "ecssd", "duts").

    Returns the dataset folder. ``root`` is that folder (default ``cl.data.data_root() / <folder>``,
    e.g. ``data/isbi2012``), the same ``root`` that ``cl.data.load`` takes. Files already present and
    verified are skipped; ``force=True`` fetches everything again. ``verify=False`` accepts files whose
    checksum no longer matches (and records the new sha256). Raises :class:`OfflineError`,
    :class:`ChecksumError`, :class:`LoginRequiredError` or :class:`DownloadError` with a message saying
    what to do.
    """
    key = str(name).strip().lower()
    if key not in SOURCES:
        raise ValueError(f"No download recipe for {name!r}. Downloadable: {', '.join(sorted(SOURCES))}.")
    source = SOURCES[key]
    folder = Path(root).expanduser() if root is not None else data_root() / source.folder
    shown = shown_path(folder)  # $COURSE_DATA_DIR/... or <project>/data/...: no machine paths in outputs
    print(
        f"{source.name} -> {shown}\nLicence and terms: {source.licence}\nSource: {source.homepage} "
        f"(checksums: {source.checksum_note})"
    )
    if source.login_instructions is not None:
        layout = source.layout.format(root=shown)
        raise LoginRequiredError(
            source.login_instructions.format(layout=layout)
            + f"\nMeanwhile, work offline with cl.data.load({source.stand_in!r})."
        )
    folder.mkdir(parents=True, exist_ok=True)
    record = _read_record(folder)
    for spec in source.files:
        fresh = _fetch(spec, source, folder, record, force=force, quiet=quiet, verify=verify)
        if spec.extract_to is not None:
            marker = folder / (spec.path + ".extracted")
            if fresh or force or not marker.is_file():
                _say(quiet, f"  extracting {spec.path} -> {spec.extract_to}/")
                extract_archive(folder / spec.path, folder / spec.extract_to)
                marker.write_text("ok\n")
    load_call = f"cl.data.load({key!r})" if root is None else f"cl.data.load({key!r}, root={str(folder)!r})"
    _say(quiet, f"{source.name} is ready in {shown}: {load_call}")
    return folder
