"""Chat notifications end to end: real ``harness serve`` and workers, the fixture upstream
run for real, GitHub played by Prism, and the vendor team's incoming webhook by a real
HTTP server: a pull request's new failure and a broken trunk each post one message, a
server error is retried, nothing is posted when nothing new fails."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.chat_webhook import Answer, chat_webhook
from tests.github_standin import GitHubStandIn
from tests.service.support import (
    BROKEN_PASS,
    REPO,
    Service,
    deliver,
    demo_suites,
    pr_payload,
    push_payload,
    service_env,
    service_yaml,
    settled,
)

CHAT = """\
chat:
  webhook_url_env: ACME_CHAT_URL
  mention: "<!subteam^S0VENDOR>"
"""


def test_new_failures_and_a_broken_trunk_are_notified_once_each(
    tmp_path: Path,
    gh: GitHubStandIn,
    shared_cache: Path,
    wheels: Path,
    webhook_examples: dict[str, list[dict[str, Any]]],
) -> None:
    from tests.fixture_upstream import make_upstream

    upstream = make_upstream(tmp_path / "upstream")
    config = service_yaml("status", extra=CHAT)
    suites = demo_suites(tmp_path, upstream.url, wheels, config=config)
    with chat_webhook() as hook:
        env = service_env(gh, shared_cache) | {"ACME_CHAT_URL": hook.url}
        svc = Service(tmp_path, suites, f"sqlite:///{tmp_path / 'harness.db'}", env, workers=0)
        try:
            # the default branch's first run: a baseline, nothing earlier to be new against
            first = upstream.rev_parse("main")
            assert deliver(svc.url, "push", push_payload(webhook_examples, sha=first)).is_success
            assert svc.worker("w0", "--once").wait(timeout=300) == 0
            assert hook.bodies() == []

            # a pull request breaking test_pass: one message (the webhook fails once first)
            hook.script = [Answer(500, "internal_error", {"Retry-After": "1"})]
            head, _ = upstream.pull_request(7, {"tests/test_basic.py": BROKEN_PASS})
            opened = pr_payload(webhook_examples, "opened", number=7, head=head)
            assert deliver(svc.url, "pull_request", opened).is_success
            assert svc.worker("w1", "--once").wait(timeout=300) == 0
            (failed,) = hook.bodies()
            text = f"<!subteam^S0VENDOR> {REPO} PR #7 at {head[:12]}: 1 new failure in demo/cpu/"
            assert failed["text"].startswith(text)
            assert "`tests.test_basic::test_pass`" in failed["blocks"][1]["text"]["text"]

            # a pull request where nothing new fails: no message; the retry goes out
            time.sleep(1.2)
            fine, _ = upstream.pull_request(8, {"docs.txt": "a harmless change\n"})
            opened = pr_payload(webhook_examples, "opened", number=8, head=fine)
            assert deliver(svc.url, "pull_request", opened).is_success
            assert svc.worker("w2", "--once").wait(timeout=300) == 0
            assert hook.bodies() == [failed, failed]

            # the default branch breaks test_pass: broken trunk
            broken = upstream.commit({"tests/test_basic.py": BROKEN_PASS}, message="break it")
            assert deliver(svc.url, "push", push_payload(webhook_examples, sha=broken)).is_success
            assert svc.worker("w3", "--once").wait(timeout=300) == 0
            *_, trunk = hook.bodies()
            assert len(hook.bodies()) == 3
            assert trunk["text"].startswith(
                f"<!subteam^S0VENDOR> Broken trunk: {REPO} main at {broken[:12]}: 1 new failure"
            )
            assert settled(svc)
            chats = [e for e in svc.api("/api/outbox")["entries"] if e["kind"] == "chat"]
            assert sorted(e["state"] for e in chats) == ["sent", "sent"]
            assert all(e["attempts"] in (1, 2) for e in chats)
            assert "s3cretT0ken" not in svc.logs()
        finally:
            svc.close()


def test_a_verdict_waiting_for_its_baseline_is_notified_only_once_it_is_exact(
    tmp_path: Path,
    gh: GitHubStandIn,
    shared_cache: Path,
    wheels: Path,
    webhook_examples: dict[str, list[dict[str, Any]]],
) -> None:
    from tests.fixture_upstream import make_upstream

    upstream = make_upstream(tmp_path / "upstream")
    config = service_yaml("status", extra=CHAT)
    suites = demo_suites(tmp_path, upstream.url, wheels, config=config)
    with chat_webhook() as hook:
        env = service_env(gh, shared_cache) | {"ACME_CHAT_URL": hook.url}
        svc = Service(tmp_path, suites, f"sqlite:///{tmp_path / 'harness.db'}", env, workers=0)
        try:
            first = upstream.rev_parse("main")
            assert deliver(svc.url, "push", push_payload(webhook_examples, sha=first)).is_success
            assert svc.worker("w0", "--once").wait(timeout=300) == 0

            # the default branch moves on without a delivery: no baseline at the merge
            # base of this pull request, which breaks test_pass. Judged first against the
            # stand-in (not notified), then against the merge base's own run: notified
            upstream.commit({"docs.txt": "a harmless change\n"}, message="docs")
            head, _ = upstream.pull_request(7, {"tests/test_basic.py": BROKEN_PASS})
            opened = pr_payload(webhook_examples, "opened", number=7, head=head)
            assert deliver(svc.url, "pull_request", opened).is_success
            assert svc.worker("w1", "--once").wait(timeout=400) == 0
            assert "queued one" in svc.logs()  # the merge-base baseline
            (notified,) = hook.bodies()
            assert notified["text"].startswith(f"<!subteam^S0VENDOR> {REPO} PR #7 at {head[:12]}")

            # the default branch breaks test_pass before this pull request branches off:
            # the stand-in baseline (test_pass passed) would blame the pull request; the
            # exact one does not. The merge base's own run finds the trunk broken
            broken = upstream.commit({"tests/test_basic.py": BROKEN_PASS}, message="break it")
            fine, _ = upstream.pull_request(8, {"other.txt": "another change\n"})
            opened = pr_payload(webhook_examples, "opened", number=8, head=fine)
            assert deliver(svc.url, "pull_request", opened).is_success
            assert svc.worker("w2", "--once").wait(timeout=400) == 0
            assert (
                len([i for i in svc.api("/api/queue")["items"] if i["trigger"] == "merge-base"])
                == 2
            )
            again, trunk = hook.bodies()
            assert again == notified
            assert trunk["text"].startswith(
                f"<!subteam^S0VENDOR> Broken trunk: {REPO} main at {broken[:12]}: 1 new failure"
            )
            assert settled(svc)
        finally:
            svc.close()
