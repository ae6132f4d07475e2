"""Failpoints: inert unless armed, and each action does what it says."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from harness import failpoints
from harness.executors.environment import filtered_host_env


def test_unarmed_failpoints_do_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(failpoints.ENV, raising=False)
    failpoints.hit("worker.claimed", "sender.posted")
    monkeypatch.setenv(failpoints.ENV, "ingest.stored=raise")
    failpoints.hit("worker.claimed")  # another one is armed


def test_raise_names_the_failpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(failpoints.ENV, "worker.claimed=sleep(0.01), sender.posted=raise")
    failpoints.hit("worker.claimed")
    with pytest.raises(failpoints.FailpointError, match=r"failpoint sender\.posted$"):
        failpoints.hit("sender.posted.final", "sender.posted")


def test_a_malformed_spec_says_what_is_expected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(failpoints.ENV, "worker.claimed=explode")
    expected = r"NAME=kill, NAME=raise, NAME=sleep\(SECONDS\) or NAME=until\(PATH\)"
    with pytest.raises(ValueError, match=expected):
        failpoints.hit("worker.claimed")


def test_until_holds_the_process_until_the_file_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    gate = tmp_path / "go"
    monkeypatch.setenv(failpoints.ENV, f"results.unpacking=until({gate})")
    held = threading.Thread(target=failpoints.hit, args=("results.unpacking",))
    with caplog.at_level(logging.WARNING, logger="harness.failpoints"):
        held.start()
        held.join(0.5)
        assert held.is_alive()  # held at the failpoint
        gate.touch()
        held.join(60)
    assert not held.is_alive()
    assert f"failpoint results.unpacking: until({gate})" in caplog.text


def test_kill_is_a_sigkill_of_the_process_itself() -> None:
    code = "from harness import failpoints; failpoints.hit('x'); print('survived')"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={"HARNESS_FAILPOINTS": "x=kill", "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL
    assert "survived" not in proc.stdout


def test_steps_never_see_the_failpoints() -> None:
    env = filtered_host_env({"HARNESS_FAILPOINTS": "x=kill", "HARNESS_OTHER": "1"})
    assert env == {"HARNESS_OTHER": "1"}
