"""Code hosts and notification channels, behind small interfaces (drivers).

The core of the service (intake, queue, dispatch, trust, verdict, outbox) talks to the
outside world only through the protocols declared here; what a code host's API and
webhook payloads look like lives in its driver package (GitHub: :mod:`harness.codehost.
github`, the only place that imports PyGithub). Modelled on Zuul's drivers:

* :class:`Trigger`: a webhook request → the harness's own events (:mod:`harness.
  codehost.events`): checks the request's signature, names the delivery, parses its
  payload. The intake stores deliveries; the dispatcher applies parsed events.
* :class:`Source`: what the host knows about a repository — a ref's commit, a pull
  request's head, the merge base of two commits, a user's permission.
* :class:`Reporter`: delivers one outbox entry (a commit status, a check run, the PR
  comment, a chat message). Reporters are looked up by name in a registry
  (:mod:`harness.codehost.reporters`, entry-point group ``harness.reporters``); the
  sender (:mod:`harness.service.sender`) hands each due entry to the reporter that
  declares its ``kind`` and owns retries, backoff, rate-limit hold-back and dead letters.

A reporter delivers *exactly once where the target can be asked* (GitHub: a resumed
entry looks for what it may already have posted) and *at least once* where it cannot (an
incoming chat webhook: a sender killed between the POST and marking the entry sent posts
that message again).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from harness.codehost.events import Event, PayloadError

__all__ = [
    "DeliveryHeader",
    "Event",
    "Failure",
    "OutboxItem",
    "PayloadError",
    "Reporter",
    "Source",
    "Trigger",
]


@dataclass(frozen=True, slots=True)
class Failure:
    """What a failed delivery means for the outbox."""

    retry: bool
    #: when to try again, if the target said (Retry-After, a rate-limit reset)
    delay_s: float | None
    message: str
    #: a rate limit: every entry of the same :meth:`Reporter.bucket` must wait
    rate_limited: bool = False


class OutboxItem(Protocol):
    """What a reporter sees of an outbox entry (:class:`harness.service.outbox.Entry`)."""

    @property
    def id(self) -> int: ...
    @property
    def repository(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def payload(self) -> dict[str, Any]: ...
    @property
    def resumed(self) -> bool: ...


@runtime_checkable
class Reporter(Protocol):
    """Delivers outbox entries of the kinds it declares.

    ``deliver`` raises on failure; ``classify`` says what the exception means (retry
    when, or dead-letter). ``bucket`` names who a rate limit applies to (a token, an
    installation, a webhook): a limit met by one entry holds back every entry of its
    bucket, in every worker. An entry with ``resumed`` set was claimed from a sender that
    died while holding it: whether the target got it is unknown, so a reporter that can
    look first does.
    """

    #: the registry name (``github``, ``chat``, a plugin's)
    name: str
    #: the outbox entry kinds this reporter delivers (unique across reporters)
    kinds: frozenset[str]

    def deliver(self, entry: OutboxItem) -> None: ...

    def classify(self, exc: BaseException, at: datetime | None = None) -> Failure: ...

    def bucket(self, entry: OutboxItem) -> str: ...


@dataclass(frozen=True, slots=True)
class DeliveryHeader:
    """What names a verified webhook request: its id and event."""

    delivery_id: str
    event: str


@runtime_checkable
class Trigger(Protocol):
    """A code host's webhooks: verification, naming, parsing (GitHub:
    :class:`harness.codehost.github.trigger.GitHubTrigger`)."""

    #: the events the service acts on (others are recorded, then ignored)
    handled_events: frozenset[str]
    #: for error answers: the header carrying the signature, those naming a delivery
    signature_header: str
    naming_headers: tuple[str, ...]

    def verify(self, secret: bytes, body: bytes, headers: Mapping[str, str]) -> bool:
        """Whether ``body`` carries a valid signature under ``secret`` (``headers``
        lower-cased), compared in constant time."""
        ...

    def identify(self, headers: Mapping[str, str]) -> DeliveryHeader | None:
        """The delivery's id and event; ``None`` when the headers do not name one (the
        intake answers 400)."""
        ...

    def subject(self, payload: dict[str, Any]) -> tuple[str | None, str | None]:
        """(repository, action) of a payload, for listing deliveries; either may be
        unknown."""
        ...

    def parse(self, event: str, payload: Any) -> Event | None:
        """The harness event in ``payload``; ``None`` for events the service ignores.
        Raises :class:`PayloadError` naming a missing or mistyped key."""
        ...


@runtime_checkable
class Source(Protocol):
    """What the code host knows about a repository (read-only calls)."""

    def ref_commit(self, repository: str, ref: str) -> str:
        """The commit ``ref`` (a branch, a tag) points at."""
        ...

    def pull_request_head(self, repository: str, number: int) -> str:
        """The head commit of pull request ``number``."""
        ...

    def merge_base(self, repository: str, base: str, head: str) -> str:
        """The merge base of two commits."""
        ...

    def permission(self, repository: str, login: str) -> str:
        """``login``'s permission on the repository (``admin``, ``write``, ``read``,
        ``none``)."""
        ...
