"""Participation levels moved by the SLOs, end to end: real ``harness serve`` and workers,
the fixture upstream run for real, GitHub played by Prism. While GitHub cannot be
reached a window of reports goes missing: the evaluation demotes the upstream to the
dashboard (pending reports are not posted later, new pull requests get no statuses, the
dashboard and the API say why); a window of good service then promotes it a step."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness.config.service import Level, Slo, UpstreamService
from harness.service.participation import decide, metrics
from harness.service.slo import Objective
from tests.github_standin import GitHubStandIn
from tests.service.support import (
    REPO,
    Service,
    deliver,
    demo_suites,
    pr_payload,
    push_payload,
    service_env,
    service_yaml,
    settled,
    wait_for,
)

# reports are owed within 40 s of the webhook (a cell here runs in a few seconds); the
# SLOs look at a 1 h window and need 2 samples; the test evaluates (workers never do)
CONFIG = """\
slo:
  window: 1h
  min_samples: 2
  missing_report_rate: 0.25
participation:
  evaluate_every: 24h
"""
STATUS_POST = rf"^/repos/{REPO}/statuses/"


def _evaluate(svc: Service, at: datetime) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable, "-m", "harness", "participation", "evaluate", "--json",
            "--db", svc.db_url, "--suites", str(svc.suites), "--at", at.isoformat(),
        ],
        capture_output=True, text=True, check=True, env=svc.env,
    )  # fmt: skip
    (decision,) = json.loads(out.stdout)["decisions"]
    return dict(decision)


def _open(svc: Service, upstream: Any, examples: Any, number: int) -> str:
    head, _ = upstream.pull_request(number, {f"f{number}.txt": f"change {number}\n"})
    payload = pr_payload(examples, "opened", number=number, head=head)
    assert deliver(svc.url, "pull_request", payload).is_success
    return str(head)


def test_missing_reports_demote_and_good_service_promotes(
    tmp_path: Path,
    gh: GitHubStandIn,
    shared_cache: Path,
    wheels: Path,
    webhook_examples: dict[str, list[dict[str, Any]]],
) -> None:
    from tests.fixture_upstream import make_upstream

    upstream = make_upstream(tmp_path / "upstream")
    config = service_yaml("status", CONFIG, deadline="40s")
    suites = demo_suites(tmp_path, upstream.url, wheels, config=config)
    env = service_env(gh, shared_cache)
    svc = Service(tmp_path, suites, f"sqlite:///{tmp_path / 'harness.db'}", env, workers=0)
    try:
        main = upstream.rev_parse("main")
        assert deliver(svc.url, "push", push_payload(webhook_examples, sha=main)).is_success
        assert svc.worker("w0", "--once").wait(timeout=300) == 0

        # GitHub cannot be reached: two pull requests' reports go missing
        gh.recorder.down = True
        quiet = [_open(svc, upstream, webhook_examples, n) for n in (7, 8)]
        assert svc.worker("w1", "--once").wait(timeout=300) == 0
        wait_for(
            lambda: len(svc.api("/api/ledger?overdue=1")["reports"]) == 2,
            300,
            "the two reports past their deadline",
            svc,
        )
        demoted = _evaluate(svc, datetime.now(UTC))
        assert (demoted["before"], demoted["after"]) == ("status", "dashboard")
        assert "missing-report rate 100.0% > 25.0% (2 of 2" in demoted["reason"]

        # GitHub is back: what waited is not posted, and new pull requests get nothing
        gh.recorder.down = False
        fresh = [_open(svc, upstream, webhook_examples, n) for n in (9, 10)]
        assert svc.worker("w2", "--once").wait(timeout=300) == 0
        wait_for(lambda: settled(svc), 120, "the ledger settled", svc)
        assert gh.recorder.accepted("POST", STATUS_POST) == []  # (tried while down: unanswered)
        dead = [e for e in svc.api("/api/outbox?state=dead")["entries"]]
        assert {e["key"].split(":")[1] for e in dead} == set(quiet)
        assert all("not posted: demoted" in e["last_error"] for e in dead)

        # the dashboard, the API and /metrics say where it stands and why
        page = svc.text("/participation.html")
        assert "dashboard" in page
        assert "missing-report rate 100.0%" in page
        (shown,) = svc.api("/api/participation")["upstreams"]
        assert (shown["level"], shown["configured"]) == ("dashboard", "status")
        assert [c["to_level"] for c in shown["history"]] == ["dashboard", "status"]
        scraped = svc.text("/metrics")
        assert f'harness_participation_level{{upstream="{REPO}",level="dashboard"}} 0' in scraped
        assert f'harness_slo_missing_reports_ratio{{upstream="{REPO}"}} 1.0' in scraped

        # a window of good service later (the two fresh heads reported in time, the
        # missing ones out of the window): promoted one step, to the configured level
        # (the window starts at the demotion: the fresh heads' promises are in it, the
        # quiet ones' are before it, and the fresh ones' deadlines are long past at its end)
        at = datetime.fromisoformat(shown["since"]) + timedelta(hours=1)
        fresh_owed, quiet_owed = _owed(svc, fresh), _owed(svc, quiet)
        assert len(fresh_owed) == len(quiet_owed) == 2
        window = at - timedelta(hours=1)
        assert all(datetime.fromisoformat(r["promised_at"]) >= window for r in fresh_owed)
        assert all(datetime.fromisoformat(r["promised_at"]) < window for r in quiet_owed)
        promoted = _evaluate(svc, at)
        assert (promoted["before"], promoted["after"]) == ("dashboard", "status"), promoted[
            "reason"
        ]
        assert promoted["reason"].startswith("promoted: the SLOs held for a window")
        assert "missing-report rate 0.0% ≤ 25.0% (0 of 2" in promoted["reason"]
    finally:
        svc.close()


def _owed(svc: Service, heads: list[str]) -> list[dict[str, Any]]:
    return [r for r in svc.api("/api/ledger?limit=1000")["reports"] if r["head_sha"] in heads]


# the policy, pure -----------------------------------------------------------------------


def _obj(name: str, met: bool | None) -> Objective:
    return Objective(name, 0.5, 0.1, "ratio", 10, met, f"{name} detail")


def _up(level: str = "check") -> UpstreamService:
    return UpstreamService(level=Level(level), slo=Slo(window=3600))


T = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_missing_reports_drop_straight_to_dashboard_other_breaks_one_step() -> None:
    up = _up()
    missing = [_obj("missing_report_rate", False), _obj("infra_error_rate", True)]
    assert decide(up, Level.CHECK, T, missing, T)[0] is Level.DASHBOARD
    infra = [_obj("missing_report_rate", True), _obj("infra_error_rate", False)]
    level, why = decide(up, Level.CHECK, T, infra, T)
    assert level is Level.COMMENT
    assert why == "demoted: infra_error_rate detail"
    assert decide(up, Level.DASHBOARD, T, infra, T)[0] is Level.DASHBOARD


def test_promotion_needs_a_whole_window_measured_and_stops_at_the_configured_level() -> None:
    up = _up("comment")
    good = [_obj("missing_report_rate", True), _obj("coverage", None)]
    assert decide(up, Level.STATUS, T, good, T + timedelta(minutes=59))[0] is Level.STATUS
    assert decide(up, Level.STATUS, T, good, T + timedelta(hours=1))[0] is Level.COMMENT
    assert decide(up, Level.COMMENT, T, good, T + timedelta(hours=9))[0] is Level.COMMENT
    unmeasured = [_obj("missing_report_rate", None)]
    level, why = decide(up, Level.STATUS, T, unmeasured, T + timedelta(hours=9))
    assert level is Level.STATUS
    assert "not measured" in why


def test_metrics_carry_units_in_their_names_and_one_family_each() -> None:
    lines = metrics(
        [
            {
                "repository": REPO,
                "level": "comment",
                "slo": {
                    "objectives": [
                        _obj("report_latency_p95", True).as_json() | {"unit": "seconds"},
                        _obj("missing_report_rate", False).as_json(),
                    ]
                },
            },
            {"repository": "other/repo", "level": "dashboard", "slo": None},
        ]
    )
    assert f'harness_participation_level{{upstream="{REPO}",level="comment"}} 2' in lines
    assert f'harness_slo_report_latency_p95_seconds{{upstream="{REPO}"}} 0.5' in lines
    assert f'harness_slo_missing_reports_ratio_target{{upstream="{REPO}"}} 0.1' in lines
    types = [line for line in lines if line.startswith("# TYPE")]
    assert len(types) == len(set(types))
