"""``harness quarantine suggest|export|lint``: the per-suite quarantine files
(``suites/quarantine/<suite>.yaml``, format in :mod:`harness.verdict.quarantine`)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from harness.cli.options import db_option, json_option, suites_option
from harness.config.loader import default_suites_dir
from harness.errors import ConfigError
from harness.store import Store
from harness.store import history as h
from harness.verdict.categories import QuarantineRule
from harness.verdict.export import FORMATS, export
from harness.verdict.quarantine import (
    QUARANTINE_DIR,
    Matcher,
    load_quarantine,
    quarantine_path,
    rules_for_backend,
    split_expired,
)
from harness.verdict.render_json import rule_json
from harness.verdict.suggest import (
    DEFAULT_FAILURES,
    DEFAULT_PASSES,
    Observed,
    addition_yaml,
    suggest_additions,
    suggest_removals,
)


def parse_target(target: str) -> tuple[str, str]:
    parts = target.split("/")
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"'{target}' is not SUITE/BACKEND (e.g. comfyui/npu)")
    return parts[0], parts[1]


def _rules(suites_dir: Path | None, suite: str, backend: str) -> list[QuarantineRule]:
    directory = suites_dir or default_suites_dir()
    return rules_for_backend(load_quarantine(quarantine_path(directory, suite)), backend)


@click.group(short_help="Quarantined tests per suite and backend.")
def quarantine() -> None:
    """Quarantined tests per suite and backend (suites/quarantine/<suite>.yaml)."""


@quarantine.command("suggest")
@click.argument("target", metavar="SUITE/BACKEND")
@click.option(
    "--failures",
    type=click.IntRange(1, 1000),
    default=DEFAULT_FAILURES,
    show_default=True,
    help="Add tests failing on this many consecutive (the newest) default-branch runs.",
)
@click.option(
    "--passes",
    type=click.IntRange(1, 1000),
    default=DEFAULT_PASSES,
    show_default=True,
    help="Remove entries whose tests passed on this many consecutive default-branch runs.",
)
@suites_option
@db_option
@json_option
def suggest(
    target: str,
    failures: int,
    passes: int,
    suites_dir: Path | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Propose quarantine additions and removals from the default-branch history of every
    cell of SUITE on BACKEND."""
    suite, backend = parse_target(target)
    rules = _rules(suites_dir, suite, backend)
    active, _expired = split_expired(rules, datetime.now(UTC).date())
    failing: dict[str, dict[str, tuple[int, str | None]]] = {}
    since: dict[str, str | None] = {}
    observed: dict[str, dict[str, Observed]] = {}
    patterns = sorted({p for r in rules for p in r.tests})
    with Store.open(db_url) as store:
        for cell in h.cells_of(store, suite, backend):
            newest = h.default_branch_runs(store, cell, limit=max(failures, passes))
            window = newest[:failures]
            if len(window) == failures:
                ids = [r.id for r in window]
                counts = h.outcome_counts(store, ids, failing_in_all=True)
                messages = h.failing_messages(store, ids[0], list(counts))
                failing[cell] = {t: (c.failing, messages.get(t)) for t, c in counts.items()}
                since[cell] = window[-1].sha
            window = newest[:passes]
            if len(window) == passes and patterns:
                got = h.outcome_counts(store, [r.id for r in window], like=patterns)
                observed[cell] = {t: Observed(c.ok, c.failing, c.seen) for t, c in got.items()}
    additions = suggest_additions(failing, Matcher(active), runs=failures, since=since)
    removals = suggest_removals(rules, observed, runs=passes)
    snippet = addition_yaml(additions, backend)
    if as_json:
        out: dict[str, Any] = {
            "suite": suite,
            "backend": backend,
            "add": [
                {
                    "test_id": a.test_id,
                    "cell": a.cell,
                    "failing_runs": a.runs,
                    "since_sha": a.since_sha,
                    "message": a.message,
                }
                for a in additions
            ],
            "remove": [
                {**rule_json(r.rule), "matched": list(r.tests), "passing_runs": r.runs}
                for r in removals
            ],
            "yaml": snippet,
        }
        json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return
    console = Console()
    path = quarantine_path(suites_dir or default_suites_dir(), suite)
    if not additions and not removals:
        console.print(f"no suggestions for {escape(target)}", highlight=False)
    if additions:
        console.print(
            f"[bold]add[/] ({len(additions)}): failing on the last {failures} "
            f"default-branch runs; paste under 'quarantine:' in {escape(str(path))}",
            highlight=False,
        )
        sys.stdout.write(snippet)  # not through rich: it would wrap long lines
    for r in removals:
        console.print(
            f"[bold]remove[/] {escape(r.rule.source)} ({escape(', '.join(r.rule.tests))}): "
            f"passed on the last {r.runs} default-branch runs",
            highlight=False,
        )


@quarantine.command("export")
@click.argument("target", metavar="SUITE/BACKEND")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    required=True,
    help="pytest-deselect: one --deselect=NODEID per line (pytest @FILE); gtest-filter: "
    "a negative filter -A.B:C.*",
)
@suites_option
@db_option
def export_cmd(target: str, fmt: str, suites_dir: Path | None, db_url: str | None) -> None:
    """Print the active quarantine entries of SUITE on BACKEND in a form the upstream's
    test tool takes. Globs the tool cannot express are expanded over the test ids of the
    latest default-branch runs."""
    suite, backend = parse_target(target)
    active, _expired = split_expired(_rules(suites_dir, suite, backend), datetime.now(UTC).date())
    known: list[str] = []
    if active:
        with Store.open(db_url) as store:
            latest = [
                run.id
                for cell in h.cells_of(store, suite, backend)
                for run in h.default_branch_runs(store, cell, limit=1)
            ]
            known = h.ids_in_runs(store, latest)
    result = export(active, known, fmt)
    sys.stdout.write(result.text)
    err = Console(stderr=True)
    for pattern in result.unexpressed:
        err.print(
            f"[yellow]warning:[/] {escape(pattern)}: matches no test of the latest runs and "
            f"{fmt} cannot take it as it is; left out",
            highlight=False,
        )


@quarantine.command("lint")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path, dir_okay=False))
@suites_option
def lint(files: tuple[Path, ...], suites_dir: Path | None) -> None:
    """Validate quarantine files (default: every file in SUITES/quarantine/)."""
    directory = (suites_dir or default_suites_dir()) / QUARANTINE_DIR
    paths = list(files) or sorted(directory.glob("*.yaml"))
    problems: list[str] = []
    console = Console()
    for path in paths:
        if not path.is_file():
            problems.append(f"{path}: no such file")
            continue
        try:
            entries = load_quarantine(path)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        console.print(f"[green]ok[/]    {escape(str(path))} ({len(entries)} entries)")
    if problems:
        raise ConfigError("\n".join(problems))
