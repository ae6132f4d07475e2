"""A real stack bisection (``harness bisect CELL --stack`` over the fixture whose
fakelib 1.2 breaks ``test_feature``) shown where users look: ``harness bisect show``'s
headline and confidence, the run page of its bad run and the bisection page with every
probe's pins."""

from __future__ import annotations

from collections.abc import Callable

import lxml.html

from harness.dashboard.pages import Pages
from harness.store import Store
from tests.cli.conftest import Result
from tests.cli.test_bisect_stack import bisect_stack, run_with, stack_setup  # noqa: F401
from tests.gitrepos import UpstreamRepo


def test_a_stack_answer_is_shown_with_its_confidence(
    stack_setup: UpstreamRepo,  # noqa: F811
    harness: Callable[..., Result],
    db_url: str,
) -> None:
    good = run_with(harness, "fakelib=1.0", "otherlib=2.0")
    bad = run_with(harness, "fakelib=1.3", "otherlib=2.1")
    res = bisect_stack(harness, good, bad, "--json")
    assert res.code == 0, res.err[-3000:]
    bid = res.json()["id"]
    headline = "stack: fakelib 1.2 flips the tests"

    shown = harness("bisect", "show", str(bid), "--json").json()
    assert (shown["headline"], shown["confidence"]) == (headline, "high")
    assert shown["confidence_reason"] == "found in 4 probe(s), every probe decided"
    text = harness("bisect", "show", str(bid)).out
    assert headline in text
    assert "confidence high" in text

    with Store.open(db_url) as store:
        pages = Pages(store)
        run_page = lxml.html.fromstring(pages.run(bad))
        (item,) = run_page.xpath("//ul[@class='bisections']/li")
        assert headline in item.text_content()
        page = lxml.html.fromstring(pages.bisection(bid))
        assert page.xpath("//p[@class='answer']")[0].text_content() == headline
        rows = page.xpath("//table[@class='probes']/tbody/tr")
        pins = [" ".join(r.xpath("td")[1].itertext()) for r in rows]  # one pin a line
        assert "fakelib=1.2 otherlib=2.0" in pins
        assert "stack component" in page.text_content()
