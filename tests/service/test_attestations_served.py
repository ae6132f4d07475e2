"""An upstream maintainer's check, against a real ``harness serve``: a runner sends a
signed bundle (``harness results send``), the maintainer fetches its attestation by URL
and verifies it offline with the runner's public key (``harness attest verify URL``),
including that the tests it lists are the ones the service stores; once a stored outcome
is changed behind the service's back, the same check fails."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness.attest.keys import generate, register
from tests.fixture_upstream import make_upstream
from tests.github_standin import GitHubStandIn
from tests.service.support import (
    REPO,
    SECRET,
    Service,
    deliver,
    demo_suites,
    push_payload,
    service_env,
    service_yaml,
    settled,
    wait_for,
)
from tests.service.test_attestations_api import signed_bundle

RESULTS_SECRET = "results-s3cret"


def harness(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_an_attestation_fetched_from_the_service_verifies_offline(tmp_path: Path) -> None:
    key_file = tmp_path / "runner" / "attest.pem"
    key = generate(key_file)
    trusted = tmp_path / "trusted-keys.yaml"
    register(trusted, key.public_key(), "npu-runner-1", datetime.now(UTC) + timedelta(days=7))
    suites = tmp_path / "suites"
    (suites / "service").mkdir(parents=True)
    (suites / "service" / "config.yaml").write_text(service_yaml("status"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    env |= {
        "HARNESS_WEBHOOK_SECRET": SECRET.decode(),
        "HARNESS_RESULTS_SECRET": RESULTS_SECRET,
        "HARNESS_ATTEST_TRUSTED_KEYS": str(trusted),
        "HARNESS_CACHE": str(tmp_path / "cache"),
    }
    db = tmp_path / "service.db"
    svc = Service(tmp_path, suites, f"sqlite:///{db}", env, workers=0)
    try:
        bundle = signed_bundle(tmp_path, key)
        sent = harness("results", "send", str(bundle), "--to", svc.url, env=env)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        (run,) = json.loads(sent.stdout)["runs"]
        run_id = run["run"]
        url = f"{svc.url}/api/runs/{run_id}/attestation"
        maintainer = {k: v for k, v in env.items() if not k.startswith("HARNESS_")}
        pub = str(key_file.with_name("attest.pem.pub"))
        ok = harness("attest", "verify", url, "--key", pub, "--json", env=maintainer)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        report = json.loads(ok.stdout)
        assert report["checked"] == ["signature", "commit", "tests"]
        assert report["compared_with"]["run"] == run_id
        assert report["result"] == "FAILED"
        assert report["tests"] == {"passedTests": 1, "warnedTests": 0, "failedTests": 1}

        # a stored outcome changed in the service's database: the check now fails
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE results SET outcome = 'passed' WHERE test_id = 't::b'")
        bad = harness("attest", "verify", url, "--key", pub, env=maintainer)
        assert bad.returncode == 2
        said = " ".join(bad.stderr.split())  # the console wraps long lines
        assert "not the attested ones: passedTests has 2 test(s), the attestation 1" in said
        assert "not attested: ['t::b']" in said
    finally:
        svc.close()


def test_a_run_the_services_worker_finishes_is_signed_with_its_key(
    tmp_path: Path,
    gh: GitHubStandIn,
    shared_cache: Path,
    wheels: Path,
    webhook_examples: dict[str, list[dict[str, Any]]],
) -> None:
    upstream = make_upstream(tmp_path / "upstream")
    key_file = tmp_path / "service-key" / "attest.pem"
    generate(key_file)
    env = service_env(gh, shared_cache) | {"HARNESS_ATTEST_KEY_FILE": str(key_file)}
    suites = demo_suites(tmp_path, upstream.url, wheels)
    svc = Service(tmp_path, suites, f"sqlite:///{tmp_path / 'harness.db'}", env)
    try:
        sha = upstream.rev_parse("main")
        assert deliver(svc.url, "push", push_payload(webhook_examples, sha=sha)).status_code == 202
        wait_for(lambda: settled(svc), 240, "the baseline run", svc)
        (item,) = svc.api("/api/queue")["items"]
        assert item["state"] == "done"
        url = f"{svc.url}/api/runs/{item['run_id']}/attestation"
        maintainer = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
        pub = str(key_file.with_name("attest.pem.pub"))
        ok = harness("attest", "verify", url, "--key", pub, "--json", env=maintainer)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        report = json.loads(ok.stdout)
        assert report["checked"] == ["signature", "commit", "tests"]
        assert report["subject"][0] == {
            "name": f"git+https://github.com/{REPO}@{sha}",
            "digest": {"gitCommit": sha},
        }
        assert sum(report["tests"].values()) > 0
    finally:
        svc.close()
