"""``harness ingest``: load result bundles into the database."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress

from harness.bundle import check_conflict, find_bundles, ingest_bundle
from harness.cli.options import db_option, json_option
from harness.errors import ConfigError
from harness.store import Store


@click.command(short_help="Load result bundles (from `harness run --bundle`) into the database.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@db_option
@json_option
def ingest(paths: tuple[Path, ...], db_url: str | None, as_json: bool) -> None:
    """Load the result bundles under PATHS (written by `harness run --bundle`, e.g. the
    artifacts of the GitHub Actions cell jobs) into the database. A bundle loaded before
    is skipped."""
    bundles = find_bundles(list(paths))
    if not bundles:
        raise ConfigError(f"no result bundle (run.json) under {', '.join(map(str, paths))}")
    loaded: list[dict[str, object]] = []
    with (
        Store.open(db_url) as store,
        Progress(console=Console(stderr=True), transient=True, disable=as_json) as progress,
    ):
        task = progress.add_task("checking", total=len(bundles))
        for bundle in bundles:  # every bundle whole, before any is stored
            bundle.check()
            check_conflict(store, bundle)
            progress.advance(task)
        task = progress.add_task("ingesting", total=len(bundles))
        for bundle in bundles:
            run_id, new = ingest_bundle(store, bundle)
            loaded.append(
                {
                    "bundle": str(bundle.path),
                    "run": run_id,
                    "new": new,
                    "cell": bundle.run["cell"],
                    "status": bundle.run["status"],
                }
            )
            progress.advance(task)
    if as_json:
        json.dump({"runs": loaded}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    for item in loaded:
        what = "loaded as" if item["new"] else "already loaded as"
        click.echo(f"{item['cell']}: {item['status']}, {what} run {item['run']} ({item['bundle']})")
