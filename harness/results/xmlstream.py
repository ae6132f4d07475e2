"""Shared streaming machinery for XML result files.

:func:`iter_testcases` reads the file in chunks into an ``lxml`` pull parser
(``etree.XMLPullParser``, the feed parser ``etree.iterparse`` is built on, with
libxml2's default limits: no text or attribute over 10 MB, nesting at most 256 deep) that
reports only the ``end`` of ``<testcase>`` and ``<testsuite>``
elements. Each complete test case is yielded; once the caller asks for the next one it
is cleared and its preceding siblings (earlier cases, a suite's ``<properties>``) are
deleted, and a finished ``<testsuite>`` is released the same way, so memory stays flat
however big the file: only the test case being read is held. The root element is checked
first (parsing stops at its start tag): anything but ``<testsuites>``/``<testsuite>``
marks the report crashed without reading further. What one node may hold is bounded
before the parser sees it: a run of bytes between two ``<`` (an attribute, a text) over
256 KB is cut to its head and tail when what it drops is plain content, else passed on
whole up to 16 MB and then the parse stops there, ``crashed`` (:class:`_RunCap`). The open
elements keep :data:`KEEP_CHILDREN` finished children each, down the path of elements
still open (:func:`_trim_open`), so neither a case with a million ``<failure>`` children
nor a suite of stray elements is held whole.

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
#: the longest run of bytes between two ``<`` (text, or a tag with its attributes) passed
#: on whole; a longer one whose middle is plain content keeps half of this at each end
MAX_RUN_BYTES = 256 << 10
#: a longer run than this whose middle is not plain content stops the parse (crashed)
HARD_RUN_BYTES = 16 << 20
_CUT_MARK = "[…]".encode()
#: bytes a cut must never drop: they end an attribute value, a tag, a CDATA section or a
#: comment (``]]>``, ``-->``)
_STRUCTURE = re.compile(rb"[\"'>]")
_REF_TAIL = re.compile(rb"&#?[A-Za-z0-9]*$")
_REF_HEAD = re.compile(rb"^[#A-Za-z0-9]*;")


class RunTooLong(Exception):
    """A run of more than :data:`HARD_RUN_BYTES` between two ``<`` that cannot be cut."""


class _RunCap:
    """Cuts a run of bytes without ``<`` longer than :data:`MAX_RUN_BYTES` to its first
    and last halves joined by ``[…]`` (a 100 MB attribute or text is never held), as the
    file streams, but only when what it drops is plain content: no quote, no ``>`` (so
    an attribute value, a tag, a CDATA section or a comment always keeps its end) and
    never half a UTF-8 character or a ``&…;`` reference. A run that cannot be cut goes
    on whole up to :data:`HARD_RUN_BYTES`, then :class:`RunTooLong`."""

    def __init__(self, limit: int = MAX_RUN_BYTES) -> None:
        self.half = limit // 2
        self.keep = self.half + 16  # a little more, so that a run just over is not cut
        self._reset()

    def _reset(self) -> None:
        self.run = 0  # bytes of the current run seen
        self.head: bytearray | None = bytearray()  # the run while it is short; None once out
        self.emitted = 0  # bytes of the run passed on
        self.tail = b""  # the last bytes of the run not passed on
        self.whole = False  # the run cannot be cut: it goes on as it comes

    def feed(self, chunk: bytes) -> bytes:
        out = bytearray()
        start = 0
        while start < len(chunk):
            lt = chunk.find(b"<", start)
            end = len(chunk) if lt < 0 else lt
            self._add(chunk[start:end], out)
            if lt < 0:
                break
            self._close(out)
            out += b"<"
            start = lt + 1
        return bytes(out)

    def finish(self) -> bytes:
        out = bytearray()
        self._close(out)
        return bytes(out)

    def _add(self, data: bytes, out: bytearray) -> None:
        self.run += len(data)
        if self.whole:
            if self.run > HARD_RUN_BYTES:
                raise RunTooLong(f"more than {HARD_RUN_BYTES >> 20} MB between two tags")
            out += data
            self.emitted += len(data)
            return
        if self.head is not None:
            self.head += data
            if len(self.head) <= self.keep:
                return
            head = _clean_end(bytes(self.head[: self.half]))  # never mid-character/reference
            out += head
            self.emitted = len(head)
            rest, self.head = bytes(self.head[len(head) :]), None
        else:
            rest = self.tail + data
        dropped = rest[: -self.keep]
        if _STRUCTURE.search(dropped):  # not plain content: the run goes on whole
            if self.run - len(data) - self.emitted > len(self.tail):  # some was cut before
                rest = _CUT_MARK + rest[_clean_start(rest) :]
            out += rest
            self.emitted = self.run
            self.tail, self.whole = b"", True
            return
        self.tail = rest[-self.keep :]

    def _close(self, out: bytearray) -> None:
        if self.head is not None:
            out += self.head  # a short run goes on whole
        elif (missing := self.run - self.emitted) <= len(self.tail):
            out += self.tail[-missing:]  # just over, or whole: nothing cut
        else:
            tail = self.tail[-self.half :]
            start = _clean_start(tail)
            if _STRUCTURE.search(self.tail[: len(self.tail) - len(tail) + start]):
                # never drop the end of a value or a section: only what fell out before
                out += _CUT_MARK + self.tail[_clean_start(self.tail) :]
            else:
                out += _CUT_MARK + tail[start:]
        self._reset()


def _clean_end(head: bytes) -> bytes:
    while head and 0x80 <= head[-1] < 0xC0:  # a continuation byte: drop the character
        head = head[:-1]
    if head and head[-1] >= 0xC0:
        head = head[:-1]
    ref = _REF_TAIL.search(head[-12:])  # a reference cut before its ';'
    return head[: len(head) - (len(head[-12:]) - ref.start())] if ref else head


def _clean_start(tail: bytes) -> int:
    """How many bytes of ``tail`` to drop so that it starts on a character and not
    inside a ``&…;`` reference."""
    i = 0
    while i < len(tail) and 0x80 <= tail[i] < 0xC0:
        i += 1
    ref = _REF_HEAD.match(tail, i)
    if ref and ref.end() - i <= 12 and b"&" not in tail[i : ref.end()]:
        i = ref.end()
    return i


#: children an open <testcase> or <testsuite> keeps while the file streams (a case with a
#: million <failure> children, a suite of a million stray elements); the first of each
#: outcome-deciding tag is kept whatever its position
KEEP_CHILDREN = 200
_DECIDING = frozenset({"failure", "error", "skipped"})

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
        huge_tree=False,
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
    # Only <testcase> and <testsuite(s)> are reported by lxml: their end to yield a case
    # or release a finished suite, their start to keep the open ones bounded (_trim); no
    # Python work for the elements in between.
    parser = _parser(("start", "end"), ("testcase", "testsuite", "testsuites"))
    opened: list[etree._Element] = []
    cap = _RunCap()
    drained = False  # the file is read and the cap's last run fed: close next
    while True:
        raw = b"" if drained else f.read(CHUNK_BYTES)
        error: etree.XMLSyntaxError | None = None
        closing = drained
        try:
            if closing:
                parser.close()
            else:
                data = cap.feed(raw) if raw else cap.finish()
                drained = not raw
                if data:
                    parser.feed(data)
        except etree.XMLSyntaxError as exc:
            error = exc  # events parsed before the error are still queued: deliver them
        except RunTooLong as exc:
            for event, elem in parser.read_events():  # what came before it
                if event == "end" and elem.tag == "testcase":
                    yield elem
                    release(elem)
            crash(report, path, f"{exc} (a hostile file?): stopped there")
            return
        cut_short = error is not None and closing
        for event, elem in parser.read_events():
            if cut_short:
                # told the input is over, libxml2 2.14 ends the elements still open
                # (and reports them) before it raises: cut short, not complete
                continue
            if event == "start":
                opened.append(elem)
                continue
            if opened:
                opened.pop()
            if elem.tag == "testcase":
                yield elem
                release(elem)
            elif elem.getparent() is not None:
                release(elem)  # a finished <testsuite> inside <testsuites>
        if error is not None:
            _syntax_error(report, path, error, at_close=closing, root_seen=root_seen)
            return
        if closing:
            return
        for elem in opened:
            _trim_open(elem)


def _trim_open(elem: etree._Element) -> None:
    """:func:`_trim` ``elem`` and each last child below it (the elements still open:
    ``<system-out>`` of an open case, ``<properties>`` of an open suite...)."""
    node: etree._Element | None = elem
    while node is not None and len(node):
        if len(node) > 2 * KEEP_CHILDREN:
            _trim(node)
        node = node[-1]


def _trim(elem: etree._Element) -> None:
    """Drop the finished children of the open ``elem`` past the first
    :data:`KEEP_CHILDREN` (and past the first of each tag that decides an outcome); the
    last child may still be parsing, and test cases and suites are released by their own
    end events."""
    seen: set[str] = set()
    drop = []
    for i, child in enumerate(elem[:-1]):
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag in ("testcase", "testsuite"):
            continue
        if i < KEEP_CHILDREN or (tag in _DECIDING and tag not in seen):
            seen.add(tag)
            continue
        drop.append(child)
    for child in drop:
        elem.remove(child)


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
