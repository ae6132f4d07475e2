"""``harness matrix list``: which cells exist and which a pattern selects."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from harness.cli.options import json_option, suites_option
from harness.config.loader import default_suites_dir, load_suites
from harness.matrix import select
from harness.planner import all_cells, image_matrix


@click.group()
def matrix() -> None:
    """Cells: suite/backend/variant."""


@matrix.command("list")
@click.argument("patterns", nargs=-1)
@click.option("--skip", multiple=True, metavar="PATTERN", help="Leave out these cells.")
@suites_option
@json_option
def list_cells(
    patterns: tuple[str, ...], skip: tuple[str, ...], suites_dir: Path | None, as_json: bool
) -> None:
    """List cells matching PATTERNS (all when none), e.g. 'comfyui/*' or '*/{cpu,npu}'."""
    suites = load_suites(suites_dir or default_suites_dir())
    cells = select(all_cells(suites, image_matrix()), list(patterns), list(skip))
    if as_json:
        data = {
            "cells": [
                {"id": c.id, "suite": c.suite, "backend": c.backend, "variant": c.variant}
                for c in cells
            ]
        }
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    table = Table(show_header=True)
    for col in ("cell", "suite", "backend", "variant", "upstream"):
        table.add_column(col, overflow="fold")
    for c in cells:
        table.add_row(c.id, c.suite, c.backend, c.variant, suites[c.suite].upstream.repo)
    Console().print(table)
