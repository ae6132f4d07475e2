"""The webhook intake (FastAPI): verify, record, answer; nothing slow on the request path.

``POST /webhook`` reads at most ``max_body`` bytes (GitHub caps payloads at 25 MB; a
bigger body is 413), verifies ``X-Hub-Signature-256`` against the secret in constant
time (401 otherwise, before anything is parsed or stored), needs ``X-GitHub-Event`` and
``X-GitHub-Delivery`` (400), stores the delivery once per delivery id and answers 202:
``{"delivery": ID, "event": NAME, "duplicate": false}``; a redelivery answers 202 with
``"duplicate": true`` and changes nothing. ``GET /healthz`` checks the database;
``GET /metrics`` is Prometheus text exposition.

Acting on deliveries (the queue, workers, reports) is the worker's job, not this one's.
What they are doing is readable here: ``GET /api/deliveries`` (with what was done
about each; ``?status=received`` for those not acted on yet), ``GET /api/queue`` (items,
newest first; ``?state=queued``), ``GET /api/ledger`` (reports owed; ``?overdue=1`` for
the overdue ones), ``GET /api/outbox`` (reports waiting for GitHub, with their last
error).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from harness import __version__
from harness.errors import ConfigError, StoreError
from harness.service import ledger, outbox, queue
from harness.service.signature import verify
from harness.store import Store
from harness.store.deliveries import Delivery, list_deliveries, record_delivery

MAX_BODY = 25 << 20
#: events the service acts on (others are recorded, then ignored by the worker)
HANDLED_EVENTS = frozenset({"ping", "pull_request", "issue_comment", "check_run", "push"})


class _TooBig(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooBig
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooBig
        chunks.append(chunk)
    return b"".join(chunks)


def _problem(status: int, message: str, metrics: Counter[str], reason: str) -> JSONResponse:
    metrics[f"rejected:{reason}"] += 1
    return JSONResponse({"error": message}, status_code=status)


def create_app(
    store: Store,
    secret: bytes,
    *,
    max_body: int = MAX_BODY,
    on_shutdown: Callable[[], None] | None = None,
) -> FastAPI:
    """The service's ASGI app over ``store``; ``secret`` is the webhook secret;
    ``on_shutdown`` runs when the server stops (before uvicorn re-raises its signal)."""
    if not secret:
        raise ConfigError(
            "no webhook secret: the service refuses unsigned deliveries",
            hint="set HARNESS_WEBHOOK_SECRET or --webhook-secret-file",
        )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if on_shutdown is not None:
            on_shutdown()

    app = FastAPI(
        title="accel-harness",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    metrics: Counter[str] = Counter()
    app.state.metrics = metrics

    @app.post("/webhook", status_code=202)
    async def webhook(request: Request) -> JSONResponse:
        try:
            body = await _read_body(request, max_body)
        except _TooBig:
            return _problem(413, f"body larger than {max_body} bytes", metrics, "too_large")
        if not verify(secret, body, request.headers.get("x-hub-signature-256")):
            return _problem(401, "bad or missing X-Hub-Signature-256", metrics, "signature")
        event = request.headers.get("x-github-event", "").strip()
        delivery_id = request.headers.get("x-github-delivery", "").strip()
        if not event or not delivery_id or len(delivery_id) > 64 or len(event) > 64:
            return _problem(
                400, "X-GitHub-Event and X-GitHub-Delivery are required", metrics, "headers"
            )
        try:
            payload: Any = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _problem(400, "the body is not JSON", metrics, "json")
        if not isinstance(payload, dict):
            return _problem(400, "the body is not a JSON object", metrics, "json")
        repo = payload.get("repository")
        full_name = repo.get("full_name") if isinstance(repo, dict) else None
        action = payload.get("action")
        delivery = Delivery(
            delivery_id=delivery_id,
            event=event,
            action=str(action)[:64] if isinstance(action, str) else None,
            repository=str(full_name)[:200] if isinstance(full_name, str) else None,
            payload=body.decode("utf-8", "replace"),
        )
        try:
            new = record_delivery(store, delivery)
        except StoreError as exc:  # GitHub redelivers on 5xx: nothing is lost
            metrics["store_errors"] += 1
            return JSONResponse({"error": f"cannot record the delivery: {exc}"}, status_code=503)
        label = re.sub(r"[^a-z0-9_]", "_", event.lower())
        metrics["duplicate" if not new else f"accepted:{label}"] += 1
        return JSONResponse(
            {
                "delivery": delivery_id,
                "event": event,
                "duplicate": not new,
                "handled": event in HANDLED_EVENTS,
            },
            status_code=202,
        )

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        try:
            store._read("health check", lambda conn: conn.exec_driver_sql("SELECT 1").scalar())
        except StoreError as exc:
            return JSONResponse({"status": "error", "database": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok", "version": __version__})

    @app.get("/api/deliveries")
    def api_deliveries(status: str | None = None, limit: int = 200) -> JSONResponse:
        rows = list_deliveries(store, status=status, limit=min(limit, 1000))
        return JSONResponse({"deliveries": rows})

    @app.get("/api/queue")
    def api_queue(state: str | None = None, limit: int = 200) -> JSONResponse:
        states = [x for x in (state or "").split(",") if x]
        items = queue.list_items(store, states=states or None, limit=min(limit, 1000))
        return JSONResponse({"items": [i.as_json() for i in items]})

    @app.get("/api/ledger")
    def api_ledger(overdue: bool = False, limit: int = 500) -> JSONResponse:
        rows = ledger.list_owed(store, overdue_only=overdue, limit=min(limit, 5000))
        return JSONResponse({"reports": [r.as_json() for r in rows]})

    @app.get("/api/outbox")
    def api_outbox(state: str | None = None, limit: int = 200) -> JSONResponse:
        states = [x for x in (state or "").split(",") if x]
        rows = outbox.list_entries(store, states=states or None, limit=min(limit, 1000))
        return JSONResponse({"entries": [r.as_json() for r in rows]})

    @app.get("/metrics")
    def prometheus() -> PlainTextResponse:
        lines = [
            "# HELP harness_webhook_deliveries_total Webhook deliveries by outcome.",
            "# TYPE harness_webhook_deliveries_total counter",
        ]
        for key in sorted(metrics):
            kind, _, detail = key.partition(":")
            labels = f'outcome="{kind}"' + (
                f',{"event" if kind == "accepted" else "reason"}="{detail}"' if detail else ""
            )
            lines.append(f"harness_webhook_deliveries_total{{{labels}}} {metrics[key]}")
        try:
            lines += _gauges(store)
        except StoreError:
            metrics["store_errors"] += 1
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

    return app


def _gauges(store: Store) -> list[str]:
    lines = [
        "# HELP harness_queue_items Queue items by state.",
        "# TYPE harness_queue_items gauge",
    ]
    lines += [
        f'harness_queue_items{{state="{k}"}} {v}'
        for k, v in sorted(queue.state_counts(store).items())
    ]
    lines += [
        "# HELP harness_outbox_entries Reports for GitHub by state.",
        "# TYPE harness_outbox_entries gauge",
    ]
    lines += [
        f'harness_outbox_entries{{state="{k}"}} {v}'
        for k, v in sorted(outbox.state_counts(store).items())
    ]
    owed = ledger.counts(store)
    lines += [
        "# HELP harness_reports_owed Reports promised and not yet posted.",
        "# TYPE harness_reports_owed gauge",
        f"harness_reports_owed {owed.get('owed', 0)}",
        "# HELP harness_reports_overdue Owed reports past their deadline.",
        "# TYPE harness_reports_overdue gauge",
        f"harness_reports_overdue {owed.get('overdue', 0)}",
    ]
    return lines
