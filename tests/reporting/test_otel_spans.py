"""A run's OpenTelemetry CI/CD spans, exported by the real OTLP/HTTP exporter to a real
receiver (tests/otlp_receiver.py decodes the protobuf it is sent), and a collector that is
down, broken or hanging costs the caller nothing but a ``False``."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from opentelemetry.semconv._incubating.attributes import (
    cicd_attributes as cicd,
)
from opentelemetry.semconv._incubating.attributes import (
    test_attributes as semtest,
)
from opentelemetry.semconv._incubating.attributes import (
    vcs_attributes as vcs,
)

from harness import settings
from harness.reporting import otel_spans
from harness.reporting.otel_spans import StepSpan, export, gather
from harness.store import Store
from tests.otlp_receiver import closed_port_url, otlp_receiver
from tests.reporting.runs import make_run

SPAN_KIND_INTERNAL, SPAN_KIND_SERVER = 1, 2
STATUS_ERROR = 2


def _spans_of_run(tmp_path: Path) -> otel_spans.RunSpans:
    with Store.open(f"sqlite:///{tmp_path / 'h.db'}") as store:
        run_id = make_run(store)
        t0 = time.time_ns()
        steps = [
            StepSpan("setup", "install", 0, t0, t0 + 2_000_000_000, "success"),
            StepSpan("test", "pytest", 1, t0 + 2_000_000_000, t0 + 4_000_000_000, "failure"),
            StepSpan("test", "never ended", 2, t0 + 4_000_000_000),  # not sent
        ]
        return gather(store, run_id, steps, started_ns=t0)


def test_the_trace_of_a_run_follows_the_cicd_and_test_conventions(tmp_path: Path) -> None:
    spans = _spans_of_run(tmp_path)
    with otlp_receiver() as receiver:
        assert export(spans, receiver.url) is True
        got = receiver.spans
    assert len(receiver.requests) == 1  # the whole trace in one request
    assert receiver.content_types == ["application/x-protobuf"]
    by_name = {s.name: s for s in got}
    root = by_name["RUN demo/npu/host"]
    assert root.kind == SPAN_KIND_SERVER
    assert root.parent_span_id == b""
    assert root.attributes[cicd.CICD_PIPELINE_NAME] == "demo/npu/host"
    assert root.attributes[cicd.CICD_PIPELINE_RUN_ID] == str(spans.run_id)
    assert root.attributes[cicd.CICD_PIPELINE_RESULT] == "failure"
    assert root.attributes[vcs.VCS_REF_HEAD_REVISION] == "a" * 40
    assert root.attributes[vcs.VCS_REF_HEAD_NAME] == "main"
    assert root.attributes["error.type"] == "failed"
    assert (root.status_code, root.status_message) == (STATUS_ERROR, "2 test(s) failed")
    assert root.start_ns == spans.started_ns
    assert root.resource[cicd.CICD_PIPELINE_RUN_ID] == str(spans.run_id)
    assert root.resource["service.name"] == "accel-harness"
    assert {s.trace_id for s in got} == {root.trace_id}

    setup, test = by_name["setup install"], by_name["test pytest"]
    assert "test never ended" not in by_name
    for task in (setup, test):
        assert task.parent_span_id == root.span_id
        assert task.kind == SPAN_KIND_INTERNAL
    assert setup.attributes[cicd.CICD_PIPELINE_TASK_TYPE] == "build"
    assert setup.attributes[cicd.CICD_PIPELINE_TASK_RUN_RESULT] == "success"
    assert test.attributes[cicd.CICD_PIPELINE_TASK_NAME] == "test pytest"
    assert test.attributes[cicd.CICD_PIPELINE_TASK_TYPE] == "test"
    assert test.attributes[cicd.CICD_PIPELINE_TASK_RUN_RESULT] == "failure"
    assert test.attributes[cicd.CICD_PIPELINE_TASK_RUN_ID] == f"{spans.run_id}/1"
    assert test.end_ns - test.start_ns == 2_000_000_000

    suite = by_name["test suite demo"]
    assert suite.parent_span_id == root.span_id
    assert suite.attributes[semtest.TEST_SUITE_NAME] == "demo"
    assert suite.attributes[semtest.TEST_SUITE_RUN_STATUS] == "failure"
    assert suite.attributes["harness.tests.passed"] == 2
    assert suite.attributes["harness.tests.flaky"] == 2
    cases = {
        s.attributes[semtest.TEST_CASE_NAME]: s for s in got if s.parent_span_id == suite.span_id
    }
    # failing and flaky tests only; passing ones are counted on the suite
    assert {k: v.attributes[semtest.TEST_CASE_RESULT_STATUS] for k, v in cases.items()} == {
        "tests/test_a.py::TestK::test_fail": "fail",
        "tests/test_a.py::test_flaky": "pass",
        "tests/test_a.py::test_err": "pass",
        "tests/test_c.py::test_ctrl": "fail",
    }
    fail = cases["tests/test_a.py::TestK::test_fail"]
    assert fail.attributes["harness.test.attempts"] == 3
    assert fail.status_message == "AssertionError: 1 != 4"
    assert cases["tests/test_a.py::test_flaky"].attributes["harness.test.flaky"] is True


def test_the_standard_otel_variable_and_ours(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HARNESS_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert otel_spans.endpoint() is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert otel_spans.endpoint() == ""  # the exporter reads the standard variables
    monkeypatch.setenv(settings.OTLP_ENDPOINT.name, "http://ours:4318")
    assert otel_spans.endpoint() == "http://ours:4318"


def test_the_exporter_reads_the_standard_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spans = _spans_of_run(tmp_path)
    with otlp_receiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        assert export(spans, "") is True
        assert any(s.name == "RUN demo/npu/host" for s in receiver.spans)


@pytest.mark.parametrize("collector", ["down", "fail", "hang"])
def test_a_broken_collector_costs_a_false_and_a_bounded_wait(
    tmp_path: Path, collector: str
) -> None:
    spans = _spans_of_run(tmp_path)
    with otlp_receiver(mode=collector if collector != "down" else "ok", hang_s=5) as receiver:
        url = closed_port_url() if collector == "down" else receiver.url
        started = time.monotonic()
        assert export(spans, url, timeout_s=1.0) is False
        took = time.monotonic() - started
    assert took < 4.0, took  # the timeout bounds it, retries included
    if collector != "down":
        assert receiver.posts >= 1
    assert receiver.requests == []


def test_the_timeout_setting_bounds_an_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spans = _spans_of_run(tmp_path)
    monkeypatch.setenv(settings.OTLP_TIMEOUT.name, "0.5")
    with otlp_receiver(mode="hang", hang_s=15) as receiver:
        started = time.monotonic()
        assert export(spans, receiver.url) is False
        took = time.monotonic() - started
    assert took < 3.0, took  # not the default 10 s
