"""``xmlstream._RunCap``: long runs of bytes between two ``<`` are cut to their head and
tail, whatever the chunking; short ones go through unchanged; a cut never splits a UTF-8
character or a character reference."""

from __future__ import annotations

import re

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
    parts=st.lists(st.binary(max_size=400), min_size=1, max_size=8),
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
        assert len(out) <= limit + len(_CUT_MARK)


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
