"""pytest plugin: run only the tests named in a file of harness test ids.

The harness re-runs a step's failed tests with the step's own command and selection, so
collection is exactly the first attempt's; this plugin then deselects every collected
test whose id (``classname::name``, as pytest's junitxml and ``harness_junit_stream``
write it) is not listed in the file that ``HARNESS_SELECT_FILE`` (or ``--harness-select``)
names, one id per line. The harness enables it through ``PYTEST_ADDOPTS=-p harness_select``,
so a recipe needs no change to have its failures re-run.

It depends on nothing but pytest. Listed ids that match no collected test are reported in
the terminal summary (a test that can no longer be collected is not silently dropped).
"""

from __future__ import annotations

import os

import pytest
from harness_junit_stream import junit_names

ENV = "HARNESS_SELECT_FILE"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness")
    group.addoption(
        "--harness-select",
        metavar="PATH",
        default=None,
        help=f"run only the test ids listed in PATH, one per line (default: ${ENV})",
    )


def test_id(nodeid: str) -> str:
    classname, name = junit_names(nodeid)
    return f"{classname}::{name}" if classname else name


def _wanted(config: pytest.Config) -> set[str] | None:
    path = config.getoption("harness_select", None) or os.environ.get(ENV)
    if not path:
        return None
    with open(path, encoding="utf-8") as f:
        return {line.rstrip("\n") for line in f if line.strip()}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    wanted = _wanted(config)
    if wanted is None:
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    found: set[str] = set()
    for item in items:
        tid = test_id(item.nodeid)
        if tid in wanted:
            keep.append(item)
            found.add(tid)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    config.stash[_MISSING] = sorted(wanted - found)


_MISSING = pytest.StashKey[list[str]]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    missing = terminalreporter.config.stash.get(_MISSING, [])
    if missing:
        terminalreporter.write_line(
            f"harness_select: {len(missing)} listed test(s) not collected: "
            + ", ".join(missing[:10])
            + (" …" if len(missing) > 10 else "")
        )
