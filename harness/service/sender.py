"""Deliver outbox entries through their reporters (:mod:`harness.codehost.reporters`).

Each due entry goes to the reporter that declares its ``kind`` (GitHub: statuses, check
runs, the PR comment; chat: notifications; plugins: theirs); what the target says back
is the reporter's to classify (:class:`harness.codehost.Failure`), what follows is the
sender's, the same for every reporter:

* success: the entry is ``sent`` (and the ledger learns of a final report, in the same
  transaction);
* a failure worth retrying: back to ``pending`` after the delay the target named
  (Retry-After) or exponential backoff;
* a rejection: ``dead``, listed for the operator (``harness outbox retry``);
* a rate limit holds back every entry of the same :meth:`~harness.codehost.Reporter.
  bucket` (a token, an installation, a webhook), not only the one that met it, in every
  worker (:mod:`harness.service.rate_limits`), until the time the target named; limits
  in a row double the wait (up to an hour); a success resets it.

A sender can die between the target accepting an entry and the outbox marking it sent;
the next sender takes it again with ``resumed`` set, and a reporter that can look before
posting again does (GitHub: :mod:`harness.codehost.github.reporter`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from harness import failpoints
from harness.codehost import Reporter
from harness.codehost.reporters import by_kind
from harness.service import outbox, rate_limits
from harness.store import Store, Transaction

log = logging.getLogger("harness.service.sender")

#: how long an entry whose reporter is not configured here waits before it is looked at
UNCONFIGURED_WAIT_S = 300.0


@runtime_checkable
class ReporterProvider(Protocol):
    """A code host connection that provides a reporter (a GitHub client)."""

    def reporter(self, store: Store) -> Reporter: ...


Reporters = Mapping[str, Reporter] | Iterable[Reporter] | Reporter | ReporterProvider


def reporters_of(store: Store, given: Reporters) -> list[Reporter]:
    """``given`` as a list of reporters: a mapping's values, one reporter, or a
    connection's reporter."""
    if isinstance(given, Reporter):
        return [given]
    if isinstance(given, ReporterProvider):
        return [given.reporter(store)]
    if isinstance(given, Mapping):
        return list(given.values())
    return list(given)


@dataclass(frozen=True, slots=True)
class SendResult:
    sent: int = 0
    retried: int = 0
    dead: int = 0


class Sender:
    def __init__(self, store: Store, reporters: Reporters, owner: str, lease_s: float = 120):
        self.store = store
        self.reporters = reporters_of(store, reporters)
        #: entry kind → its reporter
        self.by_kind = by_kind(self.reporters)
        self.owner = owner
        self.lease_s = lease_s

    def send_due(self, limit: int = 20) -> SendResult:
        """Deliver what is due; never raises for a target's failures (they are rescheduled)."""
        sent = retried = dead = 0
        entries = outbox.claim_due(self.store, self.owner, self.lease_s, limit)
        limited = rate_limits.known(self.store) if entries else {}
        for entry in entries:
            reporter = self.by_kind.get(entry.kind)
            if reporter is None:  # its reporter is not configured in this worker
                outbox.mark_retry(
                    self.store,
                    entry,
                    f"held back: no reporter for {entry.kind!r} entries is configured here",
                    UNCONFIGURED_WAIT_S,
                )
                retried += 1
                continue
            who = reporter.bucket(entry)
            until = limited.get(who)
            if until is not None and until > datetime.now(UTC):
                # its token is rate limited (met here or by another worker): do not
                # make it worse
                wait = (until - datetime.now(UTC)).total_seconds()
                outbox.mark_retry(
                    self.store, entry, f"held back: rate limited until {until:%H:%M:%S}", wait
                )
                retried += 1
                continue
            failpoints.hit("sender.posting", f"sender.posting.{entry.kind}")
            try:
                reporter.deliver(entry)
            except Exception as exc:  # every failure is classified, none escapes
                failure = reporter.classify(exc)
                what = f"{entry.kind} {entry.key} for {entry.repository}"
                if failure.retry:
                    delay = failure.delay_s
                    if failure.rate_limited:
                        delay = rate_limits.record(self.store, who, failure.delay_s)
                        limited[who] = datetime.now(UTC) + timedelta(seconds=delay)
                    when = outbox.mark_retry(self.store, entry, failure.message, delay)
                    log.warning(
                        "posting %s failed (attempt %d): %s; retrying at %s",
                        what,
                        entry.attempts,
                        failure.message,
                        when.isoformat(timespec="seconds"),
                    )
                    retried += 1
                else:
                    outbox.mark_dead(self.store, entry.id, failure.message, self._ledger(entry))
                    log.error(
                        "posting %s rejected, not retried: %s (re-send with `harness outbox "
                        "retry %d` once fixed)",
                        what,
                        failure.message,
                        entry.id,
                    )
                    dead += 1
                continue
            is_final = outbox.final_report(entry.kind, entry.payload) is not None
            final = ("sender.posted.final",) if is_final else ()
            failpoints.hit(*final, f"sender.posted.{entry.kind}", "sender.posted")
            outbox.mark_sent(self.store, entry.id, self._ledger(entry, accepted=True))
            if limited.pop(who, None) is not None:  # over: the next one starts afresh
                rate_limits.clear(self.store, who)
            log.info("posted %s %s to %s", entry.kind, entry.key, entry.repository)
            sent += 1
        return SendResult(sent, retried, dead)

    @staticmethod
    def _ledger(
        entry: outbox.Entry, accepted: bool = False
    ) -> Callable[[Transaction], object] | None:
        """What the ledger learns from ``entry``'s fate, in the same transaction."""
        final = outbox.final_report(entry.kind, entry.payload)
        if final is None:
            return None
        sha, context = final
        if accepted:
            return lambda tx: tx.ledger.accepted(entry.repository, sha, context)
        return lambda tx: tx.ledger.refused(entry.repository, sha, context)
