"""Hostile and careless YAML: every configuration file is plain data, and what is not
gets the project's configuration error naming the file and line, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.config.yamlsource import (
    MAX_DEPTH,
    MAX_NODES,
    MAX_WRITTEN,
    load_yaml_with_positions,
)
from harness.errors import ConfigError


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return load_yaml_with_positions(path).data


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'suite.yaml'}:"), message  # file:line:column
    return message


def billion_laughs(levels: int = 9) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        refs = ", ".join([f"*l{i - 1}"] * 9)
        lines.append(f"l{i}: &l{i} [{refs}]")
    return "\n".join(lines) + "\n"


def test_plain_data_still_loads(tmp_path: Path) -> None:
    data = load(
        tmp_path,
        "base: &base {python: '3.11', n: 2}\n"
        "cpu:\n  <<: *base\n  n: !!int 3\n  when: 2026-12-31\n  name: !!str 5\n  x: ! 7\n",
    )
    assert isinstance(data, dict)
    assert data["cpu"]["python"] == "3.11"
    assert data["cpu"]["n"] == 3
    assert data["cpu"]["name"] == "5"
    assert str(data["cpu"]["when"]) == "2026-12-31"
    # of several merged mappings the first listed wins; the mapping's own keys win over all
    data = load(tmp_path, "a: &a {k: 1, x: a}\nb: &b {k: 2, y: b}\nc:\n  <<: [*a, *b]\n  y: own\n")
    assert isinstance(data, dict)
    assert data["c"] == {"k": 1, "x": "a", "y": "own"}


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("a: !!python/object:os.system {cmd: id}\n", 1, "!!python/object:os.system"),
        ("a:\n  - !!python/object/apply:os.system [id]\n", 2, "!!python/object/apply"),
        ("a: !!binary aGVsbG8=\n", 1, "!!binary"),
        ("a: !!set {x, y}\n", 1, "!!set"),
        ("a: !custom 1\n", 1, "!custom"),
    ],
)
def test_tags_other_than_plain_data_are_refused(
    tmp_path: Path, text: str, line: int, says: str
) -> None:
    message = refused(tmp_path, text)
    assert f"suite.yaml:{line}:" in message
    assert says in message
    assert "plain data" in message


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("abc", "float"),
        ("x1", "int"),
        ("not-a-date", "timestamp"),
        ("maybe", "bool"),
        ("''", "int"),  # was an IndexError inside PyYAML: exit 4
    ],
)
def test_a_value_that_does_not_fit_its_tag_is_refused(tmp_path: Path, value: str, tag: str) -> None:
    message = refused(tmp_path, f"backends:\n  cpu:\n    n: !!{tag} {value}\n")
    assert "suite.yaml:3:" in message
    assert f"backends.cpu.n: '{value.strip(chr(39))}' is not a valid !!{tag}" in message


def test_recursive_aliases_are_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, "a: &x\n  - 1\n  - *x\n")
    assert "recursive" in message


@pytest.mark.parametrize("flow", [True, False])
def test_deep_nesting_is_refused_before_anything_is_built(tmp_path: Path, flow: bool) -> None:
    if flow:
        text = "a: " + "[" * 10_000 + "]" * 10_000 + "\n"
    else:
        text = "".join("  " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 5)) + "  " * 70 + "v\n"
    message = refused(tmp_path, text)
    assert f"nested more than {MAX_DEPTH} levels deep" in message


def test_an_escape_out_of_range_is_a_syntax_error(tmp_path: Path) -> None:
    message = refused(tmp_path, 'name: x\nx: "\\U0010ffff\\UFFFFFFFF"\n')  # OverflowError
    assert "YAML syntax error" in message


def test_a_flood_of_values_is_refused_before_anything_is_built(tmp_path: Path) -> None:
    """4 MB of ``[a,a,a,...]`` took 64 s and 1.3 GB to build, then was called an alias
    bomb; the values are counted on the event stream now."""
    message = refused(tmp_path, "x: [" + "a," * (MAX_WRITTEN + 10) + "]\n")
    assert f"more than {MAX_WRITTEN} values: not a configuration file" in message


def test_an_alias_bomb_stops_at_the_budget(tmp_path: Path) -> None:
    message = refused(tmp_path, billion_laughs())  # 9**10 values once expanded
    assert f"more than {MAX_NODES} values" in message


def test_suites_lint_says_it_as_a_configuration_error(tmp_path: Path) -> None:
    bad = tmp_path / "bomb.yaml"
    bad.write_text(billion_laughs())
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "suites", "lint", str(bad)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr  # a configuration error, not 1 or a traceback
    assert "Traceback" not in proc.stderr
    said = (proc.stderr + proc.stdout).replace("\n", "")  # the console wraps long paths
    assert f"{bad}:1:" in said
    assert "alias bomb" in said


def test_a_large_legitimate_quarantine_file_loads(tmp_path: Path) -> None:
    """5,000 entries (0.9 MB): refused at about 4,500 when the limit was 50k values."""
    entry = (
        "  - backend: npu\n    test: tests/test_ops.py::test_op_{i}[float16-shape{i}]\n"
        "    reason: aclnn kernel {i} returns NaN on CANN 8.3 for this shape\n"
        "    link: https://github.com/Ascend/pytorch/issues/{i}\n    expires: 2027-06-30\n"
    )
    text = "quarantine:\n" + "".join(entry.format(i=i) for i in range(5000))
    data = load(tmp_path, text)
    assert isinstance(data, dict)
    assert len(data["quarantine"]) == 5000
