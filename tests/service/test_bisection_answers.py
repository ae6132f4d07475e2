"""The answer of the service's own bisection where users look, end to end: real
``harness serve`` and workers, the fixture upstream run for real, GitHub played by
Prism. A push breaks the default branch; the bisection it schedules names the commit;
the served run, cell and bisection pages show it, and a pull request opened on the
broken trunk gets "broken since" next to the pre-existing failure in its comment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lxml.html

from tests.github_standin import GitHubStandIn
from tests.service.support import (
    BROKEN_PASS,
    REPO,
    deliver,
    demo_service,
    pr_payload,
    push_payload,
    run_push,
    service_yaml,
    settled,
    wait_for,
)

BISECT = """\
bisect:
  max_probes_per_day: 20
"""
COMMENT_PATCH = rf"^/repos/{REPO}/issues/comments/\d+$"
COMMENTS_POST = rf"^/repos/{REPO}/issues/9/comments$"


def test_the_service_bisection_answer_on_the_dashboard_and_in_a_pr_comment(
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
        shas = []
        for n in range(1, 5):
            files = {f"docs/{n}.txt": f"change {n}\n"}
            message = f"Docs change {n}"
            if n == 2:
                files["tests/test_basic.py"] = BROKEN_PASS
                message = "Faster addition (#5)"
            shas.append(upstream.commit(files, message=message))
        bad = shas[-1]
        assert deliver(svc.url, "push", push_payload(webhook_examples, sha=bad)).is_success
        assert svc.worker("w1", "--once").wait(timeout=600) == 0  # the push run, then the bisection

        (listed,) = svc.api("/api/bisections")["bisections"]
        bid = listed["id"]
        found = svc.api(f"/api/bisections/{bid}")
        assert (found["origin"], found["outcome"]) == ("auto", "found"), found["reason"]
        headline = f"first bad commit {shas[1][:12]} “Faster addition” (#5) by"
        assert found["headline"].startswith(headline)
        assert found["confidence"] in ("high", "medium"), found["confidence_reason"]
        # the list says the same
        assert (listed["headline"], listed["confidence"]) == (
            found["headline"],
            found["confidence"],
        )

        # the run that broke the trunk, its cell page and the bisection page, served
        push_run = found["bad_run_id"]
        run_page = lxml.html.fromstring(svc.text(f"/runs/{push_run}.html"))
        (item,) = run_page.xpath("//ul[@class='bisections']/li")
        assert headline in item.text_content()
        assert f"confidence {found['confidence']}" in item.text_content()
        assert "automatic" in item.text_content()
        cell_page = svc.text(f"/cells/{found['cell'].replace('/', '__')}.html")
        assert headline in cell_page
        page = lxml.html.fromstring(svc.text(f"/bisections/{bid}.html"))
        assert headline in page.xpath("//p[@class='answer']")[0].text_content()
        assert page.xpath("//b[@class='confidence']/text()") == [found["confidence"]]

        # a pull request on the broken trunk: test_pass fails there as on the default
        # branch (pre-existing), and the comment says since when
        head, _ = upstream.pull_request(9, {"docs/pr.txt": "unrelated\n"})
        r = deliver(
            svc.url, "pull_request", pr_payload(webhook_examples, "opened", number=9, head=head)
        )
        assert r.is_success
        assert svc.worker("w2", "--once").wait(timeout=300) == 0
        wait_for(lambda: settled(svc), 120, "the pull request's report", svc)
        bodies = [x.body["body"] for x in gh.recorder.matching("POST", COMMENTS_POST)]
        bodies += [x.body["body"] for x in gh.recorder.matching("PATCH", COMMENT_PATCH)]
        body = bodies[-1]
        assert "BROKEN TRUNK" in body, body
        line = next(x for x in body.splitlines() if "test_pass" in x and "broken since" in x)
        assert f"broken since <code>{shas[1][:12]}</code>" in line
        assert f'<a href="https://github.com/{REPO}/pull/5">#5</a>' in line
        assert f"confidence {found['confidence']}" in line
    finally:
        svc.close()
