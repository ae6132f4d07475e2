"""A GitHub REST API stand-in for tests: Prism serving GitHub's official OpenAPI
description (``@stoplight/prism-cli`` + ``@octokit/openapi``, installed from npm by
.ci/run), behind a small recording proxy of ours.

Prism validates every request against the spec (a wrong enum or a missing required field
is a 422) and answers with the spec's example bodies. The proxy

* rewrites ``https://api.github.com`` in bodies and headers to its own URL, so that
  PyGithub's follow-up calls (which use the ``url`` fields of responses) come back here;
* drops ``Link`` headers (the examples link to ``/resource?page=2``);
* asks Prism for ``application/json`` where a client asked for one of GitHub's preview
  media types (Prism cannot produce those; GitHub answers them);
* records every request (method, path, JSON body, auth scheme, status answered) for
  tests to assert what the harness sent;
* can answer the next matching requests itself with a failure (``fail_next``) to play a
  GitHub outage or a rate limit, or drop every connection while ``down`` is set (the API
  unreachable);
* with ``stateful`` set, remembers the statuses and comments GitHub accepted and answers
  the calls that list them from what it remembers (Prism's answers are static examples),
  giving each created comment an id of its own: what a sender that died mid-post sees when
  it looks before posting again.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from tests.llama_cpp import cache_root

PRISM_VERSION = "5.14.2"
OPENAPI_VERSION = "23.0.2"
GITHUB = "https://api.github.com"


def npm_root() -> Path:
    return Path(os.environ.get("HARNESS_NPM_DIR") or cache_root() / "npm") / "node_modules"


def prism_paths() -> tuple[Path, Path] | None:
    """(prism executable, spec) when both are installed."""
    root = npm_root()
    prism = root / ".bin" / "prism"
    spec = root / "@octokit" / "openapi" / "generated" / "api.github.com.json"
    if prism.exists() and spec.is_file() and shutil.which("node"):
        return prism, spec
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Recorded:
    method: str
    path: str
    body: Any
    auth: str | None
    status: int
    #: when it was answered (0 status: never answered, the connection dropped)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class _Fault:
    method: str
    path: re.Pattern[str]
    status: int
    headers: dict[str, str]
    body: Any
    left: int
    #: only requests whose JSON body this accepts (None: every one)
    when: Callable[[Any], bool] | None = None


_STATUS_POST = re.compile(r"^/repos/([^/]+/[^/]+)/statuses/([0-9a-f]{40})$")
_STATUS_LIST = re.compile(r"^/repos/([^/]+/[^/]+)/commits/([0-9a-f]{40})/statuses(\?.*)?$")
_COMMENT_POST = re.compile(r"^/repos/([^/]+/[^/]+)/issues/(\d+)/comments(\?.*)?$")
_COMMENT_ONE = re.compile(r"^/repos/([^/]+/[^/]+)/issues/comments/(\d+)(\?.*)?$")


@dataclass
class GitHubState:
    """What the stand-in's GitHub holds: statuses per (repository, sha), newest last, and
    comments per (repository, issue) with their ids."""

    statuses: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    comments: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    next_comment_id: int = 1000

    def comment(self, comment_id: int) -> dict[str, Any] | None:
        for listed in self.comments.values():
            for c in listed:
                if c["id"] == comment_id:
                    return c
        return None


@dataclass
class Recorder:
    upstream: str
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    faults: list[_Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: drop every connection unanswered (the API unreachable)
    down: bool = False
    #: answer the listing calls from what GitHub accepted (see the module docstring)
    stateful: bool = False
    state: GitHubState = field(default_factory=GitHubState)

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()
            self.faults.clear()
            self.down = self.stateful = False
            self.state = GitHubState()

    def accepted(self, method: str, path_regex: str) -> list[Recorded]:
        """Like :meth:`matching`, only the requests GitHub accepted (2xx)."""
        return [r for r in self.matching(method, path_regex) if 200 <= r.status < 300]

    def _from_state(self, method: str, path: str) -> tuple[int, Any] | None:
        """An answer from the remembered state for the calls that list or read it."""
        if not self.stateful or method != "GET":
            return None
        with self.lock:
            if m := _STATUS_LIST.match(path):
                listed = self.state.statuses.get((m.group(1), m.group(2)), [])
                return 200, list(reversed(listed))  # newest first, as GitHub lists them
            if m := _COMMENT_POST.match(path):
                return 200, list(self.state.comments.get((m.group(1), int(m.group(2))), []))
            if m := _COMMENT_ONE.match(path):
                found = self.state.comment(int(m.group(2)))
                return (200, found) if found else (404, {"message": "Not Found"})
        return None

    def _remember(self, method: str, path: str, body: Any, answer: Any) -> Any:
        """Keep what GitHub accepted; returns the answer, with a created comment's id."""
        if not self.stateful or not isinstance(answer, dict) or not isinstance(body, dict):
            return answer
        with self.lock:
            if method == "POST" and (m := _STATUS_POST.match(path)):
                status = {**answer, **{k: body.get(k) for k in _STATUS_FIELDS}}
                self.state.statuses.setdefault((m.group(1), m.group(2)), []).append(status)
                return status
            if method == "POST" and (m := _COMMENT_POST.match(path)):
                self.state.next_comment_id += 1
                cid = self.state.next_comment_id
                url = f"{self.url}/repos/{m.group(1)}/issues/comments/{cid}"
                comment = {**answer, "id": cid, "url": url, "body": body.get("body")}
                self.state.comments.setdefault((m.group(1), int(m.group(2))), []).append(comment)
                return comment
            if method == "PATCH" and (m := _COMMENT_ONE.match(path)):
                found = self.state.comment(int(m.group(2)))
                if found is not None:
                    found["body"] = body.get("body")
                    return found
        return answer

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        count: int = 1,
        headers: dict[str, str] | None = None,
        message: str = "stand-in failure",
        when: Callable[[Any], bool] | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests (whose body ``when`` accepts) with
        ``status`` (an outage, a rate limit) instead of passing them to Prism."""
        self.answer_next(
            method, path_regex, status, {"message": message}, count=count, headers=headers,
            when=when,
        )  # fmt: skip

    def answer_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        body: Any,
        *,
        count: int = 1,
        headers: dict[str, str] | None = None,
        when: Callable[[Any], bool] | None = None,
    ) -> None:
        """Answer the next matching requests with this body (a state Prism's static
        examples cannot show, such as an existing comment of ours)."""
        with self.lock:
            self.faults.append(
                _Fault(method, re.compile(path_regex), status, headers or {}, body, count, when)
            )

    def writes(self) -> list[Recorded]:
        """Requests that change something (not GETs), answered or not."""
        with self.lock:
            return [r for r in self.requests if r.method != "GET"]

    def matching(self, method: str, path_regex: str) -> list[Recorded]:
        rx = re.compile(path_regex)
        with self.lock:
            return [r for r in self.requests if r.method == method and rx.search(r.path)]

    def _fault_for(self, method: str, path: str, body: Any) -> _Fault | None:
        with self.lock:
            for f in self.faults:
                if (
                    f.left > 0
                    and f.method == method
                    and f.path.search(path)
                    and (f.when is None or f.when(body))
                ):
                    f.left -= 1
                    return f
        return None


_STATUS_FIELDS = ("state", "context", "description", "target_url")


def _handler(rec: Recorder) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _do(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            auth = self.headers.get("Authorization")
            scheme = auth.split()[0].lower() if auth else None
            if rec.down:  # unreachable: the connection drops unanswered
                with rec.lock:
                    rec.requests.append(Recorded(self.command, self.path, body, scheme, 0))
                self.close_connection = True
                return
            fault = rec._fault_for(self.command, self.path, body)
            remembered = rec._from_state(self.command, self.path)
            if fault is not None:
                out = json.dumps(fault.body).encode()
                status, headers = (
                    fault.status,
                    {"Content-Type": "application/json", **fault.headers},
                )
            elif remembered is not None:
                status, headers = remembered[0], {"Content-Type": "application/json"}
                out = json.dumps(remembered[1]).encode()
            else:
                hdrs = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in {"host", "content-length", "accept-encoding"}
                }
                # Prism serves application/json only; GitHub also answers its preview
                # media types (PyGithub asks for one when it gets installation tokens)
                if "vnd.github" in hdrs.get("Accept", ""):
                    hdrs["Accept"] = "application/json"
                r = requests.request(
                    self.command, rec.upstream + self.path, headers=hdrs, data=raw or None,
                    allow_redirects=False, timeout=30,
                )  # fmt: skip
                out = r.content.replace(GITHUB.encode(), rec.url.encode())
                status = r.status_code
                headers = {
                    k: v.replace(GITHUB, rec.url)
                    for k, v in r.headers.items()
                    if k.lower()
                    not in {
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "content-encoding",
                        "link",
                    }
                }
                if 200 <= status < 300 and rec.stateful:
                    answer = json.loads(out) if out else None
                    kept = rec._remember(self.command, self.path, body, answer)
                    if kept is not answer:
                        out = json.dumps(kept).encode()
            with rec.lock:
                rec.requests.append(Recorded(self.command, self.path, body, scheme, status))
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _do

        def log_message(self, *args: object) -> None:
            pass

    return Handler


class GitHubStandIn:
    """Prism + the recording proxy; ``url`` is what clients use as the API base URL."""

    def __init__(self, prism: Path, spec: Path, log_dir: Path) -> None:
        self.prism_port, self.port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.recorder = Recorder(upstream=f"http://127.0.0.1:{self.prism_port}", url=self.url)
        self._log = (log_dir / "prism.log").open("wb")
        self._proc = subprocess.Popen(
            [
                str(prism),
                "mock",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.prism_port),
                "-v",
                "warn",
                str(spec),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", self.port), _handler(self.recorder)
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self._wait(log_dir / "prism.log")

    def _wait(self, log: Path, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"prism exited: {log.read_text()[-2000:]}")
            try:
                r = requests.get(f"{self.recorder.upstream}/rate_limit", timeout=2)
                if r.status_code < 500:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"prism did not answer within {timeout}s: {log.read_text()[-2000:]}")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        self._log.close()


def start_standin(log_dir: Path) -> Iterator[GitHubStandIn]:
    paths = prism_paths()
    assert paths is not None
    standin = GitHubStandIn(*paths, log_dir)
    try:
        yield standin
    finally:
        standin.close()
