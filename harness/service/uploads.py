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

from datetime import timedelta
from typing import Any

from harness.store import Store
from harness.store.rows import now

#: how long an archive's answer is remembered
KEEP = timedelta(days=30)


def seen(store: Store, digest: str, caller: str) -> list[dict[str, Any]] | None:
    """The runs the archive ``digest`` from ``caller`` was stored as, or None."""
    with store.reading("reading results uploads") as tx:
        answer = tx.uploads.answer(digest, caller)
    return None if answer is None else [{**run, "new": False} for run in answer]


def remember(store: Store, digest: str, caller: str, runs: list[dict[str, Any]]) -> None:
    """The archive ``digest`` from ``caller`` was stored as ``runs``; entries older than
    :data:`KEEP` go."""
    with store.transaction("remembering a results upload") as tx:
        tx.uploads.remember(digest, caller, runs)
        tx.uploads.forget_before(now() - KEEP)
