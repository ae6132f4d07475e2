"""Culprit finding in the service, end to end: real ``harness serve`` and workers, the
fixture upstream run for real, GitHub played by Prism. A push that breaks the default
branch schedules one bisection by itself; a worker runs it (reusing the push runs at
both ends), names the commit, and posts one comment on the culprit's pull request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.github_standin import GitHubStandIn
from tests.service.support import (
    BROKEN_PASS,
    REPO,
    Service,
    deliver,
    demo_service,
    push_payload,
    run_push,
    service_env,
    service_yaml,
    settled,
    wait_for,
)

BISECT = """\
bisect:
  comment_culprit: true
  max_probes_per_day: 20
"""
CULPRIT_POST = r"^/repos/example/demo/issues/5/comments$"


def test_a_broken_trunk_is_bisected_and_the_culprit_told_once(
    tmp_path: Path,
    gh: GitHubStandIn,
    shared_cache: Path,
    wheels: Path,
    webhook_examples: dict[str, list[dict[str, Any]]],
) -> None:
    upstream, svc = demo_service(
        tmp_path, gh, shared_cache, wheels, service_yaml("comment", BISECT)
    )
    try:
        good = upstream.rev_parse("main")
        run_push(svc, webhook_examples, good)
        assert svc.api("/api/bisections")["bisections"] == []  # nothing broke

        # eight commits land at once; the fourth (PR #5) breaks test_pass
        shas = []
        for n in range(1, 9):
            files = {f"docs/{n}.txt": f"change {n}\n"}
            message = f"Docs change {n}"
            if n == 4:
                files["tests/test_basic.py"] = BROKEN_PASS
                message = "Faster addition (#5)"
            shas.append(upstream.commit(files, message=message))
        bad = shas[-1]
        assert deliver(svc.url, "push", push_payload(webhook_examples, sha=bad)).is_success
        # one worker, until idle: the push run, then the bisection it scheduled
        assert svc.worker("w1", "--once").wait(timeout=600) == 0

        (listed,) = svc.api("/api/bisections")["bisections"]
        found = svc.api(f"/api/bisections/{listed['id']}")
        assert (found["origin"], found["status"], found["outcome"]) == ("auto", "done", "found")
        assert found["first_bad"] == shas[3], found["reason"]
        assert (found["good_sha"], found["bad_sha"]) == (good, bad)
        assert found["tests"] == ["tests.test_basic::test_pass"]
        probes = [p for p in found["probes"] if p["role"] == "probe"]
        assert 1 <= len(probes) <= 4  # 8 candidates: ceil(log2 8) = 3, plus a re-check
        ends = {p["role"]: p for p in found["probes"] if p["role"] in ("good", "bad")}
        assert ends["good"]["reused"] is True  # the push runs are the ends' evidence
        push_runs = {i["run_id"] for i in svc.api("/api/queue")["items"]}
        assert set(ends["good"]["run_ids"]) <= push_runs

        # one comment on the culprit's pull request, with the evidence
        (posted,) = [r.body for r in gh.recorder.matching("POST", CULPRIT_POST)]
        assert "<!-- harness-culprit: acme -->" in posted["body"]
        assert shas[3][:12] in posted["body"]
        assert "Faster addition (#5)" in posted["body"]
        assert "`tests.test_basic::test_pass`" in posted["body"]

        # the trunk stays broken at the next push: nothing newly fails, nothing scheduled,
        # and the culprit is not told again
        later = upstream.commit({"docs/9.txt": "more\n"}, message="Docs change 9")
        assert deliver(svc.url, "push", push_payload(webhook_examples, sha=later)).is_success
        assert svc.worker("w2", "--once").wait(timeout=300) == 0
        assert len(svc.api("/api/bisections")["bisections"]) == 1
        assert len(gh.recorder.matching("POST", CULPRIT_POST)) == 1
        assert settled(svc)
        assert f"bisection {listed['id']}: first bad commit {shas[3][:12]}" in svc.logs()
        assert REPO in found.get("repository", REPO)
    finally:
        svc.close()


# the budget and the lease, on a real store (SQLite and PostgreSQL) ----------------------


def _config(tmp_path: Path, bisect: str) -> Any:
    from harness.config.service import load_service_config

    path = tmp_path / "config.yaml"
    path.write_text(service_yaml("comment", bisect))
    return load_service_config(path)


def _schedule(store: Any, cell: str, good: str, bad: str) -> int | None:
    with store.transaction("scheduling") as tx:
        found: int | None = tx.bisections.schedule(
            repository=REPO,
            cell=cell,
            suite="demo",
            tests=["tests.test_basic::test_pass"],
            good_sha=good,
            bad_sha=bad,
            good_run_id=None,
            bad_run_id=None,
            repeats=3,
        )
        return found


def _reason(store: Any, bisection_id: int) -> str:
    with store.reading("reading") as r:
        record = r.bisections.get(bisection_id)
        assert record is not None
        return f"{record.status}: {record.reason}"


def test_one_bisection_per_range_and_the_concurrency_budget(db_url: str, tmp_path: Path) -> None:
    from harness.service import culprits
    from harness.store import Store

    config = _config(tmp_path, "bisect:\n  max_concurrent: 1\n")
    store = Store.open(db_url)
    try:
        first = _schedule(store, "demo/cpu/host", "a" * 40, "b" * 40)
        assert first is not None
        assert _schedule(store, "demo/cpu/host", "a" * 40, "b" * 40) is None  # exactly once
        second = _schedule(store, "demo/cpu/host", "b" * 40, "c" * 40)
        assert second is not None

        claimed = culprits.claim(store, config, "w1", 60)
        assert claimed is not None
        assert claimed.record.id == first
        assert culprits.claim(store, config, "w2", 60) is None  # one running per upstream
        assert _reason(store, second) == f"queued: waiting: 1 bisection(s) of {REPO} running"
        assert culprits.heartbeat(store, first, "w1", 60)
        assert not culprits.heartbeat(store, first, "w2", 60)  # not w2's
    finally:
        store.close()


def test_the_daily_probe_budget_counts_made_and_reserved_probes(
    db_url: str, tmp_path: Path
) -> None:
    from harness.service import culprits
    from harness.store import Store

    config = _config(tmp_path, "bisect:\n  max_concurrent: 3\n  max_probes_per_day: 5\n")
    store = Store.open(db_url)
    try:
        done = _schedule(store, "demo/cpu/host", "a" * 40, "b" * 40)
        running = _schedule(store, "demo/cpu/host", "b" * 40, "c" * 40)
        waiting = _schedule(store, "demo/cpu/host", "c" * 40, "d" * 40)
        assert done is not None
        assert running is not None
        assert waiting is not None
        assert culprits.claim(store, config, "w1", 60) is not None
        with store.transaction("two probes made, then done") as tx:
            for sha in ("1" * 40, "2" * 40):
                tx.bisections.add_probe(
                    done,
                    sha=sha,
                    role="probe",
                    verdict="good",
                    run_ids=[],
                    reused=True,
                    outcomes={},
                )
            tx.bisections.add_probe(
                done,
                sha="b" * 40,
                role="bad",
                verdict="bad",
                run_ids=[],
                reused=True,
                outcomes={},
            )  # an end checked: not a probe of the budget
            tx.bisections.finish(done, status="done", outcome="found", reason="x", owner="w1")
        claimed = culprits.claim(store, config, "w1", 60)
        assert claimed is not None
        assert claimed.record.id == running
        assert claimed.probes_left == 3  # 5 a day, 2 made
        job = store.create_job("bisect", "demo/cpu/host", None)
        with store.transaction("it plans three probes") as tx:
            tx.bisections.begin(
                running,
                job_id=job,
                tests=["t"],
                candidates=8,
                max_probes=3,
                repeats=3,
            )
        assert culprits.claim(store, config, "w2", 60) is None  # 2 made + 3 reserved
        assert "daily probe budget of example/demo is spent (2 of 5 in 24 h" in _reason(
            store, waiting
        )
    finally:
        store.close()


def test_a_bisection_whose_worker_died_is_queued_again_then_given_up(
    db_url: str, tmp_path: Path
) -> None:
    from harness.service import culprits
    from harness.store import Store

    config = _config(tmp_path, "")
    store = Store.open(db_url)
    try:
        bisection = _schedule(store, "demo/cpu/host", "a" * 40, "b" * 40)
        assert bisection is not None
        assert culprits.claim(store, config, "w1", -1) is not None  # its lease is over
        assert culprits.expire(store) == ([bisection], [])
        assert _reason(store, bisection).startswith("queued: its worker stopped (attempt 1)")
        claimed = culprits.claim(store, config, "w2", -1)
        assert claimed is not None
        assert claimed.record.attempts == 2
        # the dead worker's late answer is not recorded over the new holder's
        culprits.failed(store, bisection, "w1", "late")
        assert _reason(store, bisection).startswith("running")
        assert culprits.expire(store) == ([], [bisection])
        assert _reason(store, bisection) == "error: its worker stopped 2 time(s); given up"
    finally:
        store.close()


def test_a_bisection_survives_its_worker_being_killed(
    tmp_path: Path,
    gh: GitHubStandIn,
    shared_cache: Path,
    wheels: Path,
    webhook_examples: dict[str, list[dict[str, Any]]],
) -> None:
    import signal

    upstream, svc = demo_service(tmp_path, gh, shared_cache, wheels, service_yaml("status"))
    try:
        good = upstream.rev_parse("main")
        run_push(svc, webhook_examples, good)
        shas = [
            upstream.commit(
                {"tests/test_basic.py": BROKEN_PASS} if n == 2 else {f"d{n}.txt": "x\n"},
                message=f"change {n}",
            )
            for n in range(1, 5)
        ]
        assert deliver(svc.url, "push", push_payload(webhook_examples, sha=shas[-1])).is_success
        # the push run only; it schedules the bisection
        assert svc.worker("w1", "--once", "--max-items", "1").wait(timeout=300) == 0
        (queued,) = svc.api("/api/bisections")["bisections"]
        assert queued["status"] == "queued"

        # a worker takes it and dies at its first probe run (SIGKILL: no cleanup)
        doomed = svc.worker(
            "doomed", "--once", "--lease", "2", env={"HARNESS_FAILPOINTS": "bisect.probing=kill"}
        )
        assert doomed.wait(timeout=300) == -signal.SIGKILL
        held = svc.api(f"/api/bisections/{queued['id']}")
        assert (held["status"], held["lease_owner"]) == ("running", "doomed")

        # its lease expires; an idle worker queues it again and finishes it
        w2 = svc.worker("w2")
        try:
            wait_for(
                lambda: svc.api(f"/api/bisections/{queued['id']}")["status"] in ("done", "error"),
                600,
                "the bisection taken up again",
                svc,
            )
        finally:
            w2.terminate()
            w2.wait(timeout=120)
        done = svc.api(f"/api/bisections/{queued['id']}")
        assert (done["status"], done["outcome"], done["attempts"]) == ("done", "found", 2)
        assert done["first_bad"] == shas[1]
        assert "its worker stopped; queued again" in svc.logs()
    finally:
        svc.close()


def test_a_trunk_broken_by_the_stack_is_bisected_across_it(
    tmp_path: Path,
    gh: GitHubStandIn,
    shared_cache: Path,
    wheels: Path,
    webhook_examples: dict[str, list[dict[str, Any]]],
) -> None:
    """The same commit run again on the default branch after the operator moved a stack
    knob (fakelib 1.0 → 1.3): the new failure is bisected across the stack, not the
    commits, and names fakelib 1.2."""
    from tests.cli.test_bisect_stack import make_stack_upstream

    suites = tmp_path / "suites"
    (suites / "service").mkdir(parents=True)
    upstream = make_stack_upstream(tmp_path, suites, wheels, flaky=False)
    (suites / "service" / "config.yaml").write_text(
        'vendor: acme\nupstreams:\n  example/stk:\n    level: status\n    cells: ["stk/cpu/*"]\n'
    )
    svc = Service(
        tmp_path, suites, f"sqlite:///{tmp_path / 'harness.db'}", service_env(gh, shared_cache), 0
    )
    try:
        sha = upstream.rev_parse("main")
        payload = push_payload(webhook_examples, sha=sha)
        payload["repository"]["full_name"] = "example/stk"
        payload["repository"]["name"] = "stk"
        assert deliver(svc.url, "push", payload).is_success
        old = {"HARNESS_FAKELIB_PACKAGES": "fakelib==1.0"}
        assert svc.worker("w0", "--once", env=old).wait(timeout=300) == 0
        assert deliver(svc.url, "push", payload).is_success  # the same commit, again
        new = {"HARNESS_FAKELIB_PACKAGES": "fakelib==1.3"}
        assert svc.worker("w1", "--once", env=new).wait(timeout=600) == 0

        (listed,) = svc.api("/api/bisections")["bisections"]
        found = svc.api(f"/api/bisections/{listed['id']}")
        assert (found["kind"], found["origin"], found["status"]) == ("stack", "auto", "done")
        assert found["outcome"] == "found", found["reason"]
        assert (found["result"]["component"], found["result"]["version"]) == ("fakelib", "1.2")
        assert found["tests"] == ["tests.test_stack::test_feature"]
        assert (found["good_sha"], found["bad_sha"]) == (sha, sha)
    finally:
        svc.close()
