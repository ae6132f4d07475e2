"""Declared test paths that moved upstream: located loader errors, the choice at a commit
that has the old layout and at one that has the new, the error naming every alternative."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from harness.config.loader import load_suite
from harness.config.suite import Suite
from harness.errors import ConfigError
from harness.path_choice import PathChoiceError, git_contains, resolve_paths
from tests.gitrepos import UpstreamRepo

TEST_ACCEL = "def test_accel():\n    pass\n"


def suite_text(paths: str, default_args: str = "{path:accelerator} utils") -> str:
    return textwrap.dedent(
        """\
        name: moved
        upstream: {{repo: example/moved}}
        paths:
        {paths}
        default_args: "{default_args}"
        subsets:
          smoke:
            args: "{{path:accelerator}}"
        backends:
          cpu:
            test:
              - name: unit
                workdir: tests/unit
                run: python -m pytest {{args}}
                results: [{{path: unit.xml}}]
        """
    ).format(paths=textwrap.indent(textwrap.dedent(paths), "  "), default_args=default_args)


BY_EXISTENCE = """\
accelerator:
  under: tests/unit
  alternatives: [v1/accelerator, accelerator]
"""


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory) -> tuple[UpstreamRepo, str, str]:
    """An upstream whose tests/unit/accelerator moved to tests/unit/v1/accelerator."""
    repo = UpstreamRepo(tmp_path_factory.mktemp("moved"))
    old = repo.commit(
        {"tests/unit/accelerator/test_accel.py": TEST_ACCEL, "tests/unit/utils/t.py": ""},
        "accelerator tests",
    )
    new = repo.commit(
        {
            "tests/unit/accelerator/test_accel.py": None,
            "tests/unit/v1/accelerator/test_accel.py": TEST_ACCEL,
        },
        "move the accelerator tests under v1",
    )
    return repo, old, new


def checkout(repo: UpstreamRepo, sha: str, dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", repo.url, str(dest)], check=True)
    subprocess.run(["git", "-C", str(dest), "checkout", "-q", sha], check=True)
    return dest


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the first line of ``text`` containing ``needle``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def write_suite(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "moved.yaml"
    path.write_text(text)
    return path


def test_undeclared_reference_is_located_in_the_suite_file(tmp_path: Path) -> None:
    text = suite_text(BY_EXISTENCE, "{path:acclerator} utils")
    path = write_suite(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_suite(path)
    message = str(err.value)
    # file:line:column, the key, the name, a hint and what is declared
    assert f"{path}:{line_of(text, 'default_args:')}:" in message
    assert "default_args: '{path:acclerator}' names no entry of 'paths'" in message
    assert "did you mean '{path:accelerator}'?" in message
    assert "declared: accelerator" in message


def test_undeclared_reference_in_a_subset_names_the_subset(tmp_path: Path) -> None:
    text = suite_text(BY_EXISTENCE).replace('args: "{path:accelerator}"', 'args: "{path:x}"')
    path = write_suite(tmp_path, text)
    line = line_of(text, "{path:x}")
    with pytest.raises(
        ConfigError, match=rf"moved.yaml:{line}:\d+: subsets.smoke.args: '\{{path:x"
    ):
        load_suite(path)


def test_bad_declarations_are_located(tmp_path: Path) -> None:
    leaving = BY_EXISTENCE.replace("[v1/accelerator, accelerator]", "[../../../x]")
    with pytest.raises(ConfigError, match=r"paths.accelerator: .*'../../../x' leaves the source"):
        load_suite(write_suite(tmp_path, suite_text(leaving)))
    typo = suite_text(BY_EXISTENCE.replace("  under:", "  undr:"))
    line = line_of(typo, "undr:")
    with pytest.raises(
        ConfigError, match=rf":{line}:\d+: paths.accelerator.undr: unknown key; did"
    ):
        load_suite(write_suite(tmp_path, typo))
    bad_sha = "accelerator:\n  alternatives: [{path: a, since: main}]\n"
    with pytest.raises(ConfigError, match=r"paths.accelerator.alternatives\[0\].since"):
        load_suite(write_suite(tmp_path, suite_text(bad_sha)))


def _suite(tmp_path: Path, paths: str) -> Suite:
    return load_suite(write_suite(tmp_path, suite_text(paths)))


@pytest.mark.parametrize("layout", ["old", "new"])
def test_existence_picks_the_layout_of_the_commit(
    tmp_path: Path, moved: tuple[UpstreamRepo, str, str], layout: str
) -> None:
    repo, old, new = moved
    src = checkout(repo, old if layout == "old" else new, tmp_path / "src")
    suite = _suite(tmp_path, BY_EXISTENCE)
    args, choices = resolve_paths(suite.default_args, suite.paths, src, git_contains(src))
    want = "accelerator" if layout == "old" else "v1/accelerator"
    assert args == f"{want} utils"
    choice = choices["accelerator"]
    assert (choice.path, choice.under) == (want, "tests/unit")
    assert choice.why == f"tests/unit/{want} exists"
    if layout == "old":  # the preferred one was passed over, and the run says why
        assert choice.passed_over == ("v1/accelerator (tests/unit/v1/accelerator does not exist)",)
    else:
        assert choice.passed_over == ()
    assert choice.as_json()["path"] == want


def test_commit_ranges_pick_by_ancestry(
    tmp_path: Path, moved: tuple[UpstreamRepo, str, str]
) -> None:
    repo, old, new = moved
    ranges = f"""\
    accelerator:
      under: tests/unit
      alternatives:
        - {{path: v1/accelerator, since: {new}}}
        - {{path: accelerator, before: {new[:10]}}}
    """
    suite = _suite(tmp_path, ranges)
    at_old = checkout(repo, old, tmp_path / "old")
    _, choices = resolve_paths("{path:accelerator}", suite.paths, at_old, git_contains(at_old))
    assert choices["accelerator"].path == "accelerator"
    assert choices["accelerator"].why == f"tests/unit/accelerator exists, before {new[:10]}"
    assert choices["accelerator"].passed_over == (
        f"v1/accelerator (since {new[:12]}: the tested commit does not contain it)",
    )
    at_new = checkout(repo, new, tmp_path / "new")
    _, choices = resolve_paths("{path:accelerator}", suite.paths, at_new, git_contains(at_new))
    assert choices["accelerator"].path == "v1/accelerator"


def test_no_alternative_is_an_error_naming_all(
    tmp_path: Path, moved: tuple[UpstreamRepo, str, str]
) -> None:
    repo, _old, new = moved
    src = checkout(repo, new, tmp_path / "src")
    gone = BY_EXISTENCE.replace("[v1/accelerator, accelerator]", "[v2/accelerator, accelerator]")
    suite = _suite(tmp_path, gone)
    with pytest.raises(PathChoiceError) as err:
        resolve_paths(suite.default_args, suite.paths, src, git_contains(src))
    assert str(err.value).startswith(
        "{path:accelerator}: no alternative is at the tested commit: "
        "v2/accelerator (tests/unit/v2/accelerator does not exist); "
        "accelerator (tests/unit/accelerator does not exist)"
    )
    assert "paths.accelerator.alternatives" in str(err.value)  # the hint: where to add one


def test_a_commit_condition_outside_git_cannot_be_told(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    (plain / "tests" / "unit" / "v1" / "accelerator").mkdir(parents=True)
    suite = _suite(
        tmp_path, "accelerator:\n  under: tests/unit\n  alternatives: [{path: v1/accelerator, "
        "since: 0123456789abcdef}]\n",
    )  # fmt: skip
    with pytest.raises(PathChoiceError, match="cannot tell whether the tested commit contains"):
        resolve_paths("{path:accelerator}", suite.paths, plain, git_contains(plain))


def test_test_args_naming_an_undeclared_path_is_a_config_error(tmp_path: Path) -> None:
    suite = _suite(tmp_path, BY_EXISTENCE)
    with pytest.raises(ConfigError, match=r"'\{path:nope\}' names no entry of 'paths'"):
        resolve_paths("{path:nope}", suite.paths, tmp_path, git_contains(tmp_path))
