"""Shared streaming machinery for XML result files.

:func:`iter_testcases` walks ``<testcase>`` elements with ``lxml.etree.iterparse``,
clearing each one after use (and its preceding siblings), so memory stays flat however
big the file. When the file ends early or is malformed the walk stops, the report is
marked crashed with the position and lxml's message, and every complete test case seen
before stays valid.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from harness.results.model import ParseReport

ROOT_TAGS = frozenset({"testsuites", "testsuite"})


def iter_testcases(path: Path, report: ParseReport) -> Iterator[etree._Element]:
    """Yield each complete ``<testcase>`` element; see the module docstring."""
    if path.stat().st_size == 0:
        _crash(report, path, "empty file")
        return
    context = etree.iterparse(
        str(path),
        events=("start", "end"),
        huge_tree=True,
        recover=False,
        remove_blank_text=True,
        resolve_entities=False,
        no_network=True,
    )
    root_checked = False
    depth_in_case = 0
    try:
        for event, elem in context:
            if not root_checked:
                root_checked = True
                if elem.tag not in ROOT_TAGS:
                    _crash(
                        report,
                        path,
                        f"root element is <{elem.tag}>, expected <testsuites> or <testsuite>",
                    )
                    return
            if elem.tag == "testcase":
                if event == "start":
                    depth_in_case += 1
                    continue
                depth_in_case -= 1
                yield elem
                _release(elem)
            elif (
                event == "end"
                and depth_in_case == 0
                and elem.tag not in ROOT_TAGS
                and elem.getparent() is not None
            ):
                _release(elem)  # properties, system-out of a suite, ...: not needed
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (0, 0)
        reason = str(exc.msg) if getattr(exc, "msg", None) else str(exc)
        where = f"line {line}, column {column}"
        if (
            "end of data" in reason.lower()
            or "premature end" in reason.lower()
            or ("Extra content" not in reason and _at_eof(path, line))
        ):
            _crash(report, path, f"file ends early ({where}): {reason}")
        else:
            _crash(report, path, f"malformed XML ({where}): {reason}")
    except OSError as exc:
        _crash(report, path, f"cannot read: {exc}")


def _at_eof(path: Path, line: int) -> bool:
    try:
        with path.open("rb") as f:
            lines = sum(1 for _ in f)
    except OSError:
        return False
    return line >= lines


def _release(elem: etree._Element) -> None:
    elem.clear(keep_tail=False)
    parent = elem.getparent()
    if parent is not None:
        while elem.getprevious() is not None:
            del parent[0]


def _crash(report: ParseReport, path: Path, reason: str) -> None:
    report.crashed = True
    report.crash_reason = f"{path.name}: {reason}"


def text_of(elem: etree._Element | None) -> str:
    if elem is None:
        return ""
    return "".join(elem.itertext())
