"""Op coverage per run: which operators a backend supports and passes, and which ran on
the CPU instead. Written while a run's result files and logs are ingested; read by
``harness runs show`` and the dashboard.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from typing import cast

from sqlalchemy import Connection, Table, case, func, insert, select

from harness.results.backend_ops import OpRecord
from harness.store.models import OpFallback, OpResult
from harness.store.repository import Store

op_results_t = cast(Table, OpResult.__table__)
op_fallbacks_t = cast(Table, OpFallback.__table__)
BATCH = 5000


@dataclass(frozen=True, slots=True)
class OpCoverage:
    """One operator on one device of a run, over all its parameter sets."""

    device: str
    op: str
    cases: int  # parameter sets seen (any mode)
    supported: int  # in support mode, or tested (test mode)
    passed: int  # test mode
    failed: int  # test mode
    unsupported: int

    @property
    def status(self) -> str:
        """``passing``, ``failing``, ``partial`` (some cases unsupported), ``unsupported``."""
        if self.failed:
            return "failing"
        if self.supported == 0:
            return "unsupported"
        if self.unsupported:
            return "partial"
        return "passing" if self.passed or self.supported else "unsupported"


def add_op_records(store: Store, run_id: int, records: Iterable[OpRecord]) -> int:
    """Store ``records`` for ``run_id`` in batches; returns how many."""
    total = 0
    it = iter(records)
    while True:
        batch = list(islice(it, BATCH))
        if not batch:
            return total
        rows: list[dict[str, object]] = [
            {
                "run_id": run_id,
                "device": r.backend[:64],
                "op": r.op[:128],
                "params": r.params,
                "mode": r.mode,
                "supported": r.supported,
                "passed": r.passed,
                "message": r.message,
            }
            for r in batch
        ]

        def _insert(conn: Connection, rows: list[dict[str, object]] = rows) -> None:
            conn.execute(insert(op_results_t), rows)

        store._write(f"storing op results of run {run_id}", _insert)
        total += len(batch)


def op_coverage(store: Store, run_id: int) -> list[OpCoverage]:
    """Per (device, op) aggregates of a run, failing ops first, then by name."""
    c = op_results_t.c
    q = (
        select(
            c.device,
            c.op,
            func.count(),
            func.sum(case((c.supported, 1), else_=0)),
            func.sum(case((c.passed.is_(True), 1), else_=0)),
            func.sum(case((c.passed.is_(False), 1), else_=0)),
            func.sum(case((c.supported, 0), else_=1)),
        )
        .where(c.run_id == run_id, c.mode.in_(["test", "support"]))
        .group_by(c.device, c.op)
    )
    rows = store._read(f"reading op coverage of run {run_id}", lambda conn: conn.execute(q).all())
    out = [
        OpCoverage(d, op, int(n), int(s), int(p), int(f), int(u)) for d, op, n, s, p, f, u in rows
    ]
    out.sort(key=lambda o: (o.status != "failing", o.device, o.op))
    return out


def add_fallbacks(store: Store, run_id: int, found: Counter[tuple[str, str]]) -> None:
    if not found:
        return
    rows = [
        {"run_id": run_id, "backend": backend[:50], "op": op, "count": n}
        for (backend, op), n in sorted(found.items())
    ]

    def _insert(conn: Connection) -> None:
        conn.execute(insert(op_fallbacks_t), rows)

    store._write(f"storing CPU fallbacks of run {run_id}", _insert)


def fallbacks(store: Store, run_id: int) -> list[tuple[str, str, int]]:
    """(backend, operator, warnings) of a run, most frequent first."""
    c = op_fallbacks_t.c
    q = select(c.backend, c.op, c.count).where(c.run_id == run_id).order_by(c.count.desc(), c.op)
    rows = store._read(f"reading CPU fallbacks of run {run_id}", lambda conn: conn.execute(q).all())
    return [(b, op, int(n)) for b, op, n in rows]
