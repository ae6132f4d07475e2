"""A run whose test steps run llama.cpp's real test-backend-ops: the op support matrix is
stored and shown by ``harness runs show``; CPU-fallback warnings in step logs are counted."""

from __future__ import annotations

import csv
import io
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import Result
from tests.gitrepos import UpstreamRepo

Harness = Callable[..., Result]


def ops_suite(url: str) -> str:
    tbo = '"$HARNESS_TBO"'
    return textwrap.dedent(
        f"""\
        name: ops
        upstream:
          repo: example/demo
          url: {url}
        backends:
          cpu:
            test:
              - name: backend-ops
                run: |
                  {tbo} test -b CPU -o ADD > {{results_dir}}/backend-ops.txt
                  cat {{source_dir}}/fallback.log
                results:
                  - path: backend-ops.txt
                    format: test-backend-ops
              - name: support
                run: >-
                  {tbo} support -b CPU -o ADD,SCALE --output csv
                  > {{results_dir}}/support.csv
                results:
                  - path: support.csv
                    format: test-backend-ops-csv
        """
    )


def test_op_matrix_and_fallbacks_are_stored_and_shown(
    harness: Harness, backend_ops: Path, suites_dir: Path, tmp_path: Path
) -> None:
    repo = UpstreamRepo(tmp_path / "ops-upstream", name="ops")
    line = (
        "[W VariableFallbackKernel.cpp:51] Warning: CAUTION: The operator "
        "'aten::isin.Tensor_Tensor_out' is not currently supported on the NPU backend and "
        "will fall back to run on the CPU. This may have performance implications. "
        "(function npu_cpu_fallback)\n"
    )
    repo.commit({"fallback.log": line * 2})
    (suites_dir / "ops.yaml").write_text(ops_suite(repo.url))
    res = harness("run", "ops/cpu", "--json", env={"HARNESS_TBO": str(backend_ops)})
    assert res.code == 0, res.err
    (run,) = res.json()["runs"]
    assert run["counts"]["passed"] > 0
    shown = harness("runs", "show", "1", "--json").json()
    cov = {(o["device"], o["op"]): o for o in shown["op_coverage"]}
    assert set(cov) == {("CPU", "ADD"), ("CPU", "SCALE")}
    add = cov[("CPU", "ADD")]
    # ADD appears in test mode (every case passed) and support mode, each counted on its
    # own: the test-mode cases are the run's tests, the support-mode ones the rows of the
    # binary's own support CSV (adding the modes up counted every parameter set twice)
    assert add["passed"] == run["counts"]["passed"]
    assert add["cases"] == sum(run["counts"].values())
    assert add["failed"] == 0
    assert add["status"] == "passing"
    direct = subprocess.run(
        [str(backend_ops), "support", "-b", "CPU", "-o", "ADD", "--output", "csv"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(direct)))
    assert rows
    assert {r["test_mode"] for r in rows} == {"support"}
    assert add["support_cases"] == len(rows)
    assert add["support_supported"] == sum(r["supported"] == "1" for r in rows)
    assert add["support_status"] == "supported"
    scale = cov[("CPU", "SCALE")]  # asked in support mode only
    assert (scale["cases"], scale["status"]) == (0, scale["support_status"])
    assert shown["cpu_fallbacks"] == [
        {"backend": "npu", "op": "aten::isin.Tensor_Tensor_out", "warnings": 2}
    ]
    text = harness("runs", "show", "1", "--ops", env={"COLUMNS": "200"})
    statuses = sorted(["passing", scale["status"]])  # SCALE: asked, never tested
    assert f"op coverage on CPU: 2 ops, 1 {statuses[0]}, 1 {statuses[1]}" in text.out
    assert "fell back to the CPU: aten::isin.Tensor_Tensor_out (2x)" in text.out


def test_run_and_verdict_totals_agree_when_a_case_name_repeats(
    harness: Harness, backend_ops: Path, suites_dir: Path, tmp_path: Path
) -> None:
    # the real binary prints one LEAKY_RELU case name twice (7 tests, 6 distinct names)
    repo = UpstreamRepo(tmp_path / "ops-upstream", name="ops")
    repo.commit({"fallback.log": ""})
    suite = ops_suite(repo.url).replace("-o ADD >", "-o LEAKY_RELU >")
    (suites_dir / "ops.yaml").write_text(suite)
    res = harness("run", "ops/cpu", "--json", env={"HARNESS_TBO": str(backend_ops)})
    assert res.code == 0, res.err
    (run,) = res.json()["runs"]
    assert sum(run["counts"].values()) == 7
    verdict = harness("verdict", str(run["run_id"]), "--json", "--all").json()
    assert verdict["coverage"]["collected"] == 7
    assert verdict["coverage"]["passed"] == run["counts"]["passed"] == 7
