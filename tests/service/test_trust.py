from __future__ import annotations

from harness.config.service import Approval, Trust
from harness.service.trust import approved, may_run, trusted_person, trusted_pull_request

TRUST = Trust(users=["Alice"], orgs=["friendly-org"])


def test_associations_users_and_orgs() -> None:
    assert trusted_person("bob", "MEMBER", TRUST)
    assert trusted_person("alice", "NONE", TRUST)  # logins are case-insensitive
    assert not trusted_person("mallory", "CONTRIBUTOR", TRUST)
    assert not trusted_person("mallory", "FIRST_TIME_CONTRIBUTOR", TRUST)
    assert trusted_pull_request("carol", "NONE", "friendly-org:fix", TRUST)
    assert not trusted_pull_request("carol", "NONE", "carol:fix", TRUST)


def test_approval_per_pull_request_or_per_commit() -> None:
    assert approved("a" * 40, "b" * 40, Trust(approval=Approval.PULL_REQUEST))
    assert not approved("a" * 40, "b" * 40, Trust(approval=Approval.COMMIT))
    assert approved("b" * 40, "b" * 40, Trust(approval=Approval.COMMIT))
    assert not approved(None, "b" * 40, TRUST)


def test_may_run() -> None:
    common = {"head_label": "mallory:x", "head_sha": "c" * 40, "trust": TRUST}
    assert not may_run(author="mallory", association="NONE", approved_sha=None, **common)
    assert may_run(author="mallory", association="NONE", approved_sha="c" * 40, **common)
    assert may_run(author="owner", association="OWNER", approved_sha=None, **common)
