"""The trust gate (pure): whose pull requests run at once, who may approve the others.

Untrusted code still runs sandboxed (non-root, no network, limits) once approved; the gate
keeps strangers from using the vendor's hardware and from probing the sandbox at will.
A pull request is trusted when its author's association is in the allow-list, the author
is a listed user, or its head comes from a listed organisation's repository. Otherwise it
waits until a trusted user comments ``/harness ok-to-test`` or applies the configured
label; with ``approval: commit`` each new head needs a new approval.
"""

from __future__ import annotations

from harness.config.service import Approval, RerunBy, Trust


def _in(login: str | None, names: list[str]) -> bool:
    return login is not None and login.lower() in {n.lower() for n in names}


def trusted_person(login: str | None, association: str | None, trust: Trust) -> bool:
    """Whether this user is trusted (may run PRs and approve others')."""
    return (association or "").upper() in trust.associations or _in(login, trust.users)


def trusted_pull_request(
    author: str, association: str, head_label: str | None, trust: Trust
) -> bool:
    if trusted_person(author, association, trust):
        return True
    owner = head_label.partition(":")[0] if head_label and ":" in head_label else None
    return _in(owner, trust.orgs)


def approved(approved_sha: str | None, head_sha: str, trust: Trust) -> bool:
    """Whether a recorded approval covers ``head_sha``."""
    if approved_sha is None:
        return False
    return trust.approval is Approval.PULL_REQUEST or approved_sha == head_sha


def may_run(
    *,
    author: str,
    association: str,
    head_label: str | None,
    approved_sha: str | None,
    head_sha: str,
    trust: Trust,
) -> bool:
    return trusted_pull_request(author, association, head_label, trust) or approved(
        approved_sha, head_sha, trust
    )


def may_rerun(login: str | None, association: str | None, author: str, trust: Trust) -> bool:
    """Whether ``login`` may re-run a pull request's cells (``trust.rerun``)."""
    allowed = set(trust.rerun)
    if RerunBy.ANYONE in allowed:
        return True
    if RerunBy.TRUSTED in allowed and trusted_person(login, association, trust):
        return True
    return RerunBy.AUTHOR in allowed and login is not None and login == author
