"""Participation levels that move by themselves (and the level the service runs at).

The configured ``level`` of an upstream is the highest it reaches. With
``participation.auto`` (the default) the level the service runs at (table
``participation``) moves with the SLOs (:mod:`harness.service.slo`), evaluated by the
workers every ``evaluate_every`` and by ``harness participation evaluate [--at TIME]``:

* **demoted** when an objective breaks: straight to ``dashboard`` when reports go
  missing (a CI that stops reporting must not leave red or pending marks on pull
  requests), else one step down; the reason names the broken objectives;
* **promoted** one step when every objective holds (none broken, the missing-report
  rate measured) and the level has not changed for a whole window;
* **pinned** by a maintainer (``harness participation pin``): it stays where pinned
  (still measured and shown) until unpinned.

Every change is recorded with its reason and who made it (``auto`` or a login), shown by
``harness participation show``, the dashboard and ``/api/participation``. The reports a
head gets follow the level at the time they are planned (:func:`level_of`); reports are
still promised (the ledger) at the configured level, so a demoted upstream's service
keeps being measured and can earn its level back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from harness.config.service import Level, ServiceConfig, UpstreamService
from harness.service.slo import Objective, measure
from harness.store import Store, Transaction
from harness.store.rows import now

log = logging.getLogger("harness.service.participation")
AUTO = "auto"
#: what a demotion to dashboard stops posting (pending ones are dead-lettered)
REPORT_KINDS = ("status", "check_run", "comment")


def level_of(tx: Transaction, config: ServiceConfig, repository: str) -> Level | None:
    """The level the service runs ``repository`` at now (``None``: not configured)."""
    up = config.upstream(repository)
    if up is None:
        return None
    row = tx.participation.get(repository)
    if row is None or (not up.participation.auto and not row.pinned):
        return up.level
    level = Level(row.level)
    return level if level.rank <= up.level.rank else up.level


@dataclass(slots=True)
class Decision:
    repository: str
    before: Level
    after: Level
    pinned: bool
    reason: str
    objectives: list[Objective] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.before is not self.after

    def as_json(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "before": self.before.value,
            "after": self.after.value,
            "changed": self.changed,
            "pinned": self.pinned,
            "reason": self.reason,
            "slo": [o.as_json() for o in self.objectives],
        }


def decide(
    up: UpstreamService,
    current: Level,
    changed_at: datetime | None,
    objectives: list[Objective],
    at: datetime,
) -> tuple[Level, str]:
    """The level after an evaluation and why (pure; see the module docstring)."""
    broken = [o for o in objectives if o.met is False]
    if broken:
        missing = any(o.name == "missing_report_rate" for o in broken)
        target = Level.DASHBOARD if missing else current.step(-1, up.level)
        why = "; ".join(o.detail for o in broken)
        return (target, f"demoted: {why}") if target is not current else (current, why)
    measured = any(o.name == "missing_report_rate" and o.met is True for o in objectives)
    held_for = (at - changed_at).total_seconds() if changed_at is not None else float("inf")
    if measured and current.rank < up.level.rank and held_for >= up.slo.window:
        held = "; ".join(o.detail for o in objectives if o.met is True)
        return current.step(1, up.level), f"promoted: the SLOs held for a window: {held}"
    return current, "SLOs hold" if measured else "SLOs not measured yet (too few samples)"


def evaluate(store: Store, config: ServiceConfig, at: datetime | None = None) -> list[Decision]:
    """Measure every upstream's SLOs at ``at`` (default now) and move the levels."""
    at = at or now()
    decisions = []
    for repository, up in sorted(config.upstreams.items()):
        objectives = measure(store, repository, up, at)
        with store.transaction(f"evaluating the participation of {repository}") as tx:
            tx.lock_name(f"participation:{repository}")
            row = tx.participation.get(repository)
            if row is None:
                tx.participation.set_level(
                    repository, up.level.value, reason="the configured level", by=AUTO, at=at
                )
                row = tx.participation.get(repository)
                assert row is not None  # just written
            current = level_of(tx, config, repository) or up.level
            if row.pinned or not up.participation.auto:
                after = current
                reason = f"pinned: {row.reason}" if row.pinned else "automatic levels off"
            else:
                after, reason = decide(up, current, row.changed_at, objectives, at)
                if after is not current:
                    tx.participation.set_level(
                        repository, after.value, reason=reason, by=AUTO, at=at
                    )
                    log.warning("%s: %s → %s: %s", repository, current, after, reason)
                    if not after.posts:  # nothing more goes to its pull requests
                        dropped = tx.outbox.drop_pending(
                            repository, REPORT_KINDS, f"not posted: {reason}"
                        )
                        dropped += tx.ledger.drop_unsettled(repository)
                        if dropped:
                            log.warning("%s: %d pending report(s) not posted", repository, dropped)
            tx.participation.record_evaluation(
                repository,
                {"at": at.isoformat(), "objectives": [o.as_json() for o in objectives]},
                at,
            )
        decisions.append(Decision(repository, current, after, row.pinned, reason, objectives))
    return decisions


def pin(
    store: Store, config: ServiceConfig, repository: str, level: Level, *, reason: str, by: str
) -> None:
    """A maintainer pins ``repository`` at ``level`` (no higher than configured)."""
    up = config.upstream(repository)
    if up is None:
        raise KeyError(repository)
    if level.rank > up.level.rank:
        raise ValueError(f"{repository} is configured up to {up.level}, not {level}")
    with store.transaction(f"pinning the participation of {repository}") as tx:
        tx.participation.set_level(
            repository, level.value, reason=reason, by=by, at=now(), pinned=True
        )


def unpin(store: Store, config: ServiceConfig, repository: str, *, by: str) -> None:
    """Let ``repository``'s level move by the SLOs again (from where it is)."""
    with store.transaction(f"unpinning the participation of {repository}") as tx:
        row = tx.participation.get(repository)
        if row is None or not row.pinned:
            return
        tx.participation.set_level(
            repository, row.level, reason=f"unpinned by {by}", by=by, at=now(), pinned=False
        )


class Evaluator:
    """A worker's clock for :func:`evaluate`: every ``evaluate_every`` (the shortest of
    the upstreams'), the first one that long after the worker started."""

    def __init__(self, store: Store, config: ServiceConfig) -> None:
        self.store = store
        self.config = config
        every = [up.participation.evaluate_every for up in config.upstreams.values()]
        self.every = timedelta(seconds=min(every)) if every else None
        self.next_at = now() + self.every if self.every is not None else None

    def maybe(self) -> list[Decision]:
        if self.every is None or self.next_at is None or now() < self.next_at:
            return []
        self.next_at = now() + self.every
        try:
            return evaluate(self.store, self.config)
        except Exception:  # never let the watcher stop the worker
            log.exception("evaluating the SLOs failed")
            return []


def view(store: Store, config: ServiceConfig, *, history: bool = True) -> list[dict[str, Any]]:
    """Per upstream: configured and running level, pin, why, the last evaluation and
    the history of its levels (what ``harness participation show``, the API and the
    dashboard show; ``history=False``: without it, for ``/metrics``)."""
    with store.reading("reading participation") as r:
        rows = {row.repository: row for row in r.participation.all()}
        levels = {repo: level_of(r, config, repo) for repo in config.upstreams}
        changes = r.participation.changes(limit=500) if history else []
    out = []
    for repo, up in sorted(config.upstreams.items()):
        row = rows.get(repo)
        out.append(
            {
                "repository": repo,
                "configured": up.level.value,
                "level": (levels[repo] or up.level).value,
                "auto": up.participation.auto,
                "pinned": bool(row.pinned) if row is not None else False,
                "reason": row.reason if row is not None else "the configured level",
                "since": row.changed_at.isoformat() if row is not None else None,
                "slo": row.slo if row is not None else None,
                "history": [c.as_json() for c in changes if c.repository == repo],
            }
        )
    return out


#: Prometheus names of the objectives (units in the name)
METRICS = {
    "report_latency_p95": "harness_slo_report_latency_p95_seconds",
    "missing_report_rate": "harness_slo_missing_reports_ratio",
    "infra_error_rate": "harness_slo_infra_errors_ratio",
    "false_red_rate": "harness_slo_false_reds_ratio",
    "coverage": "harness_slo_coverage_ratio",
}


def metrics(upstreams: list[dict[str, Any]]) -> list[str]:
    """``/metrics`` lines: each upstream's level and its last evaluation."""
    lines = [
        "# HELP harness_participation_level The level the service runs an upstream at "
        "(0 dashboard, 1 status, 2 comment, 3 check, 4 blocking).",
        "# TYPE harness_participation_level gauge",
    ]
    for u in upstreams:
        lines.append(
            f'harness_participation_level{{upstream="{u["repository"]}",level="{u["level"]}"}} '
            f"{Level(u['level']).rank}"
        )
    met: list[str] = []
    for name, metric in METRICS.items():
        values, targets = [], []
        for u in upstreams:
            for o in (u["slo"] or {}).get("objectives", []):
                if o["name"] != name:
                    continue
                label = f'upstream="{u["repository"]}"'
                if o["value"] is not None:
                    values.append(f"{metric}{{{label}}} {o['value']}")
                if o["target"] is not None:
                    targets.append(f"{metric}_target{{{label}}} {o['target']}")
                if o["met"] is not None:
                    met.append(f'harness_slo_met{{{label},objective="{name}"}} {int(o["met"])}')
        if values:
            lines += [f"# HELP {metric} SLO {name}, last evaluation.", f"# TYPE {metric} gauge"]
            lines += values
        if targets:
            lines += [f"# HELP {metric}_target Target of {name}.", f"# TYPE {metric}_target gauge"]
            lines += targets
    if met:
        lines += [
            "# HELP harness_slo_met Whether an objective held at the last evaluation.",
            "# TYPE harness_slo_met gauge",
            *met,
        ]
    return lines
