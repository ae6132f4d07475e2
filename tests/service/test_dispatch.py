"""Deliveries → queue items, through the trust gate (SQLite and PostgreSQL). Payloads are
GitHub's examples pointed at a fixture repository; nothing runs here (the end-to-end
tests run cells)."""

from __future__ import annotations

import json
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.config.service import load_service_config
from harness.service import ledger, outbox
from harness.service import queue as q
from harness.service.dispatch import Dispatcher, Outcome, Plan
from harness.service.publish import VerdictCache
from harness.store import Store
from harness.store.deliveries import Delivery, get_delivery, record_delivery
from tests.service.support import REPO, comment_payload, pr_payload, push_payload

SUITE = """\
name: demo
upstream:
  repo: example/demo
  url: /nonexistent/demo.git
backends:
  cpu:
    test:
      - name: unit
        run: pytest --junitxml={results_dir}/unit.xml
        results: [{path: unit.xml, format: junit}]
  npu:
    test:
      - name: unit
        run: pytest --junitxml={results_dir}/unit.xml
        results: [{path: unit.xml, format: junit}]
"""
A, B = "a" * 40, "b" * 40
Examples = dict[str, list[dict[str, Any]]]


def config_text(level: str = "comment", trust: str = "") -> str:
    return textwrap.dedent(
        f"""\
        vendor: acme
        upstreams:
          {REPO}:
            level: {level}
            trust:
              label: ok-to-test
        """
    ) + textwrap.indent(textwrap.dedent(trust), "      ")


class Harness:
    def __init__(self, store: Store, suites: Path, text: str) -> None:
        (suites / "service" / "config.yaml").write_text(text)
        config = load_service_config(suites / "service" / "config.yaml")
        plan = Plan.load(suites, "local")
        self.store = store
        self.dispatcher = Dispatcher(store, config, plan, VerdictCache(store, suites))

    def feed(self, event: str, payload: dict[str, Any]) -> Outcome:
        delivery_id = str(uuid.uuid4())
        record_delivery(
            self.store,
            Delivery(delivery_id, event, payload.get("action"), REPO, json.dumps(payload)),
        )
        outcome = self.dispatcher.dispatch_next()
        assert outcome is not None
        row = get_delivery(self.store, delivery_id)
        assert row is not None
        assert (row["status"], row["detail"]) == (outcome.status, outcome.detail)
        return outcome

    def items(self) -> list[tuple[str, str, str]]:
        """(cell, state, head) in order."""
        return [(i.cell, i.state, i.head_sha) for i in reversed(q.list_items(self.store))]


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    yield s
    s.close()


@pytest.fixture
def suites(tmp_path: Path) -> Path:
    d = tmp_path / "suites"
    (d / "service").mkdir(parents=True)
    (d / "demo.yaml").write_text(SUITE)
    return d


@pytest.fixture
def h(store: Store, suites: Path) -> Harness:
    return Harness(store, suites, config_text())


def test_a_trusted_pull_request_runs_every_cell(h: Harness, webhook_examples: Examples) -> None:
    out = h.feed("pull_request", pr_payload(webhook_examples, "opened", number=1, head=A))
    assert out.status == "handled"
    assert "2 cell(s) queued" in out.detail
    assert h.items() == [("demo/cpu/host", "queued", A), ("demo/npu/host", "queued", A)]
    owed = ledger.list_owed(h.store)
    assert {(o.cell, o.context, o.state) for o in owed} == {
        ("demo/cpu/host", "acme/demo/cpu", "owed"),
        ("demo/npu/host", "acme/demo/npu", "owed"),
    }
    # "pending" statuses and the comment wait in the outbox
    assert {e.kind for e in outbox.list_entries(h.store)} == {"status", "comment"}


def test_an_untrusted_pull_request_waits_for_ok_to_test(
    h: Harness, webhook_examples: Examples
) -> None:
    pr = pr_payload(
        webhook_examples, "opened", number=2, head=A, author="mallory", association="CONTRIBUTOR"
    )
    out = h.feed("pull_request", pr)
    assert "held for approval" in out.detail
    assert [s for _, s, _ in h.items()] == ["held", "held"]
    assert q.claim(h.store, "w", 60) is None
    statuses = [e.payload for e in outbox.list_entries(h.store) if e.kind == "status"]
    assert all("/harness ok-to-test" in p["description"] for p in statuses)

    # a recheck does not get around the gate, nor does an outsider's ok-to-test
    out = h.feed(
        "issue_comment",
        comment_payload(
            webhook_examples,
            number=2,
            body="recheck",
            commenter="mallory",
            association="CONTRIBUTOR",
        ),
    )
    assert "waiting for approval" in out.detail
    out = h.feed(
        "issue_comment",
        comment_payload(
            webhook_examples,
            number=2,
            body="/harness ok-to-test",
            commenter="mallory",
            association="CONTRIBUTOR",
        ),
    )
    assert "mallory (CONTRIBUTOR) may not approve" in out.detail
    assert [s for _, s, _ in h.items()] == ["held", "held"]

    # a member's ok-to-test releases them
    out = h.feed(
        "issue_comment", comment_payload(webhook_examples, number=2, body="/harness ok-to-test")
    )
    assert "approved by maintainer; 2 item(s) released" in out.detail
    assert [s for _, s, _ in h.items()] == ["queued", "queued"]

    # approval covers later pushes to the pull request (approval: pull_request)
    h.feed(
        "pull_request",
        pr
        | {
            "action": "synchronize",
            "pull_request": pr["pull_request"] | {"head": pr["pull_request"]["head"] | {"sha": B}},
        },
    )
    assert [(s, head) for _, s, head in h.items()][-2:] == [("queued", B), ("queued", B)]


def test_per_commit_approval_and_the_label(
    store: Store, suites: Path, webhook_examples: Examples
) -> None:
    h = Harness(store, suites, config_text(trust="approval: commit\n"))
    pr = pr_payload(
        webhook_examples, "opened", number=3, head=A, author="mallory", association="NONE"
    )
    h.feed("pull_request", pr)
    out = h.feed(
        "pull_request",
        pr_payload(
            webhook_examples,
            "labeled",
            number=3,
            head=A,
            author="mallory",
            association="NONE",
            label="ok-to-test",
            sender="maintainer",
        ),
    )
    assert "approved by label 'ok-to-test' from maintainer; 2 item(s) released" in out.detail
    out = h.feed(
        "pull_request",
        pr_payload(
            webhook_examples,
            "labeled",
            number=3,
            head=A,
            author="mallory",
            association="NONE",
            label="bug",
        ),
    )
    assert out.status == "ignored"
    # a new head needs a new approval
    h.feed(
        "pull_request",
        pr_payload(
            webhook_examples, "synchronize", number=3, head=B, author="mallory", association="NONE"
        ),
    )
    assert [(s, head) for _, s, head in h.items()] == [
        ("superseded", A),
        ("superseded", A),
        ("held", B),
        ("held", B),
    ]


def test_synchronize_supersedes_the_old_head(h: Harness, webhook_examples: Examples) -> None:
    h.feed("pull_request", pr_payload(webhook_examples, "opened", number=4, head=A))
    leased = q.claim(h.store, "w", 60)
    assert leased is not None
    out = h.feed("pull_request", pr_payload(webhook_examples, "synchronize", number=4, head=B))
    assert "superseded 2 item(s) of older heads" in out.detail
    assert [(s, head) for _, s, head in h.items()] == [
        ("superseded", A),
        ("superseded", A),
        ("queued", B),
        ("queued", B),
    ]
    # the worker running the old head loses its lease and reports nothing
    assert not q.heartbeat(h.store, leased.id, "w", 60)
    owed = {(o.head_sha, o.state) for o in ledger.list_owed(h.store)}
    assert owed == {(A, "superseded"), (B, "owed")}
    out = h.feed("pull_request", pr_payload(webhook_examples, "closed", number=4, head=B))
    assert "cancelled 2 item(s)" in out.detail
    assert {o.state for o in ledger.list_owed(h.store) if o.head_sha == B} == {"cancelled"}


def test_an_older_delivery_arriving_late_never_rewinds_the_head(
    h: Harness, webhook_examples: Examples
) -> None:
    """GitHub does not deliver in order: the push of B (12:05) is seen before the push of
    A (12:01) that it replaced. A must not become the head, supersede B's work, or run."""
    opened = pr_payload(
        webhook_examples, "opened", number=5, head=A, updated_at="2026-12-02T12:00:00Z"
    )
    h.feed("pull_request", opened)
    newer = pr_payload(
        webhook_examples, "synchronize", number=5, head=B, updated_at="2026-12-02T12:05:00Z"
    )
    h.feed("pull_request", newer)
    late = pr_payload(
        webhook_examples, "synchronize", number=5, head=A, updated_at="2026-12-02T12:01:00Z"
    )
    out = h.feed("pull_request", late)
    assert out.status == "ignored"
    assert "an older delivery" in out.detail
    assert f"head {B[:12]}" in out.detail
    assert [(s, head) for _, s, head in h.items()] == [
        ("superseded", A),
        ("superseded", A),
        ("queued", B),
        ("queued", B),
    ]
    with h.store.reading("t") as r:
        pr = r.pulls.get(REPO, 5)
    assert pr is not None
    assert pr.head_sha == B
    owed = {(o.head_sha, o.state) for o in ledger.list_owed(h.store)}
    assert owed == {(A, "superseded"), (B, "owed")}
    # a late "closed" from before a reopen is ignored the same way
    reopened = pr_payload(
        webhook_examples, "reopened", number=5, head=B, updated_at="2026-12-02T12:10:00Z"
    )
    h.feed("pull_request", reopened)
    stale_close = pr_payload(
        webhook_examples, "closed", number=5, head=B, updated_at="2026-12-02T12:07:00Z"
    )
    assert h.feed("pull_request", stale_close).status == "ignored"
    assert all(s != "superseded" for _, s, head in h.items() if head == B)


def test_recheck_and_retest(h: Harness, webhook_examples: Examples) -> None:
    h.feed("pull_request", pr_payload(webhook_examples, "opened", number=5, head=A))
    out = h.feed("issue_comment", comment_payload(webhook_examples, number=5, body="recheck"))
    assert "already queued or running" in out.detail
    for _ in range(2):
        it = q.claim(h.store, "w", 60)
        assert it is not None
        with h.store.transaction("t") as tx:
            tx.queue.finish(it.id, "w", state="done")
    out = h.feed(
        "issue_comment",
        comment_payload(webhook_examples, number=5, body="/harness retest demo/npu/*"),
    )
    assert "1 cell(s) queued" in out.detail
    assert h.items()[-1] == ("demo/npu/host", "queued", A)
    out = h.feed(
        "issue_comment",
        comment_payload(webhook_examples, number=5, body="/harness retest nothing/*"),
    )
    assert "matches none of demo/cpu/host, demo/npu/host" in out.detail
    out = h.feed(
        "issue_comment", comment_payload(webhook_examples, number=5, body="> recheck\nthanks")
    )
    assert out.status == "ignored"


def test_who_may_rerun(store: Store, suites: Path, webhook_examples: Examples) -> None:
    """Default: trusted people and the pull request's author; a stranger's recheck of
    someone else's pull request does nothing (it would burn runner time at will)."""
    h = Harness(store, suites, config_text())
    h.feed("pull_request", pr_payload(webhook_examples, "opened", number=8, head=A, author="dev"))
    for _ in range(2):
        it = q.claim(h.store, "w", 60)
        assert it is not None
        with h.store.transaction("t") as tx:
            tx.queue.finish(it.id, "w", state="done")
    before = len(h.items())
    out = h.feed(
        "issue_comment",
        comment_payload(
            webhook_examples, number=8, body="recheck", commenter="passer-by", association="NONE"
        ),
    )
    assert "passer-by (NONE) may not re-run cells (allowed: trusted, author)" in out.detail
    assert len(h.items()) == before
    out = h.feed(
        "issue_comment",
        comment_payload(
            webhook_examples, number=8, body="recheck", commenter="dev", association="NONE"
        ),
    )
    assert "2 cell(s) queued" in out.detail
    # an upstream that lets only trusted people re-run
    h2 = Harness(store, suites, config_text(trust="rerun: [trusted]\n"))
    out = h2.feed(
        "issue_comment",
        comment_payload(
            webhook_examples, number=8, body="/harness retest demo/cpu/*", commenter="dev",
            association="NONE",
        ),
    )  # fmt: skip
    assert "dev (NONE) may not re-run cells (allowed: trusted)" in out.detail


def test_check_run_rerequested(h: Harness, webhook_examples: Examples) -> None:
    h.feed("pull_request", pr_payload(webhook_examples, "opened", number=6, head=A))
    payload = next(p for p in webhook_examples["check_run"] if p["action"] == "rerequested")
    payload["repository"]["full_name"] = REPO
    payload["check_run"] |= {"name": "acme/demo/npu", "head_sha": A}
    payload["check_run"]["pull_requests"] = [{"number": 6}]
    out = h.feed("check_run", payload)
    assert "already queued" in out.detail  # still queued from the push
    payload["check_run"]["name"] = "someone-else/lint"
    assert h.feed("check_run", payload).status == "ignored"


def test_push_to_the_default_branch_runs_baselines(h: Harness, webhook_examples: Examples) -> None:
    out = h.feed("push", push_payload(webhook_examples, sha=A))
    assert "baseline: 2 cell(s)" in out.detail
    items = q.list_items(h.store)
    assert {(i.trigger, i.ref, i.priority, i.pr_number) for i in items} == {
        ("push", "main", q.PRIORITY_BASELINE, None)
    }
    assert ledger.list_owed(h.store) == []  # nothing is reported for baselines
    tag = push_payload(webhook_examples, sha=B) | {"ref": "refs/tags/v1"}
    assert h.feed("push", tag).status == "ignored"


def test_what_is_ignored_or_refused(h: Harness, webhook_examples: Examples) -> None:
    assert h.feed("ping", webhook_examples["ping"][0]).detail == "pong"
    other = pr_payload(webhook_examples, "opened", number=7, head=A)
    other["repository"]["full_name"] = "someone/else"
    assert "not in the service configuration" in h.feed("pull_request", other).detail
    broken = pr_payload(webhook_examples, "opened", number=7, head=A)
    del broken["pull_request"]["head"]["sha"]
    out = h.feed("pull_request", broken)
    assert out.status == "error"
    assert "pull_request.head.sha" in out.detail
    assert h.items() == []
    out = h.feed("issue_comment", comment_payload(webhook_examples, number=99, body="recheck"))
    assert "#99 unknown here" in out.detail


def test_dashboard_level_promises_and_posts_nothing(
    store: Store, suites: Path, webhook_examples: Examples
) -> None:
    h = Harness(store, suites, config_text(level="dashboard"))
    h.feed("pull_request", pr_payload(webhook_examples, "opened", number=8, head=A))
    assert len(h.items()) == 2
    assert ledger.list_owed(store) == []
    assert outbox.list_entries(store) == []


def test_configuration_problems_are_named(suites: Path) -> None:
    (suites / "service" / "config.yaml").write_text(
        config_text().replace("    trust:\n", '    cells: ["demo/gpu/*"]\n    trust:\n')
        + "  ghost/repo: {}\n"
    )
    config = load_service_config(suites / "service" / "config.yaml")
    problems = Plan.load(suites, "local").problems(config)
    assert f"{REPO}: cell pattern 'demo/gpu/*' matches no cell" in problems
    assert f"{REPO}: no cell runs with the local executor" in problems
    assert "ghost/repo: no suite has this upstream" in problems
