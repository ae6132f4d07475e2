"""Checking an attestation: its signature by a trusted, unexpired key, and that what it
states is what a bundle (or the stored results) holds.

Every failure is an :class:`AttestationRefused` saying what is wrong; ``about`` says
whether the key (``key``: unknown, expired, bad signature) or the content (``content``:
another commit, image or environment, other tests) is at fault.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from harness.attest.dsse import EnvelopeError, Opened, open_envelope, signatures
from harness.attest.keys import TrustedKey
from harness.attest.statement import (
    DIGESTS_FIELD,
    LISTS,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    commit_subject_name,
    list_digest,
    result_of,
    subjects,
    test_lists,
)
from harness.errors import ConfigError
from harness.store.attestations import Attested

if TYPE_CHECKING:
    from harness.bundle import Bundle


class AttestationRefused(ConfigError):
    def __init__(self, about: Literal["key", "content"], message: str) -> None:
        super().__init__(message)
        self.about = about


def verify_signature(
    envelope: object, trusted: Mapping[str, TrustedKey], now: datetime | None = None
) -> tuple[Opened, TrustedKey]:
    """The opened envelope and the trusted key that signed it (unexpired at ``now``)."""
    now = now or datetime.now(UTC)
    try:
        ids = [kid for kid, _ in signatures(envelope)]
    except EnvelopeError as exc:
        raise AttestationRefused("content", f"attestation: {exc}") from None
    live = {k: t.public for k, t in trusted.items() if k in ids and not t.expired(now)}
    if not live:
        expired = [trusted[k] for k in ids if k in trusted]
        if expired:
            t = expired[0]
            raise AttestationRefused(
                "key",
                f"attestation signed by key {t.key_id[:16]} of runner {t.runner}, which "
                f"expired at {t.not_after.isoformat()}",
            )
        raise AttestationRefused(
            "key", f"attestation signed by an unknown key ({', '.join(k[:16] for k in ids)})"
        )
    try:
        opened = open_envelope(envelope, live)
    except EnvelopeError as exc:
        raise AttestationRefused("key", f"attestation: {exc}") from None
    return opened, trusted[opened.keyid]


def _statement_kind(statement: Mapping[str, Any]) -> Mapping[str, Any]:
    if statement.get("_type") != STATEMENT_TYPE:
        raise AttestationRefused(
            "content", f"not an in-toto Statement v1: {statement.get('_type')!r}"
        )
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise AttestationRefused(
            "content", f"predicateType {statement.get('predicateType')!r}, not {PREDICATE_TYPE}"
        )
    predicate = statement.get("predicate")
    if not isinstance(predicate, Mapping):
        raise AttestationRefused("content", "the statement has no predicate")
    return predicate


def _digests(subject_list: object) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for s in subject_list if isinstance(subject_list, list) else []:
        if isinstance(s, Mapping) and isinstance(s.get("digest"), Mapping):
            out[str(s.get("name", ""))] = {str(k): str(v) for k, v in s["digest"].items()}
    return out


def check_commit(statement: Mapping[str, Any], upstream: str, sha: str | None) -> None:
    """The statement is about commit ``sha`` of ``upstream`` (and no other commit)."""
    _statement_kind(statement)
    said = _digests(statement.get("subject"))
    commits = {n: d["gitCommit"] for n, d in said.items() if "gitCommit" in d}
    want = {commit_subject_name(upstream, sha): sha} if sha else {}
    if commits != want:
        found = ", ".join(commits) or "none"
        raise AttestationRefused(
            "content", f"attested commit is {found}, the results are of {upstream}@{sha}"
        )


def check_subjects(
    statement: Mapping[str, Any],
    upstream: str,
    sha: str | None,
    environment: Mapping[str, Any] | None,
) -> None:
    """The statement is about this commit, image and environment, and nothing else."""
    check_commit(statement, upstream, sha)
    said = _digests(statement.get("subject"))
    want = _digests(subjects(upstream, sha, environment))
    images = {n: d for n, d in said.items() if n.startswith("image:")}
    want_images = {n: d for n, d in want.items() if n.startswith("image:")}
    if list(images.values()) != list(want_images.values()):
        found = ", ".join(d.get("sha256", "?")[:16] for d in images.values()) or "none"
        expected = ", ".join(d["sha256"][:16] for d in want_images.values()) or "none"
        raise AttestationRefused(
            "content", f"attested image digest {found}, the results ran in {expected}"
        )
    if said.get("environment") != want.get("environment"):
        raise AttestationRefused(
            "content", "attested environment fingerprint is not the one the results carry"
        )
    if said != want:
        raise AttestationRefused("content", "the attestation's subjects are not this run's")


def attested_tests(statement: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per list (passedTests, ...), the digest and count of the names the statement lists
    (from the lists, or from :data:`DIGESTS_FIELD` when it gives digests instead)."""
    predicate = _statement_kind(statement)
    digests = predicate.get(DIGESTS_FIELD)
    out: dict[str, dict[str, Any]] = {}
    for name in LISTS:
        if isinstance(digests, Mapping) and isinstance(digests.get(name), Mapping):
            d = digests[name]
            out[name] = {"sha256": str(d.get("sha256")), "count": d.get("count")}
        else:
            ids = predicate.get(name) or []
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise AttestationRefused("content", f"{name} is not a list of test names")
            out[name] = list_digest(ids)
    return out


def check_tests(
    statement: Mapping[str, Any], results: Iterable[tuple[str, str]], status: str | None = None
) -> dict[str, int]:
    """The tests of ``results`` are those the statement lists (and its ``result`` is the
    one they and ``status`` give); the count per list."""
    lists = test_lists(results)
    said = attested_tests(statement)
    predicate = statement["predicate"]
    for name in LISTS:
        if said[name]["sha256"] != list_digest(lists[name])["sha256"]:
            listed = predicate.get(name)
            detail = ""
            if isinstance(listed, list):
                extra = sorted(set(lists[name]) - set(listed))[:3]
                missing = sorted(set(listed) - set(lists[name]))[:3]
                detail = (
                    f" (not attested: {extra or 'none'}; attested, not there: {missing or 'none'})"
                )
            raise AttestationRefused(
                "content",
                f"the results are not the attested ones: {name} has {len(lists[name])} "
                f"test(s), the attestation {said[name]['count']}{detail}",
            )
    if status is not None and predicate.get("result") != result_of(status, lists):
        raise AttestationRefused(
            "content",
            f"attested result {predicate.get('result')!r}, the run {status} with these tests",
        )
    return {name: len(lists[name]) for name in LISTS}


def check_configuration(statement: Mapping[str, Any], cell: str) -> None:
    predicate = _statement_kind(statement)
    config = predicate.get("configuration")
    cells = [
        c.get("annotations", {}).get("cell")
        for c in (config if isinstance(config, list) else [])
        if isinstance(c, Mapping) and isinstance(c.get("annotations"), Mapping)
    ]
    if cells != [cell]:
        raise AttestationRefused("content", f"attested cell {cells}, the results are of {cell}")


def verify_bundle(
    bundle: Bundle, trusted: Mapping[str, TrustedKey], now: datetime | None = None
) -> Attested:
    """The bundle's attestation, verified: signed by a trusted unexpired key, about the
    bundle's commit, image and environment, its cell, and listing exactly its tests."""
    envelope = bundle.attestation()
    cell = bundle.model.run.cell
    if envelope is None:
        raise AttestationRefused(
            "key", f"{cell}: the bundle carries no attestation (this service requires one)"
        )
    opened, key = verify_signature(envelope, trusted, now)
    r = bundle.model.run
    try:
        check_subjects(opened.statement, r.upstream, r.sha, bundle.model.environment)
        check_configuration(opened.statement, cell)
        pairs = ((t.test_id, t.outcome.value) for t in bundle.results())
        check_tests(opened.statement, pairs, r.status)
    except AttestationRefused as exc:
        raise AttestationRefused(exc.about, f"{cell}: {exc}") from None
    return Attested(envelope, key.key_id, key.runner)
