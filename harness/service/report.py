"""What the service says on a pull request (pure): from where every cell of a head stands
to outbox entries — a commit status or check run per suite x backend
(``<vendor>/<suite>/<backend>``) and the one PR comment — per the upstream's level.

Cells of one suite x backend (several image variants) share a context: it is pending
while any of them waits or runs, then the worst of them: a new failure, then an
infrastructure error, then success. At the ``check`` level a regression concludes
``neutral`` (advisory); at ``blocking`` it concludes ``failure``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.config.service import Level, ServiceConfig, UpstreamService
from harness.reporting.pr_comment import CellState, comment_marker, render_pr_comment
from harness.verdict.render_markdown import render_markdown


@dataclass(frozen=True, slots=True)
class Report:
    kind: str
    key: str
    payload: dict[str, Any]


def context_of(config: ServiceConfig, cell: str) -> str:
    suite, backend, _variant = [*cell.split("/"), "", ""][:3]
    return config.context(suite, backend)


def _group(config: ServiceConfig, cells: list[CellState]) -> dict[str, list[CellState]]:
    groups: dict[str, list[CellState]] = {}
    for c in sorted(cells, key=lambda c: c.cell):
        groups.setdefault(context_of(config, c.cell), []).append(c)
    return groups


def _state(group: list[CellState]) -> tuple[str, str]:
    """(overall outcome, description) of one context."""
    outcomes = [c.outcome for c in group]
    n = len(group)
    if "waiting" in outcomes:
        return "waiting", "waiting for approval: a maintainer comments /harness ok-to-test"
    if "running" in outcomes:
        done = n - outcomes.count("running")
        return "running", f"{done} of {n} cell(s) done"
    for outcome in ("failure", "infra"):
        hits = [c for c in group if c.outcome == outcome]
        if hits:
            more = f" (+{len(hits) - 1} more cells)" if len(hits) > 1 else ""
            return outcome, f"{hits[0].cell.split('/')[-1]}: {hits[0].summary}{more}"
    if "neutral" in outcomes:
        c = next(c for c in group if c.outcome == "neutral")
        return "neutral", f"no verdict: {c.summary}"
    return "success", "no new failures" + (f" in {n} cells" if n > 1 else "")


STATUS_STATE = {
    "waiting": "pending",
    "running": "pending",
    "failure": "failure",
    "infra": "error",
    "neutral": "success",
    "success": "success",
}


def _check_fields(outcome: str, level: Level) -> dict[str, Any]:
    if outcome == "waiting":
        return {"status": "queued"}
    if outcome == "running":
        return {"status": "in_progress"}
    conclusion = {
        "failure": "failure" if level is Level.BLOCKING else "neutral",
        "infra": "neutral",
        "neutral": "neutral",
        "success": "success",
    }[outcome]
    return {"status": "completed", "conclusion": conclusion}


def plan_reports(
    config: ServiceConfig,
    upstream: UpstreamService,
    *,
    pr_number: int,
    head_sha: str,
    installation: int | None,
    cells: list[CellState],
    level: Level | None = None,
) -> list[Report]:
    """The outbox entries for this head, given every cell's state, at ``level`` (the
    level the service runs the upstream at; default: its configured one)."""
    level = level or upstream.level
    if not level.posts or not cells:
        return []
    reports: list[Report] = []
    for context, group in _group(config, cells).items():
        outcome, description = _state(group)
        first = group[0]
        url = first.details_url
        if level.uses_checks:
            summary = "\n\n".join(
                (
                    render_markdown(c.verdict, broken_since=c.broken_since)
                    if c.verdict
                    else f"**{c.cell}**: {c.summary}"
                )
                + (f"\n\nSigned attestation: {c.attestation_url}" if c.attestation_url else "")
                for c in group
            )
            payload = {
                "installation": installation,
                "sha": head_sha,
                "name": context,
                "title": description,
                "summary": summary,
                "details_url": url,
                **_check_fields(outcome, level),
            }
            reports.append(Report("check_run", f"check:{head_sha}:{context}", payload))
        else:
            payload = {
                "installation": installation,
                "sha": head_sha,
                "context": context,
                "state": STATUS_STATE[outcome],
                "description": description,
                "target_url": url,
            }
            reports.append(Report("status", f"status:{head_sha}:{context}", payload))
    if level.comments:
        body = render_pr_comment(
            vendor=config.vendor,
            head_sha=head_sha,
            cells=cells,
            commands=config.commands,
            contact=config.contact,
        )
        payload = {
            "installation": installation,
            "pr": pr_number,
            "marker": comment_marker(config.vendor),
            "body": body,
        }
        reports.append(Report("comment", f"comment:{pr_number}", payload))
    return reports
