"""Property tests (hypothesis, bounded): every parser entry point, fed random bytes or
random arrangements of its own format's pieces, yields results and at worst a crash
mark; never an exception, and nothing it yields is unbounded."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.results import FORMATS, parse
from harness.results.model import MAX_MESSAGE_CHARS, MAX_TEST_ID_CHARS

#: pieces of the formats the parsers read, arranged at random (well-formed or not)
PIECES = [
    '<?xml version="1.0" encoding="utf-8"?>', "<testsuites>", "</testsuites>",
    '<testsuite name="s" tests="2">', "</testsuite>", '<testcase classname="c" name="t">',
    '<testcase name="n\x01" time="nan">', '<testcase name="nel\x85 ls\u2028"/>',
    '<testcase name="x" time="-1"/>', "</testcase>",
    '<failure message="m">text</failure>', "<error/>", '<skipped type="pytest.xfail"/>',
    "<system-out>out</system-out>", "<properties><property name='a' value='b'/></properties>",
    '<testcase name="' + "y" * 3000 + '"/>', "<!DOCTYPE x [<!ENTITY e 'boom'>]>", "&e;",
    "<![CDATA[ raw ]]>", "\x00", "\ufffd", "<", ">", '"', "&amp;",
    # test-backend-ops console, csv, sql
    "Testing 2 devices\n", "Backend 1/2: CANN0\n", "  ADD(type=f32,ne=[4,4]): OK\n",
    "  MUL(type=f16): FAIL\n", "  ROPE(): not supported [CANN0]\n", "  1/1 backends passed\n",
    "OK\n", "backend_name,op_name,op_params,test_mode,supported,passed,error_message\n",
    "CPU,ADD,x,test,yes,yes,\n", "CPU,ADD\n",
    "INSERT INTO test_backend_ops (backend_name, op_name) VALUES ('CPU', 'ADD');\n",
    "INSERT INTO test_backend_ops VALUES ('CPU');\n", "INSERT INTO test_backend_ops (a",
    "INSERT INTO test_backend_ops x);\n",
]  # fmt: skip


def check(data: bytes, fmt: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "result"
        path.write_bytes(data)
        stream = parse(path, fmt)
        results = list(stream)  # never raises
        report = stream.report
    assert report.cases == len(results)
    assert report.crashed or report.crash_reason is None
    for r in results:
        assert len(r.test_id) <= MAX_TEST_ID_CHARS
        assert r.test_id.isprintable()
        assert r.message is None or len(r.message) <= MAX_MESSAGE_CHARS


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=2048), fmt=st.sampled_from(sorted(FORMATS)))
def test_random_bytes(data: bytes, fmt: str) -> None:
    check(data, fmt)


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(PIECES), max_size=40),
    fmt=st.sampled_from(sorted(FORMATS)),
)
def test_random_arrangements_of_the_formats_pieces(pieces: list[str], fmt: str) -> None:
    check("".join(pieces).encode("utf-8", "surrogatepass"), fmt)
