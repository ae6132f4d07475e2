"""Archives ``POST /api/results`` already stored (table ``results_uploads``).

A runner that resends (its first answer was lost) or an attacker replaying a signed
archive sends the very same bytes again. The archive's SHA-256, computed while it
streams to disk, and who sent it (the HMAC secret, or the workflow run of an OIDC
token) find the first answer, which is given again without unpacking, validating or
storing anything. Another caller with the same bytes is checked as any first sender is
(an OIDC token of another workflow run is refused by the bundles' origin). Entries are
kept :data:`KEEP` long; after that a replay is unpacked again and answers the runs
already stored (bundle ids keep ingest idempotent whatever this table holds).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from harness.service.queue import now
from harness.store import Store
from harness.store.models import ResultsUpload

uploads_t = cast(Table, ResultsUpload.__table__)
#: how long an archive's answer is remembered
KEEP = timedelta(days=30)


def seen(store: Store, digest: str, caller: str) -> list[dict[str, Any]] | None:
    """The runs the archive ``digest`` from ``caller`` was stored as, or None."""
    c = uploads_t.c
    q = select(c.answer).where(c.digest == digest, c.caller == caller)
    answer = store._read("reading results uploads", lambda conn: conn.execute(q).scalar())
    if answer is None:
        return None
    return [{**run, "new": False} for run in json.loads(answer)]


def remember(store: Store, digest: str, caller: str, runs: list[dict[str, Any]]) -> None:
    """The archive ``digest`` from ``caller`` was stored as ``runs``; entries older than
    :data:`KEEP` go."""
    c = uploads_t.c

    def _txn(conn: Connection) -> None:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        row = dialect.insert(uploads_t).values(
            digest=digest, caller=caller, answer=json.dumps(runs), received_at=now()
        )
        conn.execute(row.on_conflict_do_nothing(index_elements=["digest", "caller"]))
        conn.execute(delete(uploads_t).where(c.received_at < now() - KEEP))

    store._write("remembering a results upload", _txn)
