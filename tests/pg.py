"""A throwaway PostgreSQL cluster for the tests (Debian: ``apt-get install postgresql``).

``initdb`` into a temporary directory, ``postgres`` listening on 127.0.0.1 at a free port
(and a Unix socket in that directory), durability off for speed. initdb and postgres
refuse to run as root, so as root (CI) both run as the ``postgres`` system user the
Debian package creates (``nobody`` without it) via ``setpriv``, which execs: the process
we start is the server itself and stopping it is one signal.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

DATABASE = "harness_test"


def find_pg_bin() -> Path | None:
    """The directory holding ``initdb`` and ``postgres``, or ``None``."""
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(Path(out.stdout.strip()))
    # Debian keeps the server binaries off PATH; newest major version first.
    found = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(map(Path, found), key=lambda p: int(p.parent.name), reverse=True)
    if exe := shutil.which("initdb"):
        candidates.append(Path(exe).resolve().parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return bindir
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresCluster:
    """``with PostgresCluster(bindir) as pg: pg.url()``: started and removed again."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.drop: list[str] = []
        if os.geteuid() != 0:
            self.root = Path(tempfile.mkdtemp(prefix="harness-pg-"))
        else:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                user = pwd.getpwnam("nobody")
            uid, gid = user.pw_uid, user.pw_gid
            self.drop = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]
            # /tmp, not $TMPDIR: that user must be able to reach the directory
            self.root = Path(tempfile.mkdtemp(prefix="harness-pg-", dir="/tmp"))
            os.chown(self.root, uid, gid)
        self.data = self.root / "data"
        self.log = self.root / "server.log"

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> str:
        """Create and start the cluster and its ``harness_test`` database; returns its URL."""
        atexit.register(self.stop)
        self._run("initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8")
        for _attempt in range(5):  # another process may take the free port first
            self.port = _free_port()
            if self._start_server():
                break
        else:
            raise RuntimeError(f"PostgreSQL did not start:\n{self.log.read_text()[-3000:]}")
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", DATABASE)
        return self.url()

    def _run(self, tool: str, *args: str | Path) -> None:
        argv = [str(self.bindir / tool), *map(str, args)]
        if tool == "initdb":
            argv = [*self.drop, *argv, "--no-sync", "--locale=C"]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")

    def _start_server(self) -> bool:
        """Start postgres on ``self.port``; False when the port was taken."""
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.root),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
        }
        argv = [*self.drop, str(self.bindir / "postgres"), "-D", str(self.data)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        ready = [str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if "could not bind" in self.log.read_text():
                    return False
                raise RuntimeError(f"PostgreSQL exited:\n{self.log.read_text()[-3000:]}")
            if subprocess.run(ready, check=False).returncode == 0:
                return True
            time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL not ready after 60 s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """Fast shutdown (clients are disconnected), then remove every file."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)
        atexit.unregister(self.stop)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
