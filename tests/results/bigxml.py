"""Large synthetic result files for the bounded-memory test.

Shaped like the real files (see the golden fixtures in ``conftest.py``): pytest JUnit with
failures, skips, captured output and the adjacent duplicate records pytest writes for a
failure plus a teardown error; googletest XML with many suites and CDATA failures;
ctest JUnit with output. Written case by case, so writing them takes no memory either.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

TRACEBACK = (
    "    def test_it(self):\n        x = compute()\n&gt;       assert x == 2\n"
    "E       assert 3 == 2\n" * 8
)
OUTPUT = "step 1 done\nstep 2 done\n" * 8


def _junit(f: TextIO, cases: int) -> int:
    f.write('<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">')
    f.write('<testsuite name="pytest" tests="0">')
    results = 0
    for i in range(cases):
        head = (
            f'<testcase classname="tests.test_mod{i // 500}.TestThing" '
            f'name="test_case_{i}[cpu-float32-{i % 7}]" file="tests/test_mod.py" '
            f'line="{i % 900}" time="0.{i % 1000:03d}">'
        )
        kind = i % 10
        if kind == 0:
            f.write(f'{head}<failure message="assert 3 == 2">{TRACEBACK}</failure>')
            f.write(f"<system-out>{OUTPUT}</system-out></testcase>")
        elif kind == 1:
            f.write(f'{head}<skipped type="pytest.skip" message="no NPU">t.py:3: no NPU')
            f.write("</skipped></testcase>")
        elif kind == 2:
            f.write(f'{head}<skipped type="pytest.xfail" message="known bug" /></testcase>')
        elif kind == 3 and i % 1000 == 3:  # a failure then a teardown error: merged into one
            f.write(f'{head}<failure message="boom">{TRACEBACK}</failure></testcase>')
            f.write(f'{head}<error message="teardown">{TRACEBACK}</error></testcase>')
        else:
            f.write(head[:-1] + " />")
        results += 1
    f.write("</testsuite></testsuites>\n")
    return results


def _gtest(f: TextIO, cases: int) -> int:
    f.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites tests="0" name="AllTests">\n')
    per_suite = 200
    for i in range(cases):
        suite = f"Core/ArithmTest{i // per_suite}"
        if i % per_suite == 0:
            if i:
                f.write("  </testsuite>\n")
            f.write(f'  <testsuite name="{suite}" tests="{per_suite}" failures="0">\n')
        attrs = (
            f'name="accuracy/{i}" value_param="(8UC1, 128x128)" file="t.cc" line="9" '
            f'status="run" result="completed" time="0.001" classname="{suite}"'
        )
        if i % 10 == 0:
            f.write(f'    <testcase {attrs}>\n      <failure message="t.cc:9&#x0A;bad" type="">')
            f.write(f"<![CDATA[{OUTPUT}]]></failure>\n    </testcase>\n")
        else:
            f.write(f"    <testcase {attrs} />\n")
    f.write("  </testsuite>\n</testsuites>\n")
    return cases


def _ctest(f: TextIO, cases: int) -> int:
    f.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="(empty)" tests="0">\n')
    for i in range(cases):
        status = "fail" if i % 10 == 0 else "run"
        f.write(f'\t<testcase name="test_{i}" classname="test_{i}" time="0.01" status="{status}">')
        if status == "fail":
            f.write('\n\t\t<failure message=""/>')
        f.write(f"\n\t\t<system-out>{OUTPUT}</system-out>\n\t</testcase>\n")
    f.write("</testsuite>\n")
    return cases


WRITERS = {"junit": _junit, "gtest-xml": _gtest, "ctest-junit": _ctest}


def write_big(path: Path, fmt: str, cases: int) -> int:
    """Write ``cases`` test cases in ``fmt``; return how many results a parser must yield."""
    with path.open("w", encoding="utf-8") as f:
        return WRITERS[fmt](f, cases)
