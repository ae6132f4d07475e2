"""Collecting a step's result files on the host: regular files matching the pattern, never
through a link; a FIFO or a link where a result file should be is refused with a reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.results.collect import collect_result_files, matches, open_result


@pytest.mark.parametrize(
    ("rel", "pattern", "expected"),
    [
        ("unit.xml", "unit.xml", True),
        ("sub/unit.xml", "unit.xml", False),
        ("backend-ops-CANN0.txt", "backend-ops-CANN*.txt", True),
        ("a/b/c.xml", "**/*.xml", True),
        ("c.xml", "**/*.xml", True),
        ("a/c.xml", "*.xml", False),
        ("a.xml", "[ab].xml", True),
        ("c.xml", "[!ab].xml", True),
    ],
)
def test_patterns(rel: str, pattern: str, expected: bool) -> None:
    assert matches(rel, pattern) is expected


def test_links_and_fifos_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("<testsuite><testcase name='HOSTSECRET'/></testsuite>")
    d = tmp_path / "results"
    d.mkdir()
    (d / "good.xml").write_text("<testsuite/>")
    (d / "unit.xml").symlink_to(secret)
    os.mkfifo(d / "fifo.xml")
    (d / "linked").symlink_to(tmp_path)
    found = collect_result_files(d, "*.xml")
    assert found.files == [d / "good.xml"]
    assert sorted(found.refused) == [
        "fifo.xml: a FIFO, refused",
        f"unit.xml: a symbolic link (to {str(secret)!r}), refused",
    ]
    assert collect_result_files(d, "linked/*.xml").files == []  # never walked into
    assert collect_result_files(d, "linked").refused[0].startswith("linked: a symbolic link")


def test_open_result_refuses_a_link_swapped_in(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("x")
    (tmp_path / "unit.xml").symlink_to(tmp_path / "secret")
    with pytest.raises(OSError, match="Too many levels of symbolic links"):
        open_result(tmp_path / "unit.xml")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(OSError, match="FIFO"):
        open_result(tmp_path / "fifo")  # does not block
