"""``harness dashboard build``: export the dashboard as a static site."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness.cli.options import db_option, json_option, suites_option
from harness.config.loader import default_suites_dir
from harness.dashboard.context import dashboard_context
from harness.dashboard.pages import Pages
from harness.dashboard.site import build_site
from harness.store import Store


@click.group()
def dashboard() -> None:
    """The web compatibility dashboard (`harness serve` serves it live)."""


@dashboard.command("build")
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("reports/site"),
    show_default=True,
    help="Where the site goes: a new or empty directory, or a site built before (replaced "
    "as a whole when the build succeeds).",
)
@db_option
@suites_option
@json_option
def build(out: Path, db_url: str | None, suites_dir: Path | None, as_json: bool) -> None:
    """Write the dashboard as static pages: the overview matrix, a test-history grid per
    cell, run and pull-request pages, the op matrix and badges. Publish OUT as is (GitHub
    Pages, any file server); links are relative."""
    upstreams, expected = dashboard_context(suites_dir or default_suites_dir())
    started = time.perf_counter()
    with Store.open(db_url) as store:
        pages = Pages(
            store,
            suites_dir=suites_dir or default_suites_dir(),
            expected_cells=expected,
            upstreams=upstreams,
        )
        console = Console(stderr=True)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=as_json,
        ) as progress:
            stats = build_site(pages, out, progress=progress)
    seconds = time.perf_counter() - started
    if as_json:
        json.dump(
            {
                "out": str(out.resolve()),
                "pages": stats.pages,
                "bytes": stats.bytes,
                "seconds": round(seconds, 2),
            },
            sys.stdout,
        )
        sys.stdout.write("\n")
    else:
        console.print(
            f"wrote {stats.pages} files ({stats.bytes / 1e6:.1f} MB) to {out.resolve()} in "
            f"{seconds:.1f} s; open {out.resolve() / 'index.html'}",
            highlight=False,
        )
