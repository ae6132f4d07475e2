"""The static export and the served overview over hostile values in the database (what a
hand-made or hostile result bundle can put there): nothing is written outside the site,
and the rest of the dashboard is built and served."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from harness.dashboard.pages import Pages
from harness.dashboard.site import build_site, inside
from harness.errors import HarnessError
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
    assert stats.pages == len(written)
    assert "cells/demo__cpu__host.html" in written
    assert not [p for p in written if "escaped" in p or "evil" in p or "__up" in p]
    assert not list(tmp_path.rglob("escaped*"))
    assert {p.name for p in tmp_path.iterdir()} == {"h.db", "pub"}
