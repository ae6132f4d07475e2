"""Golden result files made by really running pytest, ctest and a googletest binary.

Generated once per session into temporary directories; no XML here is written by hand.
A missing tool skips the tests that need it locally and fails them in CI
(``HARNESS_REQUIRE_TOOLS=1``, see :func:`tests.conftest.missing_tool`).
Debian packages: ``cmake`` (ctest ≥ 3.21 for ``--output-junit``), ``g++`` and
``libgtest-dev`` (headers and the static ``libgtest``/``libgtest_main``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import missing_tool

PLUGIN_DIR = Path(__file__).resolve().parents[2] / "harness" / "pytest_plugins"

PYTEST_SUITE = """\
import pytest


@pytest.fixture
def broken():
    raise RuntimeError("setup exploded")


@pytest.fixture
def bad_teardown():
    yield
    raise RuntimeError("teardown exploded")


def test_pass():
    pass


def test_fail():
    assert 1 == 2, "numbers differ"


def test_setup_error(broken):
    pass


def test_teardown_error(bad_teardown):
    pass


def test_fail_and_teardown_error(bad_teardown):
    print("captured before the failure")
    assert 0, "call failed first"


def test_skip_then_teardown_error(bad_teardown):
    pytest.skip("skipped in the call")


@pytest.mark.skip(reason="not on this backend")
def test_skip():
    pass


@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert False


@pytest.mark.xfail(reason="fixed meanwhile", strict=True)
def test_xpass_strict():
    pass


@pytest.mark.xfail(reason="fixed meanwhile")
def test_xpass_loose():
    pass


@pytest.mark.parametrize("p", ["a/b-1.5", "ünï", "x<y>&z", "q\\"uote'"])
def test_param(p):
    pass


def test_unicode_message():
    assert "ß" == "ss", "straße ≠ strasse ✓"


def test_with_property(record_property):
    record_property("backend", "npu")
    print("some output")


class TestGroup:
    def test_method(self):
        pass


def test_huge_message():
    end = "-".join(["END", "OF", "HUGE"])  # the marker appears only at the message's end
    assert False, "x" * 20000 + end
"""

#: test id → outcome for the suite above, as pytest's junitxml names them.
#: test_fail_and_teardown_error is written twice by pytest (failure, then error) and
#: merged; a non-strict xpass is indistinguishable from a pass in pytest's JUnit.
PYTEST_EXPECTED = {
    "test_golden::test_pass": "passed",
    "test_golden::test_fail": "failed",
    "test_golden::test_setup_error": "error",
    "test_golden::test_teardown_error": "error",
    "test_golden::test_fail_and_teardown_error": "error",
    "test_golden::test_skip_then_teardown_error": "error",
    "test_golden::test_skip": "skipped",
    "test_golden::test_xfail": "xfailed",
    "test_golden::test_xpass_strict": "failed",
    "test_golden::test_xpass_loose": "passed",
    "test_golden::test_param[a/b-1.5]": "passed",
    "test_golden::test_param[\\xfcn\\xef]": "passed",
    "test_golden::test_param[x<y>&z]": "passed",
    "test_golden::test_param[q\"uote']": "passed",
    "test_golden::test_unicode_message": "failed",
    "test_golden::test_with_property": "passed",
    "test_golden.TestGroup::test_method": "passed",
    "test_golden::test_huge_message": "failed",
}

CMAKE_LISTS = """\
cmake_minimum_required(VERSION 3.21)
project(golden NONE)
enable_testing()
add_test(NAME passes COMMAND true)
add_test(NAME fails COMMAND sh -c "echo 'something broke on stdout'; exit 3")
add_test(NAME fails_long_output COMMAND sh -c "seq 1 5000; echo 'the real cause'; exit 1")
add_test(NAME skipped_by_code COMMAND sh -c "exit 77")
set_tests_properties(skipped_by_code PROPERTIES SKIP_RETURN_CODE 77)
add_test(NAME skipped_by_regex COMMAND sh -c "echo 'SKIP: no device'")
set_tests_properties(skipped_by_regex PROPERTIES SKIP_REGULAR_EXPRESSION "SKIP:")
add_test(NAME disabled_one COMMAND true)
set_tests_properties(disabled_one PROPERTIES DISABLED TRUE)
add_test(NAME expected_failure COMMAND false)
set_tests_properties(expected_failure PROPERTIES WILL_FAIL TRUE)
add_test(NAME missing_executable COMMAND /nonexistent/prog)
add_test(NAME fixture_setup COMMAND false)
set_tests_properties(fixture_setup PROPERTIES FIXTURES_SETUP dev)
add_test(NAME needs_fixture COMMAND true)
set_tests_properties(needs_fixture PROPERTIES FIXTURES_REQUIRED dev)
add_test(NAME "name with spaces" COMMAND true)
"""

CTEST_EXPECTED = {
    "passes": "passed",
    "fails": "failed",
    "fails_long_output": "failed",
    "skipped_by_code": "skipped",
    "skipped_by_regex": "skipped",
    "disabled_one": "skipped",
    "expected_failure": "passed",
    "missing_executable": "error",
    "fixture_setup": "failed",
    "needs_fixture": "error",
    "name with spaces": "passed",
}

GTEST_SOURCE = """\
#include <gtest/gtest.h>
#include <iostream>

TEST(Arith, Adds) { EXPECT_EQ(2, 1 + 1); }
TEST(Arith, FailsTwice) { EXPECT_EQ(3, 1 + 1) << "first"; EXPECT_TRUE(false) << "second"; }
TEST(Arith, Skips) { GTEST_SKIP() << "needs an NPU"; }
TEST(Arith, DISABLED_NotRun) { FAIL(); }
TEST(Odd, Markup) {
  std::cout << "<xml> & stuff" << std::endl;
  ADD_FAILURE() << "a <b> & \\"c\\" ]]> d \\u00e9";
}

class ArithmTest : public ::testing::TestWithParam<int> {};
TEST_P(ArithmTest, accuracy) { EXPECT_GT(GetParam(), 0); }
INSTANTIATE_TEST_SUITE_P(Core, ArithmTest, ::testing::Values(1, 2, -1));

template <typename T> class Typed : public ::testing::Test {};
using Types = ::testing::Types<int, float>;
TYPED_TEST_SUITE(Typed, Types);
TYPED_TEST(Typed, Zero) { EXPECT_EQ(TypeParam(0), TypeParam()); }

class Props : public ::testing::Test {};
TEST_F(Props, Recorded) { RecordProperty("backend", "npu"); }

// A failure outside any test: googletest reports it under "NonTestSuiteFailure".
class BrokenEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { ADD_FAILURE() << "device teardown failed"; }
};
static ::testing::Environment* const broken_env =
    ::testing::AddGlobalTestEnvironment(new BrokenEnvironment);
"""

GTEST_EXPECTED = {
    "Arith.Adds": "passed",
    "Arith.FailsTwice": "failed",
    "Arith.Skips": "skipped",
    "Arith.DISABLED_NotRun": "skipped",
    "Odd.Markup": "failed",
    "Core/ArithmTest.accuracy/0": "passed",
    "Core/ArithmTest.accuracy/1": "passed",
    "Core/ArithmTest.accuracy/2": "failed",
    "Typed/0.Zero": "passed",
    "Typed/1.Zero": "passed",
    "Props.Recorded": "passed",
    "NonTestSuiteFailure": "error",
}


@dataclass(frozen=True)
class Golden:
    """A result file written by a real tool, and what the parser must make of it."""

    path: Path
    fmt: str
    expected: dict[str, str]

    def __str__(self) -> str:  # readable parametrized test ids
        return self.path.name


def _run(cmd: list[str], cwd: Path, ok_codes: tuple[int, ...] = (0,), **env_extra: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(env_extra)
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode not in ok_codes:
        output = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}\n{output}")


def _run_pytest(tmp: Path, family: str, *extra: str, **env_extra: str) -> Path:
    (tmp / "test_golden.py").write_text(PYTEST_SUITE, encoding="utf-8")
    out = tmp / f"pytest-{family}.xml"
    # in file order: the goldens are compared case by case (pytest-randomly is installed)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    cmd += [f"--junitxml={out}", "-o", f"junit_family={family}", *extra, "test_golden.py"]
    _run(cmd, tmp, ok_codes=(1,), **env_extra)  # 1: tests ran and some failed
    assert out.is_file()
    return out


@pytest.fixture(scope="session")
def golden_xunit1(tmp_path_factory: pytest.TempPathFactory) -> Golden:
    tmp = tmp_path_factory.mktemp("pytest-xunit1")
    # junit_logging adds <system-out>/<system-err> to every case, as CI configs often do
    path = _run_pytest(tmp, "xunit1", "-o", "junit_logging=all")
    return Golden(path, "junit", PYTEST_EXPECTED)


@pytest.fixture(scope="session")
def golden_xunit2_and_stream(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """pytest's xunit2 file and, from the same run, the harness's streaming plugin's file."""
    tmp = tmp_path_factory.mktemp("pytest-xunit2")
    stream = tmp / "stream.xml"
    extra = ("-p", "harness_junit_stream", f"--harness-junit={stream}")
    pythonpath = os.pathsep.join(p for p in (str(PLUGIN_DIR), os.environ.get("PYTHONPATH")) if p)
    path = _run_pytest(tmp, "xunit2", *extra, PYTHONPATH=pythonpath)
    return path, stream


@pytest.fixture(scope="session")
def golden_xunit2(golden_xunit2_and_stream: tuple[Path, Path]) -> Golden:
    return Golden(golden_xunit2_and_stream[0], "junit", PYTEST_EXPECTED)


@pytest.fixture(scope="session")
def golden_ctest(tmp_path_factory: pytest.TempPathFactory) -> Golden:
    cmake, ctest = shutil.which("cmake"), shutil.which("ctest")
    if cmake is None or ctest is None:
        missing_tool("cmake/ctest not installed (Debian: apt-get install cmake)")
    assert cmake is not None
    assert ctest is not None
    version = subprocess.run([ctest, "--version"], capture_output=True, text=True, check=False)
    found = re.search(r"(\d+)\.(\d+)", version.stdout)
    if found is None or (int(found[1]), int(found[2])) < (3, 21):
        missing_tool(f"ctest ≥ 3.21 needed for --output-junit, found {version.stdout.strip()}")
    src = tmp_path_factory.mktemp("ctest")
    (src / "CMakeLists.txt").write_text(CMAKE_LISTS)
    build = src / "build"
    _run([cmake, "-S", str(src), "-B", str(build)], src)
    out = src / "ctest-junit.xml"
    _run([ctest, "--test-dir", str(build), "--output-junit", str(out)], src, ok_codes=(8,))
    assert out.is_file()
    return Golden(out, "ctest-junit", CTEST_EXPECTED)


@pytest.fixture(scope="session")
def golden_gtest(tmp_path_factory: pytest.TempPathFactory) -> Golden:
    gxx = shutil.which("g++")
    if gxx is None:
        missing_tool("g++ not installed (Debian: apt-get install g++)")
    assert gxx is not None
    src = tmp_path_factory.mktemp("gtest")
    (src / "t.cc").write_text(GTEST_SOURCE, encoding="utf-8")
    probe = subprocess.run(
        [gxx, "-std=c++17", "-fsyntax-only", "-x", "c++", "-"],
        input="#include <gtest/gtest.h>\n",
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        missing_tool("googletest headers not found (Debian: apt-get install libgtest-dev)")
    exe = src / "t"
    _run(
        [gxx, "-std=c++17", "-O0", "t.cc", "-o", str(exe), "-lgtest", "-lgtest_main", "-pthread"],
        src,
    )
    out = src / "gtest.xml"
    _run([str(exe), f"--gtest_output=xml:{out}"], src, ok_codes=(1,))
    assert out.is_file()
    return Golden(out, "gtest-xml", GTEST_EXPECTED)
