"""``harness runs export``: the real CLI in a subprocess, on a stored run with reruns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from lxml import etree

from harness.store import Store
from tests.cli.conftest import Result
from tests.reporting.runs import make_run
from tests.reporting.test_ctrf import validate

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, db_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
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
    proc = cli(
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

    proc = cli("runs", "export", str(run_id), "--format", "junit", db_url=db_url, cwd=tmp_path)
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
    proc = cli(
        "runs", "export", "999", "--format", "junit", "--out", str(out),
        db_url=db_url, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr  # as `harness runs show` says it
    assert "no run with id 999" in proc.stderr
    assert not out.exists()
    proc = cli(
        "runs", "export", str(run_id), "--format", "ctrf", "--json", db_url=db_url, cwd=tmp_path
    )
    assert proc.returncode == 2
    assert "--out" in proc.stderr


def test_help_names_the_formats(tmp_path: Path) -> None:
    proc = cli("runs", "export", "--help", db_url=f"sqlite:///{tmp_path / 'h.db'}", cwd=tmp_path)
    assert proc.returncode == 0
    assert "ctrf" in proc.stdout
    assert "junit" in proc.stdout


def test_a_real_run_with_reruns_exports(harness: Callable[..., Result]) -> None:
    """``harness run --reruns 2`` of the fixture upstream, then both exports of it."""
    res = harness("run", "demo/cpu", "--reruns", "2", "--json")
    assert res.code == 1, res.err
    (run,) = res.json()["runs"]
    ctrf = harness("runs", "export", str(run["run_id"]), "--format", "ctrf")
    assert ctrf.code == 0, ctrf.err
    doc = json.loads(ctrf.out)
    validate(doc)
    tests = {t["name"]: t for t in doc["results"]["tests"]}
    assert len(tests) == sum(run["counts"].values())
    fail = tests["tests.test_basic::test_fail"]
    assert (fail["status"], fail["retries"], fail["flaky"]) == ("failed", 2, False)
    assert [a["attempt"] for a in fail["retryAttempts"]] == [1, 2]
    junit = harness("runs", "export", str(run["run_id"]), "--format", "junit")
    assert junit.code == 0, junit.err
    root = etree.fromstring(junit.out.encode())
    case = root.find(".//testcase[@name='test_fail']")
    assert case is not None
    assert [c.tag for c in case] == ["failure", "rerunFailure", "rerunFailure"]
