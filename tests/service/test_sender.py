"""Contract tests of the reporter: every call it makes is accepted by Prism serving
GitHub's OpenAPI description, a malformed one is rejected, and GitHub's failures
(rate limits, outages) delay a report without losing it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harness.codehost.github.client import Credentials, GitHubClient
from harness.service import ledger, outbox
from harness.service.sender import Sender
from harness.store import Store
from harness.store.outbox import outbox_t
from harness.store.rate_limits import limits_t
from tests.github_standin import GitHubStandIn, free_port

REPO = "octocat/Hello-World"
SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
MARKER = "<!-- harness-pr-comment: acme -->"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(f"sqlite:///{tmp_path / 'h.db'}")
    yield s
    s.close()


def sender(store: Store, api_url: str, **creds: Any) -> Sender:
    fields: dict[str, Any] = {"api_url": api_url, "token": "t0ken", "write_interval_s": 0}
    return Sender(store, GitHubClient(Credentials(**(fields | creds)), timeout=5), "sender-1")


def put(store: Store, kind: str, key: str, payload: dict[str, Any]) -> int:
    with store.transaction("t") as tx:
        return tx.outbox.put(REPO, kind, key, payload)


def status(state: str = "failure") -> dict[str, Any]:
    return {
        "sha": SHA,
        "context": "acme/demo/npu",
        "state": state,
        "description": "x" * 300,  # clipped to GitHub's 140
        "target_url": "https://ci.example/runs/1",
        "installation": None,
    }


def check(conclusion: str | None = "failure") -> dict[str, Any]:
    fields = (
        {"status": "completed", "conclusion": conclusion}
        if conclusion
        else {"status": "in_progress"}
    )
    return {
        "sha": SHA,
        "name": "acme/demo/npu",
        "title": "1 new failure",
        "summary": "**t::x** fails",
        "details_url": "https://ci.example/runs/1",
        "installation": None,
        **fields,
    }


def comment(body: str) -> dict[str, Any]:
    return {"pr": 1347, "marker": MARKER, "body": f"{MARKER}\n{body}", "installation": None}


def test_status_check_run_and_comment_are_accepted_by_the_spec(
    gh: GitHubStandIn, store: Store
) -> None:
    s = sender(store, gh.url)
    put(store, "status", "status:a:acme/demo/npu", status())
    put(store, "check_run", "check:a:acme/demo/npu", check(None))
    put(store, "comment", "comment:1347", comment("first"))
    assert s.send_due().sent == 3
    posted = gh.recorder.matching("POST", rf"/repos/{REPO}/statuses/{SHA}$")
    assert [r.status for r in posted] == [201]
    assert posted[0].body["state"] == "failure"
    assert len(posted[0].body["description"]) == 140
    (created,) = gh.recorder.matching("POST", rf"/repos/{REPO}/check-runs$")
    assert created.status == 201
    assert created.body["head_sha"] == SHA
    assert created.body["output"]["title"] == "1 new failure"
    (new_comment,) = gh.recorder.matching("POST", rf"/repos/{REPO}/issues/1347/comments$")
    assert new_comment.status == 201

    # the next reports for the same check run and comment edit what was created
    put(store, "check_run", "check:a:acme/demo/npu", check("failure"))
    put(store, "comment", "comment:1347", comment("second"))
    assert s.send_due().sent == 2
    (edit_check,) = gh.recorder.matching("PATCH", rf"/repos/{REPO}/check-runs/\d+$")
    assert edit_check.status == 200
    assert edit_check.body["conclusion"] == "failure"
    (edit_comment,) = gh.recorder.matching("PATCH", rf"/repos/{REPO}/issues/comments/\d+$")
    assert edit_comment.status == 200
    assert edit_comment.body["body"].endswith("second")
    assert len(gh.recorder.matching("POST", r"/comments$")) == 1
    assert all(r.auth == "token" for r in gh.recorder.requests)


def test_an_existing_comment_is_found_by_its_marker(gh: GitHubStandIn, store: Store) -> None:
    """A fresh database (no comment id stored) still edits the comment already there."""
    ours = {
        "id": 555,
        "url": f"{gh.url}/repos/{REPO}/issues/comments/555",
        "body": f"{MARKER}\nold results",
        "user": {"login": "acme-ci[bot]", "id": 1},
    }
    theirs = ours | {"id": 554, "body": "LGTM", "url": f"{gh.url}/repos/{REPO}/issues/comments/554"}
    gh.recorder.answer_next("GET", rf"/repos/{REPO}/issues/1347/comments", 200, [theirs, ours])
    put(store, "comment", "comment:1347", comment("new results"))
    assert sender(store, gh.url).send_due().sent == 1
    assert gh.recorder.matching("POST", r"/comments$") == []
    (edit,) = gh.recorder.matching("PATCH", r"/issues/comments/\d+$")
    assert edit.path.endswith("/555")
    assert outbox.get_object(store, REPO, "comment", "1347") == 555


def test_a_malformed_report_is_rejected_by_the_spec_and_dead_lettered(
    gh: GitHubStandIn, store: Store
) -> None:
    put(store, "status", "status:a:acme/demo/npu", status("bogus"))
    put(store, "check_run", "check:a:x", check("not-a-conclusion"))
    result = sender(store, gh.url).send_due()
    assert (result.sent, result.dead) == (0, 2)
    dead = {e.kind: e.last_error or "" for e in outbox.list_entries(store, states=["dead"])}
    assert "422" in dead["status"]
    assert "error, failure, pending, success" in dead["status"]
    assert "422" in dead["check_run"]


def test_rate_limits_delay_the_report_until_github_says(gh: GitHubStandIn, store: Store) -> None:
    s = sender(store, gh.url)
    gh.recorder.fail_next(
        "POST", r"/statuses/", 429, headers={"Retry-After": "1"}, message="slow down"
    )
    entry_id = put(store, "status", "status:a:acme/demo/npu", status())
    assert s.send_due().retried == 1
    (entry,) = outbox.list_entries(store)
    assert entry.state == "pending"
    assert "rate limited" in (entry.last_error or "")
    assert 0.5 < (entry.next_attempt_at - entry.created_at).total_seconds() < 3
    assert s.send_due().sent == 0  # not yet due
    time.sleep(1.2)
    assert s.send_due().sent == 1
    assert outbox.list_entries(store)[0].id == entry_id
    assert outbox.state_counts(store) == {"sent": 1}


def test_a_secondary_rate_limit_waits_for_the_reset(gh: GitHubStandIn, store: Store) -> None:
    reset = int(time.time()) + 120
    gh.recorder.fail_next(
        "POST",
        r"/statuses/",
        403,
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
        message="You have exceeded a secondary rate limit",
    )
    put(store, "status", "status:a:acme/demo/npu", status())
    assert sender(store, gh.url).send_due().retried == 1
    (entry,) = outbox.list_entries(store)
    assert abs(entry.next_attempt_at.timestamp() - reset) < 5


def test_an_outage_is_retried_with_backoff(gh: GitHubStandIn, store: Store) -> None:
    gh.recorder.fail_next("POST", r"/statuses/", 502, message="bad gateway")
    put(store, "status", "status:a:acme/demo/npu", status())
    s = sender(store, gh.url)
    assert s.send_due().retried == 1
    (entry,) = outbox.list_entries(store)
    assert "HTTP 502" in (entry.last_error or "")
    assert (entry.next_attempt_at - entry.created_at).total_seconds() >= 3
    # GitHub unreachable altogether: also kept
    put(store, "comment", "comment:1347", comment("x"))
    down = sender(store, f"http://127.0.0.1:{free_port()}")
    assert down.send_due().retried == 1
    assert outbox.state_counts(store) == {"pending": 2}


def test_github_app_installation_tokens(gh: GitHubStandIn, store: Store, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    key_file = tmp_path / "app.pem"
    key_file.write_bytes(pem)
    creds = Credentials.from_env(
        {
            "HARNESS_GITHUB_API_URL": gh.url,
            "HARNESS_GITHUB_APP_ID": "123",
            "HARNESS_GITHUB_APP_KEY_FILE": str(key_file),
            "HARNESS_GITHUB_WRITE_INTERVAL": "0",
        }
    )
    assert creds is not None
    assert "PRIVATE KEY" not in repr(creds)
    assert creds.describe() == f"GitHub App 123 at {gh.url}"
    s = Sender(store, GitHubClient(creds, timeout=5), "sender-1")
    put(store, "status", "status:a:acme/demo/npu", status() | {"installation": 4242})
    put(store, "check_run", "check:a:acme/demo/npu", check() | {"installation": 4242})
    assert s.send_due().sent == 2
    tokens = gh.recorder.matching("POST", r"^/app/installations/4242/access_tokens$")
    # the JWT buys an installation token; the example token has expired long ago, so it is
    # renewed before each use rather than used stale
    assert tokens
    assert all(t.auth == "bearer" and t.status == 201 for t in tokens)
    writes = [r for r in gh.recorder.writes() if "access_tokens" not in r.path]
    assert [r.auth for r in writes] == ["token", "token"]


def owe(store: Store, context: str = "acme/demo/npu", deadline_s: float = 3600) -> None:
    """A report owed for cell demo/npu/x at SHA, decided (its report queued)."""

    with store.transaction("t") as tx:
        tx.ledger.promise(
            repository=REPO,
            pr_number=1347,
            head_sha=SHA,
            cells=[("demo/npu/x", context)],
            deadline_s=deadline_s,
        )
        tx.ledger.settle(REPO, SHA, "demo/npu/x")


def ledger_state(store: Store) -> str:
    (row,) = ledger.list_owed(store)
    return row.state


def test_the_ledger_settles_only_when_github_accepts(gh: GitHubStandIn, store: Store) -> None:
    owe(store)
    put(store, "status", "status:a:acme/demo/npu", status("pending"))
    assert sender(store, gh.url).send_due().sent == 1
    assert ledger_state(store) == "queued"  # a pending status settles nothing
    put(store, "status", "status:a:acme/demo/npu", status("failure"))
    down = sender(store, f"http://127.0.0.1:{free_port()}")
    assert down.send_due().retried == 1
    assert ledger_state(store) == "queued"  # GitHub away: still owed, and counted so
    assert ledger.counts(store).get("queued") == 1
    with store.transaction("t") as tx:  # due again now
        tx.connection.execute(outbox_t.update().values(next_attempt_at=outbox.now()))
    assert sender(store, gh.url).send_due().sent == 1
    assert ledger_state(store) == "reported"


def test_a_dead_letter_is_owed_and_can_be_resent(gh: GitHubStandIn, store: Store) -> None:
    owe(store, deadline_s=0.05)
    gh.recorder.fail_next("POST", r"/statuses/", 404, message="Not Found")  # app not installed
    entry_id = put(store, "status", "status:a:acme/demo/npu", status("failure"))
    assert sender(store, gh.url).send_due().dead == 1
    time.sleep(0.1)
    (row,) = ledger.list_owed(store, overdue_only=True)  # never silently settled
    assert row.state == "owed"
    assert outbox.retry(store, [entry_id]) == [entry_id]
    assert outbox.retry(store, [entry_id]) == []  # not dead any more
    assert sender(store, gh.url).send_due().sent == 1
    assert ledger_state(store) == "reported"
    assert ledger.list_owed(store, overdue_only=True) == []


def test_a_replaced_entry_keeps_its_wait(gh: GitHubStandIn, store: Store) -> None:
    gh.recorder.fail_next(
        "POST", r"/statuses/", 429, headers={"Retry-After": "60"}, message="slow down"
    )
    put(store, "status", "status:a:acme/demo/npu", status("pending"))
    s = sender(store, gh.url)
    assert s.send_due().retried == 1
    # a recheck queues a newer state for the same status during the backoff
    put(store, "status", "status:a:acme/demo/npu", status("failure"))
    assert s.send_due().sent == 0  # still waiting for the time GitHub named
    (entry,) = outbox.list_entries(store)
    assert entry.payload["state"] == "failure"
    assert (entry.next_attempt_at - outbox.now()).total_seconds() > 30


def due_now(store: Store) -> None:
    with store.transaction("t") as tx:
        tx.connection.execute(outbox_t.update().values(next_attempt_at=outbox.now()))


def test_a_rate_limit_holds_back_the_whole_token_and_grows(gh: GitHubStandIn, store: Store) -> None:
    s = sender(store, gh.url)
    put(store, "status", "status:a:acme/demo/npu", status())
    put(store, "status", "status:a:acme/demo/cpu", {**status(), "context": "acme/demo/cpu"})
    gh.recorder.fail_next(
        "POST", r"/statuses/", 429, headers={"Retry-After": "30"}, message="slow down"
    )
    assert s.send_due().retried == 2
    # the second report was never sent into the limit
    assert len(gh.recorder.matching("POST", r"/statuses/")) == 1
    waits = sorted(
        (e.next_attempt_at - outbox.now()).total_seconds() for e in outbox.list_entries(store)
    )
    assert all(w > 20 for w in waits), waits  # GitHub said 30 s
    assert any("held back" in (e.last_error or "") for e in outbox.list_entries(store))
    # the next limit in a row, once the first is over: twice as long as GitHub said
    short = {"Retry-After": "1"}
    with store.transaction("t") as tx:  # a new run
        tx.connection.execute(limits_t.delete())
    due_now(store)
    gh.recorder.fail_next("POST", r"/statuses/", 429, headers=short, message="slow down")
    assert s.send_due().retried == 2
    time.sleep(1.2)
    due_now(store)
    gh.recorder.fail_next("POST", r"/statuses/", 429, headers=short, message="slow down")
    before = outbox.now()
    assert s.send_due().retried == 2
    waits = [(e.next_attempt_at - before).total_seconds() for e in outbox.list_entries(store)]
    assert all(w >= 1.9 for w in waits), waits  # 2 s: twice what GitHub said
    # a success ends it
    time.sleep(2.2)
    assert s.send_due().sent == 2


# A sender in a process of its own, killed by a failpoint the moment GitHub has accepted
# a post and before the outbox knows: the worst moment for exactly-once.
KILLED_SENDER = """\
import sys
from harness.codehost.github.client import Credentials, GitHubClient
from harness.service.sender import Sender
from harness.store import Store

store = Store.open(sys.argv[1])
client = GitHubClient(Credentials(api_url=sys.argv[2], token="t0ken", write_interval_s=0))
Sender(store, client, "doomed", lease_s=0.2).send_due()
"""


def db_url(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def send_and_die(store: Store, api_url: str, failpoint: str) -> None:
    env = {**os.environ, "HARNESS_FAILPOINTS": f"{failpoint}=kill"}
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_SENDER, db_url(store), api_url],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    time.sleep(0.3)  # its lease on the entry runs out


def test_a_sender_killed_after_github_accepted_a_status_does_not_post_it_twice(
    gh: GitHubStandIn, store: Store
) -> None:
    gh.recorder.stateful = True
    owe(store)
    put(store, "status", "status:a:acme/demo/npu", status("failure"))
    send_and_die(store, gh.url, "sender.posted.final")
    assert len(gh.recorder.accepted("POST", r"/statuses/")) == 1  # GitHub has it
    assert ledger_state(store) == "queued"  # the outbox does not know yet
    assert sender(store, gh.url).send_due().sent == 1
    assert len(gh.recorder.accepted("POST", r"/statuses/")) == 1  # looked, not posted again
    assert gh.recorder.matching("GET", rf"/repos/{REPO}/commits/{SHA}/statuses")
    assert ledger_state(store) == "reported"
    # a status GitHub does not have yet is posted, even for a resumed entry
    put(store, "status", "status:a:acme/demo/npu", status("success"))
    send_and_die(store, gh.url, "sender.posting")
    assert sender(store, gh.url).send_due().sent == 1
    posted = gh.recorder.accepted("POST", r"/statuses/")
    assert [p.body["state"] for p in posted] == ["failure", "success"]


def test_a_sender_killed_after_creating_the_comment_edits_it_next_time(
    gh: GitHubStandIn, store: Store
) -> None:
    gh.recorder.stateful = True
    put(store, "comment", "comment:1347", comment("first"))
    send_and_die(store, gh.url, "sender.created.comment")
    (created,) = gh.recorder.accepted("POST", r"/issues/1347/comments$")
    assert outbox.get_object(store, REPO, "comment", "1347") is None  # its id never kept
    assert sender(store, gh.url).send_due().sent == 1
    assert gh.recorder.accepted("POST", r"/issues/1347/comments$") == [created]
    (edit,) = gh.recorder.accepted("PATCH", r"/issues/comments/\d+$")
    assert edit.body["body"].endswith("first")
    (kept,) = gh.recorder.state.comments[(REPO, 1347)]
    assert outbox.get_object(store, REPO, "comment", "1347") == kept["id"]


def test_a_sender_killed_after_creating_a_check_run_edits_it_next_time(
    gh: GitHubStandIn, store: Store
) -> None:
    owe(store)
    put(store, "check_run", "check:a:acme/demo/npu", check("failure"))
    send_and_die(store, gh.url, "sender.created.check_run")
    assert len(gh.recorder.accepted("POST", r"/check-runs$")) == 1
    # GitHub lists the head's check runs of that name: the one created, by external_id
    ours = {"id": 4711, "name": "acme/demo/npu", "external_id": f"{SHA}:acme/demo/npu"}
    other = {"id": 4710, "name": "acme/demo/npu", "external_id": "someone-else"}
    gh.recorder.answer_next(
        "GET", rf"/commits/{SHA}/check-runs", 200, {"total_count": 2, "check_runs": [other, ours]}
    )
    assert sender(store, gh.url).send_due().sent == 1
    assert len(gh.recorder.accepted("POST", r"/check-runs$")) == 1
    (edit,) = gh.recorder.accepted("PATCH", r"/check-runs/\d+$")
    assert edit.path.endswith("/4711")
    assert outbox.get_object(store, REPO, "check_run", f"{SHA}:acme/demo/npu") == 4711
    assert ledger_state(store) == "reported"


def test_a_rate_limit_one_worker_met_holds_back_the_others(gh: GitHubStandIn, store: Store) -> None:
    first, second = sender(store, gh.url), sender(store, gh.url)
    put(store, "status", "status:a:acme/demo/npu", status())
    gh.recorder.fail_next(
        "POST", r"/statuses/", 403, headers={"Retry-After": "30"},
        message="You have exceeded a secondary rate limit",
    )  # fmt: skip
    assert first.send_due().retried == 1
    # another worker (its own sender, the same database) has a report for the same token
    put(store, "status", "status:a:acme/demo/cpu", {**status(), "context": "acme/demo/cpu"})
    due_now(store)
    assert second.send_due().retried == 2
    assert len(gh.recorder.matching("POST", r"/statuses/")) == 1  # never sent into it
    assert all("held back" in (e.last_error or "") for e in outbox.list_entries(store))
    # another installation is not held back by this token's limit
    other = {**status(), "context": "acme/demo/x", "installation": 77}
    put(store, "status", "status:b:acme/demo/x", other)
    assert second.send_due().sent == 1
