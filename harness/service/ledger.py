"""The missing-result ledger: every report the service owes (pull-request head x cell),
with a deadline.

A vendor CI that silently stops reporting is the top complaint about third-party CI. So
when a cell is queued for a pull request, a row is *promised* here (``owed``). When the
cell is done and its report is in the outbox the row is ``queued``; only when GitHub has
accepted the final status or check run of its context (the sender marks the outbox entry
sent) is it ``reported``. A report GitHub refuses for good (a dead letter) puts the row
back to ``owed``. A newer head marks it ``superseded``, a closed pull request
``cancelled``. Anything ``owed`` or ``queued`` after its deadline is overdue:
``GET /api/ledger?overdue=1`` lists it, ``/metrics`` counts it and the worker logs each
one once (``flagged_at``).
"""

from __future__ import annotations

from harness.store import Store
from harness.store.ledger import UNSETTLED, Owed

__all__ = ["UNSETTLED", "Owed", "counts", "flag_overdue", "list_owed"]


def list_owed(store: Store, *, overdue_only: bool = False, limit: int = 500) -> list[Owed]:
    with store.reading("reading the ledger") as r:
        return r.ledger.owed(overdue_only=overdue_only, limit=limit)


def flag_overdue(store: Store) -> list[Owed]:
    """Overdue reports not flagged before: marks and returns them (to be logged once)."""
    with store.transaction("flagging overdue reports") as tx:
        return tx.ledger.flag_overdue()


def counts(store: Store) -> dict[str, int]:
    """Rows per state, plus ``overdue``."""
    with store.reading("counting the ledger") as r:
        return r.ledger.counts()
