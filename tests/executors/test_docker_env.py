"""In a container as on the host, a suite's env holds defaults: the operator's value
(passed with --pass-env, or a forwarded pip/uv knob) wins, except for pinned names."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.container_engine import ContainerEngine
from tests.cli.conftest import Result
from tests.cli.test_suite_env import env_suite
from tests.gitrepos import UpstreamRepo

Harness = Callable[..., Result]


@pytest.fixture(autouse=True)
def _no_leftover_containers(engine: ContainerEngine, test_label: str) -> Iterator[None]:
    yield
    assert engine.client.containers.list(all=True, filters={"label": [test_label]}) == []


def test_pass_env_overrides_suite_defaults_but_not_pinned_values(
    harness: Harness, suites_dir: Path, tmp_path: Path, docker_env: dict[str, str]
) -> None:
    repo = UpstreamRepo(tmp_path / "envs-upstream", name="envs")
    repo.commit({"README": "env fixture\n"})
    (suites_dir / "envs.yaml").write_text(env_suite(repo.url))
    env = {**docker_env, "HARNESS_KNOB": "operator", "HARNESS_PINNED": "operator"}
    seen = []
    for args in ([], ["--pass-env", "HARNESS_KNOB", "--pass-env", "HARNESS_PINNED"]):
        res = harness("run", "envs/cpu", "--executor", "docker", "--json", *args, env=env)
        assert res.code == 0, res.err
        (run,) = res.json()["runs"]
        shown = harness("runs", "show", str(run["run_id"]), "--results", "--json").json()
        seen.append(
            {r["test_id"].rsplit("::", 1)[-1].removeprefix("env.") for r in shown["results"]}
        )
    not_passed, passed = seen
    # HARNESS_* host variables do not reach a container unless the operator passes them
    assert not_passed == {
        "HARNESS_KNOB=suite", "HARNESS_PINNED=suite", "HARNESS_STEP=step", "PLAIN=backend"
    }  # fmt: skip
    assert passed == {
        "HARNESS_KNOB=operator", "HARNESS_PINNED=suite", "HARNESS_STEP=step", "PLAIN=backend"
    }  # fmt: skip
