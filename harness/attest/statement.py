"""The in-toto Statement of a run: the Test Result predicate about its commit, image and
environment.

Subjects (what the statement is about):

* the upstream commit: ``git+https://github.com/OWNER/NAME@SHA``, digest ``gitCommit``;
* the image the cell ran in (docker executor): its id, digest ``sha256``;
* the environment fingerprint: digest ``sha256`` of :func:`harness.fingerprint.digest`.

The predicate (``https://in-toto.io/attestation/test-result/v0.1``): ``result``
(``FAILED`` when a test failed or errored or the run did not pass, ``WARNED`` when a test
passed unexpectedly (xpassed), else ``PASSED``), ``configuration`` (the suite recipe,
with the cell, subset and arguments as annotations), ``url`` (the GitHub Actions run
where there is one), and ``passedTests`` / ``warnedTests`` / ``failedTests`` (test ids;
skipped and xfailed tests are in none). Past :data:`MAX_LISTED` names the lists are
replaced by their digests in the extension field :data:`DIGESTS_FIELD` (the predicate
defines no such field; in-toto's parsing rules let producers add fields named by URIs):
``{"passedTests": {"sha256": …, "count": n}, …}``, the SHA-256 of the sorted ids, each
followed by a newline.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from harness.fingerprint import digest as environment_digest

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://in-toto.io/attestation/test-result/v0.1"
DIGESTS_FIELD = "https://github.com/accel-harness/attestation/test-digests/v0.1"
#: more test names than this in all lists together: their digests instead
MAX_LISTED = 20_000
LISTS = ("passedTests", "warnedTests", "failedTests")
_LIST_OF = {"passed": "passedTests", "xpassed": "warnedTests", "failed": "failedTests"}
_LIST_OF["error"] = "failedTests"


def commit_subject_name(upstream: str, sha: str) -> str:
    return f"git+https://github.com/{upstream}@{sha}"


def image_digest(environment: Mapping[str, Any] | None) -> str | None:
    """The hex SHA-256 of the image a run ran in (its docker image id), if any."""
    image = (environment or {}).get("image")
    value = image.get("digest") if isinstance(image, Mapping) else None
    if not isinstance(value, str) or not value:
        return None
    return value.split(":", 1)[1] if value.startswith("sha256:") else value


def subjects(
    upstream: str, sha: str | None, environment: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if sha:
        out.append({"name": commit_subject_name(upstream, sha), "digest": {"gitCommit": sha}})
    if environment:
        if (image := image_digest(environment)) is not None:
            tag = environment.get("image", {}).get("tag") or "image"
            out.append({"name": f"image:{tag}", "digest": {"sha256": image}})
        digest = environment_digest(dict(environment))
        out.append({"name": "environment", "digest": {"sha256": digest}})
    return out


def test_lists(results: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """(test id, outcome) pairs → the three lists of the predicate, sorted."""
    lists: dict[str, list[str]] = {name: [] for name in LISTS}
    for test_id, outcome in results:
        if (name := _LIST_OF.get(str(outcome))) is not None:
            lists[name].append(test_id)
    return {name: sorted(ids) for name, ids in lists.items()}


def list_digest(ids: Iterable[str]) -> dict[str, Any]:
    h = hashlib.sha256()
    n = 0
    for test_id in sorted(ids):
        h.update(test_id.encode("utf-8", "surrogatepass") + b"\n")
        n += 1
    return {"sha256": h.hexdigest(), "count": n}


def result_of(status: str, lists: Mapping[str, list[str]]) -> str:
    if status != "passed" or lists["failedTests"]:
        return "FAILED"
    return "WARNED" if lists["warnedTests"] else "PASSED"


def build_statement(
    run: Mapping[str, Any],
    environment: Mapping[str, Any] | None,
    results: Iterable[tuple[str, str]],
    origin: Mapping[str, Any] | None = None,
    max_listed: int = MAX_LISTED,
) -> dict[str, Any]:
    """The statement of a run: ``run`` its record as a bundle carries it (upstream, sha,
    cell, suite, status, subset, args), ``results`` its (test id, outcome) pairs."""
    lists = test_lists(results)
    annotations = {k: run[k] for k in ("cell", "subset", "args") if run.get(k) is not None}
    predicate: dict[str, Any] = {
        "result": result_of(str(run["status"]), lists),
        "configuration": [{"name": f"suites/{run['suite']}.yaml", "annotations": annotations}],
    }
    origin = origin or {}
    if origin.get("github_repository") and origin.get("github_run_id"):
        predicate["url"] = (
            f"https://github.com/{origin['github_repository']}/actions/runs/"
            f"{origin['github_run_id']}"
        )
    if sum(len(v) for v in lists.values()) <= max_listed:
        predicate.update(lists)
    else:
        predicate[DIGESTS_FIELD] = {name: list_digest(ids) for name, ids in lists.items()}
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects(str(run["upstream"]), run.get("sha"), environment),
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }


def statement_bytes(statement: Mapping[str, Any]) -> bytes:
    """The payload signed: compact JSON, keys sorted."""
    return json.dumps(statement, sort_keys=True, separators=(",", ":")).encode("utf-8")
