"""``harness config show`` and ``harness config table``: the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "HARNESS_GITHUB_TOKEN": "ghp_TOKENVALUE123",
    "HARNESS_WEBHOOK_SECRET": "whsec-VALUE-456",
    "HARNESS_RESULTS_SECRET": "results-VALUE-789",
    "HARNESS_DB": "postgresql://ci:PGPASSWORD42@db.example:5432/harness",
    "HARNESS_MIRRORS": "https://github.com/=https://bot:MIRRORTOKEN@git.example/",
}
HIDDEN = [
    "ghp_TOKENVALUE123",
    "whsec-VALUE-456",
    "results-VALUE-789",
    "PGPASSWORD42",
    "MIRRORTOKEN",
]


def harness(
    *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        env={**clean, "COLUMNS": "250", **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def suites(tmp_path: Path) -> Path:
    directory = tmp_path / "suites"
    (directory / "service").mkdir(parents=True)
    (directory / "service" / "config.yaml").write_text(
        "vendor: acme\n"
        "upstreams:\n"
        "  org/repo:\n"
        "    level: check\n"
        "    trust: {users: [alice]}\n"
        "actions:\n"
        "  service_url: https://hook:HOOKPASS@ci.example/\n"
    )
    return directory


def test_show_json_gives_values_and_sources_and_hides_secrets(tmp_path: Path, suites: Path) -> None:
    env = {**SECRETS, "HARNESS_DOCKER_CPUS": "2", "HARNESS_DOCKER_MEMORY": ""}
    proc = harness("config", "show", "--suites", str(suites), "--json", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for secret in [*HIDDEN, "HOOKPASS"]:
        assert secret not in proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    rows = {r["name"]: r for r in data["environment"]}
    assert (rows["HARNESS_DOCKER_CPUS"]["value"], rows["HARNESS_DOCKER_CPUS"]["source"]) == (
        "2",
        "environment",
    )
    assert rows["HARNESS_DOCKER_MEMORY"]["source"] == "environment"  # empty: no limit
    assert (rows["HARNESS_GIT_TIMEOUT"]["value"], rows["HARNESS_GIT_TIMEOUT"]["source"]) == (
        "900",
        "default",
    )
    assert rows["HARNESS_SUITES"] == {**rows["HARNESS_SUITES"], "source": "option"}
    assert rows["HARNESS_SUITES"]["value"] == str(suites)
    assert rows["HARNESS_GITHUB_TOKEN"]["value"] == "***"
    assert rows["HARNESS_GITHUB_TOKEN"]["secret"] is True
    assert rows["HARNESS_WEBHOOK_SECRET"]["value"] == "***"
    assert rows["HARNESS_DB"]["value"] == "postgresql://ci:***@db.example:5432/harness"
    assert "HARNESS_SHARD_DEVICES" not in rows  # set for steps: only with --all

    file = data["config_file"]
    assert file["path"] == str(suites / "service" / "config.yaml")
    assert file["exists"] is True
    keys = {r["name"]: r for r in file["keys"]}
    assert (keys["vendor"]["value"], keys["vendor"]["source"]) == ("acme", "config file")
    assert (keys["commands.recheck"]["value"], keys["commands.recheck"]["source"]) == (
        "recheck",
        "default",
    )
    assert keys["upstreams.org/repo.level"]["source"] == "config file"
    assert keys["upstreams.org/repo.level"]["value"] == "check"
    assert keys["upstreams.org/repo.trust.users"]["value"] == '["alice"]'
    assert keys["upstreams.org/repo.trust.label"]["source"] == "default"
    assert keys["upstreams.org/repo.deadline"]["source"] == "default"
    assert keys["actions.service_url"]["value"] == "https://hook:***@ci.example/"

    every = harness("config", "show", "--all", "--json", env=env, cwd=tmp_path)
    assert "HARNESS_SHARD_DEVICES" in {r["name"] for r in json.loads(every.stdout)["environment"]}


def test_show_as_a_table_for_people(tmp_path: Path, suites: Path) -> None:
    env = {**SECRETS, "HARNESS_SUITES": str(suites), "HARNESS_GIT_TIMEOUT": "60"}
    proc = harness("config", "show", env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for secret in [*HIDDEN, "HOOKPASS"]:
        assert secret not in proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    timeout = next(line for line in lines if "HARNESS_GIT_TIMEOUT" in line)
    assert "60" in timeout
    assert "environment" in timeout
    token = next(line for line in lines if "HARNESS_GITHUB_TOKEN " in line)
    assert "***" in token
    vendor = next(line for line in lines if " vendor " in line)
    assert "acme" in vendor
    assert "config file" in vendor
    assert f"Service configuration: {suites / 'service' / 'config.yaml'}" in proc.stdout


def test_show_without_a_config_file_shows_its_defaults(tmp_path: Path) -> None:
    proc = harness("config", "show", "--json", env={"HARNESS_SUITES": str(tmp_path)}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    file = json.loads(proc.stdout)["config_file"]
    assert file["exists"] is False
    keys = {r["name"]: r for r in file["keys"]}
    assert keys["upstreams"] == {**keys["upstreams"], "value": "{}", "source": "default"}
    assert {r["source"] for r in file["keys"]} == {"default"}


def test_a_malformed_value_exits_2_naming_it(tmp_path: Path) -> None:
    env = {"HARNESS_DOCKER_PIDS": "lots", "HARNESS_SUITES": str(tmp_path)}
    proc = harness("config", "show", "--json", env=env, cwd=tmp_path)
    assert proc.returncode == 2
    rows = {r["name"]: r for r in json.loads(proc.stdout)["environment"]}
    assert rows["HARNESS_DOCKER_PIDS"]["error"] == "HARNESS_DOCKER_PIDS='lots' is not a number"
    assert "HARNESS_DOCKER_PIDS='lots' is not a number" in proc.stderr


@pytest.mark.parametrize("args", [["config"], ["config", "show"], ["config", "table"]])
def test_help(args: list[str], tmp_path: Path) -> None:
    proc = harness(*args, "--help", env={}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Usage: harness " + " ".join(args) in proc.stdout


def test_table_writes_and_checks_the_readme(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    current = ROOT.joinpath("README.md").read_text(encoding="utf-8")
    stale = current.replace("| `HARNESS_GIT_TIMEOUT` |", "| `HARNESS_GIT_TIMEOUT_OLD` |")
    assert stale != current
    readme.write_text(stale, encoding="utf-8")
    check = harness("config", "table", "--readme", str(readme), "--check", env={}, cwd=tmp_path)
    assert check.returncode == 2
    assert "stale" in check.stderr
    assert "harness config table" in check.stderr
    write = harness("config", "table", "--readme", str(readme), env={}, cwd=tmp_path)
    assert write.returncode == 0, write.stderr
    assert readme.read_text(encoding="utf-8") == current
    again = harness("config", "table", "--readme", str(readme), "--check", env={}, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
