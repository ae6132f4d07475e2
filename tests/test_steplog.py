"""A step's output: every byte to the log (up to the cap), lines bounded for the tail,
linear whatever the line lengths."""

from __future__ import annotations

import io
from collections import deque

from harness.steplog import MAX_LINE_BYTES, StepLog


def feed_all(out: StepLog, data: bytes, size: int) -> None:
    for i in range(0, len(data), size):
        out.feed(data[i : i + size])
    out.close()


def test_lines_split_across_chunks_reach_the_tail_and_the_display() -> None:
    log, tail, shown = io.BytesIO(), deque[str](maxlen=10), []
    feed_all(StepLog(log, tail, shown.append), b"one\r\ntwo\nthr" + b"ee\nlast", 3)
    assert list(tail) == ["one", "two", "three", "last"]
    assert shown == ["one", "two", "three", "last"]
    assert log.getvalue() == b"one\r\ntwo\nthree\nlast\n"


def test_a_40_mb_line_without_a_newline_is_logged_whole_and_cut_for_the_tail() -> None:
    data = b"x" * (40 << 20)
    log, tail = io.BytesIO(), deque[str](maxlen=10)
    feed_all(StepLog(log, tail), data + b"\ndone\n", 1 << 16)
    assert len(log.getvalue()) == len(data) + len(b"\ndone\n")
    first, last = tail
    assert first.endswith(" […line cut]")
    assert len(first) == MAX_LINE_BYTES + len(" […line cut]")
    assert last == "done"


def test_past_the_cap_the_log_says_where_it_was_cut() -> None:
    log, tail = io.BytesIO(), deque[str](maxlen=10)
    out = StepLog(log, tail, max_log_bytes=100)
    feed_all(out, b"y" * 50 + b"\n" + b"z" * 500 + b"\nend\n", 64)
    text = log.getvalue()
    assert text.startswith(b"y" * 50 + b"\n" + b"z" * 49)
    assert b"\n[harness] log cut at 100 bytes; the step went on" in text
    assert out.cut
    assert list(tail)[-1] == "end"  # the tail and the display still see everything
