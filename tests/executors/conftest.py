"""The end-to-end CLI fixtures (a fixture upstream, suite files, the ``harness`` runner)
for the executor tests that drive ``harness run``, and the docker ones (the engine, the
locally built base image, a label per test)."""

import uuid

import pytest

from harness.container_engine import ContainerEngine
from tests.cli.conftest import (  # noqa: F401 - re-exported fixtures
    db_url,
    harness,
    shared_cache,
    suites_dir,
    upstream,
    wheels,
)
from tests.docker_support import debian_base, require_docker


@pytest.fixture(scope="module")
def engine() -> ContainerEngine:
    return require_docker()


@pytest.fixture(scope="module")
def base(engine: ContainerEngine) -> str:
    """The locally built base image (built once per session)."""
    return debian_base(engine)


@pytest.fixture
def test_label() -> str:
    """A label only this test's containers carry (other tests run beside it under -n)."""
    return f"org.accel-harness.test={uuid.uuid4().hex}"


@pytest.fixture
def docker_env(base: str, test_label: str) -> dict[str, str]:
    """The environment of a ``harness run --executor docker`` in a test: the local base
    image, host networking, a small memory limit and the test's label."""
    return {
        "HARNESS_DOCKER_BASE_IMAGE": base,
        "HARNESS_DOCKER_NETWORK": "host",  # this daemon has no bridge (--bridge=none)
        "HARNESS_DOCKER_MEMORY": "256m",
        "HARNESS_DOCKER_LABELS": test_label,
    }
