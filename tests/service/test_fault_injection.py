"""Exactly once, for the right commit, under faults: the fault-injection test.

Real parts only: ``harness serve`` (intake), ``harness worker`` processes, a fixture
upstream whose tests really run (local executor), deliveries built from GitHub's example
payloads, and GitHub played by Prism (GitHub's OpenAPI description) behind a proxy that
this test controls and that remembers what GitHub accepted (``stateful``).

Every pull request gets a worker that dies by ``SIGKILL`` at one of the places where a
death hurts most (:mod:`harness.failpoints`: after the lease, while setup runs, while the
tests run, halfway through storing results, after GitHub accepted the final status,
after GitHub created the comment); the order is random (seed printed; set
``HARNESS_FAULT_SEED`` to replay one). Beside them: the API unreachable while a cell
finishes, 502 / 429 / secondary-limit 403 answers, a 422 that dead-letters a final status
(re-sent with ``harness outbox retry``), the database locked for 15 s while a delivery
arrives, and ``synchronize`` deliveries arriving out of order.

At the end, for every head that was its pull request's head: exactly one final status
GitHub accepted, the outcome its tests really produced, its ledger row settled no
earlier than GitHub's acceptance; one comment per pull request, edited in place, naming
its last head; the head that arrived late was never run or reported; nothing left
running, queued, leased or unsent. On SQLite with one surviving worker at a time, and on
PostgreSQL with two.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness.executors.leftovers import marked_processes
from harness.store import Store
from tests.fixture_upstream import make_upstream
from tests.github_standin import GitHubStandIn
from tests.service.support import (
    REPO,
    Service,
    deliver,
    demo_suites,
    pr_payload,
    push_payload,
    service_env,
    settled,
    wait_for,
)

#: where a worker dies, one pull request each (see harness.failpoints)
KILL_POINTS = (
    "worker.claimed",
    "step.running.setup",
    "step.running.test",
    "ingest.stored",
    "sender.posted.final",
    "sender.created.comment",
)
CONTEXT = "acme/demo/cpu"
STATUSES = rf"^/repos/{REPO}/statuses/"
LEASE_S = "3"
#: one pull request lives through the whole test and gets out-of-order pushes
LONG_PR = 50


def head_tests(tag: str, failing: bool) -> str:
    """The PR head's tests: ``test_pass`` fails when ``failing``; ``test_only_<tag>``
    exists at this head alone, so its results show which commit really ran."""
    verdict = 'assert False, "broken at this head"' if failing else "pass"
    return f"""\
import pytest


def test_pass():
    {verdict}


def test_only_{tag}():
    pass


@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    assert n > 0
"""


def expected_outcomes(tag: str, failing: bool) -> dict[str, str]:
    return {
        "test_pass": "failed" if failing else "passed",
        f"test_only_{tag}": "passed",
        "test_param[1]": "passed",
        "test_param[2]": "passed",
    }


@dataclass
class Head:
    pr: int
    sha: str
    tag: str
    failing: bool


@dataclass
class Scenario:
    svc: Service
    gh: GitHubStandIn
    db_url: str
    survivors: int
    heads: list[Head] = field(default_factory=list)
    #: heads that arrived after a newer one: never to run or be reported
    stale: list[str] = field(default_factory=list)
    killed: list[str] = field(default_factory=list)

    def survivors_run(self, what: str, timeout: float = 300) -> None:
        """Start the surviving workers, wait until everything is settled, stop them."""
        procs = [
            self.svc.worker(f"survivor-{len(self.killed)}-{i}", "--lease", LEASE_S)
            for i in range(self.survivors)
        ]
        try:
            wait_for(lambda: settled(self.svc), timeout, what, self.svc)
        finally:
            stop(procs)


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def final(rec: Any) -> bool:
    return isinstance(rec, dict) and rec.get("state") not in (None, "pending")


@contextmanager
def database_locked(db_url: str) -> Iterator[None]:
    """Another process holds the database's write lock (SQLite) or the deliveries and
    queue tables (PostgreSQL) until the block ends."""
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    import psycopg

    with psycopg.connect(db_url) as pg:
        pg.execute("LOCK TABLE webhook_deliveries, queue IN ACCESS EXCLUSIVE MODE")
        yield
        pg.rollback()


def no_leftovers(scn: Scenario) -> None:
    with Store.open(scn.db_url) as store:
        key = store.key
        running = [r.id for r in store.list_runs() if r.status == "running"]
    assert running == [], f"runs still recorded running: {running}"
    assert marked_processes(key) == {}, "step processes of this store still alive"
    items = scn.svc.api("/api/queue")["items"]
    assert [i for i in items if i["state"] in {"queued", "leased"}] == []
    entries = scn.svc.api("/api/outbox")["entries"]
    assert [e for e in entries if e["state"] != "sent"] == [], entries


def new_head(scn: Scenario, upstream: Any, pr: int, tag: str, failing: bool) -> Head:
    sha, _ = upstream.pull_request(pr, {"tests/test_basic.py": head_tests(tag, failing)})
    head = Head(pr, sha, tag, failing)
    scn.heads.append(head)
    return head


def at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def doomed(scn: Scenario, point: str) -> None:
    """A worker that dies at ``point``; it must really get there."""
    proc = scn.svc.worker(
        f"doomed-{len(scn.killed)}", "--lease", LEASE_S, env={"HARNESS_FAILPOINTS": f"{point}=kill"}
    )
    try:
        rc = proc.wait(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(
            f"the worker never reached {point}\n{scn.svc.logs()[-4000:]}"
        ) from None
    assert rc == -signal.SIGKILL, f"{point}: worker exited {rc}\n{scn.svc.logs()[-4000:]}"
    scn.killed.append(point)


def test_every_head_is_reported_exactly_once_under_faults(
    tmp_path: Path,
    db_url: str,
    gh: GitHubStandIn,
    shared_cache: Path,
    wheels: Path,
    webhook_examples: dict[str, list[dict[str, Any]]],
) -> None:
    seed = int(os.environ.get("HARNESS_FAULT_SEED") or time.time_ns() % 100_000)
    print(f"fault-injection seed {seed} (HARNESS_FAULT_SEED={seed} replays it)")
    points = list(KILL_POINTS)
    random.Random(seed).shuffle(points)
    if points[3] == "sender.posted.final":  # iteration 3 needs GitHub to refuse the final
        points[3], points[5] = points[5], points[3]

    upstream = make_upstream(tmp_path / "upstream")
    suites = demo_suites(tmp_path, upstream.url, wheels)
    gh.recorder.stateful = True
    env = service_env(gh, shared_cache)
    svc = Service(tmp_path, suites, db_url, env, workers=0)
    scn = Scenario(svc, gh, db_url, survivors=2 if db_url.startswith("postgres") else 1)
    try:
        # the default branch's baseline, which the heads' verdicts compare with
        push = push_payload(webhook_examples, sha=upstream.rev_parse("main"))
        assert deliver(svc.url, "push", push).status_code == 202
        scn.survivors_run("the baseline run")
        for k, point in enumerate(points):
            pr = 20 + k
            head = new_head(scn, upstream, pr, f"h{k}", failing=k % 2 == 0)
            opened = pr_payload(webhook_examples, "opened", number=pr, head=head.sha)
            if k == 4:
                # the database is locked: GitHub still gets its answer in time (deliver
                # waits at most GitHub's 10 s) and the delivery is not lost
                with database_locked(db_url):
                    r = deliver(svc.url, "pull_request", opened)
                    assert r.status_code == 202, r.text
                    assert r.json().get("journaled") is True, r.json()
                    time.sleep(15)
            else:
                assert deliver(svc.url, "pull_request", opened).status_code == 202
            if k == 0:
                long = new_head(scn, upstream, LONG_PR, "long0", failing=False)
                p = pr_payload(webhook_examples, "opened", number=LONG_PR, head=long.sha)
                assert deliver(svc.url, "pull_request", p).status_code == 202
            if k == 3:
                # two pushes; GitHub delivers the newer one first, the older one late
                middle = new_head(scn, upstream, LONG_PR, "long_mid", failing=True)
                newest = new_head(scn, upstream, LONG_PR, "long_new", failing=True)
                scn.heads.remove(middle)
                scn.stale.append(middle.sha)
                for h, when in ((newest, at(2)), (middle, at(1))):
                    p = pr_payload(
                        webhook_examples, "synchronize", number=LONG_PR, head=h.sha,
                        updated_at=when,
                    )  # fmt: skip
                    assert deliver(svc.url, "pull_request", p).status_code == 202
            if k == 2:  # the next status posts, whoever makes them, meet these answers
                before = len(gh.recorder.matching("POST", STATUSES))
                for status, headers, message in (
                    (502, {}, "Bad Gateway"),
                    (429, {"Retry-After": "1"}, "API rate limit exceeded"),
                    (403, {"Retry-After": "1"}, "You have exceeded a secondary rate limit"),
                ):
                    gh.recorder.fail_next(
                        "POST", STATUSES, status, headers=headers, message=message
                    )
            doomed(scn, point)

            if k == 1:
                api_down_while_a_cell_finishes(scn, head)
            elif k == 2:
                scn.survivors_run("reports after 502, 429 and 403 answers")
                answered = [r.status for r in gh.recorder.matching("POST", STATUSES)][before:]
                assert answered[:3] == [502, 429, 403], answered
            elif k == 3:
                a_final_status_refused_then_resent(scn, head)
            else:
                scn.survivors_run(f"the reports after a worker died at {point}")
        verify(scn, db_url)
    finally:
        svc.close()


def api_down_while_a_cell_finishes(scn: Scenario, head: Head) -> None:
    """GitHub unreachable while the head's cell finishes: the ledger waits (queued, owed
    in the metrics) until GitHub accepted, then settles."""
    scn.gh.recorder.down = True
    procs = [scn.svc.worker(f"survivor-down-{i}", "--lease", LEASE_S) for i in range(scn.survivors)]
    try:

        def decided() -> bool:
            items = scn.svc.api("/api/queue")["items"]
            return any(i["head_sha"] == head.sha and i["state"] == "done" for i in items)

        wait_for(decided, 300, "the cell to finish while GitHub is away", scn.svc)
        time.sleep(1)  # a sender turn meets the outage
        (row,) = [r for r in scn.svc.api("/api/ledger")["reports"] if r["head_sha"] == head.sha]
        assert row["state"] == "queued", row  # not settled: GitHub has nothing yet
        metrics = scn.svc.text("/metrics")
        assert "harness_reports_owed 0" not in metrics
        if scn.killed[-1] != "sender.posted.final":  # else GitHub got it from the dead one
            accepted = scn.gh.recorder.accepted("POST", rf"{STATUSES}{head.sha}$")
            assert not [r for r in accepted if final(r.body)]
        scn.gh.recorder.down = False
        wait_for(lambda: settled(scn.svc), 300, "the reports once GitHub is back", scn.svc)
    finally:
        scn.gh.recorder.down = False
        stop(procs)


def a_final_status_refused_then_resent(scn: Scenario, head: Head) -> None:
    """GitHub refuses the final status (422): a dead letter, owed again, re-sent by the
    operator with ``harness outbox retry``."""
    scn.gh.recorder.fail_next(
        "POST", rf"{STATUSES}{head.sha}$", 422, message="Validation Failed", when=final
    )
    procs = [scn.svc.worker(f"survivor-422-{i}", "--lease", LEASE_S) for i in range(scn.survivors)]
    try:

        def dead() -> list[dict[str, Any]]:
            return [e for e in scn.svc.api("/api/outbox")["entries"] if e["state"] == "dead"]

        wait_for(dead, 300, "the refused final status to be dead-lettered", scn.svc)
        (row,) = [r for r in scn.svc.api("/api/ledger")["reports"] if r["head_sha"] == head.sha]
        assert row["state"] == "owed", row  # refused: still owed, never silently settled
        retry = subprocess.run(
            [sys.executable, "-m", "harness", "outbox", "retry", "--all-dead", "--db", scn.db_url],
            env=scn.svc.env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert retry.returncode == 0, retry.stderr
        wait_for(lambda: settled(scn.svc), 300, "the re-sent final status", scn.svc)
    finally:
        stop(procs)


def verify(scn: Scenario, db_url: str) -> None:
    rec = scn.gh.recorder
    items = scn.svc.api("/api/queue")["items"]
    ledger = scn.svc.api("/api/ledger")["reports"]
    assert sorted(scn.killed) == sorted(KILL_POINTS)
    with Store.open(db_url) as store:
        for head in scn.heads:
            # exactly one final status GitHub accepted, for this head and cell
            finals = [r for r in rec.accepted("POST", rf"{STATUSES}{head.sha}$") if final(r.body)]
            assert len(finals) == 1, (head, [r.body for r in finals])
            (sent,) = finals
            assert sent.body["context"] == CONTEXT
            assert sent.body["state"] == ("failure" if head.failing else "success"), sent.body
            # the outcome the tests at this head really produced
            (item,) = [i for i in items if i["head_sha"] == head.sha and i["state"] == "done"]
            results = {
                r.test_id.rsplit("::", 1)[-1]: r.outcome.value
                for r in store.iter_results(item["run_id"])
            }
            assert results == expected_outcomes(head.tag, head.failing), (head, results)
            # settled only once GitHub had accepted it
            (row,) = [r for r in ledger if r["head_sha"] == head.sha]
            assert row["state"] == "reported", row
            reported_at = datetime.fromisoformat(row["reported_at"])
            if reported_at.tzinfo is None:
                reported_at = reported_at.replace(tzinfo=UTC)
            assert reported_at >= sent.at - timedelta(seconds=1), (row, sent.at)
        runs = store.list_runs()
    for sha in scn.stale:  # arrived late: never ran, never reported
        assert not rec.matching("POST", rf"{STATUSES}{sha}$")
        assert all(r.sha != sha for r in runs)
        assert all(i["head_sha"] != sha for i in items)
    # one comment per pull request, edited in place, naming its last head
    for pr in {h.pr for h in scn.heads}:
        created = rec.accepted("POST", rf"^/repos/{REPO}/issues/{pr}/comments$")
        assert len(created) == 1, (pr, len(created))
        (comment,) = rec.state.comments[(REPO, pr)]
        last = [h for h in scn.heads if h.pr == pr][-1]
        assert last.sha[:12] in comment["body"], (pr, comment["body"][:500])
    # the dead workers' attempts are recorded, not left running
    assert {r.status for r in runs} <= {"passed", "failed", "crashed", "cancelled"}, [
        (r.id, r.status, r.reason) for r in runs
    ]
    no_leftovers(scn)
