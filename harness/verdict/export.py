"""Quarantine lists in the forms upstream tools take (pure).

``pytest-deselect``: one ``--deselect=NODEID`` per line, the form pytest reads from an
argument file (``pytest @quarantine.txt``, pytest ≥ 8.2) or ``xargs``. ``gtest-filter``: one
negative filter, ``-A.B:C.*``, for ``--gtest_filter=`` or ``GTEST_FILTER``.

A glob that the tool cannot express itself is expanded over ``known`` (the test ids of the
latest runs); an exact id is exported even when it was not seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from harness.verdict.categories import QuarantineRule
from harness.verdict.quarantine import glob_match
from harness.verdict.testids import pytest_node_id, pytest_node_prefix

FORMATS = ("pytest-deselect", "gtest-filter")


@dataclass(slots=True)
class Export:
    text: str
    #: patterns that matched no known test and the tool cannot take as they are
    unexpressed: list[str] = field(default_factory=list)


def _patterns(rules: Iterable[QuarantineRule]) -> list[str]:
    out: list[str] = []
    for rule in rules:
        out.extend(p for p in rule.tests if p not in out)
    return out


def _expand(pattern: str, known: Sequence[str]) -> list[str]:
    return [t for t in known if glob_match(pattern, t)]


def pytest_deselect(rules: Iterable[QuarantineRule], known: Sequence[str]) -> Export:
    nodes: list[str] = []
    unexpressed: list[str] = []
    for pattern in _patterns(rules):
        if "*" not in pattern and "?" not in pattern:
            found = [pytest_node_id(pattern)]
        elif (prefix := pytest_node_prefix(pattern)) is not None:
            found = [prefix]  # --deselect takes node id prefixes
        else:
            found = [pytest_node_id(t) for t in _expand(pattern, known)]
        kept = [n for n in found if n]
        if not kept:
            unexpressed.append(pattern)
        nodes.extend(n for n in kept if n not in nodes)
    return Export("".join(f"--deselect={n}\n" for n in nodes), unexpressed)


def gtest_filter(rules: Iterable[QuarantineRule], known: Sequence[str]) -> Export:
    parts: list[str] = []
    unexpressed: list[str] = []
    for pattern in _patterns(rules):
        # gtest's own wildcards are * and ?; ':' separates patterns and '-' starts the
        # negative part, so patterns holding them are expanded over the known ids
        if ":" not in pattern and "-" not in pattern:
            found = [pattern]
        else:
            found = [t for t in _expand(pattern, known) if ":" not in t and "-" not in t]
        if not found:
            unexpressed.append(pattern)
        parts.extend(p for p in found if p not in parts)
    return Export(("-" + ":".join(parts) + "\n") if parts else "", unexpressed)


def export(rules: Iterable[QuarantineRule], known: Sequence[str], fmt: str) -> Export:
    if fmt == "pytest-deselect":
        return pytest_deselect(rules, known)
    if fmt == "gtest-filter":
        return gtest_filter(rules, known)
    raise ValueError(f"unknown export format {fmt!r}: one of {', '.join(FORMATS)}")
