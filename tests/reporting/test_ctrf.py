"""The CTRF export: valid against the published CTRF JSON Schema (vendored from the
``ctrf`` npm package, tests/reporting/data/README.md), reruns as retries and flaky."""

from __future__ import annotations

import io
import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness.reporting.ctrf import write_ctrf
from harness.store import Store
from tests.reporting.runs import FIRST, make_run

SCHEMA = json.loads((Path(__file__).parent / "data" / "ctrf-schema-0.0.json").read_text())


#: the schema's formats, checked: jsonschema checks date-time and uuid only with optional
#: packages installed, so the checker gets its own (RFC 3339 date-time, UUID)
FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not RFC3339.fullmatch(value):
        raise ValueError(f"not an RFC 3339 date-time: {value!r}")
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@FORMATS.checks("uuid", raises=ValueError)
def _uuid(value: object) -> bool:
    if isinstance(value, str):
        uuid.UUID(value)
    return True


RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def validate(doc: dict[str, Any]) -> None:
    validator = jsonschema.Draft7Validator(SCHEMA, format_checker=FORMATS)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def export(store: Store, run_id: int) -> dict[str, Any]:
    out = io.StringIO()
    n = write_ctrf(out, store, run_id, now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    doc: dict[str, Any] = json.loads(out.getvalue())
    assert n == len(doc["results"]["tests"])
    return doc


def test_export_is_valid_ctrf_with_reruns(db_url: str) -> None:
    with Store.open(db_url) as store:
        run_id = make_run(store)
        rec = store.get_run(run_id)
        doc = export(store, run_id)
    validate(doc)
    assert (doc["reportFormat"], doc["specVersion"]) == ("CTRF", "0.0.0")
    assert doc["timestamp"] == "2026-01-02T03:04:05Z"
    results = doc["results"]
    assert results["tool"]["name"] == "accel-harness"
    tests = {t["name"]: t for t in results["tests"]}
    assert list(tests) == [r.test_id for r in FIRST]  # every case, in the stored order

    flaky = tests["tests/test_a.py::test_flaky"]
    assert (flaky["status"], flaky["flaky"], flaky["retries"]) == ("passed", True, 1)
    assert flaky["retryAttempts"] == [
        {"attempt": 1, "status": "failed", "duration": 250, "message": "boom"}
    ]
    assert flaky["duration"] == 200  # the passing attempt the case is reported by

    err = tests["tests/test_a.py::test_err"]
    assert (err["status"], err["flaky"], err["retries"]) == ("passed", True, 2)
    assert [(a["attempt"], a["status"]) for a in err["retryAttempts"]] == [
        (1, "failed"),
        (2, "failed"),
    ]

    fail = tests["tests/test_a.py::TestK::test_fail"]
    assert (fail["status"], fail["flaky"], fail["retries"]) == ("failed", False, 2)
    assert fail["message"] == "AssertionError: 1 != 4"  # the last attempt's
    assert [a["message"] for a in fail["retryAttempts"]] == [
        "AssertionError: 1 != 2\nE  more",
        "AssertionError: 1 != 3",
    ]
    assert fail["suite"] == ["tests/test_a.py", "TestK"]

    assert tests["tests/test_b.py::test_xf"]["status"] == "skipped"
    assert tests["tests/test_b.py::test_xf"]["rawStatus"] == "xfailed"
    assert tests["tests/test_b.py::test_xp"]["status"] == "passed"
    assert "retries" not in tests["tests/test_a.py::test_pass"]
    assert tests["tests/test_a.py::test_pass"]["duration"] == 12
    assert "suite" not in tests["MatMul.Fp16"]

    summary = results["summary"]
    assert {k: summary[k] for k in ("tests", "passed", "failed", "skipped", "flaky")} == {
        "tests": 9,
        "passed": 5,
        "failed": 2,
        "skipped": 2,
        "flaky": 2,
    }
    assert "suites" not in summary  # optional; the ctrf library counts suite paths
    assert summary["start"] == round(rec.started_at.timestamp() * 1000)
    assert rec.finished_at is not None
    assert summary["stop"] == round(rec.finished_at.timestamp() * 1000)
    env = results["environment"]
    assert (env["commit"], env["branchName"], env["buildId"]) == ("a" * 40, "main", str(run_id))
    assert env["healthy"] is False


def test_a_run_without_results_is_still_a_valid_report(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'h.db'}") as store:
        run_id = store.start_run(
            job_id=None, cell="demo/cpu/host", suite="demo", backend="cpu", variant="host",
            upstream="example/demo", ref=None, sha=None, executor="local",
            log_dir=None, out_dir=None,
        )  # fmt: skip
        doc = export(store, run_id)  # still running: no finish time yet
    validate(doc)
    assert doc["results"]["tests"] == []
    assert doc["results"]["summary"]["tests"] == 0


def test_the_schema_check_itself_refuses_a_broken_report(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'h.db'}") as store:
        doc = export(store, make_run(store))
    good = json.dumps(doc)
    doc["results"]["tests"][0]["status"] = "xfailed"  # not a CTRF status
    with pytest.raises(AssertionError, match="xfailed"):
        validate(doc)
    for key, bad in (("timestamp", "2026-01-02 03:04"), ("reportId", "run-1")):
        doc = json.loads(good)
        doc[key] = bad
        with pytest.raises(AssertionError, match=key):
            validate(doc)
