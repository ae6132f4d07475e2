"""Which run a verdict compares with (pure: the candidates come from the store).

A pull request's run is compared with the latest complete run (``passed`` or ``failed``)
of the same cell on the upstream's default branch at the PR's merge base. When there is
none, the nearest earlier default-branch run stands in and the verdict says so; the
missing run is a :class:`BaselineRequest` a planner can schedule. A run of the default
branch itself is compared with the previous default-branch run of its cell.

Every candidate must have made the same *selection*: the same cell (suite, backend,
variant) and the same subset and selection arguments (``--test-args``, a subset's args
or the suite's default, as the run recorded them). A run of another selection is not a
baseline, not even a stand-in: comparing it would report the tests it left out as
removed and those it added as new. When only such runs exist the note says which
selection is missing.
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
    #: the selection the run must make (:func:`selection_label`)
    subset: str | None = None
    args: str | None = None

    def __str__(self) -> str:
        return (
            f"no baseline at merge base {self.sha[:12]} for {self.cell} with "
            f"{describe_selection(self.subset, self.args)}"
        )


def describe_selection(subset: str | None, args: str | None) -> str:
    """``args '-k foo'``, ``subset 'smoke' (args 'tests/a')``; an older run that did not
    record it: ``an unrecorded selection``."""
    if args is None:
        return f"subset {subset!r}" if subset else "an unrecorded selection"
    shown = repr(args)
    return f"subset {subset!r} ({'args ' + shown})" if subset else f"args {shown}"


def selection_label(run: RunRecord) -> str:
    return describe_selection(run.subset, run.args)


def same_selection(a: RunRecord, b: RunRecord) -> bool:
    """Whether ``a`` and ``b`` ran the same tests the same way: cell, subset and args."""
    return (a.cell, a.subset, a.args) == (b.cell, b.subset, b.args)


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


def _of_cell(run: RunRecord, candidates: Iterable[RunRecord]) -> list[RunRecord]:
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


def _other_selections(others: Sequence[RunRecord]) -> str:
    """`` (runs 3, 5 made another selection: args 'tests')``, or ``""``."""
    if not others:
        return ""
    ids = ", ".join(str(o.id) for o in others[:3]) + (" …" if len(others) > 3 else "")
    kinds = "; ".join(dict.fromkeys(selection_label(o) for o in others[:3]))
    runs = "run" if len(others) == 1 else "runs"
    return f" ({runs} {ids} made another selection: {kinds})"


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
    of_cell = _of_cell(run, candidates)
    usable = [c for c in of_cell if same_selection(c, run)]
    elsewhere = [c for c in of_cell if not same_selection(c, run)]
    wanted = f"{run.cell} with {selection_label(run)}"
    why_none = _other_selections(elsewhere)
    earlier = [c for c in usable if _key(c) < _key(run)]
    if is_default_branch_run(run):
        if not earlier:
            return BaselineChoice(
                None, False, f"no earlier default-branch run of {wanted}{why_none}"
            )
        prev = earlier[0]
        return BaselineChoice(
            prev, True, f"the previous default-branch run {prev.id} at {_short(prev.sha)}"
        )
    base = run.base_sha
    if base is None:
        if not earlier:
            note = f"no default-branch run of {wanted} to compare with{why_none}"
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
    request = BaselineRequest(run.cell, base, run.subset, run.args)
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
            f"{wanted} to compare with{why_none}",
            request,
        )
    others_at_base = [c for c in elsewhere if c.sha == base]
    lacking = (
        f" with {selection_label(run)}{_other_selections(others_at_base)}" if others_at_base else ""
    )
    return BaselineChoice(
        stand_in,
        False,
        f"no baseline at merge base {_short(base)}{lacking}; compared with run "
        f"{stand_in.id} at {_short(stand_in.sha)}, {how}",
        request,
    )


def missing_baseline(run: RunRecord, candidates: Iterable[RunRecord]) -> BaselineRequest | None:
    """The run a planner should schedule so that ``run`` gets an exact baseline, if any."""
    return choose_baseline(run, candidates).missing
