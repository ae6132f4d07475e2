"""POST /api/results: bundles from runners, authenticated by GitHub Actions OIDC tokens
(signed here by a test key, served from a local JWKS endpoint) or by HMAC, and bound to
the workflow run and the queue item they answer."""

from __future__ import annotations

import http.server
import io
import json
import shutil
import sqlite3
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from jwt.algorithms import RSAAlgorithm

from harness.bundle import write_bundle
from harness.codehost.github.signature import sign
from harness.config.service import ServiceConfig
from harness.results.model import Outcome, TestResult
from harness.service import ledger, outbox
from harness.service import queue as q
from harness.service.app import create_app
from harness.store import Store, Transaction

CI = "acme/ci"
SHA = "c" * 40
SECRET = b"results-secret"


class Keys:
    def __init__(self) -> None:
        self.good = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="module")
def jwks_url(keys: Keys) -> Iterator[str]:
    jwk = json.loads(RSAAlgorithm.to_jwk(keys.good.public_key()))
    body = json.dumps({"keys": [jwk | {"kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks"
    server.shutdown()


def token(key: Any, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": "https://token.actions.githubusercontent.com",
        "aud": "accel-harness",
        "iat": now,
        "exp": now + 300,
        "repository": CI,
        "workflow_ref": f"{CI}/.github/workflows/harness.yml@refs/heads/main",
        "ref": "refs/heads/main",
        "run_id": "4242",
        "sha": "d" * 40,
    } | overrides
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'main.db'}") as s:
        yield s


@pytest.fixture
def client(store: Store, jwks_url: str) -> TestClient:
    config = ServiceConfig.model_validate(
        {
            "vendor": "acme",
            "actions": {"repository": CI, "jwks_url": jwks_url},
            "upstreams": {"example/demo": {"level": "status"}},
        }
    )
    return TestClient(create_app(store, b"hook", service_config=config, results_secret=SECRET))


def bundle_tar(
    tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    item: int | None = None,
    run_id: str = "4242",
    sha: str = SHA,
    base_sha: str | None = None,
    default_branch: bool | None = None,
    b_fails: bool = True,
) -> bytes:
    """A bundle made the real way: a run in a runner's own database, written out."""
    monkeypatch.setenv("GITHUB_RUN_ID", run_id)
    monkeypatch.setenv("GITHUB_REPOSITORY", CI)
    if item is not None:
        monkeypatch.setenv("HARNESS_QUEUE_ITEM", str(item))
    (tmp / "runner.db").unlink(missing_ok=True)
    with Store.open(f"sqlite:///{tmp / 'runner.db'}") as runner:
        rid = runner.start_run(
            job_id=None, cell="demo/cpu/host", suite="demo", backend="cpu", variant="host",
            upstream="example/demo", ref="refs/pull/3/head", sha=sha, executor="local",
            log_dir=None, out_dir=None,
        )  # fmt: skip
        counts = runner.add_results(
            rid,
            [
                TestResult("t::a", Outcome.PASSED, 0.1, None),
                TestResult("t::b", Outcome.FAILED, 0.1, "boom")
                if b_fails
                else TestResult("t::b", Outcome.PASSED, 0.1, None),
            ],
        )
        status = "failed" if b_fails else "passed"
        runner.finish_run(rid, status=status, reason=None, counts=counts, duration_s=2.0)
        if base_sha is not None or default_branch is not None:
            runner.set_run_base(rid, base_sha=base_sha, is_default_branch=default_branch)
        shutil.rmtree(tmp / "bundle", ignore_errors=True)
        (directory,) = write_bundle(runner, [rid], tmp / "bundle")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(directory, arcname=directory.name)
    return buf.getvalue()


def post(client: TestClient, body: bytes, **headers: str) -> Any:
    return client.post(
        "/api/results", content=body, headers={"Content-Type": "application/gzip", **headers}
    )


def dispatched_item(store: Store, sha: str = SHA) -> int:
    def _txn(tx: Transaction) -> int:
        (item_id,) = tx.queue.enqueue(
            [
                q.NewItem(
                    "example/demo",
                    sha,
                    "refs/pull/3/head",
                    "demo/cpu/host",
                    "pull_request",
                    pr_number=3,
                )
            ],
        )
        tx.ledger.promise(
            repository="example/demo",
            pr_number=3,
            head_sha=sha,
            cells=[("demo/cpu/host", "acme/demo/cpu")],
            deadline_s=3600,
        )
        return item_id

    with store.transaction("t") as tx:
        item_id = _txn(tx)
    claimed = q.claim(store, "w", 60)
    assert claimed is not None
    with store.transaction("t") as tx:
        assert tx.queue.mark_dispatched(item_id, "w", "sent")
    return item_id


def test_an_oidc_token_from_the_workflow_run_is_accepted_and_the_item_closed(
    client: TestClient, store: Store, keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    item_id = dispatched_item(store)
    body = bundle_tar(tmp_path, monkeypatch, item=item_id)
    r = post(client, body, Authorization=f"Bearer {token(keys.good)}")
    assert r.status_code == 201, r.text
    (loaded,) = r.json()["runs"]
    assert (loaded["cell"], loaded["new"], loaded["item"]) == ("demo/cpu/host", True, item_id)
    run = store.get_run(loaded["run"])
    assert (run.status, run.sha, run.counts["failed"]) == ("failed", SHA, 1)
    assert run.executor == "local@actions:4242"
    item = q.get_item(store, item_id)
    assert item is not None
    assert (item.state, item.run_id) == ("done", loaded["run"])
    # decided and in the outbox; reported once GitHub accepts it (the sender's tests)
    assert {o.state for o in ledger.list_owed(store)} == {"queued"}
    (status,) = [e for e in outbox.list_entries(store) if e.kind == "status"]
    assert status.key == f"status:{SHA}:acme/demo/cpu"
    # sent again (a retried upload): nothing new
    again = post(client, body, Authorization=f"Bearer {token(keys.good)}")
    assert again.json()["runs"][0]["new"] is False


def write_lock_held(db: Path) -> bool:
    """Whether some connection holds the SQLite database's write lock right now (a second
    connection cannot start a write transaction without waiting)."""
    probe = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc):
            raise
        return True
    finally:
        probe.close()  # closing rolls the probe's own transaction back
    return False


def test_the_verdict_is_judged_before_the_transaction_that_records_it(
    client: TestClient, store: Store, keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read → judge → write: while a verdict is computed (it reads the history), no write
    transaction is open, in this thread or any other; the one that closes the item and
    queues the report comes after."""
    from harness.service import publish

    judged: list[tuple[int, bool, bool]] = []
    real = publish.gather_verdict

    def watched(st: Store, run_id: int, options: Any) -> Any:
        judged.append((run_id, write_lock_held(tmp_path / "main.db"), st.in_transaction))
        return real(st, run_id, options)

    monkeypatch.setattr(publish, "gather_verdict", watched)
    item_id = dispatched_item(store)
    body = bundle_tar(tmp_path, monkeypatch, item=item_id)
    r = post(client, body, Authorization=f"Bearer {token(keys.good)}")
    assert r.status_code == 201, r.text
    (loaded,) = r.json()["runs"]
    assert loaded["item"] == item_id
    assert judged == [(loaded["run"], False, False)]
    (status,) = [e for e in outbox.list_entries(store) if e.kind == "status"]
    assert status.key == f"status:{SHA}:acme/demo/cpu"  # recorded in the write after it


def test_an_item_closed_between_judging_and_writing_is_not_recorded_again(
    client: TestClient, store: Store, keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What was read can change before the write: here the item is superseded while its
    verdict is computed. The write sees it (compare-and-set on the item's state): the
    run is kept, nothing is reported, the ledger row is not settled."""
    from harness.service import publish

    real = publish.gather_verdict

    def superseded_meanwhile(st: Store, run_id: int, options: Any) -> Any:
        with st.transaction("a newer head arrives") as tx:
            tx.queue.supersede("example/demo", 3, "f" * 40, "superseded by ffffffffffff")
        return real(st, run_id, options)

    monkeypatch.setattr(publish, "gather_verdict", superseded_meanwhile)
    item_id = dispatched_item(store)
    body = bundle_tar(tmp_path, monkeypatch, item=item_id)
    r = post(client, body, Authorization=f"Bearer {token(keys.good)}")
    assert r.status_code == 201, r.text
    (loaded,) = r.json()["runs"]
    assert (loaded["new"], loaded["item"]) == (True, None)
    item = q.get_item(store, item_id)
    assert item is not None
    assert (item.state, item.run_id) == ("superseded", None)
    assert [e for e in outbox.list_entries(store) if e.kind == "status"] == []
    assert {o.state for o in ledger.list_owed(store)} == {"owed"}


@pytest.mark.parametrize(
    ("claims", "status", "why"),
    [
        ({"repository": "mallory/ci"}, 403, "not the CI repository"),
        (
            {"workflow_ref": f"{CI}/.github/workflows/other.yml@refs/heads/main"},
            403,
            "not harness.yml",
        ),
        ({"ref": "refs/pull/9/merge"}, 403, "not refs/heads/main"),
        ({"aud": "someone-else"}, 401, "invalid token"),
        ({"exp": int(time.time()) - 10}, 401, "invalid token"),
        ({"run_id": "999"}, 403, "token of run '999'"),
        ({"repository": None}, 401, "invalid token"),
    ],
)
def test_mismatched_tokens_are_refused(
    client: TestClient, store: Store, keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    claims: dict[str, Any], status: int, why: str,
) -> None:  # fmt: skip
    body = bundle_tar(tmp_path, monkeypatch)
    r = post(client, body, Authorization=f"Bearer {token(keys.good, **claims)}")
    assert r.status_code == status, r.text
    assert why in r.json()["error"]
    assert store.list_runs() == []


def test_forged_tokens_and_signatures_are_refused(
    client: TestClient, store: Store, keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = bundle_tar(tmp_path, monkeypatch)
    assert post(client, body, Authorization=f"Bearer {token(keys.other)}").status_code == 401
    assert (
        post(client, body, **{"X-Harness-Signature-256": sign(b"wrong", body)}).status_code == 401
    )
    assert post(client, body).status_code == 401
    assert store.list_runs() == []
    ok = post(client, body, **{"X-Harness-Signature-256": sign(SECRET, body)})
    assert ok.status_code == 201


def test_a_bundle_for_another_commit_does_not_close_the_item(
    client: TestClient, store: Store, keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    item_id = dispatched_item(store)
    body = bundle_tar(tmp_path, monkeypatch, item=item_id, sha="e" * 40)
    r = post(client, body, Authorization=f"Bearer {token(keys.good)}")
    assert r.status_code == 409
    assert store.list_runs() == []
    item = q.get_item(store, item_id)
    assert item is not None
    assert item.state == "dispatched"


def test_unsafe_archives_are_refused(client: TestClient, store: Store) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"x"
        info = tarfile.TarInfo("../escape/run.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    body = buf.getvalue()
    r = post(client, body, **{"X-Harness-Signature-256": sign(SECRET, body)})
    assert r.status_code == 400
    assert "unsafe member" in r.json()["error"]
    junk = b"not a tarball"
    assert post(client, junk, **{"X-Harness-Signature-256": sign(SECRET, junk)}).status_code == 400


def tar_of(directory: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(directory, arcname=directory.name)
    return buf.getvalue()


def bundle_dir(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real bundle, unpacked, to tamper with."""
    body = bundle_tar(tmp, monkeypatch)
    out = tmp / "unpacked"
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        tar.extractall(out)  # our own archive
    (directory,) = out.iterdir()
    return directory


def signed(client: TestClient, body: bytes) -> Any:
    return post(client, body, **{"X-Harness-Signature-256": sign(SECRET, body)})


@pytest.mark.parametrize(
    ("path", "value", "says"),
    [
        (("run", "sha"), "../../x", "run.sha"),
        (("run", "cell"), "demo/cpu/host/../../x", "run.cell"),
        (("run", "counts"), {"passed": "lots"}, "run.counts"),
        (("run", "status"), "running", "run.status"),
        (("run", "duration_s"), float("nan"), "run.duration_s"),
        (("run", "started_at"), "yesterday", "run.started_at"),
        (("origin", "queue_item"), "one", "origin.queue_item"),
        (("bundle_id",), "../x", "bundle_id"),
        (("run", "started_at"), "2024-01-01T00:00:00", "run.started_at"),  # naive: was 503
        (("run", "finished_at"), "0001-01-01T00:00:00+14:00", "run.finished_at"),  # was 503
        (("run", "counts"), {"passed": 2**63}, "run.counts"),  # was 500
        (("origin", "queue_item"), 2**63, "origin.queue_item"),  # was 500
        (("results",), 5, "says 5 results, the file has 2"),
        (("run", "counts"), {"passed": 99, "failed": 1}, "run.counts do not match"),
    ],
)
def test_wrongly_typed_bundles_are_refused_and_nothing_is_stored(
    client: TestClient, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    path: tuple[str, ...], value: Any, says: str,
) -> None:  # fmt: skip
    directory = bundle_dir(tmp_path, monkeypatch)
    doc = json.loads((directory / "run.json").read_text())
    target = doc
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    (directory / "run.json").write_text(json.dumps(doc))
    r = signed(client, tar_of(directory))
    assert r.status_code == 400, r.text
    assert says in r.json()["error"]
    assert store.list_runs() == []


def test_a_run_json_nested_too_deep_is_refused(
    client: TestClient, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = bundle_dir(tmp_path, monkeypatch)
    text = (directory / "run.json").read_text()
    deep = text.replace(
        '"environment":', '"environment": {"x": ' + "[" * 100_000 + "]" * 100_000 + '}, "y":', 1
    )
    (directory / "run.json").write_text(deep)
    r = signed(client, tar_of(directory))
    assert r.status_code == 400, r.text  # was a 500 (RecursionError)
    assert "not a result bundle" in r.json()["error"]
    assert store.list_runs() == []


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("[" * 30_000 + "]" * 30_000, "bad result line"),  # was a 500 (RecursionError)
        ('["t::a", "passed", 1' + "0" * 400 + ", null]", "bad result line"),  # was a 500
        ('["t::a", "passed", true, null]', "is not a number"),
        ('["t::a", "passed", "1e3", null]', "is not a number"),
    ],
    ids=["deep", "huge-duration", "bool-duration", "string-duration"],
)
def test_bad_result_lines_are_refused_and_nothing_is_stored(
    client: TestClient, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    line: str, says: str,
) -> None:  # fmt: skip
    import gzip

    directory = bundle_dir(tmp_path, monkeypatch)
    with gzip.open(directory / "results.jsonl.gz", "wt") as fh:
        fh.write(json.dumps(["t::b", "failed", 0.1, "boom"]) + "\n" + line + "\n")
    r = signed(client, tar_of(directory))
    assert r.status_code == 400, r.text
    assert says in r.json()["error"]
    assert store.list_runs() == []


def test_surrogates_and_terminal_escapes_in_a_message_are_stored_escaped(
    client: TestClient, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzip

    directory = bundle_dir(tmp_path, monkeypatch)
    lines = [
        '["t::a", "passed", 0.1, null]',
        '["t::b\\ud800", "failed", 0.1, "m\\udc00 \\u001b]0;pwn\\u0007 \\u009b"]',
    ]
    with gzip.open(directory / "results.jsonl.gz", "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    r = signed(client, tar_of(directory))
    assert r.status_code == 201, r.text  # was a 500 (UnicodeEncodeError)
    (run,) = store.list_runs()
    stored = {x.test_id: x.message for x in store.iter_results(run.id)}
    (bad,) = [k for k in stored if k.startswith("t::b")]
    assert bad.startswith("t::b\\ud800 [escaped #")
    assert stored[bad] == "m\\udc00 \\x1b]0;pwn\\x07 \\x9b"


def test_an_archive_is_stored_whole_or_not_at_all(
    client: TestClient, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two bundles, the second with a bad line: once the first was stored anyway."""
    import gzip

    good = bundle_dir(tmp_path / "one", monkeypatch)
    bad = bundle_dir(tmp_path / "two", monkeypatch)
    with gzip.open(bad / "results.jsonl.gz", "wt") as fh:
        fh.write('["t::a", "bogus", 0, null]\n')
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(good, arcname="a1")
        tar.add(bad, arcname="b2")
    r = signed(client, buf.getvalue())
    assert r.status_code == 400, r.text
    assert "b2/results.jsonl.gz:1: unknown outcome 'bogus'" in r.json()["error"]
    assert store.list_runs() == []
    # a bundle answering a queue item that does not exist: nothing stored, not even a1
    stray = bundle_dir(tmp_path / "three", monkeypatch)
    doc = json.loads((stray / "run.json").read_text())
    doc["origin"]["queue_item"] = 999
    (stray / "run.json").write_text(json.dumps(doc))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(good, arcname="a1")
        tar.add(stray, arcname="c3")
    r = signed(client, buf.getvalue())
    assert r.status_code == 409, r.text
    assert "no queue item 999" in r.json()["error"]
    assert store.list_runs() == []
    # the same bundle twice in one archive
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(good, arcname="a1")
        tar.add(good, arcname="a2")
    r = signed(client, buf.getvalue())
    assert r.status_code == 400, r.text
    assert "two bundles with id" in r.json()["error"]
    assert store.list_runs() == []


def test_a_bundle_id_stored_with_other_content_is_a_conflict(
    client: TestClient, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = bundle_dir(tmp_path, monkeypatch)
    assert signed(client, tar_of(directory)).status_code == 201
    doc = json.loads((directory / "run.json").read_text())
    doc["run"]["status"] = "passed"  # the same bundle id, another story
    (directory / "run.json").write_text(json.dumps(doc))
    r = signed(client, tar_of(directory))
    assert r.status_code == 409, r.text  # was 201, the second story dropped in silence
    assert "stored already as run" in r.json()["error"]
    (run,) = store.list_runs()
    assert run.status == "failed"
    # beside a new bundle in one archive: the new one is not stored either
    other = bundle_dir(tmp_path / "other", monkeypatch)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(other, arcname="a-new")
        tar.add(directory, arcname="b-conflict")
    r = signed(client, buf.getvalue())
    assert r.status_code == 409, r.text
    assert len(store.list_runs()) == 1


def test_results_that_unpack_beyond_the_budget_are_refused(
    client: TestClient, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 4.6 KB archive once stored 300 MB of results: the unpacked results count
    against the archive's budget (a small archive's: MIN_BUDGET; lowered here)."""
    import gzip

    from harness.service import results_api

    directory = bundle_dir(tmp_path, monkeypatch)
    with gzip.open(directory / "results.jsonl.gz", "wt", compresslevel=9) as fh:
        for i in range(2000):
            fh.write(json.dumps([f"t::{i}", "failed", 0.1, "x" * 3000]) + "\n")
    doc = json.loads((directory / "run.json").read_text())
    doc["run"]["counts"] = {"failed": 2000}
    doc["results"] = 2000
    (directory / "run.json").write_text(json.dumps(doc))
    body = tar_of(directory)
    assert len(body) < 40_000  # 6 MB of results
    monkeypatch.setattr(results_api, "MIN_BUDGET", 1 << 20)
    r = signed(client, body)
    assert r.status_code == 413, r.text
    assert "unpacks to more than" in r.json()["error"]
    assert store.list_runs() == []
    monkeypatch.setattr(results_api, "MIN_BUDGET", 16 << 20)
    assert signed(client, body).status_code == 201


def test_a_tar_header_announcing_huge_data_is_refused_before_it_is_read(
    client: TestClient, store: Store
) -> None:
    """A GNU long name or pax header is read whole into memory by tarfile: a 1.5 MB
    archive announcing 1.5 GB took 3-4.6 GB of memory before it was refused."""
    import gzip

    for kind in (tarfile.GNUTYPE_LONGNAME, tarfile.XHDTYPE):
        info = tarfile.TarInfo("././@LongLink")
        info.type = kind
        info.size = 512 << 20
        bomb = gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT) + b"a" * (1 << 20))
        r = signed(client, bomb)
        assert r.status_code == 413, r.text
        assert "a tar header announcing 536870912 bytes" in r.json()["error"]
    assert store.list_runs() == []


def test_a_bad_result_line_stores_nothing_of_the_bundle(
    client: TestClient, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzip

    directory = bundle_dir(tmp_path, monkeypatch)
    lines = [
        json.dumps(["t::a", "passed", 0.1, None]),
        json.dumps(["t::" + "y" * 5000, "failed", 0.1, "boom"]),  # a long id: stored capped
        json.dumps(["t::c", "exploded", 0.1, None]),  # not an outcome
    ]
    with gzip.open(directory / "results.jsonl.gz", "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    r = signed(client, tar_of(directory))
    assert r.status_code == 400, r.text
    assert "results.jsonl.gz:3: unknown outcome 'exploded'" in r.json()["error"]
    assert store.list_runs() == []  # one transaction: not the first two lines either
    # without the bad line it goes in whole, the long id capped
    with gzip.open(directory / "results.jsonl.gz", "wt") as fh:
        fh.write("\n".join(lines[:2]) + "\n")
    r = signed(client, tar_of(directory))
    assert r.status_code == 201, r.text
    (run,) = store.list_runs()
    ids = [x.test_id for x in store.iter_results(run.id)]
    assert ids[0] == "t::a"
    assert len(ids[1]) == 1000
    # the same bundle in another archive (a resend packed again) adds nothing
    assert signed(client, tar_of(directory)).json()["runs"][0]["new"] is False
    assert len(store.list_runs()) == 1


def test_a_replayed_archive_is_answered_again_without_unpacking_it(
    client: TestClient, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys: Keys
) -> None:
    from harness import failpoints

    body = bundle_tar(tmp_path, monkeypatch)
    first = signed(client, body)
    assert first.status_code == 201, first.text
    (run,) = first.json()["runs"]
    # from now on unpacking anything fails: a replay must not get that far
    monkeypatch.setenv(failpoints.ENV, "results.unpacking=raise")
    again = signed(client, body)
    assert again.status_code == 200, again.text
    assert again.json() == {"runs": [run | {"new": False}], "replayed": True}
    assert len(store.list_runs()) == 1
    # a replay is authenticated first: a bad signature is still 401
    forged = post(client, body, **{"X-Harness-Signature-256": sign(b"guess", body)})
    assert forged.status_code == 401
    # another caller with the same bytes is checked as a first sender: an OIDC token of
    # another workflow run gets as far as unpacking (and the failpoint)
    with pytest.raises(failpoints.FailpointError):
        post(client, body, Authorization=f"Bearer {token(keys.good, run_id='9999')}")
    monkeypatch.delenv(failpoints.ENV)
    refused = post(client, body, Authorization=f"Bearer {token(keys.good, run_id='9999')}")
    assert refused.status_code == 403, refused.text
    assert len(store.list_runs()) == 1


def test_bombs_and_oversized_bodies_are_refused_by_their_headers(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzip

    # a member claiming 4 GiB: refused from its header, before any byte is unpacked
    info = tarfile.TarInfo("bundle/results.jsonl.gz")
    info.size = 4 << 30
    bomb = gzip.compress(info.tobuf() + b"\0" * 1024)
    r = signed(client, bomb)
    assert r.status_code == 413, r.text
    assert "unpacks to more than" in r.json()["error"]
    # too many members
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for i in range(10_001):
            d = tarfile.TarInfo(f"d{i}")
            d.type = tarfile.DIRTYPE
            tar.addfile(d)
    r = signed(client, buf.getvalue())
    assert r.status_code == 413
    assert "more than 10000 members" in r.json()["error"]
    # a body over the cap: refused by its declared length, and while it streams
    from harness.service import results_api

    monkeypatch.setattr(results_api, "MAX_RESULTS_BODY", 1000)
    r = signed(client, b"x" * 2000)
    assert r.status_code == 413
    assert store.list_runs() == []


def test_a_pull_request_from_actions_gets_its_merge_base_baseline_and_is_judged_again(
    store: Store, keys: Keys, jwks_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.dashboard.pages import Pages
    from harness.store.pulls import PrRow
    from tests.fixture_upstream import suite_yaml

    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "demo.yaml").write_text(suite_yaml("https://example.org/demo.git", wheels=tmp_path))
    config = ServiceConfig.model_validate(
        {
            "vendor": "acme",
            "actions": {"repository": CI, "jwks_url": jwks_url},
            "upstreams": {"example/demo": {"level": "status"}},
        }
    )
    pages = Pages(store, served=True, suites_dir=suites)
    client = TestClient(
        create_app(store, b"hook", service_config=config, results_secret=SECRET, pages=pages)
    )
    base = "b" * 40
    pr = PrRow("example/demo", 3, SHA, "octocat:f", "octocat", "MEMBER", "open", None, None, None)
    with store.transaction("t") as tx:  # the pull request's webhook did this
        tx.pulls.upsert(pr)
    item_id = dispatched_item(store)
    body = bundle_tar(tmp_path, monkeypatch, item=item_id, base_sha=base, default_branch=False)
    assert post(client, body, Authorization=f"Bearer {token(keys.good)}").status_code == 201
    (asked,) = [i for i in q.list_items(store) if i.trigger == "merge-base"]
    assert (asked.head_sha, asked.ref, asked.cell, asked.state) == (
        base,
        "main",
        "demo/cpu/host",
        "queued",
    )
    first = next(e for e in outbox.list_entries(store) if e.kind == "status").payload
    assert "no baseline" in first["description"]

    # a worker hands the baseline to Actions; its bundle comes back through the API
    claimed = q.claim(store, "w", 60)
    assert claimed is not None
    assert claimed.id == asked.id
    with store.transaction("t") as tx:
        assert tx.queue.mark_dispatched(asked.id, "w", "sent")
    body = bundle_tar(
        tmp_path, monkeypatch, item=asked.id, sha=base, default_branch=True, b_fails=False
    )
    assert post(client, body, Authorization=f"Bearer {token(keys.good)}").status_code == 201
    done = q.get_item(store, asked.id)
    assert done is not None
    assert done.state == "done"
    # the pull request was judged again against it: t::b passed at its merge base
    newest = next(e for e in outbox.list_entries(store) if e.kind == "status").payload
    assert newest["state"] == "failure", newest
    assert "1 new failure" in newest["description"]


def test_the_intake_answers_while_a_bomb_is_being_refused(
    tmp_path: Path,
    gh: Any,
    shared_cache: Path,
    webhook_examples: dict[str, list[dict[str, Any]]],
) -> None:
    """A real ``harness serve``, held (by a failpoint) with a bomb received and about to be
    unpacked: ``/healthz`` and a webhook delivery are answered while the upload is still
    pending, so they never waited for it; let go, the bomb is refused. (With unpacking
    on the event loop, both would wait until the bomb is done.) What the wait costs in
    milliseconds: ``bench/results_intake.py``."""
    import gzip

    import httpx2 as httpx

    from tests.service.support import Service, deliver, pr_payload, service_env, wait_for

    gate = tmp_path / "let-it-go"
    env = service_env(gh, shared_cache) | {
        "HARNESS_RESULTS_SECRET": SECRET.decode(),
        "HARNESS_FAILPOINTS": f"results.unpacking=until({gate})",
    }
    suites = tmp_path / "suites"
    suites.mkdir()
    svc = Service(tmp_path, suites, f"sqlite:///{tmp_path / 'h.db'}", env, workers=0)
    info = tarfile.TarInfo("bundle/results.jsonl.gz")
    info.size = 4 << 30
    bomb = gzip.compress(info.tobuf() + b"\0" * 1024)
    answers: dict[str, Any] = {}

    def upload() -> None:
        answers["bomb"] = httpx.post(
            f"{svc.url}/api/results",
            content=bomb,
            headers={"X-Harness-Signature-256": sign(SECRET, bomb)},
            timeout=600,
        )

    sender = threading.Thread(target=upload)
    try:
        sender.start()
        wait_for(
            lambda: "failpoint results.unpacking" in svc.log.read_text(errors="replace"),
            120,
            "the bomb to reach unpacking",
            svc,
        )
        health = httpx.get(f"{svc.url}/healthz", timeout=60)
        assert health.status_code == 200
        payload = pr_payload(webhook_examples, "opened", number=7, head="7" * 40)
        delivered = deliver(svc.url, "pull_request", payload)
        assert delivered.status_code == 202, delivered.text
        assert sender.is_alive()  # neither waited for it
        assert "bomb" not in answers
        gate.touch()
        sender.join(300)
        assert answers["bomb"].status_code == 413, answers["bomb"].text
        assert "unpacks to more than" in answers["bomb"].json()["error"]
    finally:
        gate.touch()
        sender.join(300)
        svc.close()
