"""The rerun selection: written by the harness into a directory of its own, never through
a link, and never with a line a forged test id smuggled in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.executors.base import Rerun
from harness.executors.selection import prepare_rerun, selection_env


def test_pytest_selection_keeps_the_recipes_addopts(tmp_path: Path) -> None:
    env = prepare_rerun(Rerun(1, "junit", ("a::b", "c::d[1]"), "-x"), tmp_path / "in", "/seen")
    assert env == {
        "HARNESS_SELECT_FILE": "/seen/select.txt",
        "PYTEST_ADDOPTS": "-x -p harness_select",
    }
    assert (tmp_path / "in" / "select.txt").read_text() == "a::b\nc::d[1]\n"


def test_gtest_selection_is_a_filter() -> None:
    env = selection_env("gtest-xml", ["Suite.A", "P/Suite.B/0"], "/x", None)
    assert env == {"GTEST_FILTER": "Suite.A:P/Suite.B/0"}
    with pytest.raises(ValueError, match="cannot be re-run"):
        selection_env("ctest-junit", ["t"], "/x", None)


def test_a_forged_test_id_cannot_add_lines(tmp_path: Path) -> None:
    ids = ("ok::t", "evil::t\nssh-ed25519 AAAA attacker", "tab\tok")
    prepare_rerun(Rerun(1, "junit", ids, None), tmp_path / "in", "/seen")
    assert (tmp_path / "in" / "select.txt").read_text() == "ok::t\n"
    env = selection_env("gtest-xml", list(ids), "/x", None)
    assert env == {"GTEST_FILTER": "ok::t"}


def test_a_planted_link_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "authorized_keys"
    victim.write_text("ssh-ed25519 KEEP\n")
    inputs = tmp_path / "in"
    inputs.symlink_to(tmp_path)  # the directory itself replaced by a link
    prepare_rerun(Rerun(1, "junit", ("a::b",), None), inputs, "/seen")
    assert victim.read_text() == "ssh-ed25519 KEEP\n"
    assert not inputs.is_symlink()
    assert (inputs / "select.txt").read_text() == "a::b\n"
    os.unlink(inputs / "select.txt")
    (inputs / "select.txt").symlink_to(victim)  # a link where the file goes
    prepare_rerun(Rerun(2, "junit", ("c::d",), None), inputs, "/seen")
    assert victim.read_text() == "ssh-ed25519 KEEP\n"
