"""The vendor CI's service-level objectives for one upstream, measured over a window.

=====================  =====================================================  =========
objective              measured from                                          target
=====================  =====================================================  =========
report_latency_p95     the ledger: promise (webhook) → report accepted        at most
missing_report_rate    the ledger: owed reports not accepted by their         at most
                       deadline, of those whose deadline passed
infra_error_rate       runs ending error, crashed or timeout, of all finished at most
false_red_rate         failed pull-request runs that a later run of the same  at most
                       cell and commit passed, of failed pull-request runs
coverage               the lowest share, over the upstream's cells, of what   at least
                       the reference backend passes that the cell passes too
                       (latest default-branch runs in the window)
=====================  =====================================================  =========

An objective with fewer than ``min_samples`` samples has no data: it neither holds nor
breaks. Everything is read at a time ``at`` the caller gives (the worker: now; a test or
an operator: ``harness participation evaluate --at``), over ``[at - window, at)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from harness.config.service import UpstreamService
from harness.errors import HarnessError
from harness.store import Store
from harness.verdict.gather import VerdictOptions, gather_verdict


@dataclass(frozen=True, slots=True)
class Objective:
    name: str
    #: the measured value (``None``: no samples)
    value: float | None
    target: float | None
    #: ``seconds`` or ``ratio``
    unit: str
    samples: int
    #: ``True`` held, ``False`` broken, ``None`` no data or no target
    met: bool | None
    #: one line, e.g. "missing-report rate 100.0% > 2.0% (4 of 4 reports, 7d)"
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "target": self.target,
            "unit": self.unit,
            "samples": self.samples,
            "met": self.met,
            "detail": self.detail,
        }


def _days(seconds: float) -> str:
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{int(seconds // 86400)}d"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds)}s"


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _ratio(
    name: str, label: str, part: int, whole: int, target: float, min_samples: int, span: str
) -> Objective:
    value = part / whole if whole else None
    met = None if whole < min_samples or value is None else value <= target
    shown = f"{value:.1%}" if value is not None else "no data"
    sign = "≤" if met is not False else ">"
    enough = "" if whole >= min_samples else f", below {min_samples} samples"
    detail = f"{label} {shown} {sign} {target:.1%} ({part} of {whole}, {span}{enough})"
    return Objective(name, value, target, "ratio", whole, met, detail)


def measure(store: Store, repository: str, up: UpstreamService, at: datetime) -> list[Objective]:
    """Every objective of ``repository`` over the window ending at ``at``."""
    slo = up.slo
    since = at - timedelta(seconds=slo.window)
    span = _days(slo.window)
    with store.reading(f"measuring the SLOs of {repository}") as r:
        ledger = r.participation.ledger_window(repository, since, at)
        runs = r.participation.run_window(repository, since, at)
        latest = r.participation.latest_default_runs(repository, since, at)
    p95 = _p95(ledger.latencies)
    n = len(ledger.latencies)
    latency_met = None if n < slo.min_samples or p95 is None else p95 <= slo.report_latency_p95
    latency = Objective(
        "report_latency_p95",
        p95,
        slo.report_latency_p95,
        "seconds",
        n,
        latency_met,
        f"report latency p95 {'no data' if p95 is None else f'{p95:.0f}s'} "
        f"{'>' if latency_met is False else '≤'} {slo.report_latency_p95:.0f}s "
        f"({n} reports, {span}"
        + ("" if n >= slo.min_samples else f", below {slo.min_samples} samples")
        + ")",
    )
    objectives = [
        latency,
        _ratio(
            "missing_report_rate",
            "missing-report rate",
            ledger.missing,
            ledger.due,
            slo.missing_report_rate,
            slo.min_samples,
            span,
        ),
        _ratio(
            "infra_error_rate",
            "infra-error rate",
            runs.infra,
            runs.finished,
            slo.infra_error_rate,
            slo.min_samples,
            span,
        ),
        _ratio(
            "false_red_rate",
            "false-red rate",
            runs.false_reds,
            runs.reds,
            slo.false_red_rate,
            slo.min_samples,
            span,
        ),
    ]
    objectives.append(_coverage(store, latest, slo.coverage, span))
    return objectives


def _coverage(store: Store, run_ids: list[int], target: float | None, span: str) -> Objective:
    rates: list[tuple[float, str]] = []
    for run_id in run_ids:
        try:
            verdict = gather_verdict(store, run_id, VerdictOptions())
        except HarnessError:
            continue
        ref = verdict.coverage.reference
        if ref is not None and ref.relative_pass_rate is not None:
            rates.append((ref.relative_pass_rate, verdict.run.cell))
    if not rates:
        return Objective(
            "coverage", None, target, "ratio", 0, None, f"coverage: no reference runs ({span})"
        )
    value, cell = min(rates)
    met = None if target is None else value >= target
    goal = "no target" if target is None else f"{'≥' if met else '<'} {target:.1%}"
    return Objective(
        "coverage",
        value,
        target,
        "ratio",
        len(rates),
        met,
        f"coverage {value:.1%} of the reference in {cell} (lowest of {len(rates)} cells), "
        f"{goal} ({span})",
    )
