"""Which executor the service gives an untrusted author's code to is decided by what the
executor declares: workers run with executors installed as a plugin package (real pip
install) take an approved stranger's pull request; the one that declares no isolation
fails it without running a step, the one that declares VM isolation runs it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import extension_site  # noqa: F401 - re-exported fixture
from tests.fixture_upstream import make_upstream
from tests.github_standin import GitHubStandIn
from tests.gitrepos import UpstreamRepo
from tests.service.support import (
    Service,
    comment_payload,
    deliver,
    demo_suites,
    pr_payload,
    service_env,
)


@pytest.fixture
def upstream_repo(tmp_path: Path) -> UpstreamRepo:
    return make_upstream(tmp_path / "upstream")


def approved_stranger_pr(
    svc: Service,
    repo: UpstreamRepo,
    examples: dict[str, list[dict[str, Any]]],
    number: int,
) -> str:
    head, _ = repo.pull_request(number, {f"tests/test_pr{number}.py": "def test_x():\n    pass\n"})
    pr = pr_payload(
        examples, "opened", number=number, head=head, author="stranger", association="NONE"
    )
    assert deliver(svc.url, "pull_request", pr).status_code == 202
    ok = comment_payload(examples, number=number, body="/harness ok-to-test")
    assert deliver(svc.url, "issue_comment", ok).status_code == 202
    return head


def journal(cache: Path) -> list[str]:
    path = cache / "executor-journal.log"
    return path.read_text().splitlines() if path.exists() else []


def test_an_untrusted_item_goes_only_to_an_executor_declaring_isolation(
    tmp_path: Path,
    upstream_repo: UpstreamRepo,
    wheels: Path,
    gh: GitHubStandIn,
    extension_site: Path,  # noqa: F811 - the fixture imported above
    webhook_examples: dict[str, list[dict[str, Any]]],
) -> None:
    cache = tmp_path / "cache"
    env = service_env(gh, cache) | {"PYTHONPATH": str(extension_site)}
    suites = demo_suites(tmp_path, upstream_repo.url, wheels)
    svc = Service(
        tmp_path, suites, f"sqlite:///{tmp_path / 'h.db'}", env, workers=0, executor="journal"
    )
    try:
        first = approved_stranger_pr(svc, upstream_repo, webhook_examples, 21)
        assert svc.worker("w1", "--once").wait(timeout=240) == 0
        (item,) = svc.api("/api/queue")["items"]
        assert (item["head_sha"], item["state"]) == (first, "failed")
        assert "runs only in containers" in item["detail"]
        assert item["run_id"] is None
        assert journal(cache) == []  # the executor never got it

        second = approved_stranger_pr(svc, upstream_repo, webhook_examples, 22)
        vm = svc.worker("w2", "--once", "--executor", "pretend-vm")
        assert vm.wait(timeout=240) == 0, svc.logs()[-3000:]
        item = next(i for i in svc.api("/api/queue")["items"] if i["head_sha"] == second)
        assert item["state"] == "done", item
        assert item["run_id"] is not None
        assert "pretend-vm test unit" in journal(cache)
    finally:
        svc.close()
