from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.executors.docker import DockerOptions, parse_labels


def test_labels_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_DOCKER_LABELS", "team=npu, ci.run=42,")
    assert DockerOptions.from_env().labels == {"team": "npu", "ci.run": "42"}
    assert parse_labels("") == {}
    with pytest.raises(ConfigError, match="'oops' is not key=value"):
        parse_labels("a=1,oops")
