"""``harness run --stack`` and ``harness bisect-stack`` with real runs.

A fixture upstream whose tests import two local "torch"-like packages, ``fakelib`` and
``otherlib``, installed from a wheel folder holding several versions of each: fakelib
1.2 breaks ``test_feature``; otherlib's versions all work. Two runs at the same commit
with different stacks, then the stack bisection names the component and version.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.store import Store
from tests.cli.conftest import Result
from tests.gitrepos import UpstreamRepo
from tests.simple_index import build_wheel

TESTS = """\
import fakelib
import otherlib


def test_feature():
    assert fakelib.feature() == 42


def test_other():
    assert otherlib.VALUE == "ok"
"""

GOOD_FEATURE = "def feature():\n    return 42\n"
BROKEN_FEATURE = "def feature():\n    return 0\n"
#: passes on every third call only, counted in a file the suite names: flaky, not broken
FLAKY_FEATURE = """\
import os, pathlib
def feature():
    counter = pathlib.Path(os.environ["FAKELIB_COUNTER"])
    n = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(n + 1))
    return 42 if n % 3 == 2 else 0
"""


def stack_wheels(dest: Path, pytest_wheels: Path, *, flaky: bool = False) -> Path:
    """pytest's wheels plus fakelib 1.0-1.3 (1.2 on broken; ``flaky``: 1.3 flaky, the
    others good) and otherlib 2.0, 2.1."""
    dest.mkdir(parents=True, exist_ok=True)
    for whl in pytest_wheels.glob("*.whl"):
        shutil.copy(whl, dest)
    for version in ("1.0", "1.1", "1.2", "1.3"):
        body = BROKEN_FEATURE if version >= "1.2" else GOOD_FEATURE
        if flaky:
            body = FLAKY_FEATURE if version == "1.3" else GOOD_FEATURE
        build_wheel(dest, "fakelib", version, body)
    for version in ("2.0", "2.1"):
        build_wheel(dest, "otherlib", version, 'VALUE = "ok"\n')
    return dest


def stack_suite(url: str, wheels: Path, counter: Path) -> str:
    return textwrap.dedent(
        f"""\
        name: stk
        upstream:
          repo: example/stk
          url: {url}
          default_branch: main
        env:
          PIP_NO_INDEX: "1"
          PIP_FIND_LINKS: {wheels}
          FAKELIB_COUNTER: {counter}
        env_pinned: [PIP_NO_INDEX, PIP_FIND_LINKS, FAKELIB_COUNTER]
        default_args: tests
        stack:
          fakelib:
            variable: HARNESS_FAKELIB_PACKAGES
            default: fakelib
            versions:
              wheels: {wheels}
          otherlib:
            variable: HARNESS_OTHERLIB_PACKAGES
            default: otherlib
            versions:
              wheels: {wheels}
        backends:
          cpu:
            setup:
              - name: deps
                run: >-
                  {{pip}} install -q pytest ${{HARNESS_FAKELIB_PACKAGES:-fakelib}}
                  ${{HARNESS_OTHERLIB_PACKAGES:-otherlib}}
                timeout: 5m
            test:
              - name: unit
                run: python -m pytest -q --junitxml={{results_dir}}/unit.xml {{args}}
                timeout: 2m
                results:
                  - path: unit.xml
                    format: junit
        """
    )


def make_stack_upstream(tmp_path: Path, suites_dir: Path, wheels: Path, flaky: bool) -> None:
    repo = UpstreamRepo(tmp_path / "stk-upstream", name="stk")
    repo.commit({"tests/test_stack.py": TESTS}, message="tests using fakelib and otherlib")
    folder = stack_wheels(tmp_path / "stack-wheels", wheels, flaky=flaky)
    (suites_dir / "stk.yaml").write_text(stack_suite(repo.url, folder, tmp_path / "counter"))


@pytest.fixture
def stack_setup(tmp_path: Path, suites_dir: Path, wheels: Path) -> None:
    make_stack_upstream(tmp_path, suites_dir, wheels, flaky=False)


@pytest.fixture
def flaky_stack_setup(tmp_path: Path, suites_dir: Path, wheels: Path) -> None:
    make_stack_upstream(tmp_path, suites_dir, wheels, flaky=True)


def run_with(harness: Callable[..., Result], *pins: str) -> int:
    args = [a for pin in pins for a in ("--stack", pin)]
    res = harness("run", "stk/cpu", *args, "--json")
    assert res.code in (0, 1), res.err[-3000:]
    return int(res.json()["runs"][0]["run_id"])


def fingerprint(db_url: str, run_id: int) -> dict[str, object]:
    store = Store.open(db_url)
    try:
        env_id = store.get_run(run_id).environment_id
        assert env_id is not None
        return store.get_environment(env_id)
    finally:
        store.close()


def test_pins_are_installed_recorded_and_key_the_environment(
    stack_setup: None, harness: Callable[..., Result], db_url: str
) -> None:
    old = run_with(harness, "fakelib=1.0")
    new = run_with(harness, "fakelib=1.3")
    fp_old, fp_new = fingerprint(db_url, old), fingerprint(db_url, new)
    assert fp_old["stack"] == {"fakelib": "1.0"}
    assert fp_new["stack"] == {"fakelib": "1.3"}
    # a pin is its own environment: 1.3 was installed, not the 1.0 environment reused
    assert fp_old["python"]["packages"]["fakelib"] == "1.0"  # type: ignore[index]
    assert fp_new["python"]["packages"]["fakelib"] == "1.3"  # type: ignore[index]
    store = Store.open(db_url)
    try:
        assert store.get_run(old).status == "passed"
        assert store.get_run(new).status == "failed"
    finally:
        store.close()


def test_unknown_component_is_refused(stack_setup: None, harness: Callable[..., Result]) -> None:
    res = harness("run", "stk/cpu", "--stack", "torch=2.9.1")
    assert res.code == 2
    assert "declares no stack component 'torch'" in res.err


def test_bisect_stack_names_the_component_and_version(
    stack_setup: None, harness: Callable[..., Result], db_url: str
) -> None:
    # two components changed between the runs; only fakelib matters
    good = run_with(harness, "fakelib=1.0", "otherlib=2.0")
    bad = run_with(harness, "fakelib=1.3", "otherlib=2.1")
    res = harness("bisect-stack", "stk/cpu/host", "--good", str(good), "--bad", str(bad), "--json")
    assert res.code == 0, res.err[-3000:]
    doc = res.json()
    assert doc["outcome"] == "found"
    assert (doc["component"], doc["version"]) == ("fakelib", "1.2")
    (test_id,) = doc["tests"]
    assert test_id.endswith("test_feature")
    assert {c["component"]: (c["good"], c["bad"]) for c in doc["changes"]} == {
        "fakelib": ("1.0", "1.3"),
        "otherlib": ("2.0", "2.1"),
    }
    tried = [(p["component"], p["version"], p["verdict"]) for p in doc["probes"]]
    # each changed component alone on the good stack: fakelib 1.3 breaks it, otherlib 2.1
    # does not; then fakelib's versions after 1.0 up to 1.3 are bisected: 1.1 good, 1.2 bad
    assert tried == [
        ("fakelib", "1.3", "bad"),
        ("otherlib", "2.1", "good"),
        ("fakelib", "1.1", "good"),
        ("fakelib", "1.2", "bad"),
    ]
    # every probe is a real run of the cell, pinned as it says, recorded with its outcome
    for probe in doc["probes"]:
        (run_id,) = probe["runs"]
        fp = fingerprint(db_url, run_id)
        assert fp["stack"] == probe["pins"]
        assert fp["python"]["packages"]["fakelib"] == probe["pins"]["fakelib"]  # type: ignore[index]


def test_bisect_stack_calls_a_flaky_test_flaky(
    flaky_stack_setup: None, harness: Callable[..., Result]
) -> None:
    good = run_with(harness, "fakelib=1.0")
    bad = run_with(harness, "fakelib=1.3")  # the first call fails
    res = harness("bisect-stack", "stk/cpu/host", "--good", str(good), "--bad", str(bad), "--json")
    assert res.code == 1, res.err[-3000:]
    doc = res.json()
    assert doc["outcome"] == "flaky"
    assert doc["component"] == "fakelib"
    assert doc["reason"].startswith("flaky, not a regression")
    # one probe: fakelib 1.3 failed, then passed when the harness re-ran it
    ((probe),) = doc["probes"]
    assert (probe["version"], probe["verdict"]) == ("1.3", "flaky")
    assert "then passed on a rerun" in probe["detail"]
