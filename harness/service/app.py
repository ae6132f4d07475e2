"""The service over HTTP: the webhook intake (:mod:`harness.service.intake`) and a small
read API.

``POST /webhook`` goes to the intake's bare ASGI handler; everything else is FastAPI:
``GET /healthz`` checks the database; ``GET /metrics`` is Prometheus text exposition
(deliveries by outcome, queue items and outbox entries by state, reports owed and
overdue). Acting on deliveries (the queue, workers, reports) is the worker's job; what
they are doing is readable here: ``GET /api/deliveries`` (with what was done about each;
``?status=received`` for those not acted on yet), ``GET /api/queue`` (items, newest
first; ``?state=queued``), ``GET /api/ledger`` (reports owed; ``?overdue=1`` for the
overdue ones), ``GET /api/outbox`` (reports waiting for GitHub, with their last error),
``GET /api/bisections`` and ``GET /api/bisections/ID`` (``harness bisect``'s searches:
outcome, reason, first bad commit, and each probe with its verdict, outcomes and runs).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from harness import __version__
from harness.bisect.answer import listed_bisections, read_answer
from harness.config.service import ServiceConfig
from harness.dashboard.pages import Pages
from harness.errors import StoreError
from harness.service import ledger, outbox, participation, queue
from harness.service.intake import MAX_BODY, Message, Receive, Scope, Send, WebhookIntake
from harness.service.journal import Journal
from harness.service.publish import VerdictCache
from harness.service.results_api import add_results_api
from harness.store import Store
from harness.store.deliveries import list_deliveries
from harness.store.repository import NotFound

#: queued work due this long with no worker heartbeating: /healthz says degraded
STALL_S = 300.0


def create_app(
    store: Store,
    secret: bytes | None,
    *,
    max_body: int = MAX_BODY,
    on_shutdown: Callable[[], None] | None = None,
    pages: Pages | None = None,
    service_config: ServiceConfig | None = None,
    results_secret: bytes | None = None,
    workers_health: Callable[[], dict[str, Any]] | None = None,
    journal: Journal | None = None,
    stall_s: float = STALL_S,
) -> ServiceApp:
    """The service's ASGI app over ``store``; ``secret`` is the webhook secret (``None``:
    the intake answers every delivery 503, the rest is served);
    ``on_shutdown`` runs when the server stops (before uvicorn re-raises its signal);
    ``workers_health`` says which embedded workers are down. ``/healthz`` answers
    ``ok``, ``degraded`` (200: a worker is down, or queued work has been due for
    ``stall_s`` with no worker heartbeating) or ``error`` (503: the database)."""

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
    intake = WebhookIntake(store, secret, max_body=max_body, journal=journal)

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        try:
            with store.reading("health check") as r:
                r.connection.exec_driver_sql("SELECT 1").scalar()
        except StoreError as exc:
            return JSONResponse({"status": "error", "database": str(exc)}, status_code=503)
        problems: list[str] = []
        body: dict[str, Any] = {"version": __version__}
        if workers_health is not None:
            body["workers"] = health = workers_health()
            if health["down"]:
                problems.append(f"worker(s) down: {', '.join(health['down'])}")
        try:
            stuck = queue.stalled(store, stall_s)
        except StoreError as exc:
            return JSONResponse({"status": "error", "database": str(exc)}, status_code=503)
        if stuck:
            problems.append(
                f"{stuck} queued item(s) due for over {stall_s:.0f} s and no worker "
                "heartbeating: the queue is not moving"
            )
        if journal is not None and (waiting := journal.waiting):
            problems.append(f"{waiting} journaled batch(es) of deliveries wait for the database")
        body["status"] = "degraded" if problems else "ok"
        if problems:
            body["problems"] = problems
        return JSONResponse(body)

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

    @app.get("/api/bisections")
    def api_bisections(limit: int = 50) -> JSONResponse:
        with store.reading("listing bisections") as r:
            rows = listed_bisections(r, min(limit, 1000))
        return JSONResponse({"bisections": rows})

    @app.get("/api/bisections/{bisection_id}")
    def api_bisection(bisection_id: int) -> JSONResponse:
        with store.reading(f"reading bisection {bisection_id}") as r:
            record = r.bisections.get(bisection_id)
            probes = r.bisections.probes(bisection_id) if record is not None else []
            answer = read_answer(r, record) if record is not None else None
        if record is None or answer is None:
            return JSONResponse({"error": f"no bisection {bisection_id}"}, status_code=404)
        return JSONResponse(
            {
                **record.as_json(),
                "probes": [p.as_json() for p in probes],
                "headline": answer.headline,
                "confidence": answer.confidence,
                "confidence_reason": answer.confidence_reason,
            }
        )

    @app.get("/api/participation")
    def api_participation() -> JSONResponse:
        """Each upstream's level, why, its last SLO evaluation and the levels' history."""
        if service_config is None:
            return JSONResponse({"upstreams": []})
        return JSONResponse({"upstreams": participation.view(store, service_config)})

    @app.get("/metrics")
    def prometheus() -> PlainTextResponse:
        lines = [
            "# HELP harness_webhook_deliveries_total Webhook deliveries by outcome.",
            "# TYPE harness_webhook_deliveries_total counter",
        ]
        metrics = intake.metrics
        for key in sorted(metrics):
            kind, _, detail = key.partition(":")
            labels = f'outcome="{kind}"' + (
                f',{"event" if kind == "accepted" else "reason"}="{detail}"' if detail else ""
            )
            lines.append(f"harness_webhook_deliveries_total{{{labels}}} {metrics[key]}")
        try:
            lines += _gauges(store)
            if service_config is not None:
                lines += participation.metrics(
                    participation.view(store, service_config, history=False)
                )
        except StoreError:
            metrics["store_errors"] += 1
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

    verdicts = VerdictCache(store, pages.suites_dir if pages is not None else None)
    add_results_api(app, store, service_config, results_secret, verdicts)
    if pages is not None:
        add_dashboard(app, pages)
        if service_config is not None:
            config = service_config

            @app.get("/participation.html", include_in_schema=False)
            def participation_page() -> HTMLResponse:
                page = pages.participation(participation.view(store, config))
                return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    return ServiceApp(intake, app, pages.csp if pages is not None else API_CSP)


def add_dashboard(app: FastAPI, pages: Pages) -> None:
    """The dashboard's pages at the same paths as the static export."""

    def html(text: str) -> HTMLResponse:
        return HTMLResponse(text, headers={"Cache-Control": "no-cache"})

    @app.get("/", include_in_schema=False)
    @app.get("/index.html", include_in_schema=False)
    def overview() -> HTMLResponse:
        return html(pages.overview())

    @app.get("/prs.html", include_in_schema=False)
    def prs() -> HTMLResponse:
        return html(pages.prs())

    @app.get("/ops.html", include_in_schema=False)
    def ops() -> HTMLResponse:
        return html(pages.ops())

    @app.get("/cells/{name}.html", include_in_schema=False)
    def cell(name: str, q: str = "", status: str = "", before: int | None = None) -> HTMLResponse:
        slug, page = name, 1
        if (m := re.fullmatch(r"(.+)-p(\d+)", name)) is not None:
            slug, page = m.group(1), int(m.group(2))
        return html(pages.grid(slug, query=q[:200], status=status, page=page, before_id=before))

    @app.get("/upstreams/{name}.html", include_in_schema=False)
    def upstream(name: str, q: str = "", status: str = "") -> HTMLResponse:
        suite, page = name, 1
        if (m := re.fullmatch(r"(.+)-p(\d+)", name)) is not None:
            suite, page = m.group(1), int(m.group(2))
        return html(pages.upstream(suite, query=q[:200], status=status, page=page))

    @app.get("/runs/{run_id}.html", include_in_schema=False)
    def run(run_id: int) -> HTMLResponse:
        try:
            return html(pages.run(run_id))
        except NotFound:
            return HTMLResponse(f"no run {run_id}", status_code=404)

    @app.get("/bisections/{bisection_id}.html", include_in_schema=False)
    def bisection(bisection_id: int) -> HTMLResponse:
        try:
            return html(pages.bisection(bisection_id))
        except NotFound:
            return HTMLResponse(f"no bisection {bisection_id}", status_code=404)

    @app.get("/prs/{sha}.html", include_in_schema=False)
    def pr(sha: str) -> HTMLResponse:
        if not re.fullmatch(r"[0-9a-f]{7,64}", sha):
            return HTMLResponse("not a commit", status_code=404)
        return html(pages.pr(sha))

    @app.get("/badges/{name}.svg", include_in_schema=False)
    def badge(name: str) -> Response:
        suite, _, backend = name.rpartition("-")
        return Response(
            pages.badge(suite, backend),
            media_type="image/svg+xml",
            headers={"Cache-Control": "max-age=300"},
        )


#: without the dashboard: JSON and text only, nothing to run, style or frame
API_CSP = "default-src 'none'; frame-ancestors 'none'"


def security_headers(csp: str) -> list[tuple[bytes, bytes]]:
    """Headers every answer carries: the Content-Security-Policy the pages are written
    for, no MIME sniffing, no framing, no referrer leaving for other sites."""
    return [
        (b"content-security-policy", csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
    ]


class ServiceApp:
    """``POST /webhook`` to the intake, the rest (and lifespan events) to FastAPI; every
    answer with :func:`security_headers`."""

    def __init__(self, intake: WebhookIntake, api: FastAPI, csp: str = API_CSP) -> None:
        self.intake = intake
        self.api = api
        self.headers = security_headers(csp)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan
            await self.api(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *self.headers]}
            await send(message)

        if scope["path"] == "/webhook":
            await self.intake(scope, receive, send_secured)
        else:
            await self.api(scope, receive, send_secured)


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
        "# HELP harness_reports_owed Reports promised and not yet accepted by GitHub.",
        "# TYPE harness_reports_owed gauge",
        f"harness_reports_owed {owed.get('owed', 0) + owed.get('queued', 0)}",
        "# HELP harness_reports_overdue Owed reports past their deadline.",
        "# TYPE harness_reports_overdue gauge",
        f"harness_reports_overdue {owed.get('overdue', 0)}",
    ]
    return lines
