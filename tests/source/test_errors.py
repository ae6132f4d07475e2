"""Failures: unreachable or silent remotes, credentials, prompts, a missing git."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import EXIT_INFRA, SourceError
from tests.source.conftest import Prepare
from tests.source.util import git_out


def test_unreachable_url_fails_fast_with_masked_credentials(prepare: Prepare, cache: Path) -> None:
    start = time.monotonic()
    with pytest.raises(SourceError) as info:
        prepare("https://user:s3cret@127.0.0.1:9/nope.git")
    assert time.monotonic() - start < 20
    err = info.value
    text = str(err)
    assert "s3cret" not in text
    assert text.startswith("cannot fetch https://***@127.0.0.1:9/nope.git: fatal: ")
    assert "command: git --git-dir" in text
    assert "fetch --prune" in text
    assert "unreachable" in str(err.hint)
    assert err.exit_code == EXIT_INFRA
    # The mirror's config never holds the credentials.
    (mirror,) = (cache / "mirrors").glob("*.git")
    assert git_out("--git-dir", str(mirror), "config", "remote.origin.url") == (
        "https://127.0.0.1:9/nope.git"
    )


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conns.append(server.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield server.getsockname()[1]
    stop.set()
    t.join()
    for c in conns:
        c.close()
    server.close()


def test_silent_remote_times_out(prepare: Prepare, silent_server: int) -> None:
    start = time.monotonic()
    with pytest.raises(
        SourceError,
        match=r"cannot fetch http://127\.0\.0\.1:\d+/repo\.git: git did not finish in 1\.5 s",
    ) as info:
        prepare(f"http://127.0.0.1:{silent_server}/repo.git", git_timeout=1.5)
    assert time.monotonic() - start < 10
    assert "HARNESS_GIT_TIMEOUT" in str(info.value.hint)


@pytest.fixture
def auth_server() -> Iterator[int]:
    """An HTTP server that asks every request for a password."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="private"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_private_repository_never_prompts(prepare: Prepare, auth_server: int) -> None:
    start = time.monotonic()
    with pytest.raises(SourceError) as info:
        prepare(f"http://127.0.0.1:{auth_server}/private.git")
    assert time.monotonic() - start < 20
    assert "terminal prompts disabled" in str(info.value)
    assert "credential helper" in str(info.value.hint)


def test_not_a_repository(prepare: Prepare, tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    with pytest.raises(SourceError, match="cannot fetch") as info:
        prepare(str(tmp_path / "plain"), "main")
    assert "not point at a git repository" in str(info.value.hint)


def test_git_missing(prepare: Prepare, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(SourceError, match="git is not installed"):
        prepare("https://github.com/a/b")
