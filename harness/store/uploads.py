"""Table ``results_uploads``: the answer given to each results archive, by its SHA-256
and who sent it (what a replay is answered with: :mod:`harness.service.uploads`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from harness.store.models import ResultsUpload
from harness.store.rows import now

uploads_t = cast(Table, ResultsUpload.__table__)


class Uploads:
    """The uploads, read and written through one unit of work's connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def answer(self, digest: str, caller: str) -> list[dict[str, Any]] | None:
        """The runs the archive ``digest`` from ``caller`` was stored as, or None."""
        c = uploads_t.c
        q = select(c.answer).where(c.digest == digest, c.caller == caller)
        text = self.conn.execute(q).scalar()
        return None if text is None else list(json.loads(text))

    def remember(self, digest: str, caller: str, runs: list[dict[str, Any]]) -> None:
        """The first answer to ``digest`` from ``caller`` (a concurrent one is kept)."""
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        row = dialect.insert(uploads_t).values(
            digest=digest, caller=caller, answer=json.dumps(runs), received_at=now()
        )
        self.conn.execute(row.on_conflict_do_nothing(index_elements=["digest", "caller"]))

    def forget_before(self, when: datetime) -> None:
        self.conn.execute(delete(uploads_t).where(uploads_t.c.received_at < when))
