"""The hostile pull request through the service, as a stranger would send it: ``harness
serve`` with an embedded docker worker, GitHub played by Prism, the pull request held for
an untrusted author until a maintainer comments ``/harness ok-to-test``. Its code then
runs, fails a test, is re-run, and plants links for the host: the victim file stays as
it was, the host secret reaches neither the database nor anything posted to GitHub, and
the pull request still gets its report."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from harness.container_engine import LABEL, ContainerEngine
from tests.docker_support import debian_base, require_docker
from tests.executors.hostile import hostile_suite, make_hostile
from tests.github_standin import GitHubStandIn
from tests.service.support import (
    REPO,
    Service,
    comment_payload,
    deliver,
    pr_payload,
    service_env,
    settled,
    wait_for,
)


@pytest.fixture
def engine() -> ContainerEngine:
    return require_docker()


def test_an_approved_strangers_pull_request_stays_in_its_container(
    tmp_path: Path,
    engine: ContainerEngine,
    wheels: Path,
    gh: GitHubStandIn,
    shared_cache: Path,
    webhook_examples: dict[str, list[dict[str, Any]]],
) -> None:
    base = debian_base(engine)
    wheels.chmod(0o755)
    hostile = make_hostile(tmp_path / "upstream")
    victim = tmp_path / "authorized_keys"
    victim.write_text("ssh-ed25519 AAAA operator@host\n")
    secret = tmp_path / "shadow"
    secret.write_text('<testsuite><testcase classname="HOSTSECRET" name="x"/></testsuite>\n')
    secret.chmod(0o600)
    attack = {
        "ATTACK_VICTIM": str(victim),
        "ATTACK_SECRET": str(secret),
        "ATTACKS": "rerun,secret,forged-id",
    }
    suites = tmp_path / "suites"
    (suites / "service").mkdir(parents=True)
    (suites / "hostile.yaml").write_text(
        hostile_suite(hostile.url, env=attack, wheels=wheels, repo=REPO, reruns=1)
    )
    (suites / "service" / "config.yaml").write_text(
        textwrap.dedent(
            f"""\
            vendor: acme
            details_url: http://ci.example/runs/{{run_id}}
            upstreams:
              {REPO}:
                level: comment
                cells: ["hostile/cpu/debian12-py3.11"]
                # this test is about containment: no baseline run of its own
                baseline_at_merge_base: false
            """
        )
    )
    label = f"org.accel-harness.test={uuid.uuid4().hex}"
    env = service_env(gh, shared_cache) | {
        "HARNESS_DOCKER_BASE_IMAGE": base,
        "HARNESS_DOCKER_NETWORK": "host",
        "HARNESS_DOCKER_MEMORY": "512m",
        "HARNESS_DOCKER_LABELS": label,
    }
    db_url = f"sqlite:///{tmp_path / 'harness.db'}"
    svc = Service(tmp_path, suites, db_url, env, executor="docker")
    try:
        head = hostile.rev_parse("refs/pull/1/head")
        pr = pr_payload(
            webhook_examples, "opened", number=1, head=head, author="stranger", association="NONE"
        )
        assert deliver(svc.url, "pull_request", pr).status_code == 202
        wait_for(
            lambda: [i["state"] for i in svc.api("/api/queue")["items"]] == ["held"],
            120,
            "the stranger's pull request to be held",
            svc,
        )
        ok = comment_payload(webhook_examples, number=1, body="/harness ok-to-test")
        assert deliver(svc.url, "issue_comment", ok).status_code == 202
        wait_for(lambda: settled(svc), 600, "the approved pull request's report", svc)

        (item,) = svc.api("/api/queue")["items"]
        assert item["state"] == "done", item
        assert victim.read_text() == "ssh-ed25519 AAAA operator@host\n"
        assert b"HOSTSECRET" not in Path(tmp_path / "harness.db").read_bytes()
        posted = " ".join(str(r.body) for r in gh.recorder.requests)
        assert "HOSTSECRET" not in posted
        assert "HOSTSECRET" not in svc.logs()
        # the run was judged and reported: refused result file → infrastructure error,
        # with the tests that did run recorded (the rerun happened in the container)
        statuses = [r.body for r in gh.recorder.matching("POST", rf"^/repos/{REPO}/statuses/")]
        assert statuses[-1]["state"] == "error", statuses
        assert "rerun 1/1 of step 'unit'" in svc.logs()
    finally:
        svc.close()
        left = engine.client.containers.list(all=True, filters={"label": [LABEL, label]})
        assert left == [], [c.labels for c in left]
