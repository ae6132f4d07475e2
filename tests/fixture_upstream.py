"""A fixture upstream project with a real pytest suite, and a suite file that runs it.

The upstream is a real git repository (bare "remote" + PR refs, see tests/gitrepos.py).
Its tests cover what the harness must record faithfully: passes, failures, errors,
skips, xfails, and, selected through subsets, a test that hangs past its timeout and one
that kills the interpreter mid-run.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.gitrepos import UpstreamRepo

CONFTEST = """\
import pytest


@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")
"""

TEST_BASIC = """\
import pytest


def test_pass():
    assert 1 + 1 == 2


@pytest.mark.parametrize("n", [1, 2, 3])
def test_param(n):
    assert n > 0


def test_fail():
    assert "npu" == "cpu", "device mismatch"


def test_error(broken):
    pass


@pytest.mark.skip(reason="not on this backend")
def test_skipped():
    pass


@pytest.mark.xfail(reason="known upstream bug", strict=True)
def test_xfail():
    assert False
"""

TEST_HANG = """\
import time


def test_hangs():
    time.sleep(600)
"""

TEST_CRASH = """\
import os
import signal


def test_before_crash():
    pass


def test_kills_interpreter():
    os.kill(os.getpid(), signal.SIGKILL)
"""

REQUIREMENTS = "pytest\n"

#: Counts of tests/test_basic.py in the order of OUTCOMES.
BASIC_COUNTS = {"passed": 4, "failed": 1, "error": 1, "skipped": 1, "xfailed": 1, "xpassed": 0}


def make_upstream(root: Path) -> UpstreamRepo:
    repo = UpstreamRepo(root, name="demo")
    repo.commit(
        {
            "requirements.txt": REQUIREMENTS,
            "tests/conftest.py": CONFTEST,
            "tests/test_basic.py": TEST_BASIC,
            "tests/test_hang.py": TEST_HANG,
            "tests/test_crash.py": TEST_CRASH,
            "pytest.ini": "[pytest]\naddopts = -p no:cacheprovider\n",
        },
        message="initial suite",
    )
    return repo


def suite_yaml(url: str, *, wheels: Path, test_timeout: str = "2m") -> str:
    """A suite file for the fixture upstream; installs pytest from a local wheel folder."""
    return textwrap.dedent(
        f"""\
        name: demo
        description: fixture upstream used by the harness's own tests
        upstream:
          repo: example/demo
          url: {url}
          default_branch: main
        dependency_files: [requirements.txt]
        env:
          PIP_NO_INDEX: "1"
          PIP_FIND_LINKS: {wheels}
        # the fixture's wheel folder, whatever pip settings the host has
        env_pinned: [PIP_NO_INDEX, PIP_FIND_LINKS]
        default_args: tests/test_basic.py
        backends:
          cpu:
            setup:
              - name: deps
                run: "{{pip}} install -q -r requirements.txt"
                timeout: 5m
            test:
              - name: unit
                run: python -m pytest -q --junitxml={{results_dir}}/unit.xml {{args}}
                timeout: {test_timeout}
                results:
                  - path: unit.xml
                    format: junit
        subsets:
          hang:
            args: tests/test_hang.py
          crash:
            args: tests/test_crash.py
          passing:
            args: tests/test_basic.py -k "pass or param"
        """
    )


def download_wheels(dest: Path) -> Path:
    """pytest and its dependencies as wheels, once per test session."""
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--only-binary=:all:",
            "-d",
            str(dest),
            "pytest",
        ],
        check=True,
    )
    return dest
