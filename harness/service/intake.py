"""The webhook intake: verify, record, answer; nothing slow on the request path.

``POST /webhook`` reads at most ``max_body`` bytes (GitHub caps payloads at 25 MB; a
bigger body is 413), has the code host's :class:`~harness.codehost.Trigger` verify its
signature against the secret (GitHub: ``X-Hub-Signature-256``, in constant time; 401
otherwise, before anything is parsed or stored) and name it (GitHub: ``X-GitHub-Event``
and ``X-GitHub-Delivery``; 400 otherwise), stores the delivery once per delivery id and answers 202:
``{"delivery": ID, "event": NAME, "duplicate": false, "handled": true}``; a redelivery
answers 202 with ``"duplicate": true`` and changes nothing. With a journal
(:mod:`harness.service.journal`, what ``harness serve`` uses) the database gets a short,
bounded time; a delivery it cannot take in time (locked, away) is written to the journal
and answered 202 with ``"journaled": true`` and ``"duplicate": null`` (not known until
it is loaded), and while the journal holds anything new deliveries join it, in order.
Without a journal a database failure answers 503 (and GitHub does not redeliver by
itself).

This is the one hot path of the service, so it is a bare ASGI handler in front of the
FastAPI app (which serves everything else): no routing, middleware or validation layers
per delivery. Deliveries arriving together are committed together (:class:`GroupCommit`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from harness.codehost import Trigger
from harness.codehost.reporters import default_trigger
from harness.errors import StoreError
from harness.service.journal import DB_WAIT_S, Journal
from harness.store import Store
from harness.store.deliveries import Delivery, record_deliveries

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY = 25 << 20
_LABEL_RE = re.compile(r"[^a-z0-9_]")
log = logging.getLogger("harness.service.intake")


class GroupCommit:
    """Deliveries that arrive together are stored in one transaction.

    Each request still answers only after its delivery is committed; while one batch is
    being written, the next ones queue up and go in the next transaction. Under load this
    turns a commit per delivery into a commit per batch (bench/webhook_load.py)."""

    def __init__(
        self,
        store: Store,
        max_batch: int = 256,
        journal: Journal | None = None,
        wait_s: float = DB_WAIT_S,
    ) -> None:
        self.store = store
        self.max_batch = max_batch
        self.journal = journal
        self.wait_s = wait_s
        #: SQLite commits a local file in well under a millisecond per batch: done on the
        #: event loop, which measured faster than a thread (no GIL hand-offs); a network
        #: database's round trips go to a thread
        self.inline = store.engine.dialect.name == "sqlite"
        self._pending: list[tuple[Delivery, asyncio.Future[bool | None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def record(self, delivery: Delivery) -> bool | None:
        """Whether ``delivery`` is new (``None``: journaled, not known yet); raises
        :class:`StoreError` (without a journal) or ``OSError`` (the journal's disk)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool | None] = loop.create_future()
        self._pending.append((delivery, future))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # let the deliveries already read join this batch
        while self._pending:
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            deliveries = [d for d, _ in batch]
            try:
                results: list[bool] | list[None] = await self._store(deliveries)
            except (StoreError, OSError) as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), new in zip(batch, results, strict=True):
                if not future.done():  # a client that hung up: stored all the same
                    future.set_result(new)

    async def _store(self, deliveries: list[Delivery]) -> list[bool] | list[None]:
        if self.journal is None:
            if self.inline:
                return record_deliveries(self.store, deliveries)
            return await asyncio.to_thread(record_deliveries, self.store, deliveries)
        if not self.journal.waiting:
            try:
                return await asyncio.wait_for(
                    asyncio.to_thread(record_deliveries, self.store, deliveries), self.wait_s
                )
            except (StoreError, TimeoutError) as exc:
                # the write may still land; the journal's copy is then stored once (by id)
                log.warning(
                    "the database did not take %d delivery(ies) within %.1f s (%s): journaled",
                    len(deliveries),
                    self.wait_s,
                    exc or "timed out",
                )
        await asyncio.to_thread(self.journal.append, deliveries)
        return [None] * len(deliveries)


class _TooBig(Exception):
    pass


class WebhookIntake:
    def __init__(
        self,
        store: Store,
        secret: bytes | None,
        *,
        max_body: int = MAX_BODY,
        journal: Journal | None = None,
        trigger: Trigger | None = None,
    ) -> None:
        self.secret = secret
        #: the code host's webhooks: signature, names, payloads (default: GitHub)
        self.trigger = trigger or default_trigger()
        self.max_body = max_body
        self.writer = GroupCommit(store, journal=journal)
        #: deliveries by outcome: ``accepted:<event>``, ``duplicate``, ``rejected:<why>``
        self.metrics: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if scope["method"] != "POST":
            status, answer = self._reject(405, "POST deliveries here", "method")
        elif not self.secret:
            status, answer = self._reject(
                503, "the webhook intake is off: the service has no webhook secret", "no_secret"
            )
        else:
            status, answer = await self._handle(headers, receive)
        body = json.dumps(answer).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _read_body(self, headers: dict[str, str], receive: Receive) -> bytes:
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            raise _TooBig
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise _TooBig
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _reject(self, status: int, message: str, reason: str) -> tuple[int, dict[str, Any]]:
        self.metrics[f"rejected:{reason}"] += 1
        return status, {"error": message}

    async def _handle(
        self, headers: dict[str, str], receive: Receive
    ) -> tuple[int, dict[str, Any]]:
        try:
            body = await self._read_body(headers, receive)
        except _TooBig:
            return self._reject(413, f"body larger than {self.max_body} bytes", "too_large")
        if not self.trigger.verify(self.secret or b"", body, headers):
            return self._reject(401, f"bad or missing {self.trigger.signature_header}", "signature")
        named = self.trigger.identify(headers)
        if named is None:
            needed = " and ".join(self.trigger.naming_headers)
            return self._reject(400, f"{needed} are required", "headers")
        try:
            payload: Any = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return self._reject(400, "the body is not JSON", "json")
        if not isinstance(payload, dict):
            return self._reject(400, "the body is not a JSON object", "json")
        event, delivery_id = named.event, named.delivery_id
        repository, action = self.trigger.subject(payload)
        delivery = Delivery(
            delivery_id=delivery_id,
            event=event,
            action=action,
            repository=repository,
            payload=body.decode("utf-8", "replace"),
        )
        try:
            new = await self.writer.record(delivery)
        except (StoreError, OSError) as exc:  # no journal, or its disk failed too
            self.metrics["store_errors"] += 1
            return 503, {"error": f"cannot record the delivery: {exc}"}
        label = f"accepted:{_LABEL_RE.sub('_', event.lower())}"
        self.metrics["duplicate" if new is False else label] += 1
        if new is None:
            self.metrics["journaled"] += 1
        answer: dict[str, Any] = {
            "delivery": delivery_id,
            "event": event,
            "duplicate": None if new is None else not new,
            "handled": event in self.trigger.handled_events,
        }
        if new is None:
            answer["journaled"] = True
        return 202, answer
