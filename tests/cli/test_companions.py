"""Suites with companion repositories: checked out beside the upstream, paired by branch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import Result
from tests.cli.test_run_backend import accel_suite
from tests.gitrepos import UpstreamRepo

Harness = Callable[..., Result]


@pytest.fixture
def extra(tmp_path: Path) -> UpstreamRepo:
    repo = UpstreamRepo(tmp_path / "extra-repo", name="extra")
    repo.commit({"data.txt": "main\n"})
    repo.commit({"data.txt": "paired\n"}, branch="fix-resize")
    return repo


def write_suite(suites_dir: Path, upstream: UpstreamRepo, wheels: Path, companions: str) -> None:
    text = accel_suite(upstream.url, wheels, ("cpu",))
    text = text.replace(
        "                cd {source_dir}\n",
        "                cp {repos_dir}/extra/data.txt . || echo missing > data.txt\n"
        "                cd {source_dir}\n",
    )
    text = text.replace("backends:\n", f"companions:\n{companions}backends:\n", 1)
    (suites_dir / "accel.yaml").write_text(text)


def data_seen(tmp_path: Path) -> str:
    (found,) = (tmp_path / "reports" / "out").glob("*/results/accel__cpu__host/test-*/data.txt")
    text = found.read_text().strip()
    found.unlink()
    return text


def test_companion_default_branch_then_paired_branch(
    harness: Harness,
    suites_dir: Path,
    upstream: UpstreamRepo,
    wheels: Path,
    extra: UpstreamRepo,
    tmp_path: Path,
) -> None:
    write_suite(
        suites_dir,
        upstream,
        wheels,
        f"  - name: extra\n    repo: example/extra\n    url: {extra.url}\n",
    )
    res = harness("run", "accel/cpu", "--json")
    assert res.code == 0, res.err
    assert data_seen(tmp_path) == "main"
    assert "companion extra: default branch main" in res.err

    res = harness("run", "accel/cpu", "--pr-head", "alice:fix-resize", "--json")
    assert res.code == 0, res.err
    assert data_seen(tmp_path) == "paired"
    assert "companion extra: branch fix-resize" in res.err
    sources = harness("runs", "show", "2", "--json").json()["environment"]["sources"]
    assert sources["extra"]["ref"] == "fix-resize"
    assert sources["extra"]["sha"] == extra.rev_parse("fix-resize")


def test_missing_companion_is_an_error_unless_optional(
    harness: Harness, suites_dir: Path, upstream: UpstreamRepo, wheels: Path, tmp_path: Path
) -> None:
    gone = tmp_path / "nowhere" / "extra.git"
    companion = f"  - name: extra\n    repo: example/extra\n    url: {gone}\n"
    write_suite(suites_dir, upstream, wheels, companion)
    res = harness("run", "accel/cpu", "--json")
    assert res.code == 3
    assert res.json()["runs"][0]["status"] == "error"

    write_suite(suites_dir, upstream, wheels, companion + "    optional: true\n")
    res = harness("run", "accel/cpu", "--json")
    assert res.code == 0, res.err
    assert "optional companion extra left out" in res.err
    assert data_seen(tmp_path) == "missing"
