"""A result format installed as its own package is found through the
``harness.result_formats`` entry point: a suite names it, a real run parses a file of it
(real pip install); without the package the suite is refused with a located error."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import Result
from tests.gitrepos import UpstreamRepo

Harness = Callable[..., Result]
TAP_LINES = ["TAP version 13", "ok 1 - alpha", "not ok 2 - beta", "ok 3 - gamma # SKIP no device"]


def tap_suite(url: str, fmt: str = "tap") -> str:
    lines = " ".join(f"'{line}'" for line in [*TAP_LINES, "1..3"])
    return textwrap.dedent(
        f"""\
        name: tapdemo
        upstream:
          repo: example/demo
          url: {url}
          default_branch: main
        backends:
          cpu:
            test:
              - name: tap
                run: |
                  printf '%s\\n' {lines} > {{results_dir}}/out.tap
                results:
                  - path: out.tap
                    format: {fmt}
        """
    )


def test_a_plugin_format_parses_a_real_run(
    harness: Harness, extension_site: Path, suites_dir: Path, upstream: UpstreamRepo
) -> None:
    (suites_dir / "tapdemo.yaml").write_text(tap_suite(upstream.url))
    env = {"PYTHONPATH": str(extension_site)}
    res = harness("run", "tapdemo", "--json", env=env)
    assert res.code == 1, res.err  # beta failed
    (run,) = res.json()["runs"]
    assert run["status"] == "failed"
    assert run["counts"]["passed"] == 1
    assert run["counts"]["failed"] == 1
    assert run["counts"]["skipped"] == 1
    shown = harness("runs", "show", str(run["run_id"]), "--json", env=env)
    assert shown.code == 0, shown.err
    assert "beta" in shown.out


def test_without_the_package_the_format_is_a_located_error(
    harness: Harness, suites_dir: Path, upstream: UpstreamRepo
) -> None:
    (suites_dir / "tapdemo.yaml").write_text(tap_suite(upstream.url))
    res = harness("suites", "lint", str(suites_dir / "tapdemo.yaml"))
    assert res.code == 2
    err = " ".join((res.out + res.err).split())
    assert "tapdemo.yaml:14:" in err
    assert "format: unknown result format 'tap'" in err
    assert "harness.result_formats" in err
    (suites_dir / "tapdemo.yaml").write_text(tap_suite(upstream.url, fmt="junti"))
    res = harness("suites", "lint", str(suites_dir / "tapdemo.yaml"))
    assert "did you mean 'junit'?" in " ".join((res.out + res.err).split())
