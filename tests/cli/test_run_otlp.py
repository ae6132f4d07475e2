"""``harness run`` with an OTLP endpoint: the real run sends its CI/CD span tree to a real
OTLP/HTTP receiver; with the collector down or failing, the run is the same run."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.cli.conftest import Result
from tests.fixture_upstream import BASIC_COUNTS
from tests.otlp_receiver import closed_port_url, otlp_receiver

Harness = Callable[..., Result]


def test_a_run_sends_its_span_tree(harness: Harness) -> None:
    with otlp_receiver() as receiver:
        res = harness("run", "demo/cpu", "--json", env={"HARNESS_OTLP_ENDPOINT": receiver.url})
        spans = receiver.wait_for_spans()
    assert res.code == 1, res.err
    (run,) = res.json()["runs"]
    assert run["counts"] == BASIC_COUNTS
    by_name = {s.name: s for s in spans}
    root = by_name["RUN demo/cpu/host"]
    assert root.attributes["cicd.pipeline.run.id"] == str(run["run_id"])
    assert root.attributes["cicd.pipeline.result"] == "failure"
    assert root.attributes["vcs.ref.head.revision"] == run["sha"]
    tasks = [s for s in spans if "cicd.pipeline.task.name" in s.attributes]
    assert tasks, spans
    assert {t.parent_span_id for t in tasks} == {root.span_id}
    assert "test unit" in {t.name for t in tasks}
    assert all(t.start_ns >= root.start_ns and t.end_ns <= root.end_ns for t in tasks)
    suite = by_name["test suite demo"]
    assert suite.attributes["test.suite.run.status"] == "failure"
    assert suite.attributes["harness.tests.passed"] == BASIC_COUNTS["passed"]
    failing = {
        s.attributes["test.case.name"]: s.attributes["test.case.result.status"]
        for s in spans
        if s.parent_span_id == suite.span_id
    }
    assert failing["tests.test_basic::test_fail"] == "fail"
    assert len(failing) == BASIC_COUNTS["failed"] + BASIC_COUNTS["error"]


@pytest.mark.parametrize("collector", ["down", "fail"])
def test_a_broken_collector_does_not_change_the_run(harness: Harness, collector: str) -> None:
    with otlp_receiver(mode="fail") as receiver:
        url = closed_port_url() if collector == "down" else receiver.url
        env = {"HARNESS_OTLP_ENDPOINT": url, "HARNESS_OTLP_TIMEOUT": "2"}
        res = harness("run", "demo/cpu", "--json", env=env)
    assert res.code == 1, res.err  # test failures, as without an endpoint
    (run,) = res.json()["runs"]
    assert (run["status"], run["counts"]) == ("failed", BASIC_COUNTS)
    assert "Traceback" not in res.err
    if collector == "fail":
        assert receiver.posts >= 1
