"""HARNESS_MIRRORS / HARNESS_MIRRORS_FILE: URL rewrites by prefix, git's insteadOf rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.source.mirrors import git_options, mirrors, rewrite


def test_the_longest_prefix_rewrites() -> None:
    env = {
        "HARNESS_MIRRORS": "https://github.com/=https://git.example.cn/gh/,"
        " https://github.com/opencv/=https://cv.example.cn/\ngit@github.com:=https://git.example.cn/gh/"
    }
    assert rewrite("https://github.com/comfyanonymous/ComfyUI.git", env) == (
        "https://git.example.cn/gh/comfyanonymous/ComfyUI.git"
    )
    assert rewrite("https://github.com/opencv/opencv_contrib.git", env) == (
        "https://cv.example.cn/opencv_contrib.git"
    )
    assert rewrite("git@github.com:org/x.git", env) == "https://git.example.cn/gh/org/x.git"
    assert rewrite("https://gitee.com/x/y.git", env) == "https://gitee.com/x/y.git"
    assert git_options(env)[:2] == [
        "-c", "url.https://git.example.cn/gh/.insteadOf=git@github.com:"
    ]  # fmt: skip


def test_a_file_and_the_variable_both_apply(tmp_path: Path) -> None:
    file = tmp_path / "mirrors.yaml"
    file.write_text(
        "mirrors:\n  https://github.com/: https://a.example/\n  https://x.org/: https://b/\n"
    )
    env = {"HARNESS_MIRRORS_FILE": str(file), "HARNESS_MIRRORS": "https://x.org/=https://c/"}
    assert {m.prefix: m.use for m in mirrors(env)} == {
        "https://github.com/": "https://a.example/",
        "https://x.org/": "https://c/",  # the variable wins
    }


@pytest.mark.parametrize("value", ["https://github.com/", "=https://x/", "a=b=c"])
def test_a_malformed_pair_is_a_configuration_error(value: str) -> None:
    with pytest.raises(ConfigError, match="is not PREFIX=REPLACEMENT"):
        mirrors({"HARNESS_MIRRORS": value})


def test_a_malformed_file_names_file_and_line(tmp_path: Path) -> None:
    file = tmp_path / "mirrors.yaml"
    file.write_text("mirrors:\n  https://github.com/: https://a/\nmirror: {}\n")
    with pytest.raises(ConfigError) as info:
        mirrors({"HARNESS_MIRRORS_FILE": str(file)})
    assert f"{file}:3" in str(info.value)
