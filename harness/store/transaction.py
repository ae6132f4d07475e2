"""Units of work: what :meth:`Store.transaction` and :meth:`Store.reading` hand out.

A :class:`Transaction` holds one connection, inside one database transaction, and the
repositories that read and write the service's tables through it (queue, outbox,
ledger, pull requests, deliveries, rate limits, uploads): everything done through one
``tx`` commits together or not at all. Code outside :mod:`harness.store` says *what*
to do and *when*; the SQL lives in the repository modules beside this one.
"""

from __future__ import annotations

from functools import cached_property

from sqlalchemy import Connection

from harness.store.rate_limits import RateLimits
from harness.store.uploads import Uploads


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

    @cached_property
    def rate_limits(self) -> RateLimits:
        return RateLimits(self.connection)

    @cached_property
    def uploads(self) -> Uploads:
        return Uploads(self.connection)
