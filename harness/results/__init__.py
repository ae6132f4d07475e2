"""Result files → normalized :class:`~harness.results.model.TestResult` streams.

One parser per format, selected by the name a recipe gives (``format:`` of a result
file). Parsers stream: ``parse()`` returns an iterable that reads the file as it is
consumed, and its ``report`` tells, once consumed, whether the file was complete.
More formats register with :func:`register_format`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from harness.errors import ConfigError, ResultFileError
from harness.results.ctest import parse_ctest_junit
from harness.results.gtest import parse_gtest_xml
from harness.results.junit import parse_pytest_junit
from harness.results.model import OUTCOMES, Outcome, ParseReport, TestResult

Parser = Callable[[Path, ParseReport], Iterator[TestResult]]

FORMATS: dict[str, Parser] = {
    "junit": parse_pytest_junit,
    "ctest-junit": parse_ctest_junit,
    "gtest-xml": parse_gtest_xml,
}

__all__ = [
    "FORMATS",
    "OUTCOMES",
    "Outcome",
    "ParseReport",
    "ResultStream",
    "TestResult",
    "parse",
    "register_format",
]


def register_format(name: str, parser: Parser) -> None:
    """Add a parser (e.g. from a suite plugin); an existing name is replaced."""
    FORMATS[name] = parser


class ResultStream:
    """Iterate once over a file's results; ``report`` is complete after the iteration."""

    def __init__(self, path: Path, fmt: str, parser: Parser) -> None:
        self.path = path
        self.report = ParseReport(path=str(path), format=fmt)
        self._parser = parser
        self._used = False

    def __iter__(self) -> Iterator[TestResult]:
        if self._used:
            raise RuntimeError("a ResultStream can be iterated only once")
        self._used = True
        counts = self.report.counts
        for result in self._parser(self.path, self.report):
            counts[result.outcome.value] += 1
            self.report.cases += 1
            yield result


def parse(path: Path, fmt: str) -> ResultStream:
    if fmt not in FORMATS:
        raise ConfigError(
            f"unknown result format '{fmt}'", hint=f"known formats: {', '.join(sorted(FORMATS))}"
        )
    if not path.is_file():
        raise ResultFileError(f"result file {path} does not exist")
    return ResultStream(path, fmt, FORMATS[fmt])
