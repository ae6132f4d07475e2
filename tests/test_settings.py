"""harness/settings.py: each variable parsed once, typed, with errors that name the
variable and the bad value; secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import settings
from harness.config.setting import Area, Setting, config_file_keys, parse_non_negative_int
from harness.errors import ConfigError
from harness.images.render import CELL_GID, CELL_UID


def test_numbers_and_durations_are_typed() -> None:
    assert settings.GIT_TIMEOUT.get({"HARNESS_GIT_TIMEOUT": "30"}) == 30.0
    assert settings.GIT_TIMEOUT.get({}) == 900.0
    assert settings.DOCKER_PIDS.get({"HARNESS_DOCKER_PIDS": "128"}) == 128
    assert settings.DOCKER_CPUS.get({"HARNESS_DOCKER_CPUS": "1.5"}) == 1.5
    assert settings.RESULTS_MAX_BYTES.get({"HARNESS_RESULTS_MAX_BYTES": "1024"}) == 1024
    assert settings.GITHUB_WRITE_INTERVAL.get({"HARNESS_GITHUB_WRITE_INTERVAL": "0"}) == 0.0
    assert settings.GITHUB_INSTALLATION_ID.get({"HARNESS_GITHUB_INSTALLATION_ID": "42"}) == 42
    assert settings.QUEUE_ITEM.get({"HARNESS_QUEUE_ITEM": "12"}) == 12
    assert settings.QUEUE_ITEM.get({"HARNESS_QUEUE_ITEM": "${{ x }}"}) is None
    assert settings.DOCKER_USER.get({"HARNESS_DOCKER_USER": " 1000:1001 "}) == (1000, 1001)
    assert settings.DOCKER_USER.get({"HARNESS_DOCKER_USER": "1000"}) == (1000, 1000)
    assert settings.UNTRUSTED_NETWORK.get({"HARNESS_UNTRUSTED_NETWORK": " OPEN "}) == "open"
    assert settings.DOCKER_LABELS.get({"HARNESS_DOCKER_LABELS": "a=1, b=2"}) == {"a": "1", "b": "2"}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("HARNESS_GIT_TIMEOUT", "soon", "HARNESS_GIT_TIMEOUT='soon' is not a number of seconds"),
        ("HARNESS_GIT_TIMEOUT", "0", "HARNESS_GIT_TIMEOUT='0' is not a positive number"),
        ("HARNESS_RESULTS_MAX_BYTES", "8G", "HARNESS_RESULTS_MAX_BYTES='8G' is not a number"),
        ("HARNESS_DOCKER_PIDS", "many", "HARNESS_DOCKER_PIDS='many' is not a number"),
        ("HARNESS_DOCKER_CPUS", "-1", "HARNESS_DOCKER_CPUS='-1' must not be negative"),
        ("HARNESS_DOCKER_USER", "me:us", "HARNESS_DOCKER_USER='me:us' is not UID:GID"),
        ("HARNESS_DOCKER_USER", "0:0", "steps never run as root"),
        ("HARNESS_GITHUB_INSTALLATION_ID", "main", "HARNESS_GITHUB_INSTALLATION_ID='main' is not"),
        ("HARNESS_GITHUB_WRITE_INTERVAL", "1s", "HARNESS_GITHUB_WRITE_INTERVAL='1s' is not"),
        ("HARNESS_UNTRUSTED_NETWORK", "wide", "HARNESS_UNTRUSTED_NETWORK='wide' is not one of"),
        ("HARNESS_DOCKER_LABELS", "team", "HARNESS_DOCKER_LABELS: 'team' is not key=value"),
    ],
)
def test_a_bad_value_is_a_config_error_naming_variable_and_value(
    name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        settings.REGISTRY[name].get({name: value})
    assert message in info.value.message
    assert info.value.exit_code == 2


def test_a_bad_value_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before this module a malformed HARNESS_GIT_TIMEOUT or HARNESS_RESULTS_MAX_BYTES was
    silently replaced by the default."""
    from harness.executors.copyout import max_result_bytes
    from harness.source.git import default_git_timeout

    monkeypatch.setenv("HARNESS_GIT_TIMEOUT", "15m")
    with pytest.raises(ConfigError, match="HARNESS_GIT_TIMEOUT='15m'"):
        default_git_timeout()
    monkeypatch.setenv("HARNESS_RESULTS_MAX_BYTES", "8 GiB")
    with pytest.raises(ConfigError, match="HARNESS_RESULTS_MAX_BYTES='8 GiB'"):
        max_result_bytes()


def test_unset_empty_and_given() -> None:
    # an empty value counts as unset, except where empty means something
    assert settings.DOCKER_MEMORY.get({}) == "8g"
    assert settings.DOCKER_MEMORY.get({"HARNESS_DOCKER_MEMORY": ""}) is None  # no limit
    assert settings.DOCKER_PIDS.get({"HARNESS_DOCKER_PIDS": ""}) == 4096
    assert settings.CACHE.get({"HARNESS_CACHE": "/c"}) == Path("/c")
    assert settings.CACHE.get({}) is None
    assert settings.DB.get({"HARNESS_DB": ""}) is None
    assert (
        settings.GITHUB_API_URL.get({"HARNESS_GITHUB_API_URL": "http://h/api/"}) == "http://h/api"
    )
    assert settings.GITHUB_API_URL.get({"HARNESS_GITHUB_API_URL": "/"}) == "https://api.github.com"
    assert settings.WEBHOOK_SECRET.get({"HARNESS_WEBHOOK_SECRET": "  s3cr3t \n"}) == "s3cr3t"
    assert not settings.WEBHOOK_SECRET.is_set({"HARNESS_WEBHOOK_SECRET": "  "})


def test_secrets_are_never_shown_nor_put_in_errors() -> None:
    env = {
        "HARNESS_GITHUB_TOKEN": "ghp_abc123",
        "HARNESS_DB": "postgresql://ci:pg-pass@db:5432/harness",
        "HARNESS_MIRRORS": "https://github.com/=https://bot:tok@git.example/",
    }
    assert settings.GITHUB_TOKEN.shown(env) == "***"
    assert settings.DB.shown(env) == "postgresql://ci:***@db:5432/harness"
    assert "tok" not in settings.MIRRORS.shown(env)
    odd = Setting("HARNESS_X", Area.TESTING, "a number", parse_non_negative_int, 0, secret=True)
    with pytest.raises(ConfigError) as info:
        odd.get({"HARNESS_X": "hunter2"})
    assert "hunter2" not in str(info.value) + str(info.value.hint)
    assert "HARNESS_X=(secret) is not a number" in info.value.message


def test_documented_defaults_match_the_code() -> None:
    assert settings.DOCKER_USER.shown_default == f"`{CELL_UID}:{CELL_GID}`"
    assert settings.GIT_TIMEOUT.shown_default == f"`{settings.GIT_TIMEOUT.default:g}`"
    assert settings.DOCKER_PIDS.shown_default == f"`{settings.DOCKER_PIDS.default}`"


def test_config_file_keys_come_from_the_model() -> None:
    keys = {k.path: k for k in config_file_keys()}
    assert keys["vendor"].default == "harness"
    assert keys["upstreams.*.level"].default == "comment"
    assert keys["upstreams.*.trust.associations"].default == ["OWNER", "MEMBER", "COLLABORATOR"]
    assert keys["actions.runners"].default == {"cpu": ["ubuntu-latest"]}
    assert all(k.description for k in keys.values()), [
        p for p, k in keys.items() if not k.description
    ]
