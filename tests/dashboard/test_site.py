"""The static export and the served overview over hostile values in the database (what a
hand-made or hostile result bundle can put there): nothing is written outside the site,
and the rest of the dashboard is built and served."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from harness.dashboard.pages import Pages
from harness.dashboard.site import MARKER, build_site, inside
from harness.errors import ConfigError, HarnessError
from harness.results.model import Outcome, TestResult
from harness.service.app import create_app
from harness.store import Store


def add_run(store: Store, tmp: Path, cell: str, sha: str | None) -> None:
    parts = cell.split("/")
    run_id = store.start_run(
        job_id=None, cell=cell, suite=parts[0], backend=parts[1] if len(parts) > 1 else "?",
        variant=parts[-1], upstream="example/demo", ref=None, sha=sha, executor="local",
        log_dir=str(tmp), out_dir=str(tmp),
    )  # fmt: skip
    store.add_results(run_id, [TestResult("t::ok", Outcome.PASSED)])
    store.finish_run(run_id, status="passed", reason=None, counts={"passed": 1}, duration_s=1.0)


@pytest.mark.parametrize(
    "rel", ["../x.html", "prs/../../x.html", "/etc/passwd", "cells/.hidden.html", "a//b.html"]
)
def test_only_plain_paths_inside_the_site_are_written(tmp_path: Path, rel: str) -> None:
    with pytest.raises(HarnessError, match="not a plain path inside the site"):
        inside(tmp_path, rel)
    assert inside(tmp_path, "cells/demo__cpu__host-p2.html") == (
        tmp_path / "cells" / "demo__cpu__host-p2.html"
    )


def test_hostile_cells_and_shas_never_leave_the_site(tmp_path: Path) -> None:
    site = tmp_path / "pub" / "site"
    with Store.open(f"sqlite:///{tmp_path / 'h.db'}") as store:
        add_run(store, tmp_path, "demo/cpu/host", "a" * 40)
        add_run(store, tmp_path, "demo/cpu/host", "../../../escaped")  # a sha that is a path
        add_run(store, tmp_path, "evil/cpu/x/../../../../escaped2", "b" * 40)  # extra parts
        add_run(store, tmp_path, "../up/cpu", "c" * 40)
        stats = build_site(Pages(store), site)
        served = TestClient(create_app(store, None, pages=Pages(store, served=True)))
        assert served.get("/").status_code == 200  # was a 500
    written = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    assert stats.pages == len(written - {MARKER})
    assert "cells/demo__cpu__host.html" in written
    assert not [p for p in written if "escaped" in p or "evil" in p or "__up" in p]
    assert not list(tmp_path.rglob("escaped*"))
    assert {p.name for p in tmp_path.iterdir()} == {"h.db", "pub"}


def test_only_a_new_empty_or_earlier_site_directory_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``-o victim`` once emptied any directory, ``-o .`` the current one."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "important.txt").write_text("keep me")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.chdir(home)
    with Store.open(f"sqlite:///{tmp_path / 'h.db'}") as store:
        add_run(store, tmp_path, "demo/cpu/host", "a" * 40)
        with pytest.raises(ConfigError, match="not a dashboard site built here"):
            build_site(Pages(store), victim)
        with pytest.raises(ConfigError, match="the current directory"):
            build_site(Pages(store), Path("."))
        with pytest.raises(ConfigError, match="the current directory or holds it"):
            build_site(Pages(store), tmp_path)
        (tmp_path / "a-file").write_text("x")
        with pytest.raises(ConfigError, match="not a directory"):
            build_site(Pages(store), tmp_path / "a-file")
        site = tmp_path / "site"
        build_site(Pages(store), site)  # new
        (site.parent / "site.old").mkdir()  # a sibling the swap once deleted
        (site.parent / "site.old" / "mine").write_text("mine")
        build_site(Pages(store), site)  # a site built before: replaced
        empty = tmp_path / "empty"
        empty.mkdir()
        build_site(Pages(store), empty)
    assert (victim / "important.txt").read_text() == "keep me"
    assert (site / "index.html").is_file()
    assert (site / MARKER).is_file()
    assert (empty / "index.html").is_file()
    assert (tmp_path / "site.old" / "mine").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".site")]


def test_every_suite_has_a_row_even_without_results(tmp_path: Path) -> None:
    """The overview listed only the suites the service config reports on (no OpenCV)."""
    from harness.config.loader import load_suites
    from harness.dashboard.context import dashboard_context

    suites_dir = Path(__file__).resolve().parents[2] / "suites"
    upstreams, expected = dashboard_context(suites_dir)
    with Store.open(f"sqlite:///{tmp_path / 'h.db'}") as store:
        html = Pages(
            store, suites_dir=suites_dir, expected_cells=expected, upstreams=upstreams
        ).overview()
    for suite in load_suites(suites_dir):
        assert f'href="upstreams/{suite}.html"' in html, suite
    assert "no result yet" in html
