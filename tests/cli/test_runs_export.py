"""``harness runs export``: the real CLI in a subprocess, on a stored run with reruns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lxml import etree

from harness.store import Store
from tests.reporting.runs import make_run

ROOT = Path(__file__).resolve().parents[2]


def harness(*args: str, db_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=cwd,
        env={**os.environ, "HARNESS_DB": db_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_export_ctrf_to_a_file_and_junit_to_stdout(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'h.db'}"
    with Store.open(db_url) as store:
        run_id = make_run(store)
    out = tmp_path / "report.json"
    proc = harness(
        "runs", "export", str(run_id), "--format", "ctrf", "--out", str(out), "--json",
        db_url=db_url, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "run": run_id,
        "format": "ctrf",
        "out": str(out),
        "tests": 9,
    }
    doc = json.loads(out.read_text())
    assert doc["results"]["summary"]["flaky"] == 2
    assert not list(tmp_path.glob(".*.part"))  # written aside, then moved into place

    proc = harness("runs", "export", str(run_id), "--format", "junit", db_url=db_url, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    root = etree.fromstring(proc.stdout.encode())
    assert root.find("testsuite").get("tests") == "9"
    assert len(root.findall(".//flakyFailure")) == 1
    assert len(root.findall(".//rerunFailure")) == 2


def test_unknown_run_and_json_without_out_are_refused(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'h.db'}"
    with Store.open(db_url) as store:
        run_id = make_run(store)
    out = tmp_path / "x.xml"
    proc = harness(
        "runs", "export", "999", "--format", "junit", "--out", str(out),
        db_url=db_url, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr  # as `harness runs show` says it
    assert "no run with id 999" in proc.stderr
    assert not out.exists()
    proc = harness(
        "runs", "export", str(run_id), "--format", "ctrf", "--json", db_url=db_url, cwd=tmp_path
    )
    assert proc.returncode == 2
    assert "--out" in proc.stderr


def test_help_names_the_formats(tmp_path: Path) -> None:
    proc = harness(
        "runs", "export", "--help", db_url=f"sqlite:///{tmp_path / 'h.db'}", cwd=tmp_path
    )
    assert proc.returncode == 0
    assert "ctrf" in proc.stdout
    assert "junit" in proc.stdout
