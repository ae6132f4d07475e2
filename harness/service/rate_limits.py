"""Rate limits shared by every worker (table ``rate_limits``), per reporter bucket.

A limit is a code host's (or a chat webhook's) answer to a credential, not to one
worker: when one worker meets it, every worker posting to that bucket (what the
reporter's ``bucket()`` names: a GitHub token or App installation, a chat webhook) waits
until the time the answer named. Limits in a row double the wait (up to an hour); a post
that succeeds ends the run of limits.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from harness.store import Store
from harness.store.rows import now

#: the longest a token waits after rate limits in a row
CAP_S = 3600.0
#: the wait when GitHub names none
DEFAULT_S = 60.0


def known(store: Store) -> dict[str, datetime]:
    """Every token or installation with a run of limits, and until when it waits (a time
    already past: its next post decides whether the run goes on or ends)."""
    with store.reading("reading rate limits") as tx:
        return tx.rate_limits.known()


def record(store: Store, key: str, hint_s: float | None) -> float:
    """``key`` met a limit; the delay every entry of it waits: what GitHub said the
    first time, doubling while the limits keep coming (capped)."""
    with store.transaction("recording a rate limit") as tx:
        n = tx.rate_limits.hit(key)
        base = hint_s if hint_s is not None else DEFAULT_S
        delay = float(min(CAP_S, max(base, base * 2 ** (n - 1))))
        tx.rate_limits.wait_until(key, now() + timedelta(seconds=delay))
        return delay


def clear(store: Store, key: str) -> None:
    """A post with ``key`` succeeded: its run of limits is over."""
    with store.transaction("clearing a rate limit") as tx:
        tx.rate_limits.clear(key)
