"""``harness participation``: pin, unpin, show and evaluate through the real CLI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import Result

CONFIG = """\
vendor: acme
upstreams:
  example/demo:
    level: comment
    cells: ["demo/cpu/*"]
"""


def test_a_pinned_level_holds_and_shows_why(
    suites_dir: Path, harness: Callable[..., Result]
) -> None:
    (suites_dir / "service").mkdir()
    (suites_dir / "service" / "config.yaml").write_text(CONFIG)

    shown = harness("participation", "show", "--json")
    assert shown.code == 0, shown.err
    (fresh,) = shown.json()["upstreams"]
    assert (fresh["level"], fresh["configured"], fresh["pinned"]) == ("comment", "comment", False)

    above = harness("participation", "pin", "example/demo", "check", "--reason", "try")
    assert above.code == 2
    assert "configured up to comment, not check" in above.err
    unknown = harness("participation", "pin", "ghost/repo", "status", "--reason", "x")
    assert unknown.code == 2

    pinned = harness(
        "participation",
        "pin",
        "example/demo",
        "status",
        "--reason",
        "release week",
        "--by",
        "alice",
    )
    assert pinned.code == 0, pinned.err
    evaluated = harness("participation", "evaluate", "--json")
    assert evaluated.code == 0, evaluated.err
    (decision,) = evaluated.json()["decisions"]
    assert (decision["after"], decision["changed"]) == ("status", False)
    assert decision["reason"] == "pinned: release week"

    (row,) = harness("participation", "show", "--json").json()["upstreams"]
    assert (row["level"], row["pinned"]) == ("status", True)
    assert [(c["to_level"], c["by"]) for c in row["history"]] == [("status", "alice")]
    assert {o["name"] for o in row["slo"]["objectives"]} == {
        "report_latency_p95",
        "missing_report_rate",
        "infra_error_rate",
        "false_red_rate",
        "coverage",
    }

    assert harness("participation", "unpin", "example/demo", "--by", "bob").code == 0
    (row,) = harness("participation", "show", "--json").json()["upstreams"]
    assert (row["level"], row["pinned"]) == ("status", False)
    assert row["history"][0]["reason"] == "unpinned by bob"
    text = harness("participation", "show")
    assert "example/demo" in text.out
