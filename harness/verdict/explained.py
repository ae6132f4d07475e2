"""Explained failures: one answer, everywhere, to "are these failures known?".

A failed or errored test is *explained* when an active quarantine entry for the run's
backend (``suites/quarantine/<suite>.yaml``) or a ``known_failures`` entry of the suite
for the run's cell matches it: the same rules, matched the same way, as the verdict's
``quarantined`` category (:func:`rules_for_run`, :class:`~harness.verdict.quarantine.Matcher`).
A run whose failures are all explained concludes ``success``: ``harness run`` exits 0
(``--strict``: 1), the summary table, ``--json``, ``summary.md`` and the dashboard tile
say "known failures", and ``harness verdict`` says success with them quarantined.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from harness.config.loader import load_suite
from harness.config.suite import Suite
from harness.errors import ConfigError
from harness.store import Store
from harness.verdict.categories import QuarantineRule
from harness.verdict.quarantine import (
    Matcher,
    known_failure_rules,
    load_quarantine,
    quarantine_path,
    rules_for_backend,
    split_expired,
)

FAILING = ("failed", "error")


def rules_for_run(
    suites_dir: Path | None,
    suite: str,
    cell: str,
    backend: str,
    *,
    suite_config: Suite | None = None,
    today: date | None = None,
) -> list[QuarantineRule]:
    """The active rules that explain failures of ``cell``: quarantine entries for
    ``backend`` that have not expired, then the suite's known failures for ``cell``."""
    rules: list[QuarantineRule] = []
    suite_file = suites_dir / f"{suite}.yaml" if suites_dir is not None else None
    if suites_dir is not None:
        rules += rules_for_backend(load_quarantine(quarantine_path(suites_dir, suite)), backend)
    if suite_config is None and suite_file is not None and suite_file.is_file():
        suite_config = load_suite(suite_file)
    if suite_config is not None:
        rules += known_failure_rules(suite_config, cell, str(suite_file or f"{suite}.yaml"))
    active, _expired = split_expired(rules, today or datetime.now(UTC).date())
    return active


@dataclass(frozen=True, slots=True)
class Explanation:
    failing: int
    explained: int
    #: test id → the reason of the rule that explains it (the first that matches)
    reasons: dict[str, str]

    @property
    def all_explained(self) -> bool:
        return self.failing > 0 and self.explained == self.failing


def explain(store: Store, run_id: int, rules: list[QuarantineRule]) -> Explanation:
    """Which of the run's failed and errored tests ``rules`` explain."""
    matcher = Matcher(rules)
    failing = explained = 0
    reasons: dict[str, str] = {}
    for result in store.iter_results(run_id, outcomes=FAILING):
        failing += 1
        rule = matcher.match(result.test_id) if matcher else None
        if rule is not None:
            explained += 1
            reasons[result.test_id] = rule.reason
    return Explanation(failing, explained, reasons)


def explain_run(
    store: Store,
    run_id: int,
    suites_dir: Path | None,
    *,
    suite: str,
    cell: str,
    backend: str,
    suite_config: Suite | None = None,
) -> Explanation:
    """:func:`explain` with :func:`rules_for_run`; a broken quarantine file explains
    nothing (``harness suites lint`` and ``verdict`` say what is wrong with it)."""
    try:
        rules = rules_for_run(suites_dir, suite, cell, backend, suite_config=suite_config)
    except ConfigError:
        rules = []
    return explain(store, run_id, rules)
