"""``harness workflows render|plan``: GitHub Actions fan-out."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from harness.actions.workflow import WORKFLOW_NAME, plan, render_workflow
from harness.cli.options import suites_option
from harness.cli.worker_cmd import config_option, service_config
from harness.config.loader import default_suites_dir, load_suites
from harness.errors import ConfigError
from harness.planner import image_matrix

DEFAULT_OUT = Path("workflows")


@click.group()
def workflows() -> None:
    """GitHub Actions workflows for self-hosted runners."""


@workflows.command("render")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_OUT,
    show_default=True,
    help="Directory to write into (copy it to your CI repository's .github/workflows/).",
)
@click.option("--check", is_flag=True, help="Fail (exit 2) if the files in OUT are stale.")
@config_option
@suites_option
def render(out: Path, check: bool, config_file: Path | None, suites_dir: Path | None) -> None:
    """Render workflows/harness.yml from the service configuration's `actions` section:
    a plan job, one job per cell on its backend's runner labels, a report job."""
    config = service_config(config_file, suites_dir or default_suites_dir())
    text = render_workflow(config)
    path = out / WORKFLOW_NAME
    if check:
        current = path.read_text() if path.is_file() else ""
        if current != text:
            raise ConfigError(
                f"{path} is stale", hint=f"run `harness workflows render --out {out}`"
            )
        click.echo(f"{path} is current")
        return
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    click.echo(f"wrote {path}")


@workflows.command("plan")
@click.argument("patterns", nargs=-1)
@click.option(
    "--github-output",
    is_flag=True,
    help="Append matrix=<json> to $GITHUB_OUTPUT (and print warnings as ::warning::).",
)
@config_option
@suites_option
def plan_cmd(
    patterns: tuple[str, ...],
    github_output: bool,
    config_file: Path | None,
    suites_dir: Path | None,
) -> None:
    """The job matrix for PATTERNS (default: every cell): one entry per cell with its
    runner labels and executor."""
    suites_dir = suites_dir or default_suites_dir()
    config = service_config(config_file, suites_dir)
    matrix, warnings = plan(load_suites(suites_dir), image_matrix(), list(patterns), config)
    for w in warnings:
        click.echo(f"::warning::{w}" if github_output else f"warning: {w}", err=True)
    text = json.dumps(matrix, separators=(",", ":"))
    if github_output:
        target = os.environ.get("GITHUB_OUTPUT")
        if not target:
            raise ConfigError("--github-output: GITHUB_OUTPUT is not set (not in GitHub Actions?)")
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(f"matrix={text}\n")
    sys.stdout.write(text + "\n")
