"""A suite's env holds defaults: the operator's own value of a name wins, except for the
names the suite pins (``env_pinned``); suite, backend and step env layer in that order."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import Result
from tests.gitrepos import UpstreamRepo

Harness = Callable[..., Result]

#: a test step that reports each variable's value as the name of a passing test
REPORT = r"""
for v in HARNESS_KNOB HARNESS_PINNED HARNESS_STEP PLAIN; do
  cases="$cases<testcase classname=\"env\" name=\"$v=${!v-unset}\"/>"
done
echo "<testsuite name=\"env\">$cases</testsuite>" > {results_dir}/env.xml
"""


def env_suite(url: str) -> str:
    return textwrap.dedent(
        f"""\
        name: envs
        upstream:
          repo: example/envs
          url: {url}
        env:
          HARNESS_KNOB: suite
          HARNESS_PINNED: suite
          PLAIN: suite
        env_pinned: [HARNESS_PINNED]
        backends:
          cpu:
            env:
              PLAIN: backend
            test:
              - name: report
                env:
                  HARNESS_STEP: step
                run: |
        @REPORT@
                results:
                  - path: env.xml
                    format: junit
        """
    ).replace("@REPORT@\n", textwrap.indent(REPORT.strip(), " " * 10) + "\n")


def seen(harness: Harness, env: dict[str, str]) -> set[str]:
    res = harness("run", "envs/cpu", "--json", env=env)
    assert res.code == 0, res.err
    (run,) = res.json()["runs"]
    shown = harness("runs", "show", str(run["run_id"]), "--results", "--json").json()
    return {r["test_id"].rsplit("::", 1)[-1].removeprefix("env.") for r in shown["results"]}


def test_operator_overrides_suite_defaults_but_not_pinned_values(
    harness: Harness, suites_dir: Path, tmp_path: Path
) -> None:
    repo = UpstreamRepo(tmp_path / "envs-upstream", name="envs")
    repo.commit({"README": "env fixture\n"})
    (suites_dir / "envs.yaml").write_text(env_suite(repo.url))
    defaults = seen(harness, {})
    assert defaults == {
        "HARNESS_KNOB=suite", "HARNESS_PINNED=suite", "HARNESS_STEP=step", "PLAIN=backend"
    }  # fmt: skip
    operator = {"HARNESS_KNOB": "", "HARNESS_PINNED": "operator", "HARNESS_STEP": "operator"}
    assert seen(harness, operator) == {
        "HARNESS_KNOB=",  # an operator's empty value is theirs too
        "HARNESS_PINNED=suite",
        "HARNESS_STEP=operator",
        "PLAIN=backend",  # not a variable the host passes to steps (nor --pass-env'd)
    }
