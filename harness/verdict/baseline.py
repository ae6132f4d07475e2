"""Which run a verdict compares with (pure: the candidates come from the store).

A pull request's run is compared with the latest complete run (``passed`` or ``failed``)
of the same cell on the upstream's default branch at the PR's merge base. When there is
none, the nearest earlier default-branch run stands in and the verdict says so; the
missing run is a :class:`BaselineRequest` a planner can schedule. A run of the default
branch itself is compared with the previous default-branch run of its cell.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from harness.store.models import RunRecord

#: Run statuses whose results are complete enough to compare with.
COMPLETE_STATUSES = frozenset({"passed", "failed"})


@dataclass(frozen=True, slots=True)
class BaselineRequest:
    """No baseline exists for ``cell`` at ``sha``: a run there would make one."""

    cell: str
    sha: str

    def __str__(self) -> str:
        return f"no baseline at merge base {self.sha[:12]} for {self.cell}"


@dataclass(frozen=True, slots=True)
class BaselineChoice:
    run: RunRecord | None
    #: the run is the one the rules ask for (at the merge base, or the previous
    #: default-branch run), not a stand-in
    exact: bool
    #: one line saying what was chosen and why
    note: str
    missing: BaselineRequest | None = None


def is_default_branch_run(run: RunRecord) -> bool:
    """Recorded as a default-branch run; when not recorded, a run without a ref."""
    if run.is_default_branch is not None:
        return run.is_default_branch
    return run.ref is None


def _key(run: RunRecord) -> tuple[float, int]:
    return (run.started_at.timestamp(), run.id)


def _usable(run: RunRecord, candidates: Iterable[RunRecord]) -> list[RunRecord]:
    """Complete default-branch runs of the same cell, other than ``run``, newest first."""
    kept = [
        c
        for c in candidates
        if c.id != run.id
        and c.cell == run.cell
        and c.status in COMPLETE_STATUSES
        and is_default_branch_run(c)
    ]
    kept.sort(key=_key, reverse=True)
    return kept


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "(unknown sha)"


def choose_baseline(
    run: RunRecord,
    candidates: Iterable[RunRecord],
    *,
    ancestry: Sequence[str] | None = None,
) -> BaselineChoice:
    """The baseline for ``run`` among ``candidates`` (any runs; unsuitable ones are ignored).

    ``ancestry``, when the caller knows it, lists default-branch commits from the merge base
    back (first-parent history, nearest first): the stand-in is then the run at the nearest
    of them rather than the latest run started before ``run``.
    """
    usable = _usable(run, candidates)
    earlier = [c for c in usable if _key(c) < _key(run)]
    if is_default_branch_run(run):
        if not earlier:
            return BaselineChoice(None, False, f"no earlier default-branch run of {run.cell}")
        prev = earlier[0]
        return BaselineChoice(
            prev, True, f"the previous default-branch run {prev.id} at {_short(prev.sha)}"
        )
    base = run.base_sha
    if base is None:
        if not earlier:
            note = f"no default-branch run of {run.cell} to compare with"
            return BaselineChoice(None, False, note)
        prev = earlier[0]
        return BaselineChoice(
            prev,
            False,
            f"merge base not recorded; compared with the latest default-branch run before "
            f"this one, run {prev.id} at {_short(prev.sha)}",
        )
    at_base = [c for c in usable if c.sha == base]
    if at_base:
        found = at_base[0]
        return BaselineChoice(found, True, f"run {found.id} at the merge base {_short(base)}")
    request = BaselineRequest(run.cell, base)
    stand_in: RunRecord | None = None
    how = ""
    if ancestry:
        by_sha: dict[str, RunRecord] = {}
        for c in usable:
            if c.sha is not None:
                by_sha.setdefault(c.sha, c)
        stand_in = next((by_sha[s] for s in ancestry if s in by_sha), None)
        how = "the nearest earlier default-branch commit with a run"
    if stand_in is None and earlier:
        stand_in = earlier[0]
        how = "the latest default-branch run before this one"
    if stand_in is None:
        return BaselineChoice(
            None,
            False,
            f"no baseline at merge base {_short(base)} and no default-branch run of "
            f"{run.cell} to compare with",
            request,
        )
    return BaselineChoice(
        stand_in,
        False,
        f"no baseline at merge base {_short(base)}; compared with run {stand_in.id} at "
        f"{_short(stand_in.sha)}, {how}",
        request,
    )


def missing_baseline(run: RunRecord, candidates: Iterable[RunRecord]) -> BaselineRequest | None:
    """The run a planner should schedule so that ``run`` gets an exact baseline, if any."""
    return choose_baseline(run, candidates).missing
