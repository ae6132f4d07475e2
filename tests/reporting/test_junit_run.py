"""The JUnit export: Surefire/pytest-rerunfailures rerun and flaky elements, counts of the
cases as reported, and XML that any parser reads (control characters replaced)."""

from __future__ import annotations

import io

from lxml import etree

from harness.reporting.junit_run import write_junit
from harness.store import Store
from tests.reporting.runs import FIRST, make_run


def export(store: Store, run_id: int) -> etree._Element:
    out = io.BytesIO()
    assert write_junit(out, store, run_id) == len(FIRST)
    return etree.fromstring(out.getvalue())


def test_reruns_and_flaky_tests_in_surefire_shape(db_url: str) -> None:
    with Store.open(db_url) as store:
        run_id = make_run(store)
        root = export(store, run_id)
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert {k: suite.get(k) for k in ("name", "tests", "failures", "errors", "skipped")} == {
        "name": "demo/npu/host",
        "tests": "9",
        "failures": "2",  # the flaky ones count as passed, as in Surefire
        "errors": "0",
        "skipped": "2",
    }
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["harness.flaky"] == "2"
    assert props["harness.run_id"] == str(run_id)
    cases = {(c.get("classname"), c.get("name")): c for c in suite.findall("testcase")}
    assert len(cases) == 9

    flaky = cases[("tests/test_a.py", "test_flaky")]
    assert [child.tag for child in flaky] == ["flakyFailure"]
    assert flaky[0].get("message") == "boom"
    assert flaky[0].findtext("stackTrace") == "boom"
    assert flaky.get("time") == "0.200"

    err = cases[("tests/test_a.py", "test_err")]
    assert [(c.tag, c.get("message")) for c in err] == [
        ("flakyError", "fixture broke"),
        ("flakyError", "fixture broke again"),
    ]

    fail = cases[("tests/test_a.py::TestK", "test_fail")]
    assert [c.tag for c in fail] == ["failure", "rerunFailure", "rerunFailure"]
    assert fail[0].get("message") == "AssertionError: 1 != 2"
    assert fail[0].text == "AssertionError: 1 != 2\nE  more"
    assert [c.findtext("stackTrace") for c in fail[1:]] == [
        "AssertionError: 1 != 3",
        "AssertionError: 1 != 4",
    ]

    assert [c.tag for c in cases[("tests/test_a.py", "test_pass")]] == []
    assert cases[("tests/test_b.py", "test_skip")][0].tag == "skipped"
    assert cases[("tests/test_b.py", "test_xf")][0].get("type") == "harness.xfailed"
    assert cases[("demo/npu/host", "MatMul.Fp16")] is not None
    ctrl = cases[("tests/test_c.py", "test_ctrl")][0]
    assert ctrl.tag == "failure"
    assert ctrl.get("message") == "bad ?[31mred?[0m ? \U0001f600"  # astral chars are XML
