"""Parse a result file and store it: the one place the runner (and the benchmark) do it.

Large files are parsed in a separate process that hands batches of results to this one
over a pipe, so parsing (lxml) and storing (the database driver) run on two cores at
once instead of taking turns for the GIL. Memory stays bounded: the pipe holds at most
about one batch, and neither side keeps more. Small files are parsed inline, where a
worker process would cost more than it saves.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

from harness import failpoints
from harness.results import ResultStream, parse
from harness.results.model import Outcome, ParseReport, TestResult

if TYPE_CHECKING:
    from harness.store import Store

#: Files at least this big are parsed in a worker process.
WORKER_THRESHOLD_BYTES = 4 << 20
BATCH = 5000
#: ... or fewer when their ids and messages weigh this much (bounded memory whatever
#: the row sizes: 5000 rows of 64 KB messages would be 320 MB)
BATCH_BYTES = 2 << 20
_FAILING = frozenset({Outcome.FAILED.value, Outcome.ERROR.value})


def ingest_file(store: Store, run_id: int, path: Path, fmt: str) -> ParseReport:
    """Parse ``path`` (format ``fmt``) into run ``run_id``; returns the parse report.

    Raises what :func:`harness.results.parse` raises (unknown format, missing file).
    """
    stream = parse(path, fmt)  # validates format and path in this process
    if path.stat().st_size < WORKER_THRESHOLD_BYTES:
        store.add_results(run_id, stream)
        report = stream.report
    else:
        worker = WorkerStream(path, fmt)
        store.add_result_rows(run_id, worker.batches())
        report = worker.report
    failpoints.hit("ingest.stored")
    return report


def _produce(path: str, fmt: str, conn: Connection) -> None:
    """Worker process: parse and send lists of plain tuples, then the report."""
    try:
        stream: ResultStream = parse(Path(path), fmt)
        batch: list[tuple[str, str, float, str | None]] = []
        weight = 0
        for test_id, outcome, duration_s, message in stream:
            if "\x00" in test_id or (message and "\x00" in message):
                clean_id = test_id.replace("\x00", "\ufffd")
                clean_msg = message and message.replace("\x00", "\ufffd")
                batch.append((clean_id, outcome.value, duration_s, clean_msg))
            else:
                batch.append((test_id, outcome.value, duration_s, message))
            weight += len(test_id) + (len(message) if message else 0)
            if len(batch) >= BATCH or weight >= BATCH_BYTES:
                conn.send(batch)
                batch, weight = [], 0
                failpoints.hit("parse.sent")
        if batch:
            conn.send(batch)
        rep = stream.report
        conn.send(("report", rep.cases, rep.crashed, rep.crash_reason, dict(rep.counts)))
    except BaseException as exc:  # reported to the parent, which raises
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


class WorkerStream:
    """Results of a file parsed in a worker process; ``report`` is set at the end."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.path = path
        self.report = ParseReport(path=str(path), format=fmt)
        self._fmt = fmt

    def __iter__(self) -> Iterator[TestResult]:
        outcomes = {o.value: o for o in Outcome}
        for batch in self.batches():
            for test_id, outcome, duration_s, message in batch:
                yield TestResult(test_id, outcomes[outcome], duration_s, message)

    def batches(self) -> Iterator[list[tuple[str, str, float, str | None]]]:
        """The results as the worker sends them: lists of plain row tuples."""
        ctx = mp.get_context("spawn")  # never fork a process that has threads
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=_produce,
            args=(str(self.path), self._fmt, child),
            name="harness-parse",
            daemon=True,
        )
        proc.start()
        child.close()
        counts = self.report.counts
        try:
            while True:
                try:
                    msg = parent.recv()
                except EOFError:
                    self._crashed("the parser process ended without a report")
                    return
                if isinstance(msg, list):
                    for row in msg:  # counted here too: a parser that dies sends no report
                        counts[row[1]] = counts.get(row[1], 0) + 1
                        if row[1] in _FAILING:
                            self.report.note_failing(row[0])
                    self.report.cases += len(msg)
                    yield msg
                    continue
                if msg[0] == "error":  # what it sent is stored and counted: a crash mark
                    self._crashed(f"the parser process failed: {msg[1][:200]}")
                    return
                _, _cases, crashed, reason, _counts = msg  # the same as counted here
                self.report.crashed = crashed
                self.report.crash_reason = reason
                return
        finally:
            parent.close()
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()

    def _crashed(self, reason: str) -> None:
        self.report.crashed = True
        self.report.crash_reason = f"{self.path.name}: {reason}"
