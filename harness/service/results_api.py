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

The caller is authenticated before the body is trusted: a bearer token before a byte of
the body is read; an HMAC over the body as it streams to a temporary file (never held
in memory), at most :data:`MAX_RESULTS_BODY` bytes. The archive is unpacked with caps on
members, unpacked size and ratio (:func:`_extract`), every bundle is validated before
anything is stored (:mod:`harness.bundle`), and the unpacking, validation and storing
run in a worker thread: the event loop the webhook intake shares never waits for them.
The same archive again from the same caller (a resend, a replay) is answered 200 from
:mod:`harness.service.uploads`, without unpacking it again.
When the service trusts runner keys (``HARNESS_ATTEST_TRUSTED_KEYS``, ``harness attest
register``), every bundle must carry an attestation signed by one of them, unexpired,
about the commit, image and environment the bundle carries and listing exactly its
tests (:func:`harness.attest.check.verify_bundle`): 403 for a missing, unknown, expired
or bad signature, 422 for an attestation of other content; it is stored with the run
and served at ``GET /api/runs/ID/attestation`` (the run's results: ``/api/runs/ID/results``).
A refused archive or bundle is a 4xx with the reason (``harness results send`` does not
retry those); 503 only when the database cannot store it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from harness import failpoints, settings
from harness.attest.check import AttestationRefused, verify_bundle
from harness.attest.keys import load_trusted
from harness.bundle import (
    Bundle,
    BundleConflict,
    BundleTooLarge,
    ByteBudget,
    check_conflict,
    find_bundles,
    ingest_bundle,
)
from harness.config.loader import load_suite
from harness.config.service import ServiceConfig
from harness.errors import ConfigError, HarnessError
from harness.service import baselines, notify, uploads
from harness.service import queue as q
from harness.service.publish import Judged, VerdictCache, cell_decided, judged_transaction
from harness.store import RunNotFound, Store, Transaction
from harness.store.attestations import Attested

log = logging.getLogger("harness.service.results")
#: the compressed archive
MAX_RESULTS_BODY = 256 << 20
#: what it may unpack to, in members and bytes, and how much more than it weighs
MAX_MEMBERS, MAX_UNPACKED, MAX_RATIO = 10_000, 2 << 30, 200
#: what any archive may unpack to, however small (a bundle of a few tests is a few KB)
MIN_BUDGET = 16 << 20
#: a tar header's own data (a long name, pax attributes) is read whole by tarfile
MAX_HEADER_DATA = 64 << 10


def unpack_budget(archive_size: int) -> int:
    """Bytes an archive of ``archive_size`` may unpack to, its bundles' results included."""
    return min(MAX_UNPACKED, max(archive_size * MAX_RATIO, MIN_BUDGET))


class _BoundedTarInfo(tarfile.TarInfo):
    """Refuses a GNU long name or pax header announcing more than :data:`MAX_HEADER_DATA`
    before tarfile reads it into memory (a 1.5 MB archive once announced 1.5 GB)."""

    def _proc_gnulong(self, tarfile: tarfile.TarFile) -> tarfile.TarInfo:
        self._bounded()
        return super()._proc_gnulong(tarfile)  # type: ignore[misc, no-any-return]

    def _proc_pax(self, tarfile: tarfile.TarFile) -> tarfile.TarInfo:
        self._bounded()
        return super()._proc_pax(tarfile)  # type: ignore[misc, no-any-return]

    def _bounded(self) -> None:
        if self.size > MAX_HEADER_DATA:
            raise Refused(413, f"a tar header announcing {self.size} bytes of its own data")


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent the results: ``oidc`` with the token's claims, or ``hmac``."""

    kind: str
    claims: dict[str, Any]

    @property
    def key(self) -> str:
        """Who, for remembering uploads: the secret, or the token's workflow run."""
        return "hmac" if self.kind == "hmac" else f"actions:{self.claims.get('run_id')}"


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


def _extract(archive: Path, into: Path) -> None:
    """Unpack a tar.gz of bundles as a stream, member by member: plain files and
    directories inside ``into`` only, at most :data:`MAX_MEMBERS` members and
    :data:`MAX_UNPACKED` bytes, and no more than :data:`MAX_RATIO` times the archive's
    size (a bomb is refused by its headers, before its bytes are written)."""
    budget = unpack_budget(archive.stat().st_size)
    unpacked = members = 0
    try:
        with tarfile.open(archive, mode="r|gz", tarinfo=_BoundedTarInfo) as tar:
            for member in tar:
                members += 1
                if members > MAX_MEMBERS:
                    raise Refused(413, f"more than {MAX_MEMBERS} members in the archive")
                name = Path(member.name)
                if (
                    name.is_absolute()
                    or ".." in name.parts
                    or not (member.isfile() or member.isdir())
                ):
                    raise Refused(400, f"unsafe member {member.name!r} in the archive")
                target = into.joinpath(*name.parts)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                unpacked += member.size
                if unpacked > budget:
                    raise Refused(413, f"the archive unpacks to more than {budget} bytes (a bomb?)")
                source = tar.extractfile(member)
                if source is None:
                    raise Refused(400, f"unreadable member {member.name!r}")
                target.parent.mkdir(parents=True, exist_ok=True)
                with source, target.open("xb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
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


def _close_item(tx: Transaction, item_id: int, run_id: int, sha: str | None) -> q.Item | None:
    item = tx.queue.get(item_id)
    if item is None:
        raise Refused(409, f"no queue item {item_id}")
    if item.state != "dispatched":
        return None  # superseded or already answered: the run is kept, nothing reported
    if sha != item.head_sha:
        raise Refused(409, f"queue item {item_id}: the bundle tested another commit")
    if not tx.queue.close_dispatched(item_id, run_id):
        return None  # answered by a concurrent upload: reported once, by that one
    return item


def add_results_api(
    app: FastAPI,
    store: Store,
    config: ServiceConfig | None,
    results_secret: bytes | None,
    verdicts: VerdictCache | None,
) -> None:
    oidc = OidcVerifier(config) if config is not None and config.actions.repository else None

    def token_caller(request: Request) -> Caller | None:
        """The caller of a bearer token, verified before the body is read (None: the
        request is to be signed with the results secret)."""
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            return None
        if oidc is None:
            raise Refused(401, "OIDC tokens are not accepted: no actions.repository configured")
        return Caller("oidc", oidc.verify(auth.split(None, 1)[1].strip()))

    async def receive(request: Request, into: Path, signed: bool) -> str:
        """Stream the body to ``into``, capped; with ``signed``, check its HMAC. The
        body's SHA-256."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_RESULTS_BODY:
            raise Refused(413, f"body larger than {MAX_RESULTS_BODY} bytes")
        signature = request.headers.get("x-harness-signature-256")
        if signed and (signature is None or not results_secret):
            raise Refused(
                401, "send an OIDC token (Authorization: Bearer) or X-Harness-Signature-256"
            )
        mac = hmac.new(results_secret or b"", digestmod=hashlib.sha256)
        digest = hashlib.sha256()
        size = 0
        with into.open("wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_RESULTS_BODY:
                    raise Refused(413, f"body larger than {MAX_RESULTS_BODY} bytes")
                mac.update(chunk)
                digest.update(chunk)
                out.write(chunk)
        expected = f"sha256={mac.hexdigest()}"
        if signed and not hmac.compare_digest(expected, (signature or "").strip()):
            raise Refused(401, "bad X-Harness-Signature-256")
        return digest.hexdigest()

    def unpack_and_store(
        archive: Path, digest: str, caller: Caller
    ) -> tuple[list[dict[str, Any]], bool]:
        """In a worker thread: the answer already given to this archive from this
        caller, or unpack, validate every bundle, then store each. (runs, replayed)"""
        if (known := uploads.seen(store, digest, caller.key)) is not None:
            return known, True
        failpoints.hit("results.unpacking")
        # the service's own file: a broken one is its fault (503), not the sender's
        trusted_file = settings.ATTEST_TRUSTED_KEYS.get()
        trusted = load_trusted(trusted_file) if trusted_file is not None else None
        with tempfile.TemporaryDirectory(prefix="harness-results-") as tmp:
            _extract(archive, Path(tmp))
            budget = ByteBudget(unpack_budget(archive.stat().st_size))
            try:
                bundles = find_bundles([Path(tmp)])
                if not bundles:
                    raise Refused(400, "no bundle (run.json) in the archive")
                attested: dict[str, Attested | None] = {}
                for bundle in bundles:  # every bundle whole, before any is stored
                    _check_origin(bundle, caller)
                    bundle.check(budget)
                    check_item(bundle)
                    check_conflict(store, bundle)
                    attested[bundle.bundle_id] = (
                        verify_bundle(bundle, trusted) if trusted is not None else None
                    )
                runs = [accept(bundle, attested[bundle.bundle_id]) for bundle in bundles]
            except AttestationRefused as exc:
                raise Refused(403 if exc.about == "key" else 422, str(exc)) from None
            except BundleTooLarge as exc:
                raise Refused(413, str(exc)) from None
            except BundleConflict as exc:
                raise Refused(409, str(exc)) from None
            except ConfigError as exc:
                raise Refused(400, str(exc)) from None
        uploads.remember(store, digest, caller.key, runs)
        return runs, False

    @app.post("/api/results", include_in_schema=False)
    async def results(request: Request) -> JSONResponse:
        try:
            caller = token_caller(request)
            with tempfile.TemporaryDirectory(prefix="harness-upload-") as tmp:
                archive = Path(tmp) / "results.tar.gz"
                digest = await receive(request, archive, signed=caller is None)
                who = caller or Caller("hmac", {})
                loaded, replayed = await asyncio.to_thread(unpack_and_store, archive, digest, who)
        except Refused as exc:
            log.warning("results refused (%d): %s", exc.status, exc)
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except HarnessError as exc:
            return JSONResponse({"error": f"cannot store the results: {exc}"}, status_code=503)
        if replayed:
            log.info("results: archive %s again, answered as before", digest[:12])
            return JSONResponse({"runs": loaded, "replayed": True}, status_code=200)
        return JSONResponse({"runs": loaded}, status_code=201)

    @app.get("/api/runs/{run_id}/attestation")
    def attestation(run_id: int) -> JSONResponse:
        """The run's signed attestation (a DSSE envelope), as its runner sent it."""
        with store.reading(f"reading the attestation of run {run_id}") as r:
            found = r.attestations.get(run_id)
        if found is None:
            return JSONResponse({"error": f"no attestation of run {run_id}"}, status_code=404)
        return JSONResponse(found.envelope, headers={"X-Harness-Key-Id": found.key_id})

    @app.get("/api/runs/{run_id}/results")
    def run_results(run_id: int) -> JSONResponse:
        """The run's status and its stored results: [test id, outcome] pairs."""
        try:
            run = store.get_run(run_id)
        except RunNotFound:
            return JSONResponse({"error": f"no run {run_id}"}, status_code=404)
        pairs = [[t.test_id, t.outcome.value] for t in store.iter_results(run_id)]
        return JSONResponse(
            {"run": run_id, "cell": run.cell, "upstream": run.upstream, "sha": run.sha,
             "status": run.status, "results": pairs}
        )  # fmt: skip

    def default_branch(suite: str) -> str | None:
        """The suite's upstream default branch, from the suite files the verdicts read."""
        suites_dir = verdicts.options.suites_dir if verdicts is not None else None
        path = suites_dir / f"{suite}.yaml" if suites_dir is not None else None
        if path is None or not path.is_file():
            return None
        try:
            return load_suite(path).upstream.default_branch
        except ConfigError:
            return None

    def check_item(bundle: Bundle) -> None:
        """The queue item a bundle answers exists and asked for the commit it tested."""
        item_id = bundle.origin.get("queue_item")
        if item_id is None:
            return
        item = q.get_item(store, int(item_id))
        if item is None:
            raise Refused(409, f"{bundle.run['cell']}: no queue item {item_id}")
        if item.head_sha != bundle.run.get("sha"):
            raise Refused(
                409,
                f"queue item {item_id} asked for {item.head_sha[:12]}, the bundle tested "
                f"{str(bundle.run.get('sha'))[:12]}",
            )

    def accept(bundle: Bundle, attested: Attested | None) -> dict[str, Any]:
        item_id = bundle.origin.get("queue_item")
        run_id, new = ingest_bundle(store, bundle, attested=attested)
        closed = None
        if item_id is not None:
            branch = default_branch(bundle.run["suite"])

            def _txn(tx: Transaction, judged: Judged | None) -> q.Item | None:
                item = _close_item(tx, int(item_id), run_id, bundle.run.get("sha"))
                if item is None:
                    return None
                cell_decided(tx, config, judged, item)
                if config is None or judged is None:
                    return item
                notify.run_finished(tx, config, judged, item, run_id)
                # baselines at merge bases, as a worker does for the cells it runs
                if item.pr_number is not None:
                    baselines.request_missing(tx, config, branch, judged, item, run_id)
                elif item.trigger in baselines.BASELINE_TRIGGERS:
                    baselines.republish_waiting(tx, config, judged, item)
                return item

            doing = "closing a dispatched item"
            if verdicts is None:
                with store.transaction(doing) as tx:
                    closed = _txn(tx, None)
            else:
                # read → judge → write: the verdicts its reports show, judged first
                asked = q.get_item(store, int(item_id))
                runs = baselines.runs_to_judge(store, asked, run_id) if asked else {run_id}
                closed = judged_transaction(store, verdicts, doing, _txn, runs)
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
