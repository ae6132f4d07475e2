"""Units of work: what :meth:`Store.transaction` and :meth:`Store.reading` hand out.

A :class:`Transaction` holds one connection, inside one database transaction, and the
repositories that read and write the service's tables through it (queue, outbox,
ledger, pull requests, deliveries, rate limits, uploads): everything done through one
``tx`` commits together or not at all. Code outside :mod:`harness.store` says *what*
to do and *when*; the SQL lives in the repository modules beside this one.
"""

from __future__ import annotations

import hashlib
from functools import cached_property

from sqlalchemy import Connection

from harness.store.attestations import Attestations
from harness.store.bisections import Bisections
from harness.store.deliveries import Deliveries
from harness.store.ledger import Ledger
from harness.store.outbox import Outbox
from harness.store.participation import Participations
from harness.store.pulls import Pulls
from harness.store.queue import Queue
from harness.store.rate_limits import RateLimits
from harness.store.uploads import Uploads
from harness.store.views import Views


class Transaction:
    """One unit of work: ``writing`` when it may change the database."""

    def __init__(self, connection: Connection, *, writing: bool) -> None:
        #: the unit of work's connection, for the repositories (and raw SQL in tests)
        self.connection = connection
        self.writing = writing

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return str(self.connection.dialect.name)

    def lock_name(self, name: str) -> None:
        """:meth:`lock` on a name (its key: the first 8 bytes of its SHA-256)."""
        digest = hashlib.sha256(name.encode()).digest()
        self.lock(int.from_bytes(digest[:8], "big", signed=True))

    def lock(self, key: int) -> None:
        """Hold lock ``key`` until this unit of work ends, where others wait for it
        (PostgreSQL: a transaction-scoped advisory lock; SQLite's write transaction
        already excludes every other writer)."""
        if self.dialect == "postgresql":
            self.connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({int(key)})")

    @cached_property
    def queue(self) -> Queue:
        return Queue(self.connection)

    @cached_property
    def outbox(self) -> Outbox:
        return Outbox(self.connection)

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.connection)

    @cached_property
    def pulls(self) -> Pulls:
        return Pulls(self.connection)

    @cached_property
    def deliveries(self) -> Deliveries:
        return Deliveries(self.connection)

    @cached_property
    def rate_limits(self) -> RateLimits:
        return RateLimits(self.connection)

    @cached_property
    def uploads(self) -> Uploads:
        return Uploads(self.connection)

    @cached_property
    def views(self) -> Views:
        """The dashboard's reads of runs and results."""
        return Views(self.connection)

    @cached_property
    def bisections(self) -> Bisections:
        """``harness bisect``'s searches and their probes."""
        return Bisections(self.connection)

    @cached_property
    def participation(self) -> Participations:
        """Upstreams' participation levels, their history and the SLOs' reads."""
        return Participations(self.connection)

    @cached_property
    def attestations(self) -> Attestations:
        """The runs' signed attestations (:mod:`harness.attest`)."""
        return Attestations(self.connection)
