"""The one pull-request comment (pure): every cell's verdict at the PR's head, new
failures first, how to re-run, whom to ask. Found again by its hidden marker and edited
in place, so a pull request gets one comment from us however often it is pushed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.config.service import Commands
from harness.verdict.categories import Conclusion
from harness.verdict.render_markdown import ICONS, code, esc, md, render_markdown
from harness.verdict.report import Verdict

if TYPE_CHECKING:
    from harness.bisect.answer import BrokenSince

#: leave room under GitHub's 65 536 characters for the table and the footer
BODY_BUDGET = 60_000
INFRA_STATUSES = frozenset({"error", "crashed", "timeout", "cancelled"})


def comment_marker(vendor: str) -> str:
    return f"<!-- harness-pr-comment: {vendor} -->"


@dataclass(frozen=True, slots=True)
class CellState:
    """Where one cell of the head stands."""

    cell: str
    #: held, queued, leased, done, failed
    state: str
    verdict: Verdict | None = None
    detail: str | None = None
    details_url: str | None = None
    #: the run's signed attestation (``GET /api/runs/ID/attestation``), when it has one
    attestation_url: str | None = None
    #: pre-existing failures a finished bisection of the cell found the first bad
    #: commit of: test id → since when (said next to the test)
    broken_since: Mapping[str, BrokenSince] = field(default_factory=dict)

    @property
    def outcome(self) -> str:
        """failure, infra, neutral, success, running, waiting: what the cell shows."""
        if self.state == "held":
            return "waiting"
        if self.state in {"queued", "leased", "dispatched"}:
            return "running"
        if self.verdict is None:
            return "infra"
        if self.verdict.conclusion is Conclusion.FAILURE:
            return "failure"
        if self.verdict.run.status in INFRA_STATUSES:
            return "infra"
        return self.verdict.conclusion.value

    @property
    def summary(self) -> str:
        o = self.outcome
        if o == "waiting":
            return "waiting for approval"
        if o == "running":
            return {"leased": "running", "dispatched": "running on GitHub Actions"}.get(
                self.state, "queued"
            )
        if self.verdict is None:
            return f"not run: {self.detail or 'unknown error'}"
        if o == "failure":
            return self.verdict.headline()
        return self.verdict.reason


ORDER = {"failure": 0, "infra": 1, "waiting": 2, "running": 3, "neutral": 4, "success": 5}
ICON = {
    "failure": ICONS[Conclusion.FAILURE],
    "infra": "🛠️",
    "waiting": "⏸️",
    "running": "⏳",
    "neutral": ICONS[Conclusion.NEUTRAL],
    "success": ICONS[Conclusion.SUCCESS],
}


def render_pr_comment(
    *,
    vendor: str,
    head_sha: str,
    cells: list[CellState],
    commands: Commands,
    contact: str = "",
    example_pattern: str | None = None,
) -> str:
    cells = sorted(cells, key=lambda c: (ORDER[c.outcome], c.cell))
    tally: dict[str, int] = {}
    for c in cells:
        tally[c.outcome] = tally.get(c.outcome, 0) + 1
    worst = cells[0].outcome if cells else "success"
    headline = {
        "failure": "new failures on this pull request",
        "infra": "some cells could not run",
        "waiting": "waiting for a maintainer's approval",
        "running": "tests running",
        "neutral": "no verdict yet (see below)",
        "success": "no new failures",
    }[worst]
    out = [comment_marker(vendor), f"## {ICON[worst]} {md(vendor)} CI: {headline}", ""]
    parts = ", ".join(
        f"{n} {name}" for name, n in sorted(tally.items(), key=lambda kv: ORDER[kv[0]])
    )
    out += [f"As of head {code(head_sha[:12])}: {len(cells)} cell(s): {esc(parts)}.", ""]
    if worst == "waiting":
        out += [
            f"This pull request comes from outside the project's trusted contributors. "
            f"A maintainer can start the tests by commenting {code(commands.ok_to_test)}.",
            "",
        ]
    out += ["| | cell | result |", "|---|---|---|"]
    for c in cells:
        name = f"[{md(c.cell)}]({c.details_url})" if c.details_url else md(c.cell)
        signed = f" ([attestation]({c.attestation_url}))" if c.attestation_url else ""
        out.append(f"| {ICON[c.outcome]} | {name} | {esc(c.summary)}{signed} |")
    out.append("")
    used = sum(len(line) + 1 for line in out)
    left_out = 0
    for c in cells:
        if c.verdict is None or c.outcome in {"waiting", "running"}:
            continue
        section = render_markdown(c.verdict, broken_since=c.broken_since)
        if c.outcome not in {"failure", "infra"}:
            section = (
                f"<details><summary>{esc(c.cell)}: {esc(c.summary)}</summary>\n\n{section}\n"
                "</details>\n"
            )
        if used + len(section) > BODY_BUDGET:
            left_out += 1
            continue
        out.append(section)
        used += len(section) + 1
    if left_out:
        out += [
            f"_{left_out} cell report(s) left out to fit GitHub's comment size limit; "
            "the details links have them._",
            "",
        ]
    pattern = example_pattern or (cells[0].cell.rsplit("/", 1)[0] + "/*" if cells else "*")
    out += [
        "---",
        f"<sub>Re-run every cell: comment {code(commands.recheck)} on a line of its own. "
        f"Re-run some: {code(f'{commands.retest} {pattern}')}."
        + (f" Questions or a wrong result: {esc(contact)}." if contact else "")
        + " This comment is edited in place as results arrive.</sub>",
    ]
    return "\n".join(out).rstrip() + "\n"
