"""The bisection reads that know the stack, on SQLite and PostgreSQL: a probe's candidate
runs carry their fingerprints (what a stack probe matches its pins against), and flake
history is per commit *and* stack pins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.results.model import Outcome, TestResult
from harness.store import Store

SHA = "a" * 40
TEST = "tests.test_x::test_feature"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store.open(db_url) as s:
        yield s


def run(
    store: Store,
    outcome: Outcome,
    pins: dict[str, str] | None,
    reruns: list[str],
    variant: str = "host",
) -> int:
    run_id = store.start_run(
        job_id=None,
        cell=f"demo/cpu/{variant}",
        suite="demo",
        backend="cpu",
        variant=variant,
        upstream="example/demo",
        ref="main",
        sha=None,
        executor="local",
        log_dir=None,
        out_dir=None,
    )
    store.set_run_sha(run_id, SHA)
    fingerprint: dict[str, object] = {"python": {"packages": {"fakelib": "1.0"}}}
    if pins:
        fingerprint["stack"] = pins
    store.set_environment(run_id, fingerprint)
    store.add_results(run_id, [TestResult(TEST, outcome, 0.1, None)])
    store.add_reruns(run_id, [(TEST, i + 1, o, 0.1, None) for i, o in enumerate(reruns)])
    store.finish_run(
        run_id,
        status="passed" if outcome is Outcome.PASSED else "failed",
        reason=None,
        counts={},
        duration_s=1.0,
    )
    return run_id


def test_runs_at_carries_fingerprints_and_flake_history_is_per_stack(store: Store) -> None:
    plain = run(store, Outcome.FAILED, None, ["failed"])
    good = run(store, Outcome.PASSED, {"fakelib": "1.0"}, [])
    bad = run(store, Outcome.FAILED, {"fakelib": "1.3"}, ["failed", "failed"])
    with store.reading("runs at the commit") as r:
        found = {a.run_id: a for a in r.bisections.runs_at("demo/cpu/host", SHA, [TEST])}
        history = r.bisections.outcomes_by_commit("demo", "cpu", TEST)
    assert set(found) == {plain, good, bad}
    assert found[bad].fingerprint is not None
    assert found[bad].fingerprint["stack"] == {"fakelib": "1.3"}
    assert "stack" not in (found[plain].fingerprint or {})
    assert found[bad].outcomes == {TEST: ["failed", "failed", "failed"]}
    # passed on one stack, failed on another: three histories, none of them flaky
    assert sorted(history) == [
        (SHA, "host", ""),
        (SHA, "host", '{"fakelib": "1.0"}'),
        (SHA, "host", '{"fakelib": "1.3"}'),
    ]
    assert sorted(history[(SHA, "host", '{"fakelib": "1.3"}')]) == ["failed"] * 3
    assert history[(SHA, "host", '{"fakelib": "1.0"}')] == ["passed"]


def test_flake_history_keeps_image_variants_apart(store: Store) -> None:
    """Passing on one image variant and failing on another at one commit is not a flake
    (it was, before: a stack bisection across variants doubled its attempts)."""
    run(store, Outcome.PASSED, None, [], variant="sdk7.0-debian12-py3.11")
    run(store, Outcome.FAILED, None, ["failed"], variant="sdk7.2-debian12-py3.11")
    with store.reading("history") as r:
        history = r.bisections.outcomes_by_commit("demo", "cpu", TEST)
    assert history == {
        (SHA, "sdk7.0-debian12-py3.11", ""): ["passed"],
        (SHA, "sdk7.2-debian12-py3.11", ""): ["failed", "failed"],
    }
