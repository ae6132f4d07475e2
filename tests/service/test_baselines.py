"""Baselines at the merge bases verdicts ask for (real ``harness serve``, real workers,
the fixture upstream run for real, GitHub played by Prism behind the recording proxy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
)

#: test_pass fails (the default branch breaks it before the pull requests branch off)
BROKEN_PASS = """\
import pytest


def test_pass():
    assert 1 + 1 == 3, "broken on the default branch"


@pytest.mark.parametrize("n", [1, 2, 3])
def test_param(n):
    assert n > 0
"""


def finals(gh: GitHubStandIn, sha: str) -> list[dict[str, Any]]:
    posted = gh.recorder.accepted("POST", rf"^/repos/{REPO}/statuses/{sha}$")
    return [r.body for r in posted if r.body["state"] != "pending"]


def test_a_missing_merge_base_baseline_is_run_and_the_verdict_judged_again(
    tmp_path: Path,
    gh: GitHubStandIn,
    shared_cache: Path,
    wheels: Path,
    webhook_examples: dict[str, list[dict[str, Any]]],
) -> None:
    upstream = make_upstream(tmp_path / "upstream")
    suites = demo_suites(tmp_path, upstream.url, wheels)
    svc = Service(
        tmp_path, suites, f"sqlite:///{tmp_path / 'harness.db'}",
        service_env(gh, shared_cache), workers=0,
    )  # fmt: skip
    try:
        # a baseline at the default branch's first commit (pushed, delivered, run)
        first = upstream.rev_parse("main")
        push = push_payload(webhook_examples, sha=first)
        assert deliver(svc.url, "push", push).status_code == 202
        assert svc.worker("w0", "--once").wait(timeout=240) == 0
        # the default branch moves on without a delivery (several commits pushed at
        # once, the service down meanwhile): test_pass is broken there
        merge_base = upstream.commit({"tests/test_basic.py": BROKEN_PASS}, message="break it")
        head, _ = upstream.pull_request(7, {"docs.txt": "a pull request's change\n"})
        opened = pr_payload(webhook_examples, "opened", number=7, head=head)
        assert deliver(svc.url, "pull_request", opened).status_code == 202
        assert svc.worker("w1", "--once").wait(timeout=400) == 0
        assert settled(svc)

        items = svc.api("/api/queue")["items"]
        (asked,) = [i for i in items if i["trigger"] == "merge-base"]
        assert (asked["head_sha"], asked["state"], asked["ref"]) == (merge_base, "done", "main")
        assert "queued one" in svc.logs()
        with Store.open(svc.db_url) as store:
            base_run = store.get_run(asked["run_id"])
        assert (base_run.sha, base_run.is_default_branch) == (merge_base, True)
        # judged first against the stand-in (test_pass passed there: a "new" failure),
        # then against the merge base, where test_pass already fails
        first_verdict, exact = finals(gh, head)
        assert first_verdict["state"] == "failure", first_verdict
        assert "1 new failure" in first_verdict["description"]
        assert exact["state"] == "success", exact
        assert "new failure" not in exact["description"].replace("no new failures", "")
        (row,) = [r for r in svc.api("/api/ledger")["reports"] if r["head_sha"] == head]
        assert row["state"] == "reported"

        # a second pull request from the same merge base finds the baseline there: no
        # second baseline run, one final status, judged exactly at once
        head8, _ = upstream.pull_request(8, {"other.txt": "another change\n"})
        opened = pr_payload(webhook_examples, "opened", number=8, head=head8)
        assert deliver(svc.url, "pull_request", opened).status_code == 202
        assert svc.worker("w2", "--once").wait(timeout=400) == 0
        items = svc.api("/api/queue")["items"]
        assert len([i for i in items if i["trigger"] == "merge-base"]) == 1
        assert [s["state"] for s in finals(gh, head8)] == ["success"]
    finally:
        svc.close()
