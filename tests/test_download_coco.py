"""benchmarks.download_coco against a local HTTP server (with Range) serving small zips made here."""
from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from benchmarks import download_coco as dc


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


class Server:
    """Serves ``files`` (URL path -> bytes) with Range support; paths in ``cut`` lose the connection
    half-way through their first response."""

    def __init__(self, files: dict[str, bytes], cut: set[str] = frozenset()):
        self.files, self.cut, self.requests = files, set(cut), []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                data = server.files.get(self.path)
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                if data is None:
                    self.send_error(404)
                    return
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                if start >= len(data):
                    self.send_error(416)
                    return
                self.send_response(206 if rng else 200)
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if self.path in server.cut:
                    server.cut.discard(self.path)
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def archives(monkeypatch) -> dict[str, bytes]:
    """Small zips laid out like the official three, with their MD5 sums put in place of the official ones."""
    png_zip = zip_bytes({"panoptic_val2017/000000000139.png": b"png-bytes"})
    files = {
        "images": zip_bytes({f"val2017/{i:012d}.jpg": bytes([i]) * 5000 for i in range(1, 40)}),
        "instances": zip_bytes({"annotations/instances_val2017.json": json.dumps({"images": []}).encode(),
                                "annotations/instances_train2017.json": b"{}",
                                "annotations/captions_val2017.json": b"{}"}),
        "panoptic": zip_bytes({"annotations/panoptic_val2017.json": b"{}", "annotations/panoptic_val2017.zip": png_zip,
                               "annotations/panoptic_train2017.json": b"{}"}),
    }
    for name, data in files.items():
        monkeypatch.setitem(dc.ARCHIVES, name, dc.Archive(dc.ARCHIVES[name].path, hashlib.md5(data).hexdigest(),
                                                          dc.ARCHIVES[name].members, dc.ARCHIVES[name].done))
    monkeypatch.setattr(dc.time, "sleep", lambda s: None)
    return {"/" + dc.ARCHIVES[k].path: v for k, v in files.items()}


def test_downloads_resumes_and_unpacks_the_official_layout(archives, tmp_path: Path):
    images_url = "/" + dc.ARCHIVES["images"].path
    with Server(archives, cut={images_url}) as server:
        assert dc.main(["--root", str(tmp_path), "--base-url", server.url]) == 0
    assert len(list((tmp_path / "val2017").glob("*.jpg"))) == 39
    assert (tmp_path / "annotations" / "instances_val2017.json").is_file()
    assert not (tmp_path / "annotations" / "instances_train2017.json").exists()  # val members only
    assert (tmp_path / "annotations" / "panoptic_val2017.json").is_file()
    assert (tmp_path / "annotations" / "panoptic_val2017" / "000000000139.png").read_bytes() == b"png-bytes"
    assert not list(tmp_path.glob("*.zip*")) and not (tmp_path / "annotations" / "panoptic_val2017.zip").exists()
    image_requests = [rng for path, rng in server.requests if path == images_url]
    assert image_requests[0] is None and image_requests[1].startswith("bytes=") and image_requests[1] != "bytes=0-"


def test_a_part_file_is_resumed_with_range(archives, tmp_path: Path):
    url = "/" + dc.ARCHIVES["instances"].path
    data = archives[url]
    (tmp_path / "annotations_trainval2017.zip.part").write_bytes(data[:100])
    with Server(archives) as server:
        dc.fetch(server.url + url, tmp_path / "annotations_trainval2017.zip", hashlib.md5(data).hexdigest())
    assert server.requests == [(url, "bytes=100-")]
    assert (tmp_path / "annotations_trainval2017.zip").read_bytes() == data


def test_done_parts_are_skipped(archives, tmp_path: Path):
    with Server(archives) as server:
        assert dc.main(["--root", str(tmp_path), "--what", "instances", "--base-url", server.url]) == 0
        assert dc.main(["--root", str(tmp_path), "--what", "instances", "--base-url", server.url]) == 0
    assert len(server.requests) == 1


def test_checksum_mismatch_exit_2_and_removes_the_file(archives, tmp_path: Path, monkeypatch, capsys):
    old = dc.ARCHIVES["instances"]
    monkeypatch.setitem(dc.ARCHIVES, "instances", dc.Archive(old.path, "0" * 32, old.members, old.done))
    with Server(archives) as server:
        assert dc.main(["--root", str(tmp_path), "--what", "instances", "--base-url", server.url]) == 2
    assert "MD5" in capsys.readouterr().err
    assert not list(tmp_path.glob("annotations_trainval2017.zip*"))


def test_missing_file_and_unknown_part_exit_2(archives, tmp_path: Path, capsys):
    with Server({}) as server:
        assert dc.main(["--root", str(tmp_path), "--what", "panoptic", "--base-url", server.url]) == 2
    assert "HTTP 404" in capsys.readouterr().err
    assert dc.main(["--root", str(tmp_path), "--what", "stuff"]) == 2
    assert "unknown part" in capsys.readouterr().err
