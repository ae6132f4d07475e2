"""The GitHub Actions workflow (rendered, pure) and the plan its first job makes.

``render_workflow`` turns the service configuration's ``actions`` section into
``workflows/harness.yml``; ``plan`` expands cell patterns into the job matrix: one entry
per cell with the runner labels configured for its backend and the executor that runs
it (host cells: local, image cells: docker).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from harness.config.service import ServiceConfig
from harness.config.suite import Suite
from harness.images.matrix import ImageMatrix
from harness.matrix import HOST_VARIANT, select
from harness.planner import all_cells

TEMPLATE = Path(__file__).with_name("harness.yml.j2")
WORKFLOW_NAME = "harness.yml"


def _labels(labels: list[str]) -> str:
    return json.dumps(labels) if len(labels) != 1 else labels[0]


def render_workflow(config: ServiceConfig) -> str:
    a = config.actions
    env = Environment(
        loader=FileSystemLoader(TEMPLATE.parent),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # YAML, not HTML; values are from our own validated config
    )
    plan_labels = a.runners.get("cpu") or ["ubuntu-latest"]
    return env.get_template(TEMPLATE.name).render(
        a=a,
        plan_runs_on=_labels(plan_labels),
        harness_repository=a.harness_repository,
        harness_ref=a.harness_ref,
    )


def plan(
    suites: dict[str, Suite],
    matrix: ImageMatrix | None,
    patterns: list[str],
    config: ServiceConfig,
) -> tuple[dict[str, Any], list[str]]:
    """(the job matrix ``{"include": [...]}``, warnings for cells left out)."""
    cells = select(all_cells(suites, matrix), patterns or ["*"])
    include = []
    warnings = []
    for cell in cells:
        labels = config.actions.runners.get(cell.backend)
        if not labels:
            warnings.append(f"{cell.id}: no runners configured for backend '{cell.backend}'")
            continue
        executor = "local" if cell.variant == HOST_VARIANT else "docker"
        include.append({"cell": cell.id, "runs_on": labels, "executor": executor})
    return {"include": include}, warnings
