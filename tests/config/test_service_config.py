from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.service import Approval, Level, default_config_path, load_service_config
from harness.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
vendor: acme
contact: https://example.org/ci
details_url: https://ci.example/runs/{run_id}?cell={cell}&sha={sha}
upstreams:
  Example/Demo:
    level: blocking
    cells: ["demo/npu/*"]
    deadline: 1h30m
    trust:
      users: [Alice]
      orgs: [example]
      approval: commit
"""


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_service_config(path)


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return str(info.value)


def test_the_shipped_configuration_loads() -> None:
    config = load_service_config(default_config_path(ROOT / "suites"))
    comfy = config.upstream("comfy-org/comfyui")  # GitHub names are case-insensitive
    assert comfy is not None
    assert comfy.level is Level.COMMENT
    assert config.upstream("nobody/nothing") is None


def test_values_and_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, GOOD)
    up = config.upstream("example/demo")
    assert up is not None
    assert up.level is Level.BLOCKING
    assert up.level.uses_checks
    assert up.level.comments
    assert up.deadline == 5400.0
    assert up.trust.approval is Approval.COMMIT
    assert up.trust.associations == ["OWNER", "MEMBER", "COLLABORATOR"]
    assert up.trust.label == "ok-to-test"
    assert config.context("demo", "npu") == "acme/demo/npu"
    assert config.details(12, "demo/npu/host", "abc") == (
        "https://ci.example/runs/12?cell=demo/npu/host&sha=abc"
    )
    assert config.commands.recheck == "recheck"


def test_levels_order_what_is_posted() -> None:
    assert not Level.DASHBOARD.posts
    assert Level.STATUS.posts
    assert not Level.STATUS.comments
    assert Level.COMMENT.comments
    assert not Level.COMMENT.uses_checks
    assert Level.CHECK.uses_checks


def test_unknown_key_names_file_line_and_suggestion(tmp_path: Path) -> None:
    msg = error_of(tmp_path, GOOD.replace("    level: blocking", "    levl: blocking"))
    assert f"{tmp_path / 'config.yaml'}:6:5: upstreams.Example/Demo.levl: unknown key" in msg
    assert "did you mean 'level'?" in msg


def test_bad_level_names_the_key(tmp_path: Path) -> None:
    msg = error_of(tmp_path, GOOD.replace("level: blocking", "level: loud"))
    assert ":6:" in msg
    assert "upstreams.Example/Demo.level" in msg
    assert "dashboard" in msg


def test_bad_association_and_repository_name(tmp_path: Path) -> None:
    msg = error_of(tmp_path, GOOD.replace("users: [Alice]", "associations: [MAINTAINER]"))
    assert "MAINTAINER" in msg
    assert "upstreams.Example/Demo.trust.associations" in msg
    msg = error_of(tmp_path, GOOD.replace("Example/Demo:", "just-a-name:"))
    assert "'just-a-name' is not owner/name" in msg


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (".inf", "at most 30 days"),
        (".nan", "a positive number"),
        ("99999999999999999999999999h", "invalid duration"),  # loaded as 3.6e+29 s
        ("'" + "9" * 5000 + "s'", "invalid duration"),  # was Python's int-digits message
        ("31d", "invalid duration"),
        ("800h", "at most 30 days"),
    ],
)
def test_durations_are_finite_and_bounded(tmp_path: Path, value: str, says: str) -> None:
    """``deadline: .inf`` loaded, then ``timedelta(seconds=inf)`` raised in the ledger."""
    msg = error_of(tmp_path, GOOD.replace("deadline: 1h30m", f"deadline: {value}"))
    assert "deadline" in msg
    assert says in msg


def test_bad_deadline(tmp_path: Path) -> None:
    msg = error_of(tmp_path, GOOD.replace("deadline: 1h30m", "deadline: soon"))
    assert "deadline" in msg
    assert "invalid duration" in msg
