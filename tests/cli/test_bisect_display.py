"""Where a bisection's answer is shown, from a real ``harness bisect`` of the 32-commit
fixture upstream (commit 19 breaks ``test_regress``): ``harness bisect show`` (headline
and confidence), the dashboard's run page, cell page and bisection page (parsed HTML,
rendered and served by the service app, and written by the static site build)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import lxml.html
import pytest
from fastapi.testclient import TestClient

from harness.dashboard.pages import Pages
from harness.dashboard.site import build_site
from harness.service.app import create_app
from harness.store import Store
from tests.bisect_upstream import Fixture, make_linear, suite_yaml
from tests.cli.conftest import Result

REGRESS = "tests.test_app::test_regress"


@pytest.fixture(scope="module")
def linear(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    return make_linear(tmp_path_factory.mktemp("linear"))


@pytest.fixture
def suites_dir(tmp_path: Path, linear: Fixture, wheels: Path) -> Path:
    d = tmp_path / "suites"
    d.mkdir()
    (d / "linear.yaml").write_text(
        suite_yaml("linear", linear.repo.url, wheels=wheels, flaky_state=tmp_path / "flaky")
    )
    return d


def _text(node: lxml.html.HtmlElement) -> str:
    return " ".join(node.text_content().split())


def test_a_found_bisection_is_shown_on_the_cli_and_the_dashboard(
    harness: Callable[..., Result], linear: Fixture, db_url: str, tmp_path: Path
) -> None:
    good, bad, culprit = linear.shas[0], linear.shas[31], linear.shas[19]
    pushed = harness("run", "linear/cpu", "--ref", bad)  # the default-branch run that broke
    assert pushed.code in (0, 1), pushed.err[-2000:]
    res = harness(
        "bisect", "linear/cpu", REGRESS, "--good", good, "--bad", bad, "--json", timeout=600
    )
    assert res.code == 0, res.err[-3000:]
    doc = json.loads(res.out)
    assert doc["outcome"] == "found"
    assert doc["first_bad"]["sha"] == culprit
    bid, cell = doc["id"], doc["cell"]
    headline = f"first bad commit {culprit[:12]} “change 19” (#119) by Fixture Author"

    # the CLI: headline and confidence, and the same keys in --json
    shown = harness("bisect", "show", str(bid))
    assert shown.code == 0, shown.err
    assert headline in shown.out
    assert "confidence high:" in shown.out
    assert "https://github.com/example/linear/pull/119" in shown.out
    as_json = json.loads(harness("bisect", "show", str(bid), "--json").out)
    assert as_json["headline"] == headline
    assert as_json["confidence"] == "high"
    assert as_json["outcome"] == "found"  # the stored row's keys are still there

    with Store.open(db_url) as store:
        pages = Pages(store)
        # the run page of the run that broke lists the bisection about it
        with store.reading("t") as r:
            bad_run = r.bisections.latest_run_at(cell, bad)
        assert bad_run is not None
        run_page = lxml.html.fromstring(pages.run(bad_run))
        (item,) = run_page.xpath("//ul[@class='bisections']/li")
        assert headline in _text(item)
        assert "confidence high" in _text(item)
        assert item.xpath(".//a/@href")[0] == f"../bisections/{bid}.html"
        slug = cell.replace("/", "__")
        assert f"../cells/{slug}.html" in run_page.xpath("//a/@href")

        # the cell page (its test history) lists its bisections
        cell_page = lxml.html.fromstring(pages.grid(slug))
        (listed,) = cell_page.xpath("//ul[@class='bisections']/li")
        assert headline in _text(listed)

        # the bisection page: answer, confidence, tests followed, every probe with its runs
        page = lxml.html.fromstring(pages.bisection(bid))
        assert _text(page.xpath("//p[@class='answer']")[0]) == headline
        assert page.xpath("//b[@class='confidence']/text()") == ["high"]
        assert "https://github.com/example/linear/pull/119" in page.xpath("//a/@href")
        rows = page.xpath("//table[@class='probes']/tbody/tr")
        assert len(rows) == len(doc["steps"])
        assert [_text(r.xpath("td")[0]) for r in rows][:2] == ["bad", "good"]
        culprit_row = next(r for r in rows if culprit[:12] in _text(r.xpath("td")[1]))
        assert _text(culprit_row.xpath("td")[2]).startswith("bad")
        assert "failed failed failed" in _text(culprit_row.xpath("td")[3])
        linked = {
            int(h.split("/")[-1].removesuffix(".html"))
            for h in page.xpath("//td/a/@href")
            if "/runs/" in h
        }
        assert linked == set(doc["runs"]["reused"]) | set(doc["runs"]["new"])

        # served by the service at the same path, under the pages' CSP
        client = TestClient(create_app(store, None, pages=pages))
        served = client.get(f"/bisections/{bid}.html")
        assert served.status_code == 200
        assert headline in served.text
        assert "script-src" in served.headers["content-security-policy"]
        assert client.get("/bisections/999999.html").status_code == 404
        api = client.get(f"/api/bisections/{bid}").json()
        assert (api["headline"], api["confidence"]) == (headline, "high")

        # the static site writes the bisection page its run and cell pages link to
        build_site(pages, tmp_path / "site")
    written = tmp_path / "site" / "bisections" / f"{bid}.html"
    assert headline in written.read_text()
    assert (tmp_path / "site" / "runs" / f"{bad_run}.html").is_file()
    assert 'http-equiv="Content-Security-Policy"' in written.read_text()
