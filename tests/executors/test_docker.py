"""The docker executor on a real engine: a fixture upstream's pytest suite runs in a
container from a cpu image variant (built on a debootstrap base) with the same counts as
the local executor, and each isolation property holds: non-root, no network while tests
run, no secrets and no docker socket inside, a hanging test killed by the timeout, an OOM
recorded as an infrastructure error with its reason, the container removed every time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.container_engine import LABEL, ContainerEngine
from tests.cli.conftest import Result
from tests.fixture_upstream import BASIC_COUNTS, make_upstream, suite_yaml
from tests.gitrepos import UpstreamRepo

Harness = Callable[..., Result]
CELL = "demo/cpu/debian12-py3.11"

TEST_SANDBOX = """\
import os
import socket



def test_not_root():
    assert os.getuid() != 0, "tests must not run as root"


def test_no_docker_socket():
    assert not os.path.exists("/var/run/docker.sock")


def test_no_secrets():
    assert "GITHUB_TOKEN" not in os.environ
    assert "HARNESS_WEBHOOK_SECRET" not in os.environ


def test_network():
    # fails in the test phase: the container has no network
    socket.create_connection(("deb.debian.org", 80), timeout=5).close()


def test_oom():
    blocks = []
    for _ in range(64):
        blocks.append(bytearray(16 << 20))  # 1 GiB in all, far over the limit
"""


@pytest.fixture(scope="module")
def sandbox_upstream(tmp_path_factory: pytest.TempPathFactory) -> UpstreamRepo:
    repo = make_upstream(tmp_path_factory.mktemp("sandbox"))
    repo.commit({"tests/test_sandbox.py": TEST_SANDBOX}, message="sandbox probes")
    return repo


@pytest.fixture
def docker_suites(suites_dir: Path, sandbox_upstream: UpstreamRepo, wheels: Path) -> Path:
    wheels.chmod(0o755)  # mounted read-only into containers, whose user is not root
    text = suite_yaml(sandbox_upstream.url, wheels=wheels, test_timeout="40s")
    text += (
        "  sandbox:\n"
        '    args: tests/test_sandbox.py -k "not oom"\n'
        "  oom:\n"
        "    args: tests/test_sandbox.py -k oom\n"
    )
    (suites_dir / "demo.yaml").write_text(text)
    return suites_dir


@pytest.fixture(autouse=True)
def _no_leftover_containers(engine: ContainerEngine, test_label: str) -> Iterator[None]:
    yield
    left = engine.client.containers.list(all=True, filters={"label": [LABEL, test_label]})
    details = [(c.short_id, c.status, c.labels.get("org.accel-harness.step")) for c in left]
    assert left == [], f"containers left behind: {details}"


def run(harness: Harness, env: dict[str, str], *args: str, executor: str = "docker") -> dict:
    res = harness("run", CELL, "--executor", executor, "--json", *args, env=env, timeout=900)
    assert res.code in (0, 1, 3), res.err
    (summary,) = res.json()["runs"]
    return {"code": res.code, "err": res.err, **summary}


def test_same_counts_as_the_local_executor_and_an_image_fingerprint(
    harness: Harness, docker_suites: Path, docker_env: dict[str, str]
) -> None:
    first = run(harness, docker_env)
    assert first["counts"] == BASIC_COUNTS, first["err"]
    local = harness("run", "demo/cpu/host", "--json")
    assert local.json()["runs"][0]["counts"] == first["counts"]
    shown = harness("runs", "show", "1", "--json").json()
    env = shown["environment"]
    assert env["executor"] == "docker"
    assert env["image"]["variant"] == "debian12-py3.11"
    assert env["image"]["digest"].startswith("sha256:")
    assert env["image"]["tag"].startswith("harness-env/demo-cpu-debian12-py3.11:")
    assert "pytest" in env["python"]["packages"]
    assert env["os"]["id"] == "debian"
    # the second run reuses the cell environment image: setup is skipped; auto finds
    # the engine
    again = run(harness, docker_env, executor="auto")
    assert again["counts"] == BASIC_COUNTS
    assert "environment already built" in again["err"]
    assert "--executor auto: docker (" in again["err"]


def test_setup_installs_with_the_uv_in_the_image(
    harness: Harness, docker_suites: Path, docker_env: dict[str, str]
) -> None:
    """``{pip}`` is the image's uv (a copy of the harness's, no download), with the
    suite's PIP_NO_INDEX / PIP_FIND_LINKS carried over: the wheel folder mounted
    read-only, no-index through the uv.toml mounted for the step."""
    out = run(harness, docker_env)
    assert out["counts"] == BASIC_COUNTS, out["err"]
    log = Path(out["reports"]) / "logs" / "demo__cpu__debian12-py3.11" / "setup-00-deps.log"
    text = log.read_text()
    assert "[harness] $ /opt/harness/bin/uv pip install -q -r requirements.txt" in text
    (line,) = [x for x in text.splitlines() if x.startswith("[harness] installer:")]
    assert line.startswith("[harness] installer: uv ({pip} is uv pip); pip settings carried")
    assert "find-links" in line
    assert "no-index" in line
    shown = harness("runs", "show", "1", "--json").json()["environment"]
    assert shown["installer"]["name"] == "uv"
    assert shown["installer"]["version"].startswith("uv 0.")
    assert "pytest" in shown["python"]["packages"]
    assert "pip" in shown["python"]["packages"]  # `python -m pip` stays the fallback


def test_isolation_inside_the_container(
    harness: Harness, docker_suites: Path, docker_env: dict[str, str]
) -> None:
    env = {**docker_env, "GITHUB_TOKEN": "ghp_secret", "HARNESS_WEBHOOK_SECRET": "s3cret"}
    out = run(harness, env, "--subset", "sandbox")
    results = harness("runs", "show", "1", "--results", "--json").json()["results"]
    by_name = {r["test_id"].split("::")[-1]: r for r in results}
    assert by_name["test_not_root"]["outcome"] == "passed"
    assert by_name["test_no_docker_socket"]["outcome"] == "passed"
    assert by_name["test_no_secrets"]["outcome"] == "passed"
    assert by_name["test_network"]["outcome"] == "failed"
    assert out["counts"]["failed"] == 1


def test_a_hanging_test_is_killed_by_the_timeout(
    harness: Harness, docker_suites: Path, docker_env: dict[str, str]
) -> None:
    out = run(harness, docker_env, "--subset", "hang")
    assert out["status"] == "timeout"
    shown = harness("runs", "show", "1", "--json").json()
    assert "timed out after" in shown["reason"]


def test_an_oom_is_an_infrastructure_error_with_its_reason(
    harness: Harness, docker_suites: Path, docker_env: dict[str, str]
) -> None:
    out = run(harness, docker_env, "--subset", "oom")
    assert out["status"] == "error"
    shown = harness("runs", "show", "1", "--json").json()
    assert "ran out of memory (OOM-killed at the 256m limit)" in shown["reason"]
