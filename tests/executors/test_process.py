from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from harness.executors.process import run_command


def bash(script: str, tmp_path: Path, timeout: float = 30, **kw: object):  # type: ignore[no-untyped-def]
    lines: list[str] = []
    out = run_command(
        ["bash", "-c", script],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"]},
        timeout_s=timeout,
        log_path=tmp_path / "logs" / "step.log",
        on_line=lines.append,
        **kw,  # type: ignore[arg-type]
    )
    return out, lines


def test_output_streams_to_log_and_callback(tmp_path: Path) -> None:
    out, lines = bash("echo one; echo two >&2; exit 3", tmp_path, header="[harness] $ demo")
    assert out.exit_code == 3
    assert not out.ok
    assert lines == ["one", "two"]
    log = (tmp_path / "logs" / "step.log").read_text()
    assert log.splitlines() == ["[harness] $ demo", "one", "two"]
    assert out.describe() == "exited with code 3"


def test_timeout_kills_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    start = time.monotonic()
    out, _ = bash(
        f"(trap '' TERM; sleep 300) & echo $! > {pidfile}; sleep 300",
        tmp_path,
        timeout=1,
        kill_grace_s=1,
    )
    assert out.timed_out
    assert time.monotonic() - start < 20
    child = int(pidfile.read_text())
    # the TERM-ignoring grandchild must be gone too (SIGKILL to the group)
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        status = Path(f"/proc/{child}/status").read_text()
        assert "zombie" in status, f"child {child} survived the timeout"
    assert "timed out after 1 s" in (tmp_path / "logs" / "step.log").read_text()


def test_killed_by_signal_is_reported(tmp_path: Path) -> None:
    out, _ = bash("kill -9 $$", tmp_path)
    assert out.signal == signal.SIGKILL
    assert out.exit_code is None
    assert out.describe() == "killed by SIGKILL"


def test_background_child_holding_stdout_does_not_hang(tmp_path: Path) -> None:
    start = time.monotonic()
    out, _ = bash("sleep 300 & echo started", tmp_path)
    assert out.exit_code == 0
    assert time.monotonic() - start < 15


def test_missing_cwd_is_a_step_error(tmp_path: Path) -> None:
    from harness.errors import StepError

    with pytest.raises(StepError):
        run_command(
            ["true"], cwd=tmp_path / "nope", env={}, timeout_s=5, log_path=tmp_path / "l.log"
        )


def test_a_40_mb_line_on_the_host_is_logged_whole_and_cut_for_the_tail(tmp_path: Path) -> None:
    log = tmp_path / "step.log"
    outcome = run_command(
        ["sh", "-c", "head -c 41943040 /dev/zero | tr '\\0' x; echo; echo done"],
        cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, timeout_s=300, log_path=log,
    )  # fmt: skip
    assert outcome.ok
    assert outcome.tail[-1] == "done"
    assert outcome.tail[-2].endswith("[…line cut]")
    assert log.stat().st_size >= 40 << 20
