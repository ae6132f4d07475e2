"""Quarantine files: parsing with positions, the errors a reviewer sees, matching, expiry,
and the lists exported for upstream tools."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.verdict.categories import QuarantineRule
from harness.verdict.export import export, gtest_filter, pytest_deselect
from harness.verdict.quarantine import (
    Matcher,
    glob_match,
    load_quarantine,
    rules_for_backend,
    split_expired,
)

GOOD = """\
# reviewed like suite files
quarantine:
  - backend: npu
    test: "tests.test_ops::test_conv[*]"
    reason: aclnnConvolution NaN for stride 3
    link: https://github.com/Ascend/pytorch/issues/1234
    expires: 2026-06-30
  - backend: "*"
    test: tests.test_io::test_download
    reason: needs the network
    link: https://github.com/example/demo/issues/7
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "demo.yaml"
    path.write_text(text)
    return path


def test_entries_know_their_line_and_backend(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    entries = load_quarantine(path)
    assert [e.source for e in entries] == [f"{path}:3", f"{path}:8"]
    npu = rules_for_backend(entries, "npu")
    assert [r.tests for r in npu] == [
        ("tests.test_ops::test_conv[*]",),
        ("tests.test_io::test_download",),
    ]
    assert [r.tests for r in rules_for_backend(entries, "cpu")] == [
        ("tests.test_io::test_download",)
    ]
    active, expired = split_expired(npu, date(2026, 7, 1))
    assert [r.tests[0] for r in expired] == ["tests.test_ops::test_conv[*]"]
    assert len(active) == 1
    assert split_expired(npu, date(2026, 6, 30))[1] == []  # the expiry day still applies


def test_missing_and_blank_files_have_no_entries(tmp_path: Path) -> None:
    assert load_quarantine(tmp_path / "absent.yaml") == []
    assert load_quarantine(write(tmp_path, "# nothing yet\n\n")) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace("    link: https://github.com/example/demo/issues/7\n", ""), ":8"),
        (GOOD.replace("reason: needs", "reasn: needs"), "reasn"),
        (GOOD.replace("https://github.com/example/demo/issues/7", "issue 7"), "not an http(s) URL"),
        (GOOD.replace("2026-06-30", "someday"), "expires"),
        (
            GOOD.replace('backend: "*"', "backend: npu").replace(
                "tests.test_io::test_download", '"tests.test_ops::test_conv[*]"'
            ),
            "already quarantined",
        ),
        ("- just a list\n", "a mapping"),
    ],
)
def test_bad_files_name_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_quarantine(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_globs_treat_brackets_literally() -> None:
    assert glob_match("a::t[*]", "a::t[1-2]")
    assert not glob_match("a::t[12]", "a::t1")
    assert glob_match("a::t?", "a::t1")
    assert glob_match("tests.*", "tests.x.TestA::t[a::b]")


def rule(*tests: str) -> QuarantineRule:
    return QuarantineRule(tests, "r", "https://x.invalid/1", "q:1")


def test_matcher_returns_the_first_matching_rule() -> None:
    first, second = rule("a::*"), rule("a::b", "c::*")
    m = Matcher([first, second])
    assert m.match("a::b") is first
    assert m.match("c::d") is second
    assert m.match("e::f") is None
    assert not Matcher([])


KNOWN = [
    "tests.test_ops::test_conv[1]",
    "tests.test_ops::test_conv[2]",
    "tests.test_ops.TestPool::test_max",
    "tests.test_io::test_read",
]


def test_pytest_deselect_uses_node_ids_and_prefixes() -> None:
    out = pytest_deselect(
        [rule("tests.test_ops::test_conv[*]", "tests.test_ops.TestPool::*"),
         rule("tests.test_io::test_re?d", "tests.gone::test_x", "nothing.matches?")],
        KNOWN,
    )  # fmt: skip
    assert out.text.splitlines() == [
        # "[*]" is no node-id prefix: expanded over the known ids
        "--deselect=tests/test_ops.py::test_conv[1]",
        "--deselect=tests/test_ops.py::test_conv[2]",
        "--deselect=tests/test_ops.py::TestPool::",
        "--deselect=tests/test_io.py::test_read",
        "--deselect=tests/gone.py::test_x",
    ]
    assert out.unexpressed == ["nothing.matches?"]


def test_gtest_filter_is_one_negative_pattern() -> None:
    known = ["Conv.Stride3", "Conv.Stride1", "Pool/Max.Big/0"]
    out = gtest_filter([rule("Conv.Stride3", "Pool/*"), rule("Odd-Name.*")], known)
    assert out.text == "-Conv.Stride3:Pool/*\n"
    assert out.unexpressed == ["Odd-Name.*"]
    assert export([], known, "gtest-filter").text == ""
    with pytest.raises(ValueError, match="unknown export format"):
        export([], known, "tap")
