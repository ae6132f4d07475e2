"""Candidates from a real git history: first parent, merges, PR numbers, the mirror."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.bisect.commits import History, pr_number
from harness.errors import SourceError
from harness.source.checkout import update_mirror
from tests.gitrepos import UpstreamRepo


@pytest.mark.parametrize(
    ("subject", "pr"),
    [
        ("Fix resize on NPU (#123)", 123),
        ("Merge pull request #7 from someone/feature", 7),
        ("Refer to #12 in the middle", None),
        ("plain change", None),
    ],
)
def test_pr_number(subject: str, pr: int | None) -> None:
    assert pr_number(subject) == pr


def test_first_parent_candidates_through_a_mirror(tmp_path: Path) -> None:
    repo = UpstreamRepo(tmp_path / "up")
    c0 = repo.commit({"a": "0"}, "c0")
    c1 = repo.commit({"a": "1"}, "c1 (#1)")
    repo.branch("feature")
    f1 = repo.commit({"f": "1"}, "f1", branch="feature")
    c2 = repo.commit({"a": "2"}, "c2")
    m = repo.merge("feature", "Merge pull request #9 from x/feature")
    mirror = update_mirror(repo.url, tmp_path / "cache")
    history = History(mirror)
    assert history.resolve("main") == m
    assert history.candidates(c0, m) == [c1, c2, m]
    assert f1 not in history.candidates(c0, m)
    merge = history.commit(m)
    assert merge.is_merge
    assert merge.pr_url("o/r") == "https://github.com/o/r/pull/9"
    assert history.commit(c1).pr == 1
    with pytest.raises(SourceError, match="not an ancestor"):
        history.candidates(m, c0)
    # the mirror follows the upstream on the next update
    c3 = repo.commit({"a": "3"}, "c3")
    assert History(update_mirror(repo.url, tmp_path / "cache")).resolve("main") == c3
