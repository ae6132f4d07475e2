"""Result files → normalized :class:`~harness.results.model.TestResult` streams.

One parser per format, selected by the name a recipe gives (``format:`` of a result
file). Parsers stream: ``parse()`` returns an iterable that reads the file as it is
consumed, and its ``report`` tells, once consumed, whether the file was complete.
More formats register with :func:`register_format`, or come from installed packages
through the ``harness.result_formats`` entry-point group, with no change to the harness::

    # a package's pyproject.toml
    [project.entry-points."harness.result_formats"]
    tap = "harness_tap:parse_tap"

The entry point names a parser like the built-ins (see :func:`register_format`); it is
imported when a file of its format is parsed. Built-in and registered formats win over
plugins of the same name.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

from harness.errors import ConfigError, ResultFileError
from harness.plugins import load, plugin_entry_points
from harness.results.backend_ops import OP_FORMATS, make_parser
from harness.results.ctest import parse_ctest_junit
from harness.results.gtest import parse_gtest_xml
from harness.results.junit import parse_pytest_junit
from harness.results.model import (
    MAX_MESSAGE_CHARS,
    MAX_TEST_ID_CHARS,
    OUTCOMES,
    UNSAFE_IN_MESSAGE,
    Outcome,
    ParseReport,
    TestResult,
    clean_test_id,
    truncate_message,
)
from harness.results.opencv_ts import parse_opencv_ts
from harness.results.xmlstream import crash

_FAILING = frozenset({Outcome.FAILED, Outcome.ERROR})

Parser = Callable[[Path, ParseReport], Iterator[TestResult]]
ENTRY_POINT_GROUP = "harness.result_formats"

FORMATS: dict[str, Parser] = {
    "junit": parse_pytest_junit,
    "ctest-junit": parse_ctest_junit,
    "gtest-xml": parse_gtest_xml,
    "opencv-ts": parse_opencv_ts,
    **{fmt: make_parser(fmt) for fmt in OP_FORMATS},
}

__all__ = [
    "ENTRY_POINT_GROUP",
    "FORMATS",
    "OUTCOMES",
    "Outcome",
    "ParseReport",
    "ResultStream",
    "TestResult",
    "format_names",
    "parse",
    "parser_for",
    "register_format",
]


def register_format(name: str, parser: Parser) -> None:
    """Add a parser (e.g. llama.cpp's test-backend-ops output); an existing name is replaced.

    ``parser(path, report)`` must yield :class:`TestResult` objects one at a time and
    record problems with the file in ``report`` (``crashed``/``crash_reason``) rather than
    raise; ``cases`` and ``counts`` are filled in by :class:`ResultStream`.
    """
    if not name or not callable(parser):
        raise ValueError("register_format needs a non-empty name and a callable parser")
    FORMATS[name] = parser


@functools.cache
def _plugin_formats() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in plugin_entry_points(ENTRY_POINT_GROUP)}


def format_names() -> list[str]:
    """Every result format's name: built-in, registered and plugin ones (none imported)."""
    return sorted({*FORMATS, *_plugin_formats()})


@functools.cache
def _load_plugin(name: str) -> Parser:
    ep = _plugin_formats()[name]
    parser = load(ep, "result format")
    if not callable(parser):
        raise ConfigError(
            f"result format plugin '{name}' ({ep.value}) is not a parser "
            "(a callable taking the file's path and its ParseReport)"
        )
    return parser


def parser_for(fmt: str) -> Parser:
    """The parser of format ``fmt``; an unknown format is a :class:`ConfigError`."""
    if fmt in FORMATS:
        return FORMATS[fmt]
    if fmt in _plugin_formats():
        return _load_plugin(fmt)
    known = ", ".join(format_names())
    raise ConfigError(
        f"unknown result format '{fmt}' (known formats: {known})",
        hint=f"more formats come from packages registering the '{ENTRY_POINT_GROUP}' entry point",
    )


class ResultStream:
    """Iterate once over a file's results; ``report`` is complete after the iteration."""

    def __init__(self, path: Path, fmt: str, parser: Parser) -> None:
        self.path = path
        self.format = fmt
        self.report = ParseReport(path=str(path), format=fmt)
        self._parser = parser
        self._used = False

    def __iter__(self) -> Iterator[TestResult]:
        if self._used:
            raise RuntimeError("a ResultStream can be iterated only once")
        self._used = True
        return self._results()

    def _results(self) -> Iterator[TestResult]:
        report = self.report
        counts = report.counts
        for parsed in self._total(self._parser(self.path, report)):
            result, test_id, message = parsed, parsed.test_id, parsed.message
            if len(test_id) > MAX_TEST_ID_CHARS or not test_id.isprintable():
                result = result._replace(test_id=clean_test_id(test_id))
            if message is not None and (
                len(message) > MAX_MESSAGE_CHARS or UNSAFE_IN_MESSAGE.search(message)
            ):
                result = result._replace(message=truncate_message(message))
            # Outcome is a StrEnum: the member finds the "passed"... key directly
            counts[result.outcome] = counts.get(result.outcome, 0) + 1
            report.cases += 1
            if result.outcome in _FAILING:
                report.note_failing(result.test_id)
            yield result

    def _total(self, results: Iterator[TestResult]) -> Iterator[TestResult]:
        """``results`` until the parser fails, whatever it raises: the results so far are
        kept and the file is marked crashed with the reason (a parser is total)."""
        while True:
            try:
                result = next(results)
            except StopIteration:
                return
            except Exception as exc:  # a bug or an input nobody foresaw: never a traceback
                first = (str(exc).splitlines() or [""])[0][:200]
                crash(
                    self.report,
                    self.path,
                    f"the {self.format} parser stopped after {self.report.cases} result(s): "
                    f"{type(exc).__name__}: {first}".rstrip(": "),
                )
                return
            yield result


def parse(path: Path, fmt: str) -> ResultStream:
    """Stream the results in ``path``, written in format ``fmt`` (see :func:`format_names`).

    Raises :class:`~harness.errors.ConfigError` for an unknown format and
    :class:`~harness.errors.ResultFileError` when the file does not exist. A file that is
    empty, cut short or malformed does not raise: the results before the problem are
    yielded and ``report.crashed`` is set once the iteration ends.
    """
    parser = parser_for(fmt)
    path = Path(path)
    if not path.exists():
        raise ResultFileError(f"result file {path} does not exist")
    if not path.is_file():
        raise ResultFileError(f"result file {path} is not a regular file")
    return ResultStream(path, fmt, parser)
