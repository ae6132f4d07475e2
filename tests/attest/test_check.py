"""The statement of a run and its checks: subjects bind the commit, image and
environment; the lists (or, past a limit, their digests) bind the tests; keys expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.attest.check import (
    AttestationRefused,
    check_commit,
    check_subjects,
    check_tests,
    verify_signature,
)
from harness.attest.dsse import sign_envelope
from harness.attest.keys import TrustedKey, key_id
from harness.attest.statement import (
    DIGESTS_FIELD,
    PREDICATE_TYPE,
    build_statement,
    statement_bytes,
)
from harness.fingerprint import digest

SHA = "a" * 40
RUN = {"upstream": "example/demo", "sha": SHA, "cell": "demo/cpu/host", "suite": "demo",
       "status": "failed", "subset": None, "args": "-x"}  # fmt: skip
ENV = {"harness": "1", "image": {"tag": "harness/demo:1", "digest": "sha256:" + "b" * 64}}
RESULTS = [("t::a", "passed"), ("t::b", "failed"), ("t::c", "skipped"), ("t::d", "xpassed"),
           ("t::e", "error")]  # fmt: skip


def test_the_statement_follows_the_test_result_predicate() -> None:
    s = build_statement(RUN, ENV, RESULTS, {"github_repository": "acme/ci", "github_run_id": "7"})
    assert s["_type"] == "https://in-toto.io/Statement/v1"
    assert s["predicateType"] == PREDICATE_TYPE
    assert s["subject"] == [
        {"name": f"git+https://github.com/example/demo@{SHA}", "digest": {"gitCommit": SHA}},
        {"name": "image:harness/demo:1", "digest": {"sha256": "b" * 64}},
        {"name": "environment", "digest": {"sha256": digest(ENV)}},
    ]
    p = s["predicate"]
    assert p["result"] == "FAILED"
    assert p["url"] == "https://github.com/acme/ci/actions/runs/7"
    assert p["configuration"] == [
        {"name": "suites/demo.yaml", "annotations": {"cell": "demo/cpu/host", "args": "-x"}}
    ]
    assert (p["passedTests"], p["warnedTests"], p["failedTests"]) == (
        ["t::a"],
        ["t::d"],
        ["t::b", "t::e"],
    )
    passed = build_statement(RUN | {"status": "passed"}, None, [("t::a", "passed")])
    assert passed["predicate"]["result"] == "PASSED"
    warned = build_statement(RUN | {"status": "passed"}, None, [("t::d", "xpassed")])
    assert warned["predicate"]["result"] == "WARNED"


def test_subjects_refuse_another_commit_image_or_environment() -> None:
    s = build_statement(RUN, ENV, RESULTS)
    check_subjects(s, "example/demo", SHA, ENV)
    with pytest.raises(AttestationRefused, match="attested commit"):
        check_subjects(s, "example/demo", "c" * 40, ENV)
    with pytest.raises(AttestationRefused, match="attested commit"):
        check_commit(s, "other/repo", SHA)
    other_image = ENV | {"image": {"tag": "harness/demo:1", "digest": "sha256:" + "c" * 64}}
    with pytest.raises(AttestationRefused, match="image digest"):
        check_subjects(s, "example/demo", SHA, other_image)
    with pytest.raises(AttestationRefused, match="environment"):
        check_subjects(s, "example/demo", SHA, ENV | {"harness": "2"})


@pytest.mark.parametrize("max_listed", [100, 1])
def test_the_tests_must_be_the_attested_ones_listed_or_digested(max_listed: int) -> None:
    s = build_statement(RUN, ENV, RESULTS, max_listed=max_listed)
    assert (DIGESTS_FIELD in s["predicate"]) == (max_listed == 1)
    assert ("passedTests" in s["predicate"]) == (max_listed == 100)
    assert check_tests(s, RESULTS, "failed") == {
        "passedTests": 1, "warnedTests": 1, "failedTests": 2
    }  # fmt: skip
    flipped = [(t, "passed" if t == "t::b" else o) for t, o in RESULTS]
    with pytest.raises(AttestationRefused, match="not the attested ones: passedTests has 2"):
        check_tests(s, flipped, "failed")
    with pytest.raises(AttestationRefused, match="not the attested ones"):
        check_tests(s, [*RESULTS, ("t::new", "failed")], "failed")
    with pytest.raises(AttestationRefused, match="attested result 'FAILED'"):
        check_tests(build_statement(RUN, ENV, [("t::a", "passed")]), [("t::a", "passed")], "passed")


def _trusted(key: Ed25519PrivateKey, not_after: datetime) -> dict[str, TrustedKey]:
    kid = key_id(key.public_key())
    return {kid: TrustedKey("runner-1", kid, key.public_key(), not_after)}


def test_a_key_past_its_not_after_or_unknown_is_refused() -> None:
    key = Ed25519PrivateKey.generate()
    envelope: dict[str, Any] = sign_envelope(statement_bytes(build_statement(RUN, ENV, [])), key)
    now = datetime(2027, 1, 1, tzinfo=UTC)
    opened, trusted = verify_signature(envelope, _trusted(key, now + timedelta(days=1)), now)
    assert trusted.runner == "runner-1"
    assert opened.statement["subject"][0]["digest"]["gitCommit"]
    with pytest.raises(AttestationRefused, match="expired") as exc:
        verify_signature(envelope, _trusted(key, now), now)
    assert exc.value.about == "key"
    with pytest.raises(AttestationRefused, match="unknown key"):
        verify_signature(envelope, _trusted(Ed25519PrivateKey.generate(), now + timedelta(1)), now)
