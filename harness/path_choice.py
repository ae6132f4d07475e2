"""Choose, at the tested commit, where a test path that moved upstream is.

A suite declares such a path under ``paths`` (see :class:`harness.config.suite.DeclaredPath`)
and names it ``{path:NAME}`` in its selection arguments. Before the test steps run, each
reference is replaced by the first alternative that holds at the checkout: its commit
conditions (``since``: the tested commit contains that commit; ``before``: it does not)
and its existence under ``under``. The choices go into the run's fingerprint
(``paths``), the run summary and the console, so a run says which tree it tested; when no
alternative holds the run is an error naming every alternative and why each was passed
over. A plain path in the arguments that is missing stays pytest's own usage error (the
run's reason quotes it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config.suite import PATH_REF_RE, DeclaredPath, PathAlternative, undeclared_message
from harness.errors import ConfigError, HarnessError, InfraError
from harness.source.git import Git, default_git_timeout

#: ``contains(sha)``: whether the tested commit contains ``sha``; ``None``: cannot tell
Contains = Callable[[str], bool | None]


class PathChoiceError(InfraError):
    """No alternative of a declared path holds at the tested commit."""


@dataclass(frozen=True, slots=True)
class PathChoice:
    """Which alternative of ``paths.NAME`` the run used, and why."""

    name: str
    path: str
    under: str
    why: str
    #: the alternatives passed over before it, each with the reason
    passed_over: tuple[str, ...] = ()

    def describe(self) -> str:
        """``{path:accelerator} = v1/accelerator (tests/unit/v1/accelerator exists)``."""
        text = f"{{path:{self.name}}} = {self.path} ({self.why})"
        if self.passed_over:
            text += "; passed over: " + "; ".join(self.passed_over)
        return text

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "under": self.under,
            "why": self.why,
            "passed_over": list(self.passed_over),
        }


def git_contains(source_dir: Path) -> Contains:
    """``contains`` for a git checkout: ``git merge-base --is-ancestor SHA HEAD``, through
    the harness's :class:`~harness.source.git.Git` (no hooks or fsmonitor from the
    repository's config, a timeout)."""
    git = Git(default_git_timeout())

    def contains(sha: str) -> bool | None:
        try:
            proc = git("merge-base", "--is-ancestor", sha, "HEAD", cwd=source_dir, check=False)
        except HarnessError:
            return None  # git missing or too slow: cannot tell
        if proc.returncode in (0, 1):
            return proc.returncode == 0
        return None  # not a git checkout, or the commit is not in its history

    return contains


def _rejection(
    alt: PathAlternative, where: str, source_dir: Path, contains: Contains
) -> str | None:
    """Why ``alt`` does not hold at the checkout, or ``None`` when it does."""
    for sha, wanted, phrase in ((alt.since, True, "since"), (alt.before, False, "before")):
        if sha is None:
            continue
        has = contains(sha)
        if has is None:
            return f"{phrase} {sha[:12]}: cannot tell whether the tested commit contains it"
        if has is not wanted:
            state = "does not contain" if wanted else "contains"
            return f"{phrase} {sha[:12]}: the tested commit {state} it"
    if not (source_dir / where).exists():
        return f"{where} does not exist"
    return None


def choose_path(
    name: str, declared: DeclaredPath, source_dir: Path, contains: Contains
) -> PathChoice:
    """The first alternative of ``declared`` that holds; :class:`PathChoiceError` naming
    every alternative when none does."""
    passed_over: list[str] = []
    for alt in declared.alternatives:
        where = str(Path(declared.under, alt.path)) if declared.under != "." else alt.path
        reason = _rejection(alt, where, source_dir, contains)
        if reason is None:
            conditions = [f"since {alt.since[:12]}"] if alt.since else []
            conditions += [f"before {alt.before[:12]}"] if alt.before else []
            why = ", ".join([f"{where} exists", *conditions])
            return PathChoice(name, alt.path, declared.under, why, tuple(passed_over))
        passed_over.append(f"{alt.path} ({reason})")
    raise PathChoiceError(
        f"{{path:{name}}}: no alternative is at the tested commit: " + "; ".join(passed_over),
        hint=f"the upstream moved these tests again: add where they are now to "
        f"paths.{name}.alternatives in the suite file",
    )


def resolve_paths(
    args: str,
    declared: Mapping[str, DeclaredPath],
    source_dir: Path,
    contains: Contains,
) -> tuple[str, dict[str, PathChoice]]:
    """``args`` with every ``{path:NAME}`` replaced, and the choices by name.

    A reference to an undeclared name is a :class:`~harness.errors.ConfigError` (from
    ``--test-args``; the loader rejects one in the suite file itself)."""
    choices: dict[str, PathChoice] = {}

    def _sub(m: Any) -> str:
        name = m.group(1)
        if name not in declared:
            raise ConfigError(undeclared_message(name, declared))
        if name not in choices:
            choices[name] = choose_path(name, declared[name], source_dir, contains)
        return choices[name].path

    return PATH_REF_RE.sub(_sub, args), choices
