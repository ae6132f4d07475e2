"""The github-actions executor: a worker sends each cell to the CI repository's workflow
as a repository_dispatch (accepted by Prism, GitHub's OpenAPI description) instead of
running it, and the item waits for its results."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.codehost.github.client import Credentials, GitHubClient
from harness.config.service import ServiceConfig
from harness.service import ledger
from harness.service import queue as q
from harness.service.dispatch import Plan
from harness.service.worker import Worker, WorkerSettings
from harness.store import Store
from tests.github_standin import GitHubStandIn
from tests.service.support import REPO, deliver_to_store, pr_payload
from tests.service.test_dispatch import SUITE

CI = "octocat/Hello-World"  # Prism answers for any repository


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'h.db'}") as s:
        yield s


def worker(store: Store, tmp_path: Path, gh: GitHubStandIn) -> Worker:
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "demo.yaml").write_text(SUITE)
    config = ServiceConfig.model_validate(
        {"vendor": "acme", "actions": {"repository": CI}, "upstreams": {REPO: {"level": "status"}}}
    )
    client = GitHubClient(Credentials(api_url=gh.url, token="t", write_interval_s=0), timeout=5)
    settings = WorkerSettings(cache_dir=tmp_path / "cache", reports_dir=tmp_path / "reports")
    return Worker(
        store, config, Plan.load(suites, "github-actions"), None, settings, client, name="w"
    )


def test_cells_are_dispatched_to_the_workflow(
    store: Store,
    tmp_path: Path,
    gh: GitHubStandIn,
    webhook_examples: dict[str, list[dict[str, Any]]],
) -> None:
    w = worker(store, tmp_path, gh)
    head = "a" * 40
    deliver_to_store(
        store, "pull_request", pr_payload(webhook_examples, "opened", number=3, head=head)
    )
    while w.turn():
        pass
    items = q.list_items(store)
    # runners run host cells and image cells alike
    assert {i.cell for i in items} == {
        "demo/cpu/host",
        "demo/npu/host",
        "demo/cpu/debian12-py3.11",
        "demo/npu/cann8.5.0-910b-openeuler24.03-py3.11",
    }
    assert {i.state for i in items} == {"dispatched"}
    sent = gh.recorder.matching("POST", rf"^/repos/{CI}/dispatches$")
    assert [r.status for r in sent] == [204] * 4
    payloads = sorted((r.body["client_payload"] for r in sent), key=lambda p: p["cells"])
    assert all(r.body["event_type"] == "harness-run" for r in sent)
    first = next(p for p in payloads if p["cells"] == "demo/cpu/host")
    assert first["head_sha"] == head
    assert first["ref"] == "refs/pull/3/head"
    assert first["items"] == {
        "demo/cpu/host": next(i.id for i in items if i.cell == "demo/cpu/host")
    }
    # the reports stay owed until the results come back (or the ledger flags them)
    assert {o.state for o in ledger.list_owed(store)} == {"owed"}


def test_an_untrusted_host_cell_is_not_sent(
    store: Store,
    tmp_path: Path,
    gh: GitHubStandIn,
    webhook_examples: dict[str, list[dict[str, Any]]],
) -> None:
    w = worker(store, tmp_path, gh)
    pr = pr_payload(
        webhook_examples, "opened", number=4, head="b" * 40, author="stranger", association="NONE"
    )
    deliver_to_store(store, "pull_request", pr)
    ok = pr_payload(
        webhook_examples,
        "labeled",
        number=4,
        head="b" * 40,
        author="stranger",
        association="NONE",
        label="ok-to-test",
        sender="maintainer",
    )
    deliver_to_store(store, "pull_request", ok)
    while w.turn():
        pass
    states = {i.cell: i for i in q.list_items(store)}
    for cell in ("demo/cpu/host", "demo/npu/host"):
        assert states[cell].state == "failed"
        assert "runs only in containers" in (states[cell].detail or "")
    # image cells run in containers on the runners: they are sent
    sent = gh.recorder.matching("POST", r"/dispatches$")
    assert sorted(r.body["client_payload"]["cells"] for r in sent) == [
        "demo/cpu/debian12-py3.11",
        "demo/npu/cann8.5.0-910b-openeuler24.03-py3.11",
    ]
