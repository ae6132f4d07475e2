from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.loader import load_suite, load_suites
from harness.errors import ConfigError

GOOD = """\
name: demo
upstream:
  repo: example/demo
  default_branch: main
dependency_files: [requirements.txt]
backends:
  cpu:
    setup:
      - name: deps
        run: python -m pip install -r requirements.txt
        timeout: 10m
    test:
      - name: unit
        run: python -m pytest --junitxml={results_dir}/unit.xml {args}
        timeout: 1h30m
        results:
          - path: unit.xml
subsets:
  quick:
    args: -k quick
known_failures:
  - tests: "tests.test_x::test_*"
    reason: upstream bug
"""


def write(tmp_path: Path, text: str, name: str = "demo.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    return str(info.value)


def test_good_suite_loads_with_defaults(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, GOOD))
    cpu = suite.backends["cpu"]
    assert cpu.setup[0].timeout == 600.0
    assert cpu.test[0].timeout == 5400.0
    assert cpu.test[0].results[0].format == "junit"
    assert suite.upstream.clone_url == "https://github.com/example/demo.git"
    assert suite.known_failures[0].cells == ["*"]
    from harness.config.suite import Phase

    assert cpu.setup[0].needs_network(Phase.SETUP) is True
    assert cpu.test[0].needs_network(Phase.TEST) is False


def test_unknown_key_names_file_line_path_and_suggestion(tmp_path: Path) -> None:
    text = GOOD.replace("        timeout: 1h30m", "        timeot: 1h30m")
    msg = error_of(write(tmp_path, text))
    assert f"{tmp_path / 'demo.yaml'}:15:9: backends.cpu.test[0].timeot: unknown key" in msg
    assert "did you mean 'timeout'?" in msg


def test_unknown_top_level_key_lists_allowed_when_nothing_is_close(tmp_path: Path) -> None:
    msg = error_of(write(tmp_path, GOOD + "zzzz: 1\n"))
    assert ":24:1: zzzz: unknown key" in msg
    assert "allowed: name, description, upstream" in msg


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("timeout: 10m", "timeout: ten minutes").replace(
        "{results_dir}/unit.xml", "{result_dir}/unit.xml"
    )
    msg = error_of(write(tmp_path, text))
    assert "backends.cpu.setup[0].timeout: invalid duration 'ten minutes'" in msg
    assert "unknown variable {result_dir}; did you mean {results_dir}?" in msg
    assert len(msg.splitlines()) == 2


def test_missing_required_key(tmp_path: Path) -> None:
    text = GOOD.replace("  repo: example/demo\n", "")
    assert "upstream.repo: required key is missing" in error_of(write(tmp_path, text))


def test_test_step_without_results_is_rejected(tmp_path: Path) -> None:
    text = GOOD.replace("        results:\n          - path: unit.xml\n", "")
    assert "declares no results" in error_of(write(tmp_path, text))


def test_duplicate_keys_are_errors_not_silently_overwritten(tmp_path: Path) -> None:
    text = GOOD.replace(
        "  default_branch: main\n", "  default_branch: main\n  default_branch: dev\n"
    )
    msg = error_of(write(tmp_path, text))
    assert ":5:3: upstream.default_branch: duplicate key (first defined at line 4)" in msg


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    msg = error_of(write(tmp_path, GOOD + "  - [unclosed\n"))
    assert "demo.yaml:" in msg
    assert "YAML syntax error" in msg


def test_name_must_match_file(tmp_path: Path) -> None:
    msg = error_of(write(tmp_path, GOOD, name="other.yaml"))
    assert "name: 'demo' does not match the file name 'other.yaml'" in msg


def test_absolute_result_path_rejected(tmp_path: Path) -> None:
    text = GOOD.replace("- path: unit.xml", "- path: /tmp/unit.xml")
    assert "must be relative to the results directory" in error_of(write(tmp_path, text))


def test_shell_braces_are_not_variables(tmp_path: Path) -> None:
    text = GOOD.replace(
        "python -m pip install -r requirements.txt",
        "echo ${HOME} {a,b} && awk '{print $1}' /dev/null",
    )
    load_suite(write(tmp_path, text))


def test_yaml_anchors_and_merge_keys_work(tmp_path: Path) -> None:
    text = "env: &common\n  A: '1'\n" + GOOD.replace(
        "backends:\n  cpu:\n", "backends:\n  cpu:\n    env:\n      <<: *common\n      B: '2'\n"
    )
    suite = load_suite(write(tmp_path, text))
    assert suite.env == {"A": "1"}
    assert suite.backends["cpu"].env == {"A": "1", "B": "2"}


def test_load_suites_reports_all_bad_files(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    write(tmp_path, "name: bad\n", name="bad.yaml")
    write(tmp_path, "name: worse\nupstream: 3\n", name="worse.yaml")
    with pytest.raises(ConfigError) as info:
        load_suites(tmp_path)
    assert "bad.yaml" in str(info.value)
    assert "worse.yaml" in str(info.value)


def test_missing_suites_dir_has_hint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_suites(tmp_path / "nope")
    assert info.value.hint
    assert "--suites" in info.value.hint


def test_a_suite_pins_only_env_it_sets(tmp_path: Path) -> None:
    pinned = GOOD.replace(
        "dependency_files: [requirements.txt]\n",
        "dependency_files: [requirements.txt]\nenv:\n  LIST: a\nenv_pinned: [LIST]\n",
    )
    assert load_suite(write(tmp_path, pinned)).env_pinned == ["LIST"]
    msg = error_of(write(tmp_path, pinned.replace("env_pinned: [LIST]", "env_pinned: [LIT]")))
    assert "env_pinned: 'LIT' is not set by this suite's env" in msg
    assert "did you mean 'LIST'?" in msg


def test_a_bad_image_component_is_located(tmp_path: Path) -> None:
    stack = (
        "stack:\n"
        "  image:\n"
        "    variable: X\n"
        "    versions: {images: true}\n"
        "  torch:\n"
        "    versions: {wheels: /w}\n"
    )
    text = GOOD.replace("backends:\n", stack + "backends:\n", 1)
    msg = error_of(write(tmp_path, text))
    assert "demo.yaml:7:3: stack.image: the image component takes no variable" in msg
    assert "demo.yaml:10:3: stack.torch: variable is required" in msg
    two = "stack:\n  a: {versions: {images: true}}\n  b: {versions: {images: true}}\n"
    msg = error_of(write(tmp_path, GOOD.replace("backends:\n", two + "backends:\n", 1)))
    assert "stack: a and b both take their versions from the images" in msg
