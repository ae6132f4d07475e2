"""Shared streaming machinery for XML result files.

:func:`iter_testcases` reads the file in chunks into an ``lxml`` pull parser
(``etree.XMLPullParser``, the feed parser ``etree.iterparse`` is built on, with
``huge_tree=True``) that reports only the ``end`` of ``<testcase>`` and ``<testsuite>``
elements. Each complete test case is yielded; once the caller asks for the next one it
is cleared and its preceding siblings (earlier cases, a suite's ``<properties>``) are
deleted, and a finished ``<testsuite>`` is released the same way, so memory stays flat
however big the file: only the test case being read is held. The root element is checked
first (parsing stops at its start tag): anything but ``<testsuites>``/``<testsuite>``
marks the report crashed without reading further.

Feeding the chunks ourselves (rather than letting ``iterparse`` read the file) tells the
two kinds of broken file apart exactly: libxml2's push parser only complains about
missing input when it is told the input is over, so

* an error while *feeding* means the bytes present are not well-formed XML
  (``malformed XML``: not XML at all, a mismatched tag, junk after the root), and
* an error at *close* means the document was cut short (``file ends early``), the normal
  state of a result file written by a process that crashed or was killed.

Either way the walk stops, the report is marked crashed with the position and libxml2's
message, and every complete test case seen before the problem has been yielded.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from harness.results.model import ParseReport

ROOT_TAGS = frozenset({"testsuites", "testsuite"})

#: Bytes handed to the parser at a time.
CHUNK_BYTES = 1 << 16

_POSITION_SUFFIX = re.compile(r",? line \d+, column \d+\s*$")
_MAX_REASON_CHARS = 300


def iter_testcases(path: Path, report: ParseReport) -> Iterator[etree._Element]:
    """Yield each complete ``<testcase>`` element; see the module docstring.

    The element is only valid until the next one is requested: it is cleared then.
    """
    try:
        if path.stat().st_size == 0:
            crash(report, path, "empty file")
            return
        root = _root_tag(path)
        if root is not None and root not in ROOT_TAGS:
            crash(report, path, f"root element is <{root}>, expected <testsuites> or <testsuite>")
            return
        with path.open("rb") as f:
            yield from _walk(f, path, report, root_seen=root is not None)
    except OSError as exc:
        crash(report, path, f"cannot read: {exc.strerror or exc}")


def _parser(events: tuple[str, ...], tag: tuple[str, ...] | None) -> etree.XMLPullParser:
    return etree.XMLPullParser(
        events=events,
        tag=tag,
        huge_tree=True,
        resolve_entities=False,
        no_network=True,
        remove_blank_text=True,
        remove_comments=True,
        remove_pis=True,
    )


def _root_tag(path: Path) -> str | None:
    """The root element's tag, read from the start of the file; ``None`` if there is none.

    Parsing stops at the first start tag, so this reads one chunk in practice. A file that
    is not XML gives ``None`` here and its error is reported by the main parse.
    """
    parser = _parser(("start",), None)
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            failed = False
            try:
                parser.feed(chunk)
            except etree.XMLSyntaxError:
                failed = True  # events before the error are still queued
            for _event, elem in parser.read_events():
                tag = elem.tag
                return tag if isinstance(tag, str) else None
            if failed:
                return None
    return None


def _walk(
    f: BinaryIO, path: Path, report: ParseReport, *, root_seen: bool
) -> Iterator[etree._Element]:
    # Only the end of <testcase> (to yield it) and of <testsuite> (to release a finished
    # suite) are reported by lxml: no Python work for the elements in between.
    parser = _parser(("end",), ("testcase", "testsuite"))
    while True:
        chunk = f.read(CHUNK_BYTES)
        error: etree.XMLSyntaxError | None = None
        try:
            if chunk:
                parser.feed(chunk)
            else:
                parser.close()
        except etree.XMLSyntaxError as exc:
            error = exc  # events parsed before the error are still queued: deliver them
        cut_short = error is not None and not chunk
        for _event, elem in parser.read_events():
            if cut_short:
                # told the input is over, libxml2 2.14 ends the elements still open
                # (and reports them) before it raises: cut short, not complete
                continue
            if elem.tag == "testcase":
                yield elem
                release(elem)
            elif elem.getparent() is not None:
                release(elem)  # a finished <testsuite> inside <testsuites>
        if error is not None:
            _syntax_error(report, path, error, at_close=not chunk, root_seen=root_seen)
            return
        if not chunk:
            return


def _syntax_error(
    report: ParseReport,
    path: Path,
    exc: etree.XMLSyntaxError,
    *,
    at_close: bool,
    root_seen: bool,
) -> None:
    line, column = exc.position if exc.position else (0, 0)
    message = _POSITION_SUFFIX.sub("", str(getattr(exc, "msg", None) or exc))
    message = " ".join(message.split())
    if len(message) > _MAX_REASON_CHARS:
        message = message[: _MAX_REASON_CHARS - 1] + "…"
    if not at_close:
        kind = "malformed XML"
    elif root_seen:
        kind = "file ends early"
    else:
        kind = "file ends before the root element"
    crash(report, path, f"{kind} (line {line}, column {column}): {message}")


def release(elem: etree._Element) -> None:
    """Free ``elem``'s content and every node before it in its parent."""
    elem.clear(keep_tail=False)
    parent = elem.getparent()
    if parent is not None:
        while elem.getprevious() is not None:
            del parent[0]


def crash(report: ParseReport, path: Path, reason: str) -> None:
    """Mark the report crashed (the first reason wins)."""
    if report.crashed:
        return
    report.crashed = True
    report.crash_reason = f"{path.name}: {reason}"


def text_of(elem: etree._Element | None) -> str:
    """All text inside ``elem`` (text of children included); "" for ``None``."""
    if elem is None:
        return ""
    return "".join(elem.itertext())


def join_message(head: str | None, body: str | None) -> str:
    """``message`` attribute and element text as one string, without repeating the head.

    googletest writes the same text in both; pytest's body is a traceback that does not
    start with the head, so both are kept, head first.
    """
    head = (head or "").strip()
    body = (body or "").strip()
    if not head:
        return body
    if not body or body.startswith(head):
        return body or head
    return f"{head}\n{body}"


def duration(elem: etree._Element) -> float:
    """The ``time`` attribute in seconds; 0.0 when missing, invalid or negative."""
    try:
        value = float(elem.get("time") or 0)
    except ValueError:
        return 0.0
    return value if math.isfinite(value) and value >= 0 else 0.0
