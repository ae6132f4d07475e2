"""pytest plugin: write JUnit XML incrementally, one flushed ``<testcase>`` per test.

pytest's own ``--junitxml`` writes the file when the session ends, so a run that dies
(the interpreter is killed, a native crash, an OOM kill) leaves no results at all. This
plugin appends each test case as soon as its teardown finishes; after a crash the file is
cut short, and the harness's parser keeps every complete test case and marks the run
``crashed``. Test ids match pytest's junitxml (``classname`` and ``name`` are derived the
same way), so runs with and without the plugin compare cleanly.

It only observes reports: it changes nothing about how tests run. The harness puts this
directory on ``PYTHONPATH`` for steps; a recipe enables it with
``-p harness_junit_stream --harness-junit={results_dir}/unit.xml``. It depends on nothing
but pytest, so it works in any upstream environment.

An xpassed test (non-strict) is written as a passing case with the attribute
``harness-outcome="xpassed"``, which other JUnit readers ignore.

When pytest-randomly shuffles the tests, the seed it chose is written first, as the test
suite's property ``randomly_seed`` (flushed before any test runs, so a run that dies
keeps it): the harness records it and re-runs failures in the same order
(:mod:`harness.test_order`).
"""

from __future__ import annotations

import os
import re
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import pytest

_ILLEGAL_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness")
    group.addoption(
        "--harness-junit",
        metavar="PATH",
        default=None,
        help="write JUnit XML incrementally (flushed per test) to PATH",
    )


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("harness_junit", None)
    if not path:
        return
    if hasattr(config, "workerinput"):  # pytest-xdist worker: the controller writes the file
        return
    config.pluginmanager.register(StreamWriter(path), "harness-junit-stream")


#: the ``<property>`` of the test suite that holds pytest-randomly's seed
SEED_PROPERTY = "randomly_seed"


def randomly_seed(config: pytest.Config) -> int | None:
    """The seed pytest-randomly orders this session's tests by; ``None`` when it is not
    active (not installed, ``-p no:randomly``) or does not reorder
    (``--randomly-dont-reorganize``)."""
    if not config.pluginmanager.has_plugin("randomly"):
        return None
    if not config.getoption("randomly_reorganize", True):
        return None
    seed = config.getoption("randomly_seed", None)
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def _clean(text: str) -> str:
    return _ILLEGAL_XML.sub("?", text)


def junit_names(nodeid: str) -> tuple[str, str]:
    """pytest junitxml's ``(classname, name)`` for a node id; the harness's test id is
    ``classname::name``."""
    path, bracket, params = nodeid.partition("[")
    parts = path.split("::")
    parts[0] = re.sub(r"\.py$", "", parts[0].replace("/", "."))
    parts[-1] += bracket + params
    return ".".join(parts[:-1]), parts[-1]


class StreamWriter:
    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        self.file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed at session end
        self.file.write('<?xml version="1.0" encoding="utf-8"?>\n<testsuites name="pytest tests">')
        self.file.flush()
        self.pending: dict[str, dict[str, Any]] = {}
        self.opened = False

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # every plugin is configured by now: pytest-randomly has chosen its seed
        self._open(session.config)

    def _open(self, config: pytest.Config | None) -> None:
        if self.opened:
            return
        self.opened = True
        self.file.write('<testsuite name="pytest">\n')
        seed = randomly_seed(config) if config is not None else None
        if seed is not None:
            self.file.write(
                f'<properties><property name="{SEED_PROPERTY}" value="{seed}" /></properties>\n'
            )
        self.file.flush()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        case = self.pending.setdefault(
            report.nodeid, {"time": 0.0, "outcome": "passed", "tag": None, "msg": "", "text": ""}
        )
        case["time"] += getattr(report, "duration", 0.0) or 0.0
        if report.failed:
            if report.when == "call" and hasattr(report, "wasxfail"):  # strict xpass
                _worse(case, "failure", "[XPASS(strict)] " + str(report.wasxfail), "")
            elif report.when == "call":
                _worse(case, "failure", _message(report), report.longreprtext)
            else:  # setup or teardown: an error, worse than any test outcome
                _worse(
                    case,
                    "error",
                    f"failed on {report.when}: {_message(report)}",
                    report.longreprtext,
                )
        elif report.skipped:
            if hasattr(report, "wasxfail"):
                _worse(case, "skipped", str(report.wasxfail), "", kind="pytest.xfail")
            else:
                _worse(case, "skipped", _skip_message(report), "", kind="pytest.skip")
        elif report.passed and report.when == "call" and hasattr(report, "wasxfail"):
            case["outcome"] = "xpassed"
        if report.when == "teardown":
            self._emit(report.nodeid, self.pending.pop(report.nodeid))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.skipped:  # a module-level skip (pytest.skip(allow_module_level=True),
            # pytest.importorskip): one skipped case for the module, as junitxml writes it
            longrepr = report.longrepr
            reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            self._emit(
                report.nodeid,
                {"time": 0.0, "outcome": "skipped", "tag": "skipped", "msg": reason, "text": ""},
            )
        elif report.failed:
            self._emit(
                report.nodeid,
                {
                    "time": 0.0,
                    "outcome": "error",
                    "tag": "error",
                    "msg": "collection failure",
                    "text": str(report.longrepr),
                },
            )

    def _emit(self, nodeid: str, case: dict[str, Any]) -> None:
        self._open(None)
        classname, name = junit_names(nodeid)
        attrs = f"classname={quoteattr(_clean(classname))} name={quoteattr(_clean(name))}"
        attrs += f' time="{case["time"]:.3f}"'
        if case["outcome"] == "xpassed":
            attrs += ' harness-outcome="xpassed"'
        if case["tag"] is None:
            self.file.write(f"<testcase {attrs} />\n")
        else:
            kind = f' type="{case["kind"]}"' if case.get("kind") else ""
            msg = quoteattr(_clean(case["msg"])[:2000])
            body = escape(_clean(case["text"]))
            self.file.write(
                f"<testcase {attrs}><{case['tag']}{kind} message={msg}>{body}</{case['tag']}>"
                "</testcase>\n"
            )
        self.file.flush()

    def pytest_sessionfinish(self) -> None:
        self._open(None)
        for nodeid, case in list(self.pending.items()):  # interrupted mid-test
            self._emit(nodeid, case)
        self.pending.clear()
        self.file.write("</testsuite></testsuites>\n")
        self.file.close()


_RANK = {None: 0, "skipped": 1, "failure": 2, "error": 3}


def _worse(case: dict[str, Any], tag: str, msg: str, text: str, kind: str | None = None) -> None:
    """Keep the worst problem of a test's phases (error > failure > skipped), like pytest's
    own JUnit read by the harness; an earlier message is kept below the new one."""
    if _RANK[tag] < _RANK[case["tag"]]:
        return
    if case["tag"] is not None and case["msg"]:
        text = f"{text}\n\n(earlier: {case['msg']})".strip()
    case.update(tag=tag, msg=msg, text=text, kind=kind)


def _message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message)
    return str(report.longrepr).strip().splitlines()[-1] if report.longrepr else ""


def _skip_message(report: pytest.TestReport) -> str:
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2])
    return str(report.longrepr or "")
