"""``harness worker`` and its reporters: a chat webhook configured but its secret
missing or malformed stops the worker at start with the variable's name, never a URL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def worker(
    tmp_path: Path, env: dict[str, str], command: tuple[str, ...] = ("worker", "--once")
) -> subprocess.CompletedProcess[str]:
    suites = tmp_path / "suites"
    (suites / "service").mkdir(parents=True, exist_ok=True)
    (suites / "service" / "config.yaml").write_text(
        "vendor: acme\nupstreams:\n  example/demo:\n    chat: {webhook_url_env: ACME_CHAT_URL}\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "ACME_"))}
    return subprocess.run(
        [sys.executable, "-m", "harness", *command, "--executor", "local",
         "--db", f"sqlite:///{tmp_path / 'h.db'}", "--suites", str(suites)],
        env=clean | env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_missing_chat_secret_stops_the_worker(tmp_path: Path) -> None:
    res = worker(tmp_path, {})
    assert res.returncode == 2, res.stderr
    assert "chat for example/demo: the environment variable ACME_CHAT_URL is not set" in res.stderr


def test_a_malformed_chat_secret_is_not_shown(tmp_path: Path) -> None:
    res = worker(tmp_path, {"ACME_CHAT_URL": "hooks.example/services/s3cretT0ken"})
    assert res.returncode == 2, res.stderr
    assert "not an http(s) URL" in res.stderr
    assert "s3cretT0ken" not in res.stderr + res.stdout


def test_with_the_secret_the_worker_starts_with_the_chat_reporter(tmp_path: Path) -> None:
    res = worker(tmp_path, {"ACME_CHAT_URL": "https://hooks.example/services/s3cretT0ken"})
    assert res.returncode == 0, res.stderr
    assert "reporters: chat" in res.stderr
    assert "s3cretT0ken" not in res.stderr + res.stdout


def test_serve_checks_the_reporters_before_starting_workers(tmp_path: Path) -> None:
    res = worker(tmp_path, {}, ("serve", "--workers", "1", "--port", "0"))
    assert res.returncode == 2, res.stderr
    assert "the environment variable ACME_CHAT_URL is not set" in res.stderr
    assert "worker w" not in res.stderr  # no worker was started to fail
