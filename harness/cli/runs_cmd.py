"""``harness runs list|show|env|export``: read the run history and the environments runs
had; export a run as CTRF JSON or JUnit XML."""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.cli.options import db_option, json_option
from harness.errors import StoreError
from harness.fingerprint import drift, stack_summary
from harness.reporting.console import STATUS_STYLE, counts_text, narrow_table
from harness.runner import RunStatus
from harness.store import RunRecord, Store
from harness.store.coverage import OpCoverage, fallbacks, op_coverage


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def record_json(rec: RunRecord) -> dict[str, Any]:
    return {k: _jsonable(v) for k, v in asdict(rec).items()}


def _style(status: str) -> str:
    try:
        return STATUS_STYLE[RunStatus(status)]
    except ValueError:
        return "cyan"


@click.group()
def runs() -> None:
    """Read the history of runs."""


@runs.command("list")
@click.option("--cell", "cell_glob", metavar="GLOB", help="Only cells matching this glob.")
@click.option("--status", help="Only runs with this status.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=30, show_default=True)
@click.option("--before", "before_id", type=int, help="Page: runs with an id below this.")
@db_option
@json_option
def list_runs(
    cell_glob: str | None,
    status: str | None,
    limit: int,
    before_id: int | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """List recent runs, newest first."""
    store = Store.open(db_url)
    try:
        records = store.list_runs(
            cell_glob=cell_glob, status=status, limit=limit, before_id=before_id
        )
    finally:
        store.close()
    if as_json:
        json.dump({"runs": [record_json(r) for r in records]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    table = narrow_table(None, [r.cell for r in records])
    for r in records:
        started = r.started_at.strftime("%Y-%m-%d %H:%M") if r.started_at else "-"
        took = f"{r.duration_s:.1f}s" if r.duration_s is not None else "-"
        table.add_row(
            f"{r.cell}\n[dim]run {r.id} · {(r.sha or '-')[:8]} · {started} · {took}[/]",
            f"[{_style(r.status)}]{r.label}[/]",
            counts_text(r.counts) or "no tests",
        )
    Console().print(table)


@runs.command("show")
@click.argument("run_id", type=int)
@click.option("--results", "show", flag_value="all", help="List every result.")
@click.option(
    "--failures",
    "show",
    flag_value="failures",
    default=True,
    help="List failing results (default).",
)
@click.option("--ops", "all_ops", is_flag=True, help="List every op of the op coverage matrix.")
@db_option
@json_option
def show_run(run_id: int, show: str, all_ops: bool, db_url: str | None, as_json: bool) -> None:
    """Show one run: status, counts, environment, op coverage (suites that report it, such
    as llama.cpp's test-backend-ops), operators that fell back to the CPU, and its failing
    (or all) results."""
    store = Store.open(db_url)
    try:
        rec = store.get_run(run_id)
        env = store.get_environment(rec.environment_id) if rec.environment_id else None
        outcomes = None if show == "all" else ["failed", "error"]
        ops = op_coverage(store, run_id)
        cpu_fallbacks = fallbacks(store, run_id)
        if as_json:
            out = sys.stdout
            head = record_json(rec)
            head["environment"] = env
            head["op_coverage"] = [
                {
                    **asdict(o),
                    "unsupported": o.unsupported,
                    "support_unsupported": o.support_unsupported,
                    "status": o.status,
                    "support_status": o.support_status,
                }
                for o in ops
            ]
            head["cpu_fallbacks"] = [
                {"backend": b, "op": op, "warnings": n} for b, op, n in cpu_fallbacks
            ]
            # stream results so a huge run does not need to fit in memory
            out.write(json.dumps(head, indent=2)[:-2] + ',\n  "results": [')
            for i, res in enumerate(store.iter_results(run_id, outcomes=outcomes)):
                out.write(
                    ("," if i else "")
                    + "\n    "
                    + json.dumps(
                        {
                            "test_id": res.test_id,
                            "outcome": res.outcome.value,
                            "duration_s": res.duration_s,
                            "message": res.message,
                        }
                    )
                )
            out.write("\n  ]\n}\n")
            return
        console = Console()
        console.print(
            f"[bold]run {rec.id}[/]  {rec.cell}  [{_style(rec.status)}]{rec.status}[/]",
            highlight=False,
        )
        if rec.reason:
            console.print(f"reason: {escape(rec.reason)}", highlight=False)
        console.print(
            f"upstream {rec.upstream} ref {rec.ref or '(default branch)'} sha {rec.sha or '-'}",
            highlight=False,
        )
        console.print("counts: " + ", ".join(f"{k} {v}" for k, v in rec.counts.items()))
        if rec.args is not None:
            subset = f" (subset {rec.subset})" if rec.subset else ""
            console.print(f"selection: {escape(rec.args)}{escape(subset)}", highlight=False)
        if rec.seeds:
            steps = ", ".join(f"{step} seed {seed}" for step, seed in sorted(rec.seeds.items()))
            console.print(f"test order: pytest-randomly, {escape(steps)}", highlight=False)
        if rec.log_dir:
            console.print(f"logs: {rec.log_dir}", highlight=False)
        if env:
            stack = stack_summary(env)
            shown = ", ".join(f"{k} {v}" for k, v in stack.items() if v)
            console.print(f"environment: {escape(shown)}", highlight=False)
        if ops:
            _print_op_coverage(console, ops, all_ops)
        if cpu_fallbacks:
            console.print(
                f"{len(cpu_fallbacks)} operator(s) fell back to the CPU: "
                + ", ".join(f"{escape(op)} ({n}x)" for _b, op, n in cpu_fallbacks[:20]),
                highlight=False,
            )
        for res in store.iter_results(run_id, outcomes=outcomes):
            first = (res.message or "").strip().splitlines()[:1]
            msg = f"  [dim]{escape(first[0][:160])}[/]" if first else ""
            console.print(f"  {res.outcome.value:8} {escape(res.test_id)}{msg}", highlight=False)
    finally:
        store.close()


@runs.command("env")
@click.argument("run_id", type=int)
@click.option(
    "--against",
    "other_id",
    type=int,
    metavar="RUN",
    help="Show what changed from RUN to RUN_ID (environment drift).",
)
@db_option
@json_option
def run_env(run_id: int, other_id: int | None, db_url: str | None, as_json: bool) -> None:
    """Show a run's environment: backend, devices, driver, SDK, torch, device plugin,
    Python, image, OS and harness version; with --against, the drift between two runs."""
    store = Store.open(db_url)
    try:
        env = _environment_of(store, run_id)
        before = _environment_of(store, other_id) if other_id is not None else None
    finally:
        store.close()
    if before is not None:
        changes = drift(before, env)
        if as_json:
            out = {
                "run": run_id,
                "against": other_id,
                "changes": [{"key": c.key, "before": c.before, "after": c.after} for c in changes],
            }
            json.dump(out, sys.stdout, indent=2)
            sys.stdout.write("\n")
            return
        console = Console()
        if not changes:
            console.print(f"no environment drift from run {other_id} to run {run_id}")
        for c in changes:
            console.print(escape(str(c)), highlight=False)
        return
    if as_json:
        json.dump(
            {"run": run_id, "stack": stack_summary(env), "fingerprint": env}, sys.stdout, indent=2
        )
        sys.stdout.write("\n")
        return
    table = Table(show_header=False)
    for key, value in stack_summary(env).items():
        table.add_row(key, escape(value or "-"))
    Console().print(table)


@runs.command("export")
@click.argument("run_id", type=int)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["ctrf", "junit"]),
    required=True,
    help="ctrf: CTRF JSON (ctrf.io) for CTRF reporters; junit: JUnit XML with "
    "Surefire-style rerun and flaky elements, for Jenkins and GitLab.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write to FILE instead of standard output.",
)
@db_option
@json_option
def export_run(
    run_id: int, fmt: str, out_path: Path | None, db_url: str | None, as_json: bool
) -> None:
    """Export one run's results, reruns and flaky tests in an ecosystem format, streamed
    from the database (a run of a million cases in bounded memory). With --json (and
    --out), print what was written."""
    if as_json and out_path is None:
        raise click.UsageError("--json describes the file written: give --out FILE")
    store = Store.open(db_url)
    try:
        store.get_run(run_id)  # an unknown run fails before a file is made
        if out_path is None:
            tests = _export(fmt, store, run_id, None)
        else:
            tmp = out_path.with_name(f".{out_path.name}.part")
            try:
                tests = _export(fmt, store, run_id, tmp)
                tmp.replace(out_path)
            finally:
                tmp.unlink(missing_ok=True)
    finally:
        store.close()
    if as_json:
        info = {"run": run_id, "format": fmt, "out": str(out_path), "tests": tests}
        json.dump(info, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif out_path is not None:
        click.echo(f"run {run_id}: {tests} test(s) written to {out_path} ({fmt})", err=True)


def _export(fmt: str, store: Store, run_id: int, path: Path | None) -> int:
    if fmt == "ctrf":
        from harness.reporting.ctrf import write_ctrf

        if path is None:
            return write_ctrf(sys.stdout, store, run_id)
        with path.open("w", encoding="utf-8") as f:
            return write_ctrf(f, store, run_id)
    from harness.reporting.junit_run import write_junit

    if path is None:
        n = write_junit(sys.stdout.buffer, store, run_id)
        sys.stdout.buffer.flush()
        return n
    with path.open("wb") as f:
        return write_junit(f, store, run_id)


def _environment_of(store: Store, run_id: int) -> dict[str, Any]:
    rec = store.get_run(run_id)
    if rec.environment_id is None:
        raise StoreError(f"run {run_id} has no recorded environment")
    return store.get_environment(rec.environment_id)


def _print_op_coverage(console: Console, ops: list[OpCoverage], all_ops: bool) -> None:
    by_status = Counter(o.status for o in ops)
    devices = sorted({o.device for o in ops})
    console.print(
        f"op coverage on {', '.join(devices)}: {len(ops)} ops, "
        + ", ".join(f"{n} {status}" for status, n in sorted(by_status.items())),
        highlight=False,
    )
    shown = ops if all_ops else [o for o in ops if o.status in {"failing", "partial"}]
    if not shown:
        return
    table = Table()
    numbers = ("cases", "supported", "passed", "failed", "support mode")
    for col in ("device", "op", *numbers, "status"):
        table.add_column(col, justify="right" if col in numbers else "left", overflow="fold")
    styles = {
        "failing": "red",
        "partial": "yellow",
        "unsupported": "dim",
        "passing": "green",
        "supported": "green",
    }
    for o in shown:
        support = f"{o.support_supported}/{o.support_cases}" if o.support_cases else "-"
        table.add_row(
            escape(o.device),
            escape(o.op),
            str(o.cases),
            str(o.supported),
            str(o.passed),
            str(o.failed),
            support,
            f"[{styles[o.status]}]{o.status}[/]",
        )
    console.print(table)
