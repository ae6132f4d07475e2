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
    """One operator on one device of a run, over all its parameter sets, with test mode
    (``test-backend-ops test``: run against the CPU reference) and support mode
    (``test-backend-ops support``: asked, not run; what upstream's ``docs/ops.md`` counts)
    kept apart: a run that has both has each parameter set once in each mode."""

    device: str
    op: str
    cases: int  # test mode: parameter sets
    supported: int  # test mode: run (the others printed "not supported")
    passed: int  # test mode
    failed: int  # test mode
    support_cases: int = 0  # support mode: parameter sets
    support_supported: int = 0  # support mode: the backend said it supports them

    @property
    def unsupported(self) -> int:
        """Test mode: parameter sets the device did not run."""
        return self.cases - self.supported

    @property
    def support_unsupported(self) -> int:
        return self.support_cases - self.support_supported

    @property
    def support_status(self) -> str | None:
        """As ``docs/ops.md`` marks an op: ``supported`` (every parameter set), ``partial``
        (some), ``unsupported`` (none); None without support-mode rows."""
        if not self.support_cases:
            return None
        if self.support_supported == self.support_cases:
            return "supported"
        return "partial" if self.support_supported else "unsupported"

    @property
    def status(self) -> str:
        """``failing`` (a test-mode case failed), else from test mode where it ran:
        ``passing``, ``partial`` (some cases not supported), ``unsupported``; an op seen in
        support mode only has its :attr:`support_status` (never ``passing``: nothing ran)."""
        if self.failed:
            return "failing"
        if not self.cases:
            return self.support_status or "unsupported"
        if self.supported == 0:
            return "unsupported"
        return "partial" if self.unsupported else "passing"


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
    """Per (device, op) counts of a run, test and support mode apart; failing ops first,
    then by device and name."""
    c = op_results_t.c
    q = (
        select(
            c.device,
            c.op,
            c.mode,
            func.count(),
            func.sum(case((c.supported, 1), else_=0)),
            func.sum(case((c.passed.is_(True), 1), else_=0)),
            func.sum(case((c.passed.is_(False), 1), else_=0)),
        )
        .where(c.run_id == run_id, c.mode.in_(["test", "support"]))
        .group_by(c.device, c.op, c.mode)
    )
    rows = store._read(f"reading op coverage of run {run_id}", lambda conn: conn.execute(q).all())
    counts: dict[tuple[str, str], dict[str, tuple[int, int, int, int]]] = {}
    for device, op, mode, n, supported, passed, failed in rows:
        by_mode = counts.setdefault((device, op), {})
        by_mode[mode] = (int(n), int(supported or 0), int(passed or 0), int(failed or 0))
    out = []
    for (device, op), by_mode in counts.items():
        n, supported, passed, failed = by_mode.get("test", (0, 0, 0, 0))
        s_n, s_supported, _, _ = by_mode.get("support", (0, 0, 0, 0))
        out.append(OpCoverage(device, op, n, supported, passed, failed, s_n, s_supported))
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
