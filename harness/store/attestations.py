"""Table ``run_attestations``: the signed attestation each imported run's bundle carried
(a DSSE envelope), with the key that signed it, verified before it was stored."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Table, insert, select

from harness.store.models import RunAttestation
from harness.store.rows import now

attestations_t = cast(Table, RunAttestation.__table__)


@dataclass(frozen=True, slots=True)
class Attested:
    """A verified envelope, the id of the key that signed it and that key's runner."""

    envelope: dict[str, Any]
    key_id: str
    runner: str

    def as_json(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "runner": self.runner, "envelope": self.envelope}


class Attestations:
    """The runs' attestations, read and written through one unit of work's connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, run_id: int, attested: Attested) -> None:
        self.conn.execute(
            insert(attestations_t).values(
                run_id=run_id,
                key_id=attested.key_id,
                runner=attested.runner,
                envelope=attested.envelope,
                received_at=now(),
            )
        )

    def get(self, run_id: int) -> Attested | None:
        c = attestations_t.c
        row = self.conn.execute(
            select(c.envelope, c.key_id, c.runner).where(c.run_id == run_id)
        ).first()
        return None if row is None else Attested(dict(row.envelope), row.key_id, row.runner)

    def signed(self, run_ids: Iterable[int]) -> set[int]:
        """Which of ``run_ids`` have an attestation."""
        ids = list(run_ids)
        if not ids:
            return set()
        c = attestations_t.c
        return {
            int(r) for r in self.conn.execute(select(c.run_id).where(c.run_id.in_(ids))).scalars()
        }
