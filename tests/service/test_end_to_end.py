"""The service end to end, with real parts: ``harness serve`` (uvicorn) with an embedded
worker process, SQLite, a fixture upstream run for real by the local executor, deliveries
built from GitHub's example payloads and signed, and GitHub played by Prism (the
official OpenAPI description) behind a recording proxy."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from harness.store import Store
from tests.fixture_upstream import make_upstream
from tests.github_standin import GitHubStandIn
from tests.gitrepos import UpstreamRepo
from tests.service.support import (
    REPO,
    Service,
    comment_payload,
    deliver,
    demo_suites,
    pr_items,
    pr_payload,
    push_payload,
    service_env,
    service_yaml,
    settled,
    wait_for,
)

BROKEN_PASS = """\
import pytest


def test_pass():
    assert 1 + 1 == 3, "arithmetic broke on this backend"


@pytest.mark.parametrize("n", [1, 2, 3])
def test_param(n):
    assert n > 0
"""

STATUS_PATH = rf"^/repos/{REPO}/statuses/"
COMMENTS_POST = rf"^/repos/{REPO}/issues/\d+/comments$"
COMMENT_PATCH = rf"^/repos/{REPO}/issues/comments/\d+$"


@pytest.fixture
def upstream_repo(tmp_path: Path) -> UpstreamRepo:
    return make_upstream(tmp_path / "upstream")


@pytest.fixture
def suites(tmp_path: Path, upstream_repo: UpstreamRepo, wheels: Path) -> Path:
    return demo_suites(tmp_path, upstream_repo.url, wheels)


@pytest.fixture
def service(
    tmp_path: Path, suites: Path, gh: GitHubStandIn, shared_cache: Path
) -> Iterator[Service]:
    svc = Service(
        tmp_path, suites, f"sqlite:///{tmp_path / 'harness.db'}", service_env(gh, shared_cache)
    )
    yield svc
    svc.close()


def statuses(gh: GitHubStandIn) -> list[dict[str, Any]]:
    return [r.body for r in gh.recorder.matching("POST", STATUS_PATH)]


def test_pull_request_to_status_and_one_sticky_comment(
    service: Service,
    gh: GitHubStandIn,
    upstream_repo: UpstreamRepo,
    webhook_examples: dict[str, list[dict[str, Any]]],
) -> None:
    # a push to the default branch gives the baseline
    main_sha = upstream_repo.rev_parse("main")
    assert (
        deliver(service.url, "push", push_payload(webhook_examples, sha=main_sha)).status_code
        == 202
    )
    wait_for(lambda: settled(service), 240, "the baseline run", service)
    runs = service.api("/api/queue")["items"]
    assert [(i["trigger"], i["state"], i["head_sha"]) for i in runs] == [("push", "done", main_sha)]
    assert gh.recorder.writes() == []  # baselines are not reported

    # a pull request that breaks a passing test
    head1, _ = upstream_repo.pull_request(7, {"tests/test_basic.py": BROKEN_PASS})
    r = deliver(
        service.url, "pull_request", pr_payload(webhook_examples, "opened", number=7, head=head1)
    )
    assert r.status_code == 202
    assert r.json()["duplicate"] is False
    wait_for(lambda: settled(service), 240, "the pull request's report", service)

    sent = statuses(gh)
    assert sent[0]["state"] == "pending"
    assert sent[0]["context"] == "acme/demo/cpu"
    final = sent[-1]
    assert final["state"] == "failure", sent
    assert "1 new failure" in final["description"]
    assert final["target_url"].startswith("http://ci.example/runs/")
    assert all(r.auth == "token" for r in gh.recorder.requests)
    # one comment, created when the cell was queued, then edited as results came
    created = gh.recorder.matching("POST", COMMENTS_POST)
    assert len(created) == 1
    assert "tests running" in created[0].body["body"]
    body = gh.recorder.matching("PATCH", COMMENT_PATCH)[-1].body["body"]
    assert body.startswith("<!-- harness-pr-comment: acme -->")
    assert "test_pass" in body
    assert "new failure" in body
    assert "recheck" in body
    assert "https://example.org/acme-ci" in body
    assert body.index("test_pass") < body.index("Re-run every cell")
    ledger = service.api("/api/ledger")["reports"]
    assert [(x["head_sha"], x["state"], x["overdue"]) for x in ledger] == [
        (head1, "reported", False)
    ]

    # a second push to the PR edits the same comment instead of adding one
    head2, _ = upstream_repo.pull_request(
        7, {"tests/test_basic.py": None, "tests/test_new.py": "def test_new():\n    pass\n"}
    )
    gh.recorder.clear()
    r = deliver(
        service.url,
        "pull_request",
        pr_payload(webhook_examples, "synchronize", number=7, head=head2),
    )
    assert r.status_code == 202
    wait_for(lambda: settled(service), 240, "the second head's report", service)
    assert gh.recorder.matching("POST", COMMENTS_POST) == []
    edits = gh.recorder.matching("PATCH", COMMENT_PATCH)
    assert edits
    assert head2[:12] in edits[-1].body["body"]
    assert all(s.get("sha", True) for s in statuses(gh))
    assert {p.path.rsplit("/", 1)[-1] for p in gh.recorder.matching("POST", STATUS_PATH)} == {head2}

    # a forged delivery is refused and changes nothing
    forged = deliver(
        service.url,
        "pull_request",
        pr_payload(webhook_examples, "synchronize", number=7, head="f" * 40),
        secret=b"not-the-secret",
    )
    assert forged.status_code == 401
    assert all(i["head_sha"] != "f" * 40 for i in service.api("/api/queue")["items"])
    # the token never reaches the logs
    assert "dummy-token-never-logged" not in service.logs()


# The first attempt's test records its pid and sleeps far longer than the test waits;
# the retry's records its own and finishes at once. {pids} is a directory of the test's.
SLOW_TEST = """\
import os
import pathlib
import time

PIDS = pathlib.Path({pids!r})


def test_pass():
    first = not (PIDS / "attempt1").exists()
    (PIDS / ("attempt1" if first else "attempt2")).write_text(str(os.getpid()))
    if first:
        time.sleep(600)


def test_param():
    pass
"""


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie is not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def test_worker_killed_mid_test_is_retried_for_real_and_its_orphan_stopped(
    tmp_path: Path,
    suites: Path,
    gh: GitHubStandIn,
    shared_cache: Path,
    upstream_repo: UpstreamRepo,
    webhook_examples: dict[str, list[dict[str, Any]]],
) -> None:
    # no embedded workers: the test starts and kills them itself
    svc = Service(
        tmp_path, suites, f"sqlite:///{tmp_path / 'harness.db'}",
        service_env(gh, shared_cache), workers=0,
    )  # fmt: skip
    pids = tmp_path / "pids"
    pids.mkdir()
    orphan: int | None = None
    try:
        test_file = SLOW_TEST.format(pids=str(pids))
        head, _ = upstream_repo.pull_request(9, {"tests/test_basic.py": test_file})
        payload = pr_payload(webhook_examples, "opened", number=9, head=head)
        assert deliver(svc.url, "pull_request", payload).status_code == 202
        first = svc.worker("doomed", "--lease", "3")
        # kill the worker while its cell's test step runs, without a chance to clean up
        wait_for((pids / "attempt1").exists, 240, "the first attempt's test to start", svc)
        orphan = int((pids / "attempt1").read_text())
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
        assert alive(orphan)  # the dead worker's test runs on by itself
        (item,) = pr_items(svc, 9)
        assert (item["state"], item["lease_owner"]) == ("leased", "doomed")

        second = svc.worker("survivor", "--lease", "3")
        try:
            wait_for(lambda: settled(svc), 240, "the retried item's report", svc)
        finally:
            second.terminate()
            second.wait(timeout=60)
        (item,) = pr_items(svc, 9)
        assert item["state"] == "done", item
        assert item["attempts"] == 2, item
        logs = svc.logs()
        assert "doomed stopped heartbeating" in logs
        # the next worker stopped what the dead one left running
        assert not alive(orphan), logs[-3000:]
        assert "still running on this machine (its worker died): stopped them" in logs
        # the dead attempt is recorded as crashed, not running forever; the retry ran the
        # tests for real (in a directory of its own) and its outcome is what is reported
        with Store.open(svc.db_url) as store:
            # the pull request's runs (a baseline runs at its merge base as well)
            runs = sorted((r for r in store.list_runs() if r.sha == head), key=lambda r: r.id)
            key = store.key
        assert [r.status for r in runs] == ["crashed", "passed"], [
            (r.status, r.reason) for r in runs
        ]
        assert "doomed stopped heartbeating" in (runs[0].reason or "")
        assert runs[-1].id == item["run_id"]
        assert (pids / "attempt2").exists()
        created = gh.recorder.matching("POST", COMMENTS_POST)
        assert len(created) == 1
        final = [s for s in statuses(gh) if s["state"] != "pending"]
        assert [s["state"] for s in final] == ["success"], statuses(gh)
        # nothing of the dead attempt is left in the cache
        assert not list((shared_cache / "work").glob(f"*-{key}-{runs[0].id}*"))
    finally:
        if orphan is not None and alive(orphan):
            os.kill(orphan, signal.SIGKILL)
        svc.close()


def test_untrusted_pull_request_waits_and_its_overdue_report_is_flagged(
    tmp_path: Path,
    upstream_repo: UpstreamRepo,
    wheels: Path,
    gh: GitHubStandIn,
    shared_cache: Path,
    webhook_examples: dict[str, list[dict[str, Any]]],
) -> None:
    config = service_yaml("comment", deadline="1s")
    suites = demo_suites(tmp_path, upstream_repo.url, wheels, config)
    svc = Service(
        tmp_path, suites, f"sqlite:///{tmp_path / 'harness.db'}",
        service_env(gh, shared_cache), workers=0,
    )  # fmt: skip
    try:
        head, _ = upstream_repo.pull_request(
            11, {"tests/test_extra.py": "def test_x():\n    pass\n"}
        )
        pr = pr_payload(
            webhook_examples, "opened", number=11, head=head, author="stranger", association="NONE"
        )
        assert deliver(svc.url, "pull_request", pr).status_code == 202
        assert svc.worker("w0", "--once").wait(timeout=120) == 0  # held; report promised
        time.sleep(1.5)  # past the 1 s deadline
        once = svc.worker("w1", "--once")
        assert once.wait(timeout=120) == 0
        assert "OVERDUE report: example/demo acme/demo/cpu" in svc.logs()
        (item,) = svc.api("/api/queue")["items"]
        assert item["state"] == "held"
        assert "stranger (NONE) is not trusted" in item["detail"]
        (overdue,) = svc.api("/api/ledger?overdue=1")["reports"]
        assert (overdue["head_sha"], overdue["overdue"]) == (head, True)
        metrics = httpx.get(f"{svc.url}/metrics", timeout=60).text
        assert "harness_reports_overdue 1" in metrics
        assert 'harness_queue_items{state="held"} 1' in metrics
        (waiting,) = statuses(gh)
        assert waiting["state"] == "pending"
        assert "/harness ok-to-test" in waiting["description"]
        (comment,) = gh.recorder.matching("POST", COMMENTS_POST)
        assert "waiting for a maintainer" in comment.body["body"]

        # a maintainer approves; a stranger's code never runs on the host (local
        # executor): the cell is reported as an infrastructure error saying why, and the
        # owed report is paid
        ok = comment_payload(webhook_examples, number=11, body="/harness ok-to-test")
        assert deliver(svc.url, "issue_comment", ok).status_code == 202
        once = svc.worker("w2", "--once")
        assert once.wait(timeout=240) == 0
        (item,) = svc.api("/api/queue")["items"]
        assert item["state"] == "failed"
        assert "runs only in containers" in item["detail"]
        assert item["run_id"] is None
        assert svc.api("/api/ledger?overdue=1")["reports"] == []
        final = statuses(gh)[-1]
        assert final["state"] == "error"
        assert "runs only in containers" in final["description"]
        assert len(gh.recorder.matching("POST", COMMENTS_POST)) == 1
    finally:
        svc.close()


def test_the_queued_commit_runs_even_when_the_pull_request_moved_on(
    tmp_path: Path,
    suites: Path,
    gh: GitHubStandIn,
    shared_cache: Path,
    upstream_repo: UpstreamRepo,
    webhook_examples: dict[str, list[dict[str, Any]]],
) -> None:
    svc = Service(
        tmp_path, suites, f"sqlite:///{tmp_path / 'harness.db'}",
        service_env(gh, shared_cache), workers=0,
    )  # fmt: skip
    try:
        queued, _ = upstream_repo.pull_request(9, {"tests/test_basic.py": BROKEN_PASS})
        payload = pr_payload(webhook_examples, "opened", number=9, head=queued)
        assert deliver(svc.url, "pull_request", payload).status_code == 202
        # the author pushes again before a worker gets to it (its webhook still on the way)
        later, _ = upstream_repo.pull_request(
            9, {"tests/test_basic.py": "def test_pass():\n    pass\n"}
        )
        assert svc.worker("w0", "--once").wait(timeout=240) == 0
        with Store.open(svc.db_url) as store:
            (run,) = [r for r in store.list_runs() if not r.is_default_branch]
        assert run.sha == queued  # what was queued (and would be approved) is what ran
        assert run.status == "failed"  # BROKEN_PASS's failure, not the later commit's pass
        first, judged = [s for s in statuses(gh) if s["state"] != "pending"]
        assert "1 failing test" in first["description"], first  # no baseline: not judged
        # then the baseline at its merge base ran, and it was judged against that
        assert "1 new failure" in judged["description"], judged
        posted = gh.recorder.matching("POST", STATUS_PATH)
        assert all(r.path.endswith(queued) for r in posted), [r.path for r in posted]
        assert later != queued
    finally:
        svc.close()


def test_a_new_push_stops_the_running_cell_of_the_old_head(
    tmp_path: Path,
    suites: Path,
    gh: GitHubStandIn,
    shared_cache: Path,
    upstream_repo: UpstreamRepo,
    webhook_examples: dict[str, list[dict[str, Any]]],
) -> None:
    svc = Service(
        tmp_path, suites, f"sqlite:///{tmp_path / 'harness.db'}",
        service_env(gh, shared_cache), workers=0,
    )  # fmt: skip
    pids = tmp_path / "pids"
    pids.mkdir()
    stale: int | None = None
    try:
        old, _ = upstream_repo.pull_request(
            9, {"tests/test_basic.py": SLOW_TEST.format(pids=str(pids))}
        )
        opened = pr_payload(webhook_examples, "opened", number=9, head=old)
        assert deliver(svc.url, "pull_request", opened).status_code == 202
        busy = svc.worker("busy", "--lease", "3")
        wait_for((pids / "attempt1").exists, 240, "the old head's test to start", svc)
        stale = int((pids / "attempt1").read_text())
        # the author pushes; the only worker, busy with the old head, applies the delivery
        # while its cell runs, stops the old head's test at its next heartbeat, then runs
        # the new head
        new, _ = upstream_repo.pull_request(
            9, {"tests/test_basic.py": "def test_pass():\n    pass\n"}
        )
        pushed = pr_payload(webhook_examples, "synchronize", number=9, head=new)
        assert deliver(svc.url, "pull_request", pushed).status_code == 202
        wait_for(lambda: not alive(stale), 120, "the old head's test to be stopped", svc)
        wait_for(lambda: settled(svc), 240, "the new head's report", svc)
        busy.terminate()
        busy.wait(timeout=60)
        with Store.open(svc.db_url) as store:
            runs = {r.sha: r for r in store.list_runs()}
        assert runs[old].status == "cancelled", (runs[old].status, runs[old].reason)
        assert "superseded" in (runs[old].reason or "")
        assert runs[new].status == "passed"
        # nothing final is posted for the old head; the new head gets its verdict
        final = [
            r for r in gh.recorder.matching("POST", STATUS_PATH) if r.body["state"] != "pending"
        ]
        assert [r.path.rsplit("/", 1)[-1] for r in final] == [new], [r.path for r in final]
        assert "stopping its run, which is not reported" in svc.logs()
    finally:
        if stale is not None and alive(stale):
            os.kill(stale, signal.SIGKILL)
        svc.close()
