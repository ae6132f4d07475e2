"""Fixtures for the source tests: hermetic git, fixture upstreams and a prepare helper."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.source import Checkout, prepare_source
from tests.gitrepos import UpstreamRepo
from tests.source.util import build_demo

Prepare = Callable[..., Checkout]


@pytest.fixture(autouse=True)
def _hermetic_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness's own git calls ignore the user's config and never ask anyone."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("GIT_ASKPASS", "SSH_ASKPASS", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> UpstreamRepo:
    return build_demo(UpstreamRepo(tmp_path_factory.mktemp("template"), "demo"))


@pytest.fixture
def repo(demo_template: UpstreamRepo, tmp_path: Path) -> UpstreamRepo:
    """A fresh demo upstream (see build_demo) the test may change."""
    return demo_template.copy_to(tmp_path / "remote")


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def prepare(tmp_path: Path, cache: Path) -> Prepare:
    """``prepare(url_or_repo, ref, name="wt", **kw)``: a checkout under tmp_path/work/<name>."""

    def run(
        source: UpstreamRepo | str, ref: str | None = None, name: str = "wt", **kw: object
    ) -> Checkout:
        url = source.url if isinstance(source, UpstreamRepo) else source
        kw.setdefault("default_branch", "main")
        return prepare_source(
            url=url,
            ref=ref,
            cache_dir=cache,
            work_dir=tmp_path / "work" / name,
            **kw,  # type: ignore[arg-type]
        )

    return run
