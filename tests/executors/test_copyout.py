"""Unpacking a container's result directory: only regular files with the expected names,
never a link, device or FIFO, never outside the destination, within a byte budget, in
bounded memory."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.executors.copyout import unpack_results


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = "") -> tuple:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.linkname = link
    return info, data


def archive(*members: tuple, chunk: int = 7) -> Iterator[bytes]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    raw = buf.getvalue()
    for i in range(0, len(raw), chunk):  # the SDK hands out chunks of any size
        yield raw[i : i + chunk]


def test_expected_regular_files_only(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    report = unpack_results(
        archive(
            member("step", tarfile.DIRTYPE),
            member("step/unit.xml", data=b"<testsuite/>"),
            member("step/sub", tarfile.DIRTYPE),
            member("step/sub/more.xml", data=b"<x/>"),
            member("step/notes.txt", data=b"left in the container"),
        ),
        dest,
        ["unit.xml", "sub/*.xml"],
        top="step",
    )
    assert sorted(report.files) == ["sub/more.xml", "unit.xml"]
    assert report.refused == []
    assert report.ignored == 1
    assert (dest / "unit.xml").read_bytes() == b"<testsuite/>"
    assert not (dest / "notes.txt").exists()


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        (member("step/unit.xml", tarfile.SYMTYPE, link="/etc/shadow"), "a symbolic link"),
        (member("step/unit.xml", tarfile.LNKTYPE, link="step/other"), "a hard link"),
        (member("step/unit.xml", tarfile.FIFOTYPE), "a FIFO"),
        (member("step/unit.xml", tarfile.CHRTYPE), "a device"),
    ],
)
def test_links_devices_and_fifos_are_refused(tmp_path: Path, entry: tuple, why: str) -> None:
    report = unpack_results(archive(entry), tmp_path / "out", ["unit.xml"], top="step")
    assert report.files == []
    (refused,) = report.refused
    assert refused.startswith(f"unit.xml: {why}")
    assert refused.endswith("refused")
    assert list((tmp_path / "out").iterdir()) == []


def test_nothing_lands_outside_the_destination(tmp_path: Path) -> None:
    report = unpack_results(
        archive(
            member("step/../../escaped.xml", data=b"x"),
            member("/abs.xml", data=b"x"),
            member("other/unit.xml", data=b"x"),
            member("step/a\nb.xml", data=b"x"),
        ),
        tmp_path / "out",
        ["*.xml", "**/*.xml", "../../*.xml"],
        top="step",
    )
    assert report.files == []
    assert not (tmp_path / "escaped.xml").exists()
    assert [r.split(": ", 1)[1] for r in report.refused] == [
        "a name with '.', '..' or an empty component, refused",
        "a name with control characters, refused",
    ]


def test_a_name_listed_twice_is_written_once(tmp_path: Path) -> None:
    report = unpack_results(
        archive(member("step/unit.xml", data=b"first"), member("step/unit.xml", data=b"second")),
        tmp_path / "out",
        ["unit.xml"],
        top="step",
    )
    assert report.files == ["unit.xml"]
    assert report.refused == ["unit.xml: listed twice in the archive, refused"]
    assert (tmp_path / "out" / "unit.xml").read_bytes() == b"first"


def test_the_byte_budget_cuts_and_refuses(tmp_path: Path) -> None:
    report = unpack_results(
        archive(member("step/a.xml", data=b"x" * 100), member("step/b.xml", data=b"y" * 10)),
        tmp_path / "out",
        ["*.xml"],
        top="step",
        max_bytes=60,
    )
    assert report.files == ["a.xml"]
    assert (tmp_path / "out" / "a.xml").stat().st_size == 60
    assert report.refused[0] == "a.xml: cut at 60 bytes (the 60-byte budget for result files)"
    assert report.refused[1].startswith("b.xml: over the 60-byte budget")


def test_a_truncated_archive_keeps_what_came(tmp_path: Path) -> None:
    members = [member("step/a.xml", data=b"a" * 600), member("step/b.xml", data=b"b" * 900)]
    raw = b"".join(archive(*members))
    a_end = raw.index(b"a" * 600) + 1024  # a.xml's data, padded to 512-byte blocks
    report = unpack_results(iter([raw[:a_end]]), tmp_path / "out", ["*.xml"], top="step")
    assert report.files == ["a.xml"]  # cut between members: what came is kept
    cut = raw.index(b"b" * 900) + 300  # inside b.xml
    report = unpack_results(iter([raw[:cut]]), tmp_path / "out2", ["*.xml"], top="step")
    assert report.files == ["a.xml", "b.xml"]
    assert report.refused[0].startswith("b.xml: the archive ends inside it")
    assert (tmp_path / "out2" / "b.xml").is_file()  # kept: its parser sees it cut short


def test_the_destination_must_be_new(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(FileExistsError):
        unpack_results(archive(), tmp_path / "out", ["*"], top="step")
