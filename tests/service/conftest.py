"""Real webhook payloads: GitHub's examples as published in ``@octokit/webhooks-examples``
(installed from npm by .ci/run into the test cache)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import shared_cache, wheels  # noqa: F401 - re-exported fixtures
from tests.github_standin import (
    OPENAPI_VERSION,
    PRISM_VERSION,
    GitHubStandIn,
    npm_root,
    prism_paths,
    start_standin,
)
from tests.llama_cpp import cache_root

EXAMPLES_VERSION = "7.6.1"


def examples_index() -> Path:
    env = os.environ.get("HARNESS_WEBHOOK_EXAMPLES")
    if env:
        return Path(env)
    return (
        cache_root() / "npm" / "node_modules" / "@octokit" / "webhooks-examples"
        / "api.github.com" / "index.json"
    )  # fmt: skip


@pytest.fixture(scope="session")
def webhook_examples() -> dict[str, list[dict[str, Any]]]:
    """Event name → its example payloads."""
    index = examples_index()
    if not index.is_file():
        why = (
            f"@octokit/webhooks-examples not found at {index} (npm install --prefix "
            f"{cache_root() / 'npm'} @octokit/webhooks-examples@{EXAMPLES_VERSION})"
        )
        if os.environ.get("HARNESS_REQUIRE_TOOLS"):
            pytest.fail(why)
        pytest.skip(why)
    return {e["name"]: e["examples"] for e in json.loads(index.read_text())}


@pytest.fixture(scope="session")
def github(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHubStandIn]:
    """The GitHub stand-in (Prism + recording proxy), once per session (per xdist worker);
    its recording is cleared before each test that takes ``gh``."""
    if prism_paths() is None:
        why = (
            f"Prism or GitHub's OpenAPI description not found under {npm_root()} (npm install "
            f"@stoplight/prism-cli@{PRISM_VERSION} @octokit/openapi@{OPENAPI_VERSION})"
        )
        if os.environ.get("HARNESS_REQUIRE_TOOLS"):
            pytest.fail(why)
        pytest.skip(why)
    yield from start_standin(tmp_path_factory.mktemp("prism"))


@pytest.fixture
def gh(github: GitHubStandIn) -> GitHubStandIn:
    github.recorder.clear()
    return github
