"""The redelivery sweeper against GitHub's OpenAPI description on Prism (the App's JWT,
``GET /app/hook/deliveries``, ``POST …/attempts``), with delivery lists the proxy plays."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harness.codehost.github.client import Credentials
from harness.codehost.github.redeliver import app_session, sweep
from harness.errors import ConfigError
from harness.store import Store
from harness.store.deliveries import Delivery, record_delivery
from tests.github_standin import GitHubStandIn
from tests.service.support import Service, service_env, wait_for

LIST = r"^/app/hook/deliveries(\?|$)"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'h.db'}")
    yield s
    s.close()


@pytest.fixture
def app_env(gh: GitHubStandIn, tmp_path: Path) -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    (tmp_path / "app.pem").write_bytes(pem)
    return {
        "HARNESS_GITHUB_API_URL": gh.url,
        "HARNESS_GITHUB_APP_ID": "123",
        "HARNESS_GITHUB_APP_KEY_FILE": str(tmp_path / "app.pem"),
    }


def attempt(n: int, guid: str, code: int, *, ago_s: float = 60, status: str = "") -> dict[str, Any]:
    when = datetime.now(UTC) - timedelta(seconds=ago_s)
    return {
        "id": n, "guid": guid, "delivered_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "redelivery": False, "duration": 0.1, "status": status or ("OK" if code == 200 else
        f"Invalid HTTP Response: {code}"), "status_code": code, "event": "pull_request",
        "action": "opened", "installation_id": 4242, "repository_id": 1,
    }  # fmt: skip


def test_github_accepts_the_calls_and_nothing_that_succeeded_is_redelivered(
    gh: GitHubStandIn, store: Store, app_env: dict[str, str]
) -> None:
    creds = Credentials.from_env(app_env)
    assert creds is not None
    # Prism's own example list: deliveries that got 200
    result = sweep(store, app_session(creds), window=timedelta(days=365 * 20))
    assert result.listed == 2
    assert result.asked == []
    (listed,) = gh.recorder.matching("GET", LIST)
    assert (listed.status, listed.auth) == (200, "bearer")  # the App's JWT


def test_failed_deliveries_not_stored_are_asked_for_again(
    gh: GitHubStandIn, store: Store, app_env: dict[str, str]
) -> None:
    record_delivery(store, Delivery("stored-guid", "pull_request", "opened", "o/r", "{}"))
    page1 = [
        attempt(9, "lost-guid", 503),  # the newest attempt failed: ask again
        attempt(8, "stored-guid", 502),  # in the database: only the answer was lost
        attempt(7, "fixed-guid", 200),  # a later attempt succeeded
        attempt(6, "fixed-guid", 502, ago_s=120),
        attempt(5, "forged-guid", 401),  # the same request would fail the same way
    ]
    page2 = [
        *(attempt(4 - i, "hopeless-guid", 502, ago_s=200 + i) for i in range(4)),
        attempt(1, "ancient-guid", 503, ago_s=30 * 3600),  # out of the window: not read on
    ]
    nxt = f'<{gh.url}/app/hook/deliveries?per_page=100&cursor=v1_abc>; rel="next"'
    gh.recorder.answer_next("GET", LIST, 200, page1, headers={"Link": nxt})
    gh.recorder.answer_next("GET", LIST, 200, page2)
    creds = Credentials.from_env(app_env)
    assert creds is not None
    result = sweep(store, app_session(creds), window=timedelta(hours=6), max_attempts=3)

    assert result.asked == ["lost-guid"]
    assert result.refused == {"forged-guid": "401 Invalid HTTP Response: 401"}
    assert result.given_up == ["hopeless-guid"]
    assert result.listed == 9
    (second,) = [r for r in gh.recorder.matching("GET", LIST) if "cursor=v1_abc" in r.path]
    assert second.auth == "bearer"
    (redo,) = gh.recorder.matching("POST", r"^/app/hook/deliveries/\d+/attempts$")
    assert redo.path == "/app/hook/deliveries/9/attempts"
    assert redo.status == 202  # Prism: the spec's answer for a redelivery request
    assert redo.auth == "bearer"


def test_the_command_reports_in_json_and_needs_app_credentials(
    gh: GitHubStandIn, tmp_path: Path, app_env: dict[str, str]
) -> None:
    gh.recorder.answer_next("GET", LIST, 200, [attempt(3, "lost-guid", 504)])
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    cmd = [sys.executable, "-m", "harness", "redeliver", "--db", db, "--json"]
    proc = subprocess.run(
        cmd, env=app_env | {"PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["asked"] == ["lost-guid"]
    with pytest.raises(ConfigError, match="App credentials"):
        app_session(Credentials(api_url=gh.url, token="t0ken"))


def test_serve_sweeps_by_itself_with_app_credentials(
    gh: GitHubStandIn, tmp_path: Path, app_env: dict[str, str], shared_cache: Path
) -> None:
    gh.recorder.answer_next("GET", LIST, 200, [attempt(3, "lost-guid", 503)])
    suites = tmp_path / "suites"
    suites.mkdir()
    env = service_env(gh, shared_cache) | app_env
    env.pop("HARNESS_GITHUB_TOKEN")
    svc = Service(
        tmp_path, suites, f"sqlite:///{tmp_path / 'h.db'}", env, workers=0,
        args=("--redeliver-every", "1s"),
    )  # fmt: skip
    try:
        wait_for(
            lambda: gh.recorder.matching("POST", r"^/app/hook/deliveries/3/attempts$"),
            180,
            "serve to ask GitHub to redeliver",
            svc,
        )
        assert "asked GitHub to redeliver lost-guid" in svc.logs()
    finally:
        svc.close()
