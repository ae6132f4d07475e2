"""OpenTelemetry CI/CD spans of a run, sent over OTLP/HTTP when an endpoint is configured
(``HARNESS_OTLP_ENDPOINT``, else the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``); needs the ``otel`` extra
(``pip install 'accel-harness[otel]'``).

One trace per run, following the semantic conventions for CICD and test attributes
(development status, names as in opentelemetry-semantic-conventions):

``RUN <cell>``       the pipeline run (kind SERVER): ``cicd.pipeline.name`` (the cell),
                     ``cicd.pipeline.run.id`` (the run id), ``cicd.pipeline.result``,
                     ``cicd.pipeline.action.name`` RUN, ``vcs.*`` (repository, ref, commit),
                     ``error.type`` when it did not succeed
  ``<phase> <step>`` one per step, as it ran: ``cicd.pipeline.task.name``,
                     ``cicd.pipeline.task.run.id``, ``cicd.pipeline.task.type`` (build for
                     setup and build steps, test for test steps),
                     ``cicd.pipeline.task.run.result``
  ``test suite <suite>``  ``test.suite.name``, ``test.suite.run.status`` and the counts
    ``<test id>``    one per failing or flaky test (at most :data:`MAX_TEST_SPANS`; passing
                     tests are counted on the suite span, not sent one by one):
                     ``test.case.name``, ``test.case.result.status`` (pass/fail),
                     ``harness.test.outcome``, ``harness.test.attempts``, ``harness.test.flaky``

Off the hot path and never fatal: the steps' times are recorded as they happen (a clock
read per step), the few rows the spans need are read once the run is recorded, and the
spans are exported on a thread of their own within ``HARNESS_OTLP_TIMEOUT`` (10 s). Nothing the
collector does (down, slow, refusing) changes the run or its exit code; a failed export
is logged.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

from harness import __version__, settings
from harness.reporting.run_cases import Case, make_case
from harness.store import Store

if TYPE_CHECKING:
    from harness.config.suite import Phase, Step
    from harness.executors.process import StepOutcome
    from harness.matrix import Cell
    from harness.runner import Display, RunSummary

log = logging.getLogger(__name__)

#: failing or flaky tests sent as spans, per run
MAX_TEST_SPANS = 1000

PIPELINE_RESULT = {
    "passed": "success",
    "failed": "failure",
    "error": "error",
    "crashed": "error",
    "timeout": "timeout",
    "cancelled": "cancellation",
}
SUITE_STATUS = {
    "passed": "success",
    "failed": "failure",
    "error": "aborted",
    "crashed": "aborted",
    "timeout": "timed_out",
    "cancelled": "aborted",
}


def endpoint() -> str | None:
    """Where spans go: ``HARNESS_OTLP_ENDPOINT`` (a base URL; traces are posted to
    ``<it>/v1/traces``); ``""`` when only the standard OTEL variables name one (the
    exporter reads them); ``None``: not configured, nothing is emitted."""
    if (url := settings.OTLP_ENDPOINT.get()) is not None:
        return url
    standard = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
    return "" if any(os.environ.get(name) for name in standard) else None


def missing_packages() -> str | None:
    """What to install when the OpenTelemetry packages are not there (``None``: they are)."""
    try:
        import opentelemetry.exporter.otlp.proto.http.trace_exporter
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError as exc:
        return f"{exc}; install the otel extra: pip install 'accel-harness[otel]'"
    return None


@dataclass(slots=True)
class StepSpan:
    phase: str
    name: str
    index: int
    start_ns: int
    end_ns: int = 0
    result: str = "success"


@dataclass
class SpanRecorder:
    """A display that records when each step started and ended, then passes every call
    on to the display it wraps."""

    inner: Display
    started_ns: int = field(default_factory=time.time_ns)
    steps: list[StepSpan] = field(default_factory=list)
    _open: dict[tuple[str, str], StepSpan] = field(default_factory=dict)

    def cell_started(self, cell: Cell) -> None:
        self.started_ns = time.time_ns()
        self.inner.cell_started(cell)

    def step_started(self, cell: Cell, phase: Phase, step: Step) -> None:
        span = StepSpan(phase.value, step.name, len(self.steps), time.time_ns())
        self.steps.append(span)
        self._open[(phase.value, step.name)] = span
        self.inner.step_started(cell, phase, step)

    def step_finished(self, cell: Cell, phase: Phase, step: Step, outcome: StepOutcome) -> None:
        span = self._open.pop((phase.value, step.name), None)
        if span is not None:
            span.end_ns = time.time_ns()
            span.result = (
                "success"
                if outcome.ok
                else "timeout"
                if outcome.timed_out
                else "error"
                if outcome.infra_reason
                else "failure"
            )
        self.inner.step_finished(cell, phase, step, outcome)

    def note(self, cell: Cell, text: str) -> None:
        self.inner.note(cell, text)

    def line(self, cell: Cell, text: str) -> None:
        self.inner.line(cell, text)

    def cell_finished(self, summary: RunSummary) -> None:
        self.inner.cell_finished(summary)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass(frozen=True, slots=True)
class RunSpans:
    """Everything a run's trace holds, read from the store before the export thread."""

    run_id: int
    cell: str
    suite: str
    upstream: str
    ref: str | None
    sha: str | None
    status: str
    reason: str | None
    counts: dict[str, int]
    started_ns: int
    ended_ns: int
    steps: tuple[StepSpan, ...]
    cases: tuple[Case, ...]


def gather(
    store: Store, run_id: int, steps: list[StepSpan], started_ns: int | None = None
) -> RunSpans:
    """The run's trace from the store: its record, the steps as recorded, and its
    failing or flaky tests (at most :data:`MAX_TEST_SPANS`)."""
    rec = store.get_run(run_id)
    attempts = store.attempts(run_id)
    failing = islice(store.iter_results(run_id, outcomes=["failed", "error"]), MAX_TEST_SPANS)
    cases = {r.test_id: make_case(r, attempts.get(r.test_id)) for r in failing}
    for test_id, tries in attempts.items():  # flaky tests that failed only on a rerun
        if test_id not in cases and len(cases) < MAX_TEST_SPANS:
            cases[test_id] = make_case(tries[0], tries)
    start = started_ns or int(rec.started_at.timestamp() * 1e9)
    end = (
        int(rec.finished_at.timestamp() * 1e9)
        if rec.finished_at is not None
        else start + int((rec.duration_s or 0.0) * 1e9)
    )
    return RunSpans(
        run_id=rec.id,
        cell=rec.cell,
        suite=rec.suite,
        upstream=rec.upstream,
        ref=rec.ref,
        sha=rec.sha,
        status=rec.status,
        reason=rec.reason,
        counts=dict(rec.counts),
        started_ns=start,
        ended_ns=max(end, start),
        steps=tuple(s for s in steps if s.end_ns),
        cases=tuple(cases.values()),
    )


def export(spans: RunSpans, url: str, *, timeout_s: float | None = None) -> bool:
    """Send one run's trace to ``url`` (``""``: the standard OTEL variables) within
    ``timeout_s`` (default ``HARNESS_OTLP_TIMEOUT``), retries included; returns whether
    the collector took it. Never raises."""
    try:
        return _export(spans, url, settings.OTLP_TIMEOUT.get() if timeout_s is None else timeout_s)
    except Exception:  # a telemetry failure never fails a run
        log.warning("could not send the spans of run %s", spans.run_id, exc_info=True)
        return False


def send_in_background(spans: RunSpans, url: str) -> threading.Thread:
    """Export on a thread of its own (not a daemon: a process that ends waits for it, at
    most the export timeout)."""
    thread = threading.Thread(
        target=export, args=(spans, url), name=f"otlp-run-{spans.run_id}", daemon=False
    )
    thread.start()
    return thread


def _export(spans: RunSpans, url: str, timeout_s: float) -> bool:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, Status, StatusCode

    resource = Resource.create(
        {
            "service.name": "accel-harness",
            "service.version": __version__,
            "cicd.pipeline.name": spans.cell,
            "cicd.pipeline.run.id": str(spans.run_id),
        }
    )
    # spans are collected in memory, then sent in one request: one POST per run
    collected = InMemorySpanExporter()
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(collected))
    tracer = provider.get_tracer("harness.reporting.otel_spans", __version__)

    result = PIPELINE_RESULT.get(spans.status, "error")
    root_attrs: dict[str, Any] = {
        "cicd.pipeline.name": spans.cell,
        "cicd.pipeline.run.id": str(spans.run_id),
        "cicd.pipeline.result": result,
        "cicd.pipeline.action.name": "RUN",
        "vcs.repository.name": spans.upstream,
        "vcs.repository.url.full": f"https://github.com/{spans.upstream}",
        "harness.run.status": spans.status,
    }
    if spans.sha:
        root_attrs["vcs.ref.head.revision"] = spans.sha
    if spans.ref:
        root_attrs["vcs.ref.head.name"] = spans.ref
    if result != "success":
        root_attrs["error.type"] = spans.status
    root = tracer.start_span(
        f"RUN {spans.cell}", kind=SpanKind.SERVER, attributes=root_attrs,
        start_time=spans.started_ns,
    )  # fmt: skip
    if result != "success":
        root.set_status(Status(StatusCode.ERROR, (spans.reason or spans.status)[:500]))
    ctx = trace.set_span_in_context(root)
    for step in spans.steps:
        task = tracer.start_span(
            f"{step.phase} {step.name}",
            context=ctx,
            attributes={
                "cicd.pipeline.task.name": f"{step.phase} {step.name}",
                "cicd.pipeline.task.run.id": f"{spans.run_id}/{step.index}",
                "cicd.pipeline.task.type": "test" if step.phase == "test" else "build",
                "cicd.pipeline.task.run.result": step.result,
            },
            start_time=step.start_ns,
        )
        if step.result != "success":
            task.set_status(Status(StatusCode.ERROR, step.result))
        task.end(end_time=step.end_ns)
    tests = [s for s in spans.steps if s.phase == "test"]
    suite_start = tests[0].start_ns if tests else spans.started_ns
    suite_end = tests[-1].end_ns if tests else spans.ended_ns
    suite_attrs: dict[str, Any] = {
        "test.suite.name": spans.suite,
        "test.suite.run.status": SUITE_STATUS.get(spans.status, "aborted"),
        **{f"harness.tests.{k}": v for k, v in spans.counts.items()},
        "harness.tests.flaky": sum(c.flaky for c in spans.cases),
    }
    suite = tracer.start_span(
        f"test suite {spans.suite}", context=ctx, attributes=suite_attrs, start_time=suite_start
    )
    suite_ctx = trace.set_span_in_context(suite)
    for case in spans.cases:
        r = case.final.result
        ok = case.flaky or r.outcome.value not in ("failed", "error")
        span = tracer.start_span(
            case.test_id,
            context=suite_ctx,
            attributes={
                "test.case.name": case.test_id,
                "test.case.result.status": "pass" if ok else "fail",
                "test.suite.name": spans.suite,
                "harness.test.outcome": r.outcome.value,
                "harness.test.attempts": 1 + case.retries,
                "harness.test.flaky": case.flaky,
            },
            start_time=suite_start,
        )
        if not ok:
            span.set_status(Status(StatusCode.ERROR, (r.message or r.outcome.value)[:500]))
        span.end(end_time=suite_start + int(r.duration_s * 1e9))
    suite.end(end_time=max(suite_end, suite_start))
    root.end(end_time=spans.ended_ns)
    provider.shutdown()

    exporter = OTLPSpanExporter(
        endpoint=f"{url.rstrip('/')}/v1/traces" if url else None, timeout=timeout_s
    )
    try:
        done = exporter.export(collected.get_finished_spans())
    finally:
        exporter.shutdown()  # type: ignore[no-untyped-call]
    if done is not SpanExportResult.SUCCESS:
        log.warning("the OTLP collector did not take the spans of run %s", spans.run_id)
        return False
    return True
