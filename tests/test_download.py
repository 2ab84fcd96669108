"""Downloader logic against a local HTTP server on 127.0.0.1 (no internet needed or used)."""

import hashlib
import io
import socket
import subprocess
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import course_lib as cl
from course_lib.data import sources
from course_lib.data.download import (
    ChecksumError,
    DownloadError,
    LoginRequiredError,
    OfflineError,
    download,
    download_file,
)
from course_lib.data.sources import DatasetSource, RemoteFile

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


class FixtureServer:
    """Serves ``files`` (path -> bytes) with Range support; can cut the first response short."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.truncate_once: set[str] = set()
        self.honour_range = True
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                range_header = self.headers.get("Range")
                server.requests.append((self.path, range_header))
                if self.path.startswith("/status/"):
                    self.send_error(int(self.path.rsplit("/", 1)[1]))
                    return
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                if range_header and server.honour_range:
                    start = int(range_header.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                    self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                payload = body[start:]
                if self.path in server.truncate_once:
                    server.truncate_once.discard(self.path)
                    payload = payload[: len(payload) // 2]  # promise everything, send half, hang up
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server():
    srv = FixtureServer()
    yield srv
    srv.close()


def make_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for k in range(3):
            zf.writestr(f"images/{k:04d}.txt", f"file {k} " * 5000)
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def register(monkeypatch, files: tuple[RemoteFile, ...]) -> None:
    source = DatasetSource(
        name="FIXTURE",
        folder="fixture",
        homepage="http://127.0.0.1/",
        files=files,
        licence="Fixture licence: for tests only.",
        checksum_note="test",
    )
    monkeypatch.setitem(sources.SOURCES, "fixture", source)


def test_good_archive_is_downloaded_verified_extracted_and_not_fetched_twice(
    server, tmp_path, monkeypatch, capsys
):
    archive = make_zip()
    server.files["/a/images.zip"] = archive
    register(
        monkeypatch,
        (
            RemoteFile(
                url=server.url + "/a/images.zip",
                path="downloads/images.zip",
                sha256=sha256(archive),
                extract_to="images",
            ),
        ),
    )
    folder = download("fixture", root=tmp_path / "fx", quiet=True)
    assert folder == tmp_path / "fx"
    assert "Fixture licence: for tests only." in capsys.readouterr().out
    assert sorted(p.name for p in (folder / "images").iterdir()) == ["0000.txt", "0001.txt", "0002.txt"]
    assert (folder / "downloads/images.zip").read_bytes() == archive
    assert not list(folder.rglob("*.part")) and not list(folder.glob(".extract-*"))
    n_requests = len(server.requests)
    download("fixture", root=folder, quiet=True)
    assert len(server.requests) == n_requests  # present and verified: nothing fetched again
    download("fixture", root=folder, quiet=True, force=True)
    assert len(server.requests) == n_requests + 1


def test_corrupted_download_is_deleted_and_reported(server, tmp_path):
    good = make_zip()
    server.files["/bad.zip"] = good[:-10] + b"0123456789"
    dest = tmp_path / "bad.zip"
    with pytest.raises(ChecksumError, match="expected sha256") as info:
        download_file(server.url + "/bad.zip", dest, sha256=sha256(good), quiet=True)
    assert "deleted" in str(info.value)
    assert not dest.exists() and not list(tmp_path.iterdir())  # neither a final file nor a .part


def test_interrupted_transfer_is_resumed_with_range(server, tmp_path):
    data = make_zip()
    server.files["/f.zip"] = data
    server.truncate_once.add("/f.zip")
    dest = tmp_path / "f.zip"
    digest = download_file(server.url + "/f.zip", dest, sha256=sha256(data), quiet=True)
    assert digest == sha256(data) and dest.read_bytes() == data
    assert server.requests[0][1] is None and server.requests[1][1] == f"bytes={len(data) // 2}-"
    assert not (tmp_path / "f.zip.part").exists()


def test_partial_file_from_an_earlier_run_is_resumed_or_restarted(server, tmp_path):
    data = make_zip()
    server.files["/g.zip"] = data
    part = tmp_path / "g.zip.part"
    part.write_bytes(data[:1000])
    download_file(server.url + "/g.zip", tmp_path / "g.zip", sha256=sha256(data), quiet=True)
    assert server.requests[-1][1] == "bytes=1000-" and (tmp_path / "g.zip").read_bytes() == data
    # a server that ignores Range: the stale part is discarded and the file fetched whole
    server.honour_range = False
    part = tmp_path / "h.zip.part"
    part.write_bytes(b"stale bytes from some other file")
    download_file(server.url + "/g.zip", tmp_path / "h.zip", sha256=sha256(data), quiet=True)
    assert (tmp_path / "h.zip").read_bytes() == data and not part.exists()


def test_interruptions_beyond_the_retries_keep_a_resumable_part(server, tmp_path):
    data = make_zip()
    server.files["/i.zip"] = data
    server.truncate_once.add("/i.zip")
    with pytest.raises(DownloadError, match="resumes"):
        download_file(server.url + "/i.zip", tmp_path / "i.zip", sha256=sha256(data), retries=0, quiet=True)
    assert not (tmp_path / "i.zip").exists() and (tmp_path / "i.zip.part").stat().st_size == len(data) // 2
    download_file(server.url + "/i.zip", tmp_path / "i.zip", sha256=sha256(data), quiet=True)
    assert (tmp_path / "i.zip").read_bytes() == data


def test_offline_gives_a_clear_message(tmp_path, monkeypatch):
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    register(monkeypatch, (RemoteFile(url=f"http://127.0.0.1:{port}/x.zip", path="x.zip"),))
    with pytest.raises(OfflineError, match="offline") as info:
        download("fixture", root=tmp_path / "fx", quiet=True)
    assert "cl.data.load('synthetic-vessels')" in str(info.value)
    assert not (tmp_path / "fx" / "x.zip").exists()


def test_http_errors(server, tmp_path):
    with pytest.raises(LoginRequiredError, match="403"):
        download_file(server.url + "/status/403", tmp_path / "x", quiet=True)
    with pytest.raises(DownloadError, match="404"):
        download_file(server.url + "/missing.zip", tmp_path / "x", quiet=True)
    assert not list(tmp_path.iterdir())


def test_drive_needs_a_login_and_gets_instructions(tmp_path, capsys):
    with pytest.raises(LoginRequiredError) as info:
        download("drive", root=tmp_path / "DRIVE")
    message = str(info.value)
    assert "https://drive.grand-challenge.org/" in message
    assert f"{tmp_path / 'DRIVE'}/training/images/21_training.tif" in message
    assert "synthetic-vessels" in message
    assert "redistribution" in capsys.readouterr().out  # the licence terms were printed first
    assert not (tmp_path / "DRIVE").exists()


def test_printed_folders_are_relative_to_the_data_root(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(LoginRequiredError) as info:
        download("drive")
    printed = capsys.readouterr().out + str(info.value)
    assert "DRIVE -> $COURSE_DATA_DIR/DRIVE" in printed
    assert "$COURSE_DATA_DIR/DRIVE/training/images/21_training.tif" in printed
    assert str(tmp_path) not in printed  # no machine's folder in a stored output


def test_trust_on_first_use_records_and_checks_sha256(server, tmp_path, monkeypatch, capsys):
    server.files["/t.bin"] = b"version one" * 100
    register(monkeypatch, (RemoteFile(url=server.url + "/t.bin", path="t.bin"),))
    folder = download("fixture", root=tmp_path / "fx", quiet=True)
    digest = sha256(b"version one" * 100)
    assert f"recorded sha256 = {digest}" in capsys.readouterr().out
    assert (folder / "SHA256SUMS").read_text() == f"{digest}  t.bin\n"
    (folder / "t.bin").write_bytes(b"tampered")  # a later call notices and fetches it again
    download("fixture", root=folder, quiet=True)
    assert (folder / "t.bin").read_bytes() == b"version one" * 100
    server.files["/t.bin"] = b"version two"
    with pytest.raises(ChecksumError, match="recorded"):
        download("fixture", root=folder, quiet=True, force=True)
    assert not (folder / "t.bin").exists()
    download("fixture", root=folder, quiet=True, force=True, verify=False)
    assert (folder / "SHA256SUMS").read_text() == f"{sha256(b'version two')}  t.bin\n"


def test_isbi_catalogue_checksums_match_the_real_files():
    files = sources.SOURCES["isbi2012"].files
    assert len(files) == 90 and all(
        f.url.startswith("https://raw.githubusercontent.com/zhixuhao/unet/") for f in files
    )
    if not (SHARED / "isbi2012").is_dir():
        pytest.skip(f"real ISBI 2012 data not found in {SHARED}")
    for spec in files:
        assert hashlib.sha256((SHARED / "isbi2012" / spec.path).read_bytes()).hexdigest() == spec.sha256, (
            spec.path
        )


@pytest.mark.skipif(not (SHARED / "isbi2012").is_dir(), reason=f"real ISBI 2012 data not found in {SHARED}")
def test_isbi_download_end_to_end_from_a_loopback_mirror(server, tmp_path, monkeypatch):
    """The real ISBI files served locally under the catalogue's paths: fetched, verified, then loadable."""
    real = sources.SOURCES["isbi2012"]
    mirrored = []
    for spec in real.files:
        server.files["/" + spec.path] = (SHARED / "isbi2012" / spec.path).read_bytes()
        mirrored.append(RemoteFile(url=f"{server.url}/{spec.path}", path=spec.path, sha256=spec.sha256))
    server.files["/train/label/3.png"] = b"corrupted" + server.files["/train/label/3.png"][9:]
    monkeypatch.setitem(
        sources.SOURCES, "isbi2012", DatasetSource(**{**real.__dict__, "files": tuple(mirrored)})
    )
    with pytest.raises(ChecksumError, match=r"3\.png"):
        download("isbi2012", root=tmp_path / "isbi2012", quiet=True)
    server.files["/train/label/3.png"] = (SHARED / "isbi2012/train/label/3.png").read_bytes()
    folder = download("isbi2012", root=tmp_path / "isbi2012", quiet=True)
    assert len(cl.data.load("isbi2012", split="trainval", root=folder)) == 30
    assert len(list(folder.rglob("*.png"))) == 90 and not list(folder.rglob("*.part"))


def test_nothing_is_fetched_on_import_or_load():
    code = (
        "import socket\n"
        "calls = []\n"
        "original = socket.socket.connect\n"
        "socket.socket.connect = lambda self, *a: calls.append(a) or original(self, *a)\n"
        "socket.create_connection = lambda *a, **k: calls.append(a)\n"
        "import course_lib as cl\n"
        "try:\n"
        "    cl.data.load('isbi2012', root='/nonexistent/isbi2012')\n"
        "except FileNotFoundError:\n"
        "    pass\n"
        "assert not calls, calls\n"
        "print('no network')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "no network" in result.stdout
