"""The dashboard in a real browser: served by ``harness serve`` and exported as a static
site behind a plain file server, over a database filled by real runs."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from tests.dashboard.conftest import Filled, plain_file_server, shoot

CELL = "demo/cpu/host"
SLUG = "demo__cpu__host"
HOSTILE = "<script>alert(1)</script>"


def test_overview_grid_filter_and_run_served(served: str, page: Any, filled: Filled) -> None:
    page.goto(served + "/")
    tile = page.locator(f'a.tile[data-cell="{CELL}"]')
    assert tile.count() == 1
    assert "fail" in (tile.get_attribute("class") or "")
    assert "passed" in tile.inner_text()
    shoot(page, "overview")

    tile.click()
    page.wait_for_url(f"**/cells/{SLUG}.html")
    rows = page.locator("#grid tbody tr")
    names = [rows.nth(i).get_attribute("data-test") for i in range(rows.count())]
    # tests failing in the shown runs come first; the fixture's passing ones last
    assert (
        names[-1] == "tests.test_basic::test_skipped"
        or int(rows.nth(rows.count() - 1).get_attribute("data-bad")) == 0
    )
    assert int(rows.nth(0).get_attribute("data-bad")) > 0
    assert "tests.test_basic::test_pass" in names
    assert any(HOSTILE in (n or "") for n in names)
    shoot(page, "grid")

    # the filter form goes to the server (works without JavaScript)
    page.fill("input[name=q]", "test_pass")
    page.click("form.filter button")
    page.wait_for_url("**q=test_pass**")
    rows = page.locator("#grid tbody tr")
    assert [rows.nth(i).get_attribute("data-test") for i in range(rows.count())] == [
        "tests.test_basic::test_pass"
    ]
    page.select_option("select[name=status]", "failing")
    page.fill("input[name=q]", "")
    page.click("form.filter button")
    page.wait_for_url("**status=failing**")
    failing = page.locator("#grid tbody tr")
    assert failing.count() >= 4  # test_pass, two hostile ones, the fixture's test_fail/error

    # the newest run (the pull request's) lists its new failure with the message
    page.locator("thead th.run a").first.click()
    page.wait_for_url("**/runs/*.html")
    body = page.inner_text("main")
    assert "New failures" in body
    assert "tests.test_basic::test_pass" in body
    assert "arithmetic broke on this backend" in body
    assert filled.pr_sha in body
    shoot(page, "run")

    # all cells at that commit
    page.click(f'a[href$="prs/{filled.pr_sha}.html"]')
    assert CELL in page.inner_text("main")


def test_hostile_test_names_stay_text(served: str, page: Any) -> None:
    for path in (f"/cells/{SLUG}.html", f"/cells/{SLUG}.html?q=hostile"):
        page.goto(served + path)
        assert page.locator("img[src=x]").count() == 0
        # only the page's own filter script
        assert page.locator("script").count() == 1
        assert page.get_by_text(HOSTILE, exact=False).count() >= 1
    page.goto(served + "/")
    run_link = page.locator("a.tile").first.get_attribute("href")
    assert run_link is not None
    page.goto(served + f"/cells/{SLUG}.html")
    page.locator("thead th.run a").first.click()
    html = page.content()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    shoot(page, "hostile-run")
    # the page fixture fails the test if any alert() ran


def test_static_export_works_from_a_plain_file_server(page: Any, filled: Filled) -> None:
    out = filled.tmp / "site"
    built = subprocess.run(
        [sys.executable, "-m", "harness", "dashboard", "build", "--out", str(out), "--json"],
        env=filled.env, cwd=filled.tmp, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert (out / "index.html").is_file()
    assert (out / "badges" / "demo-cpu.svg").is_file()
    proc, url = plain_file_server(out)
    try:
        import time

        for _ in range(50):
            try:
                page.goto(url + "/index.html")
                break
            except Exception:  # the file server is still starting
                time.sleep(0.1)
        page.locator(f'a.tile[data-cell="{CELL}"]').click()
        page.wait_for_url(f"**/cells/{SLUG}.html")
        rows = page.locator("#grid tbody tr")
        total = rows.count()
        assert total > 5
        # no server: the filter runs in the page
        page.fill("input[name=q]", "test_param")
        visible = page.locator("#grid tbody tr:not([hidden])")
        assert visible.count() == 3
        page.select_option("select[name=status]", "failing")
        assert page.locator("#grid tbody tr:not([hidden])").count() == 0
        page.fill("input[name=q]", "")
        page.select_option("select[name=status]", "")
        assert page.locator("#grid tbody tr:not([hidden])").count() == total
        page.locator("thead th.run a").first.click()
        page.wait_for_url("**/runs/*.html")
        assert "tests.test_basic::test_pass" in page.inner_text("main")
        shoot(page, "static-run")
        # one upstream across its cells, at test level
        page.goto(url + "/index.html")
        page.click('a[href="upstreams/demo.html"]')
        page.wait_for_url("**/upstreams/demo.html")
        assert "tests.test_basic::test_pass" in page.inner_text("#grid")
        assert "cpu/host" in page.inner_text("#grid thead")
        page.goto(url + "/badges/demo-cpu.svg")
        assert "demo on cpu" in page.content()
        page.goto(url + "/ops.html")
        assert "No op results yet" in page.inner_text("main")
    finally:
        proc.terminate()
        proc.wait(timeout=60)
