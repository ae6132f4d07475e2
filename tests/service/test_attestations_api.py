"""Signed attestations through POST /api/results, with real Ed25519 keys: a bundle signed
by a registered runner key is stored with its attestation and served, and verifies
offline against the stored results; a tampered bundle, another commit, another image,
an unknown key, an expired key, a forged payload and a missing attestation are refused
with nothing stored."""

from __future__ import annotations

import base64
import gzip
import io
import json
import shutil
import tarfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from harness.attest.keys import generate, register
from harness.bundle import write_bundle
from harness.cli import main
from harness.codehost.github.signature import sign
from harness.results.model import Outcome, TestResult
from harness.service.app import create_app
from harness.store import Store

SHA = "c" * 40
SECRET = b"results-secret"
IMAGE = "sha256:" + "ab" * 32
ENV = {"harness": "0.1.0", "executor": "docker", "image": {"tag": "demo:1", "digest": IMAGE}}


class Runner:
    """A runner's key, registered (or not) in the service's trusted-keys file."""

    def __init__(self, tmp: Path) -> None:
        self.key_file = tmp / "runner" / "attest.pem"
        self.key = generate(self.key_file)
        self.pub = self.key_file.with_name("attest.pem.pub")
        self.trusted = tmp / "trusted-keys.yaml"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runner:
    r = Runner(tmp_path)
    register(r.trusted, r.key.public_key(), "npu-runner-1", datetime.now(UTC) + timedelta(days=30))
    monkeypatch.setenv("HARNESS_ATTEST_TRUSTED_KEYS", str(r.trusted))
    return r


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with Store.open(f"sqlite:///{tmp_path / 'main.db'}") as s:
        yield s


@pytest.fixture
def client(store: Store) -> TestClient:
    return TestClient(create_app(store, b"hook", results_secret=SECRET))


def signed_bundle(tmp: Path, key: Ed25519PrivateKey | None) -> Path:
    """A run in a runner's own database (with an image in its environment), written out
    as a bundle signed with ``key``: its directory."""
    db = tmp / "runner.db"
    db.unlink(missing_ok=True)
    with Store.open(f"sqlite:///{db}") as runner_db:
        rid = runner_db.start_run(
            job_id=None, cell="demo/cpu/host", suite="demo", backend="cpu", variant="host",
            upstream="example/demo", ref="refs/pull/3/head", sha=SHA, executor="docker",
            log_dir=None, out_dir=None,
        )  # fmt: skip
        counts = runner_db.add_results(
            rid,
            [
                TestResult("t::a", Outcome.PASSED, 0.1, None),
                TestResult("t::b", Outcome.FAILED, 0.1, "boom"),
                TestResult("t::c", Outcome.SKIPPED, 0.0, None),
            ],
        )
        runner_db.set_environment(rid, ENV)
        runner_db.finish_run(rid, status="failed", reason=None, counts=counts, duration_s=2.0)
        shutil.rmtree(tmp / "bundle", ignore_errors=True)
        (directory,) = write_bundle(runner_db, [rid], tmp / "bundle", key)
    return directory


def tar_of(directory: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(directory, arcname=directory.name)
    return buf.getvalue()


def post(client: TestClient, directory: Path) -> Any:
    body = tar_of(directory)
    headers = {"Content-Type": "application/gzip", "X-Harness-Signature-256": sign(SECRET, body)}
    return client.post("/api/results", content=body, headers=headers)


def harness(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """``harness ARGS`` in this process: its exit status, stdout and stderr."""
    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


def stored_runs(store: Store) -> int:
    return len(store.list_runs(limit=100))


def test_a_signed_bundle_is_stored_with_its_attestation_and_verifies_offline(
    client: TestClient,
    store: Store,
    runner: Runner,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    directory = signed_bundle(tmp_path, runner.key)
    sent = json.loads((directory / "attestation.json").read_text())
    r = post(client, directory)
    assert r.status_code == 201, r.text
    run_id = r.json()["runs"][0]["run"]
    served = client.get(f"/api/runs/{run_id}/attestation")
    assert served.status_code == 200
    assert served.json() == sent
    statement = json.loads(base64.b64decode(sent["payload"]))
    assert statement["predicate"]["failedTests"] == ["t::b"]
    assert statement["subject"][1] == {"name": "image:demo:1", "digest": {"sha256": "ab" * 32}}
    assert client.get(f"/api/runs/{run_id + 1}/attestation").status_code == 404

    # offline: the served envelope and results, saved, checked with the runner's public key
    (tmp_path / "att.json").write_text(served.text)
    (tmp_path / "results.json").write_text(client.get(f"/api/runs/{run_id}/results").text)
    args = ["attest", "verify", str(tmp_path / "att.json"), "--key", str(runner.pub), "--json"]
    code, out = harness(capsys, *args, "--results", str(tmp_path / "results.json"))
    assert code == 0, out
    report = json.loads(out)
    assert report["verified"] is True
    assert report["checked"] == ["signature", "commit", "tests"]
    assert report["tests"] == {"passedTests": 1, "warnedTests": 0, "failedTests": 1}
    # against the database itself: the image and environment too
    code, out = harness(
        capsys, *args, "--db", f"sqlite:///{tmp_path / 'main.db'}", "--run", str(run_id)
    )
    assert code == 0, out
    assert json.loads(out)["checked"] == [
        "signature", "commit, image and environment", "tests"
    ]  # fmt: skip
    # results that are not the attested ones (a stored outcome changed later) do not verify
    doctored = json.loads((tmp_path / "results.json").read_text())
    doctored["results"] = [[t, "passed"] for t, _ in doctored["results"]]
    (tmp_path / "results.json").write_text(json.dumps(doctored))
    code, out = harness(capsys, *args, "--results", str(tmp_path / "results.json"))
    assert code == 2
    assert "not the attested ones" in out
    # another key does not verify it
    other = generate(tmp_path / "other.pem")
    assert other is not None
    code, out = harness(
        capsys,
        "attest",
        "verify",
        str(tmp_path / "att.json"),
        "--key",
        str(tmp_path / "other.pem.pub"),
    )
    assert code == 2
    assert "unknown key" in out


def _edit_json(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def _flip_b_to_passed(directory: Path) -> None:
    """The results say t::b passed (counts adjusted so the bundle itself is consistent)."""
    with gzip.open(directory / "results.jsonl.gz", "rt") as fh:
        lines = [json.loads(line) for line in fh]
    for line in lines:
        if line[0] == "t::b":
            line[1], line[3] = "passed", None
    with gzip.open(directory / "results.jsonl.gz", "wt") as fh:
        fh.writelines(json.dumps(line) + "\n" for line in lines)

    def counts(doc: dict[str, Any]) -> None:
        doc["run"]["counts"] = {"passed": 2, "skipped": 1}
        doc["run"]["status"] = "passed"

    _edit_json(directory / "run.json", counts)


def _other_commit(directory: Path) -> None:
    _edit_json(directory / "run.json", lambda d: d["run"].update(sha="d" * 40))


def _other_image(directory: Path) -> None:
    _edit_json(
        directory / "run.json",
        lambda d: d["environment"]["image"].update(digest="sha256:" + "ef" * 32),
    )


def _forged_payload(directory: Path) -> None:
    def forge(envelope: dict[str, Any]) -> None:
        statement = json.loads(base64.b64decode(envelope["payload"]))
        statement["predicate"]["failedTests"] = []
        statement["predicate"]["passedTests"] = ["t::a", "t::b"]
        statement["predicate"]["result"] = "PASSED"
        envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()

    _edit_json(directory / "attestation.json", forge)
    _flip_b_to_passed(directory)


def _no_attestation(directory: Path) -> None:
    (directory / "attestation.json").unlink()


@pytest.mark.parametrize(
    ("tamper", "status", "says"),
    [
        (_flip_b_to_passed, 422, "not the attested ones"),
        (_other_commit, 422, "attested commit is git+https://github.com/example/demo@cccc"),
        (_other_image, 422, "attested image digest abababab"),
        (_forged_payload, 403, "bad signature"),
        (_no_attestation, 403, "carries no attestation"),
    ],
)
def test_tampered_bundles_are_refused_and_nothing_is_stored(
    client: TestClient,
    store: Store,
    runner: Runner,
    tmp_path: Path,
    tamper: Callable[[Path], None],
    status: int,
    says: str,
) -> None:
    directory = signed_bundle(tmp_path, runner.key)
    tamper(directory)
    r = post(client, directory)
    assert r.status_code == status, r.text
    assert says in r.json()["error"]
    assert stored_runs(store) == 0


def test_unknown_and_expired_keys_are_refused(
    client: TestClient, store: Store, runner: Runner, tmp_path: Path
) -> None:
    stranger = Ed25519PrivateKey.generate()
    r = post(client, signed_bundle(tmp_path, stranger))
    assert r.status_code == 403
    assert "unknown key" in r.json()["error"]
    # the runner's key, registered again with a not_after in the past
    register(
        runner.trusted, runner.key.public_key(), "npu-runner-1", datetime(2020, 1, 1, tzinfo=UTC)
    )
    r = post(client, signed_bundle(tmp_path, runner.key))
    assert r.status_code == 403
    assert "of runner npu-runner-1, which expired at 2020-01-01" in r.json()["error"]
    assert stored_runs(store) == 0


def test_without_trusted_keys_bundles_are_taken_as_before(
    client: TestClient, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HARNESS_ATTEST_TRUSTED_KEYS", raising=False)
    r = post(client, signed_bundle(tmp_path, None))
    assert r.status_code == 201, r.text
    run_id = r.json()["runs"][0]["run"]
    assert client.get(f"/api/runs/{run_id}/attestation").status_code == 404


def test_the_check_run_and_the_pr_comment_link_to_the_attestation(
    store: Store, runner: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.config.service import ServiceConfig
    from harness.service import outbox
    from tests.service.test_results_api import dispatched_item

    config = ServiceConfig.model_validate(
        {
            "vendor": "acme",
            "details_url": "https://ci.example/runs/{run_id}.html",
            "upstreams": {"example/demo": {"level": "check"}},
        }
    )
    client = TestClient(create_app(store, b"hook", service_config=config, results_secret=SECRET))
    item_id = dispatched_item(store)
    monkeypatch.setenv("HARNESS_QUEUE_ITEM", str(item_id))
    r = post(client, signed_bundle(tmp_path, runner.key))
    assert r.status_code == 201, r.text
    run_id = r.json()["runs"][0]["run"]
    link = f"https://ci.example/api/runs/{run_id}/attestation"
    entries = {e.kind: e for e in outbox.list_entries(store)}
    assert f"Signed attestation: {link}" in entries["check_run"].payload["summary"]
    assert f"([attestation]({link}))" in entries["comment"].payload["body"]


def test_attestations_are_stored_and_served_on_both_databases(
    db_url: str, runner: Runner, tmp_path: Path
) -> None:
    with Store.open(db_url) as store:
        client = TestClient(create_app(store, b"hook", results_secret=SECRET))
        directory = signed_bundle(tmp_path, runner.key)
        _other_commit(directory)
        assert post(client, directory).status_code == 422
        directory = signed_bundle(tmp_path, runner.key)
        sent = json.loads((directory / "attestation.json").read_text())
        r = post(client, directory)
        assert r.status_code == 201, r.text
        run_id = r.json()["runs"][0]["run"]
        assert client.get(f"/api/runs/{run_id}/attestation").json() == sent
        with store.reading("t") as tx:
            assert tx.attestations.signed([run_id, run_id + 1]) == {run_id}
            found = tx.attestations.get(run_id)
        assert found is not None
        assert found.runner == "npu-runner-1"
        assert stored_runs(store) == 1


def test_a_broken_trusted_keys_file_is_the_services_fault_and_stores_nothing(
    client: TestClient, store: Store, runner: Runner, tmp_path: Path
) -> None:
    runner.trusted.write_text(
        "keys:\n- runner: x\n  public_key: not-a-key\n  not_after: 2030-01-01\n"
    )
    r = post(client, signed_bundle(tmp_path, runner.key))
    assert r.status_code == 503
    assert "not an Ed25519 public key" in r.json()["error"]
    assert stored_runs(store) == 0
