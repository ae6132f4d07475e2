"""Real webhook payloads: GitHub's examples as published in ``@octokit/webhooks-examples``
(installed from npm by .ci/run into the test cache)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

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
