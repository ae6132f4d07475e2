"""The generated jobs' steps, run here in order as a runner would: a cell job runs a
fixture upstream's cell and uploads its bundle; the report job downloads every bundle,
ingests it into a fresh database and builds the dashboard. ``uses:`` steps are played by
the test (checkout: the harness directory; artifacts: a folder)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import yaml

from harness.actions.workflow import render_workflow
from harness.config.service import load_service_config
from tests.cli.conftest import shared_cache, wheels  # noqa: F401 - fixtures
from tests.fixture_upstream import BASIC_COUNTS, make_upstream, suite_yaml

EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def evaluate(value: Any, context: dict[str, str]) -> str:
    """Substitute the expressions the workflow uses (an unknown one fails the test)."""
    return EXPR.sub(lambda m: context[m.group(1)], str(value))


def play(
    job: dict[str, Any],
    workflow: dict[str, Any],
    context: dict[str, str],
    workspace: Path,
    artifacts: Path,
) -> dict[str, str]:
    base_env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(workspace / "step-summary.md"),
        **{k: evaluate(v, context) for k, v in workflow.get("env", {}).items()},
        **{k: evaluate(v, context) for k, v in job.get("env", {}).items()},
    }
    outputs: dict[str, str] = {}
    for n, step in enumerate(job["steps"]):
        uses = step.get("uses", "")
        with_ = {k: evaluate(v, context) for k, v in step.get("with", {}).items()}
        if uses.startswith(("actions/checkout@", "actions/setup-python@")):
            continue  # the harness directory is in place; this interpreter is the Python
        if uses.startswith("actions/upload-artifact@"):
            for line in with_["path"].split():
                src = Path(line)
                dest = artifacts / with_["name"] / src.name
                if src.is_dir():
                    shutil.copytree(src, dest, dirs_exist_ok=True)
                elif src.is_file():
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, dest)
            continue
        if uses.startswith("actions/download-artifact@"):
            pattern = with_["pattern"].replace("*", ".*")
            for a in artifacts.iterdir():
                if re.fullmatch(pattern, a.name):
                    shutil.copytree(a, workspace / with_["path"] / a.name, dirs_exist_ok=True)
            continue
        assert "run" in step, step
        if step["name"] == "Install the harness":
            continue  # this environment has it (pip install -e)
        if "harness results send" in step["run"]:
            continue  # needs an OIDC token; POST /api/results is tested in tests/service
        out_file = workspace / f"output-{n}"
        env = base_env | {k: evaluate(v, context) for k, v in step.get("env", {}).items()}
        env["GITHUB_OUTPUT"] = str(out_file)
        cwd = workspace / step.get("working-directory", ".")
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, (
            f"step {step['name']!r}: {proc.stdout[-2000:]}{proc.stderr[-3000:]}"
        )
        outputs[f"stdout:{step['name']}"] = proc.stdout
        if out_file.exists():
            for line in out_file.read_text().splitlines():
                k, _, v = line.partition("=")
                outputs[k] = v
    return outputs


def test_cell_job_then_report_job(tmp_path: Path, wheels: Path, shared_cache: Path) -> None:  # noqa: F811
    upstream = make_upstream(tmp_path / "upstream")
    workspace = tmp_path / "workspace"
    harness_dir = workspace / "harness"
    (harness_dir / "suites" / "service").mkdir(parents=True)
    (harness_dir / "suites" / "demo.yaml").write_text(suite_yaml(upstream.url, wheels=wheels))
    config_path = harness_dir / "suites" / "service" / "config.yaml"
    config_path.write_text(
        textwrap.dedent(
            """\
            vendor: acme
            actions:
              repository: acme/ci
              runners: {cpu: [self-hosted, linux, x64]}
            """
        )
    )
    workflow = yaml.safe_load(render_workflow(load_service_config(config_path)))
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    common = {
        "github.workspace": str(workspace),
        "github.run_id": "1",
        "env.HARNESS_REPOSITORY": "accel-harness/accel-harness",
        "env.HARNESS_REF": "main",
    }

    # the plan job picks the cell and its runners
    plan_ctx = common | {
        "github.event.client_payload.cells || inputs.cells || '*'": "demo/cpu/host"
    }
    out = play(workflow["jobs"]["plan"], workflow, plan_ctx, workspace, artifacts)
    matrix = yaml.safe_load(out["matrix"])
    assert matrix == {
        "include": [
            {
                "cell": "demo/cpu/host",
                "runs_on": ["self-hosted", "linux", "x64"],
                "executor": "local",
            }
        ]
    }

    # one cell job per matrix entry, on its own runner (its own database)
    (entry,) = matrix["include"]
    cell_ctx = common | {
        "matrix.cell": entry["cell"],
        "matrix.executor": entry["executor"],
        "matrix.runs_on": str(entry["runs_on"]),
        "github.event.client_payload.items[matrix.cell]": "",
        "github.event.client_payload.ref || inputs.ref": "",
        "github.event.client_payload.pr_head": "",
        "github.event_name": "workflow_dispatch",
        "github.event.client_payload.trusted": "",
        "strategy.job-index": "0",
        "fromJSON(needs.plan.outputs.matrix)": out["matrix"],
    }
    cell_env = {"HARNESS_CACHE": str(shared_cache), "GITHUB_RUN_ID": "4242"}
    os.environ.update(cell_env)
    try:
        cell_out = play(workflow["jobs"]["cell"], workflow, cell_ctx, workspace, artifacts)
    finally:
        for k in cell_env:
            os.environ.pop(k, None)
    # the job log folds the cell, annotates its failures, and the job summary has its table
    log = cell_out["stdout:Run the cell"]
    assert "::group::demo/cpu/host\n" in log
    assert "::endgroup::" in log
    assert "::warning title=demo/cpu/host::2 test(s) failed" in log
    assert "demo/cpu/host" in (workspace / "step-summary.md").read_text()
    bundles = list((artifacts / "bundle-0").rglob("run.json"))
    assert len(bundles) == 1

    # the report job: every bundle into one fresh database, then the dashboard
    (workspace / "harness.db").unlink()
    play(workflow["jobs"]["report"], workflow, common, workspace, artifacts)
    runs = (
        yaml.safe_load((workspace / "runs.json").read_text())["runs"]
        if isinstance(yaml.safe_load((workspace / "runs.json").read_text()), dict)
        else yaml.safe_load((workspace / "runs.json").read_text())
    )
    (run,) = runs
    assert run["cell"] == "demo/cpu/host"
    assert run["counts"] == BASIC_COUNTS
    assert (workspace / "site" / "index.html").is_file()
    assert "demo/cpu/host" in (workspace / "site" / "index.html").read_text()
