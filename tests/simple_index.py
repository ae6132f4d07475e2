"""A real package index for tests: tiny wheels built here, served over HTTP with the
simple API's JSON form (PEP 691) and upload times (PEP 700).

uv only knows when a file was uploaded from an index that says so: a ``--find-links``
folder or a ``file://`` index carries no upload time (checked with uv 0.13: find-links
files stay eligible under ``--exclude-newer``, a ``file://`` index's are all excluded).
So resolving "as of a date" is tested against this server.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

JSON_TYPE = "application/vnd.pypi.simple.v1+json"


def build_wheel(dest: Path, name: str, version: str, body: str = "") -> Path:
    """A pure-Python wheel of one module ``name`` holding ``__version__`` (and ``body``)."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"__version__ = {version!r}\n{body}",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    path = dest / f"{name}-{version}-py3-none-any.whl"
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as whl:
        for rel, text in files.items():
            data = text.encode()
            whl.writestr(rel, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{rel},sha256={digest.decode()},{len(data)}")
        record.append(f"{dist}/RECORD,,")
        whl.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return path


@dataclass(frozen=True, slots=True)
class Release:
    wheel: Path
    #: RFC 3339 upload time the index reports
    uploaded: str


@dataclass(frozen=True, slots=True)
class Index:
    url: str  # .../simple


def _project_page(name: str, releases: list[Release]) -> bytes:
    files = [
        {
            "filename": r.wheel.name,
            "url": f"/files/{r.wheel.name}",
            "hashes": {"sha256": hashlib.sha256(r.wheel.read_bytes()).hexdigest()},
            "upload-time": r.uploaded,
        }
        for r in releases
    ]
    doc = {"meta": {"api-version": "1.1"}, "name": name, "files": files}
    return json.dumps(doc).encode()


@contextmanager
def serve_index(projects: dict[str, list[Release]]) -> Iterator[Index]:
    """An HTTP simple index of ``projects`` on a free port of 127.0.0.1 while in use."""
    wheels = {r.wheel.name: r.wheel for rels in projects.values() for r in rels}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer(send_body=True)

        def do_HEAD(self) -> None:  # uv asks before fetching a wheel's metadata
            self._answer(send_body=False)

        def _answer(self, *, send_body: bool) -> None:
            parts = [p for p in self.path.split("?")[0].split("/") if p]
            body: bytes | None = None
            kind = JSON_TYPE
            if len(parts) == 2 and parts[0] == "simple" and parts[1] in projects:
                body = _project_page(parts[1], projects[parts[1]])
            elif len(parts) == 2 and parts[0] == "files" and parts[1] in wheels:
                body, kind = wheels[parts[1]].read_bytes(), "application/octet-stream"
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Index(url=f"http://127.0.0.1:{server.server_address[1]}/simple")
    finally:
        server.shutdown()
        server.server_close()
