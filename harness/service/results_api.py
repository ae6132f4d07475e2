"""``POST /api/results``: runners send result bundles to the service.

The body is a gzipped tar of bundle directories (``harness results send``). It is
accepted when authenticated by either

* a GitHub Actions OIDC token (``Authorization: Bearer``), verified against the issuer's
  published keys (JWKS), the configured audience, the CI repository, its workflow file
  and branch: a fork, another workflow or a pull-request branch of the CI repository
  cannot report; and every bundle must come from the very workflow run the token was
  issued to (``run_id``); or
* an HMAC of the body with the shared results secret (``X-Harness-Signature-256``), for
  simple setups.

A bundle that answers a queue item the service dispatched (``origin.queue_item``) must
test the commit that item asked for; the item is then closed with the run, its owed
report settled and the head's reports queued, in one transaction.
"""

from __future__ import annotations

import io
import logging
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Connection, select, update

from harness.bundle import Bundle, find_bundles, ingest_bundle
from harness.config.service import ServiceConfig
from harness.errors import ConfigError, HarnessError
from harness.service import queue as q
from harness.service.publish import VerdictCache, cell_decided
from harness.service.signature import verify
from harness.store import Store

log = logging.getLogger("harness.service.results")
MAX_RESULTS_BODY = 1 << 30


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent the results: ``oidc`` with the token's claims, or ``hmac``."""

    kind: str
    claims: dict[str, Any]


class OidcVerifier:
    def __init__(self, config: ServiceConfig) -> None:
        self.actions = config.actions
        self._jwks = jwt.PyJWKClient(config.actions.jwks_url, cache_keys=True, lifespan=3600)

    def verify(self, token: str) -> dict[str, Any]:
        a = self.actions
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=a.oidc_audience,
                issuer=a.oidc_issuer,
                options={"require": ["exp", "iat", "iss", "aud", "repository", "run_id"]},
            )
        except jwt.PyJWKClientError as exc:
            raise Refused(401, f"cannot verify the token: {exc}") from None
        except jwt.InvalidTokenError as exc:
            raise Refused(401, f"invalid token: {exc}") from None
        if not a.repository or claims.get("repository", "").lower() != a.repository.lower():
            raise Refused(
                403, f"token of repository {claims.get('repository')!r}, not the CI repository"
            )
        workflow_prefix = f"{a.repository}/.github/workflows/{a.workflow}@".lower()
        if not str(claims.get("workflow_ref", "")).lower().startswith(workflow_prefix):
            raise Refused(
                403, f"token of workflow {claims.get('workflow_ref')!r}, not {a.workflow}"
            )
        if claims.get("ref") != a.ref:
            raise Refused(403, f"token of ref {claims.get('ref')!r}, not {a.ref}")
        return claims


def _extract(body: bytes, into: Path) -> None:
    """Unpack a tar.gz of bundles; members must be plain files and directories inside."""
    try:
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
            for member in tar.getmembers():
                name = Path(member.name)
                if (
                    name.is_absolute()
                    or ".." in name.parts
                    or not (member.isfile() or member.isdir())
                ):
                    raise Refused(400, f"unsafe member {member.name!r} in the archive")
            # the members were checked above; the data filter, where this Python has it
            # (3.11.4+; Debian 12's 3.11.2 has not), checks them again
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(into, **safe)  # type: ignore[arg-type]
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise Refused(400, f"not a gzipped tar of bundles: {exc}") from None


def _check_origin(bundle: Bundle, caller: Caller) -> None:
    if caller.kind != "oidc":
        return
    origin = bundle.origin
    if str(origin.get("github_run_id")) != str(caller.claims.get("run_id")):
        raise Refused(
            403,
            f"{bundle.run['cell']}: bundle from workflow run {origin.get('github_run_id')!r}, "
            f"token of run {caller.claims.get('run_id')!r}",
        )


def _close_item(conn: Connection, item_id: int, run_id: int, sha: str | None) -> q.Item | None:
    c = q.queue_t.c
    row = conn.execute(select(q.queue_t).where(c.id == item_id)).first()
    if row is None:
        raise Refused(409, f"no queue item {item_id}")
    item = q.Item.from_row(row)
    if item.state != "dispatched":
        return None  # superseded or already answered: the run is kept, nothing reported
    if sha != item.head_sha:
        raise Refused(409, f"queue item {item_id}: the bundle tested another commit")
    conn.execute(
        update(q.queue_t)
        .where(c.id == item_id, c.state == "dispatched")
        .values(state="done", run_id=run_id, finished_at=q.now(), detail=None)
    )
    return item


def add_results_api(
    app: FastAPI,
    store: Store,
    config: ServiceConfig | None,
    results_secret: bytes | None,
    verdicts: VerdictCache | None,
) -> None:
    oidc = OidcVerifier(config) if config is not None and config.actions.repository else None

    def authenticate(request: Request, body: bytes) -> Caller:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            if oidc is None:
                raise Refused(401, "OIDC tokens are not accepted: no actions.repository configured")
            return Caller("oidc", oidc.verify(auth.split(None, 1)[1].strip()))
        signature = request.headers.get("x-harness-signature-256")
        if signature is not None and results_secret and verify(results_secret, body, signature):
            return Caller("hmac", {})
        raise Refused(401, "send an OIDC token (Authorization: Bearer) or X-Harness-Signature-256")

    @app.post("/api/results", include_in_schema=False)
    async def results(request: Request) -> JSONResponse:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_RESULTS_BODY:
                return JSONResponse({"error": "body too large"}, status_code=413)
            chunks.append(chunk)
        body = b"".join(chunks)
        try:
            caller = authenticate(request, body)
            with tempfile.TemporaryDirectory(prefix="harness-results-") as tmp:
                _extract(body, Path(tmp))
                try:
                    bundles = find_bundles([Path(tmp)])
                except ConfigError as exc:
                    raise Refused(400, str(exc)) from None
                if not bundles:
                    raise Refused(400, "no bundle (run.json) in the archive")
                for bundle in bundles:
                    _check_origin(bundle, caller)
                loaded = [accept(bundle) for bundle in bundles]
        except Refused as exc:
            log.warning("results refused (%d): %s", exc.status, exc)
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except HarnessError as exc:
            return JSONResponse({"error": f"cannot store the results: {exc}"}, status_code=503)
        return JSONResponse({"runs": loaded}, status_code=201)

    def accept(bundle: Bundle) -> dict[str, Any]:
        item_id = bundle.origin.get("queue_item")
        if item_id is not None:  # refuse before storing anything
            item = q.get_item(store, int(item_id))
            if item is None:
                raise Refused(409, f"no queue item {item_id}")
            if item.head_sha != bundle.run.get("sha"):
                raise Refused(
                    409,
                    f"queue item {item_id} asked for {item.head_sha[:12]}, the bundle tested "
                    f"{str(bundle.run.get('sha'))[:12]}",
                )
        run_id, new = ingest_bundle(store, bundle)
        closed = None
        if item_id is not None:

            def _txn(conn: Connection) -> q.Item | None:
                item = _close_item(conn, int(item_id), run_id, bundle.run.get("sha"))
                if item is not None:
                    cell_decided(conn, config, verdicts, item)
                return item

            closed = store._write("closing a dispatched item", _txn)
        log.info(
            "results: %s %s as run %d (new: %s)",
            bundle.run["cell"],
            bundle.run["status"],
            run_id,
            new,
        )
        return {
            "cell": bundle.run["cell"],
            "run": run_id,
            "new": new,
            "item": item_id if closed else None,
        }
