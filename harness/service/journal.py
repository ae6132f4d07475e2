"""The intake's journal: deliveries the database could not take in time, kept on local
disk until it can.

GitHub waits 10 s for an answer and never redelivers by itself, so the intake cannot
wait for a database that is locked (another process holding SQLite's write lock) or
away. It gives the database a short, bounded time (:data:`DB_WAIT_S`); when that is not
enough, the batch is appended to the journal (one file per batch, written, fsynced,
then renamed into place, so a crash leaves either the whole batch or nothing) and the
delivery is answered 202 with ``"journaled": true``. A loader thread moves journaled
batches into the database as soon as it answers (deliveries are stored once per id, so
a batch that reached the database both ways is stored once) and deletes each file only
after its batch is committed. Files left by a stopped server are loaded when the next
one starts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from harness.errors import StoreError
from harness.store import Store
from harness.store.deliveries import Delivery, record_deliveries

log = logging.getLogger("harness.service.journal")

#: how long a delivery waits for the database before it is journaled instead: short,
#: because a worker writing beside the intake (SQLite has one writer at a time) would
#: otherwise show in every acknowledgement's tail (bench/webhook_load.py --busy-worker:
#: p99 2 s with 2 s here, 110 ms with 50 ms)
DB_WAIT_S = 0.05
SUFFIX = ".jsonl"


class Journal:
    """Journaled batches in ``directory`` (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = threading.Lock()
        #: batches on disk not yet in the database (known without listing the directory:
        #: the intake asks for every batch)
        self._waiting = len(self.pending())
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._store: Store | None = None

    def append(self, batch: Sequence[Delivery]) -> Path:
        """Write ``batch`` durably; returns its file."""
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        tmp = self.directory / f".{name}.tmp"
        final = self.directory / f"{name}{SUFFIX}"
        lines = "".join(
            json.dumps(
                {
                    "delivery_id": d.delivery_id,
                    "event": d.event,
                    "action": d.action,
                    "repository": d.repository,
                    "payload": d.payload,
                }
            )
            + "\n"
            for d in batch
        )
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(lines)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, final)
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        with self._lock:
            self._waiting += 1
        self._wake.set()
        return final

    @property
    def waiting(self) -> int:
        """Journaled batches not yet loaded into the database."""
        return self._waiting

    def pending(self) -> list[Path]:
        return sorted(p for p in self.directory.glob(f"*{SUFFIX}") if p.is_file())

    def load_into(self, store: Store) -> int:
        """Move journaled batches into ``store``, oldest first; how many deliveries.
        Stops at the first batch the database does not take (tried again later)."""
        loaded = 0
        for path in self.pending():
            batch = [Delivery(**json.loads(line)) for line in path.read_text().splitlines()]
            try:
                record_deliveries(store, batch)
            except StoreError as exc:
                log.warning("journal: the database does not take deliveries yet: %s", exc)
                break
            path.unlink()
            with self._lock:
                self._waiting -= 1
            loaded += len(batch)
            log.info("journal: %d delivery(ies) from %s now in the database", len(batch), path)
        return loaded

    def start(self, store: Store, interval_s: float = 1.0) -> None:
        """The loader thread: loads what is pending now and whenever a batch is added."""

        def run() -> None:
            while not self._stop.is_set():
                if self.waiting:
                    try:
                        self.load_into(store)
                    except Exception:  # never let the loader die
                        log.exception("journal: loading failed; trying again")
                self._wake.wait(interval_s)
                self._wake.clear()

        self._store = store
        self._thread = threading.Thread(target=run, name="journal-loader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the loader after one last try to load what is pending (what stays is
        loaded by the next server)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
            if self._store is not None and self.waiting:
                with contextlib.suppress(Exception):
                    self.load_into(self._store)
