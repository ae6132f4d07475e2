"""``xmlstream._RunCap``: long runs of bytes between two ``<`` are cut to their head and
tail, whatever the chunking; short ones go through unchanged; a cut never drops a quote
or a ``>`` (the end of an attribute value, a tag, a CDATA section or a comment) and never
splits a UTF-8 character or a character reference. And the files a byte cut once broke
(a CDATA section or a message attribute longer than the cap) parse to the right results."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.results.xmlstream import _CUT_MARK, _RunCap


def capped(data: bytes, limit: int, sizes: list[int]) -> bytes:
    cap, out, i = _RunCap(limit), bytearray(), 0
    for k in sizes * (len(data) + 1):
        if i >= len(data):
            break
        out += cap.feed(data[i : i + k])
        i += k
    return bytes(out + cap.finish())


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(
        st.lists(
            st.sampled_from([b"a", b"b", b"&", b";", b"\xc3\xa9", b'"', b">", b"'"]), max_size=300
        ).map(b"".join),
        min_size=1,
        max_size=8,
    ),
    limit=st.sampled_from([16, 32, 64]),
    sizes=st.lists(st.integers(1, 9), min_size=1, max_size=5),
)
def test_short_runs_pass_and_long_ones_keep_head_and_tail(
    parts: list[bytes], limit: int, sizes: list[int]
) -> None:
    parts = [p.replace(b"<", b"") for p in parts]
    outs = capped(b"<".join(parts), limit, sizes).split(b"<")
    assert len(outs) == len(parts)
    for part, out in zip(parts, outs, strict=True):
        if len(part) <= limit or out == part:
            assert out == part
            continue
        head, tail = out.split(_CUT_MARK)
        assert part.startswith(head)
        assert part.endswith(tail)
        # whatever is dropped is plain content: every quote and > is still there
        assert re.sub(rb"[^\"'>]", b"", part) == re.sub(rb"[^\"'>]", b"", out)


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(["é", "a", "&amp;", "&#x41;", "中"]), max_size=200),
    limit=st.sampled_from([16, 32, 64, 128]),
    sizes=st.lists(st.integers(1, 9), min_size=1, max_size=5),
)
def test_a_cut_keeps_text_and_references_whole(
    pieces: list[str], limit: int, sizes: list[int]
) -> None:
    text = "".join(pieces)
    out = capped(f"<x a='{text}'>{text}</x>".encode(), limit, sizes).decode("utf-8")
    body = out.replace(_CUT_MARK.decode(), "")
    assert not re.search(r"&(?!amp;|#x41;)", body)
    rest = re.sub(r"&amp;|&#x41;", "", body)
    assert "amp;" not in rest
    assert "#x41;" not in rest


def test_cdata_and_long_message_attributes_parse_whole(tmp_path: Path) -> None:
    """A 400 KB CDATA section holding ``<`` and a 400 KB failure message: the first cut
    dropped a ``]]>`` (hiding the next case) or a closing quote (losing every case)."""
    from harness.results import parse
    from harness.results.model import Outcome

    big = "x" * 200_000
    path = tmp_path / "r.xml"
    path.write_text(
        '<?xml version="1.0"?><testsuite name="s">'
        f'<testcase classname="c" name="t1"><system-out><![CDATA[vector<int> {big} ]]> {big}'
        "</system-out></testcase>"
        f'<testcase classname="c" name="t2"><failure message="assert {big}">assert {big}'
        "</failure></testcase>"
        f'<testcase classname="c" name="t3" p1="{big}" classname2="REAL" p2="{big}"/>'
        "<!-- " + big + " --> " + "</testsuite>"
    )
    stream = parse(path, "junit")
    results = {r.test_id: r.outcome for r in stream}
    assert results == {"c::t1": Outcome.PASSED, "c::t2": Outcome.FAILED, "c::t3": Outcome.PASSED}
    assert not stream.report.crashed, stream.report.crash_reason


def test_a_run_that_cannot_be_cut_stops_at_the_hard_limit(tmp_path: Path) -> None:
    from harness.results import parse
    from harness.results.xmlstream import HARD_RUN_BYTES

    path = tmp_path / "r.xml"
    with path.open("w") as f:
        f.write('<testsuite name="s"><testcase classname="c" name="ok"/><testcase name="')
        for _ in range(HARD_RUN_BYTES // (1 << 20) + 2):
            f.write(">" * (1 << 20))  # legal in an attribute value, never cut
        f.write('"/></testsuite>')
    stream = parse(path, "junit")
    assert [r.test_id for r in stream] == ["c::ok"]
    assert stream.report.crashed
    assert "between two tags" in (stream.report.crash_reason or "")
