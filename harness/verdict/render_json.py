"""The ``--json`` shapes of ``harness verdict`` and ``harness compare``: stable; scripts
may rely on them (keys are only ever added, under a new ``schema`` version if removed).

``harness verdict RUN --json``::

    {
      "schema": "harness.verdict/1",
      "run": {"id": 12, "cell": "demo/cpu/host", "suite": "demo", "backend": "cpu",
              "ref": "pr/7", "sha": "…", "base_sha": "…", "status": "failed",
              "reason": "1 test(s) failed", "subset": "smoke" | null,
              "args": "tests/unit" | null, "seeds": {"unit": 1234} | null},
      "baseline": {"run": {"id": 10, "sha": "…", "ref": null, "status": "failed"} | null,
                   "exact": true, "note": "run 10 at the merge base 0123456789ab",
                   "missing_at": null | "<merge base sha without a baseline run>",
                   "selection": {"subset": "smoke" | null, "args": "tests" | null}},
      "conclusion": "success" | "neutral" | "failure",
      "reason": "1 new failure: tests.test_basic::test_x",
      "headline": "1 new failure, 1 flaky, 1 pre-existing failure",
      "counts": {"new_failure": 1, "new_failure_env_drift": 0, "new_test_failing": 0,
                 "flaky": 1, "quarantined": 0, "pre_existing_failure": 1, "infra_error": 0,
                 "fixed": 0, "new_test_passing": 0, "removed": 0, "passing": 5,
                 "skipped": 1},
      "tests": {"<every category but passing and skipped>": [
          {"test_id": "…", "outcome": "failed" | null, "baseline_outcome": "passed" | null,
           "message": "first 2000 characters" | null,
           "reproduce": "harness run demo/cpu/host --ref <sha> --test-args '…'" | null,
           "flake": {"runs": 5, "failures": 2, "flips": 3, "score": 0.75} | null,
           "reruns": ["passed"],
           "order": {"failed": ["seed=1234", …], "passed": ["fixed", …]} | null,
           "quarantine": {"reason": "…", "link": "…", "source": "suites/quarantine/demo.yaml:3",
                          "expires": "2026-06-30" | null} | null}]},
      "environment": {"drift": [{"key": "sdk", "before": "CANN 8.3.RC2",
                                 "after": "CANN 8.5.0", "explains_failures": true}],
                      "explains_failures": true},
      "coverage": {"collected": 9, "executed": 8, "passed": 6, "failed": 2, "skipped": 1,
                   "pass_rate": 0.75,
                   "reference": {"backend": "cpu", "run_id": 11, "sha": "…", "passed": 7,
                                 "both_passed": 6, "relative_pass_rate": 0.857,
                                 "fail_only_here": ["…"], "not_run_here": 0} | null},
      "quarantine_expired": [{"tests": ["…"], "reason": "…", "link": "…", "source": "…",
                              "expires": "2025-01-31"}]
    }

Every category is a key of ``counts`` and (but ``passing``, ``skipped``) of ``tests``; the
lists are sorted by test id; ``reproduce`` is set for tests failing here. ``order`` is set
for a failing test of a step that ran in pytest-randomly's order and was re-run: the test
orders (``seed=N``, ``fixed``: :mod:`harness.test_order`) it failed in, the run's own
first, and those it passed in; ``order_dependent`` lists the tests that failed again with
their seed and passed in another order.

``harness compare A B --json``: ``{"schema": "harness.compare/1", "a": <run>, "b": <run>,
"counts": {…}, "tests": {…}, "environment": {…}, "coverage": {"a": <coverage>, "b":
<coverage with "reference" = a>}}``, the same pieces as above, ``b`` judged against ``a``
without history or quarantine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.fingerprint import EnvChange
from harness.store.models import RunRecord
from harness.verdict.categories import (
    FAILING,
    LISTED,
    Classification,
    FlakeStat,
    QuarantineRule,
    TestVerdict,
)
from harness.verdict.classify import EXPLAINING_KEYS
from harness.verdict.coverage import Coverage
from harness.verdict.report import Comparison, Verdict

VERDICT_SCHEMA = "harness.verdict/1"
COMPARE_SCHEMA = "harness.compare/1"


def run_json(run: RunRecord) -> dict[str, Any]:
    return {
        "id": run.id,
        "cell": run.cell,
        "suite": run.suite,
        "backend": run.backend,
        "ref": run.ref,
        "sha": run.sha,
        "base_sha": run.base_sha,
        "status": run.status,
        "reason": run.reason,
        "subset": run.subset,
        "args": run.args,
        "seeds": run.seeds,
    }


def _flake(stat: FlakeStat | None) -> dict[str, Any] | None:
    if stat is None:
        return None
    return {
        "runs": stat.runs,
        "failures": stat.failures,
        "flips": stat.flips,
        "score": round(stat.score, 3),
    }


def rule_json(rule: QuarantineRule) -> dict[str, Any]:
    return {
        "tests": list(rule.tests),
        "reason": rule.reason,
        "link": rule.link,
        "source": rule.source,
        "expires": rule.expires.isoformat() if rule.expires else None,
    }


def _entry(t: TestVerdict, reproduce: str | None) -> dict[str, Any]:
    q = None
    if t.quarantine is not None:
        q = rule_json(t.quarantine)
        del q["tests"]
    return {
        "test_id": t.test_id,
        "outcome": t.outcome.value if t.outcome else None,
        "baseline_outcome": t.baseline_outcome.value if t.baseline_outcome else None,
        "message": t.message,
        "reproduce": reproduce,
        "flake": _flake(t.flake),
        "reruns": [o.value for o in t.reruns],
        "order": {"failed": list(t.failed_orders), "passed": list(t.passed_orders)}
        if t.failed_orders or t.passed_orders
        else None,
        "quarantine": q,
    }


def listed_json(
    result: Classification, reproduce: Callable[[str], str] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """``reproduce``: a function test id → command, used for tests failing here."""
    return {
        c.value: [
            _entry(t, reproduce(t.test_id) if reproduce and t.outcome in FAILING else None)
            for t in result.tests(c)
        ]
        for c in LISTED
    }


def drift_json(changes: tuple[EnvChange, ...]) -> dict[str, Any]:
    items = [
        {
            "key": c.key,
            "before": c.before,
            "after": c.after,
            "explains_failures": c.key in EXPLAINING_KEYS,
        }
        for c in changes
    ]
    return {"drift": items, "explains_failures": any(i["explains_failures"] for i in items)}


def coverage_json(cov: Coverage) -> dict[str, Any]:
    ref = cov.reference
    return {
        "collected": cov.collected,
        "executed": cov.executed,
        "passed": cov.passed,
        "failed": cov.failed,
        "skipped": cov.skipped,
        "pass_rate": _rate(cov.pass_rate),
        "reference": None
        if ref is None
        else {
            "backend": ref.backend,
            "run_id": ref.run_id,
            "sha": ref.sha,
            "passed": ref.passed,
            "both_passed": ref.both_passed,
            "relative_pass_rate": _rate(ref.relative_pass_rate),
            "fail_only_here": list(ref.fail_only_here),
            "not_run_here": ref.not_run_here,
        },
    }


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def verdict_json(v: Verdict) -> dict[str, Any]:
    b = v.baseline
    return {
        "schema": VERDICT_SCHEMA,
        "run": run_json(v.run),
        "baseline": {
            "run": None
            if b.run is None
            else {"id": b.run.id, "sha": b.run.sha, "ref": b.run.ref, "status": b.run.status},
            "exact": b.exact,
            "note": b.note,
            "missing_at": b.missing.sha if b.missing else None,
            # the selection a baseline must have made: the run's
            "selection": {"subset": v.run.subset, "args": v.run.args},
        },
        "conclusion": v.conclusion.value,
        "reason": v.reason,
        "headline": v.headline(),
        "counts": v.counts(),
        "tests": listed_json(v.classification, v.reproduce),
        "environment": drift_json(v.drift),
        "coverage": coverage_json(v.coverage),
        "quarantine_expired": [rule_json(r) for r in v.expired_quarantine],
    }


def comparison_json(c: Comparison) -> dict[str, Any]:
    return {
        "schema": COMPARE_SCHEMA,
        "a": run_json(c.a),
        "b": run_json(c.b),
        "counts": c.classification.counts(),
        "tests": listed_json(c.classification),
        "environment": drift_json(c.drift),
        "coverage": {"a": coverage_json(c.coverage_a), "b": coverage_json(c.coverage_b)},
    }
