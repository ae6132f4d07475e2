"""The cell boundary is total: an exception that is not a harness error (here from a
vendor backend plugin with a bug, found through its real ``harness.backends`` entry
point) makes that cell's run ``error`` with the reason and traceback, the next cell
still runs, and the exit code says "internal error" (4), never "test failures" (1)."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.cli import cli, main
from harness.errors import EXIT_INTERNAL
from tests.cli.conftest import Result
from tests.cli.test_backend_plugin import XACC_LIST
from tests.cli.test_run_backend import accel_suite
from tests.fake_devices import install_tool
from tests.gitrepos import UpstreamRepo

Harness = Callable[..., Result]

BUGGY = """
from harness_backend_example import XaccBackend


class BuggyBackend(XaccBackend):
    name = "buggy"
    device_type = "xacc"
    priority = 1

    def pin_environment(self, devices):
        # a vendor bug: a key the new driver no longer reports
        return {"XACC_VISIBLE_DEVICES": {}["XACC_HOME"]}
"""


@pytest.fixture
def buggy_env(plugin_site: Path, host_bin: Path, tmp_path: Path) -> dict[str, str]:
    """The example plugin plus a second one, ``buggy``, registered like any package."""
    site = tmp_path / "buggy-site"
    site.mkdir()
    (site / "buggy_backend.py").write_text(BUGGY)
    info = site / "buggy_backend-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: buggy-backend\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [harness.backends]
            buggy = buggy_backend:BuggyBackend
            """
        )
    )
    listing = tmp_path / "xacc-list.txt"
    listing.write_text(XACC_LIST)
    tools = tmp_path / "tools"
    install_tool(tools, "xacc-smi", {"--list": listing})
    path = ":".join(filter(None, [str(site), str(plugin_site), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": path, "PATH": f"{tools}:{host_bin}"}


def test_an_unexpected_exception_is_an_error_run_and_the_next_cell_runs(
    harness: Harness,
    buggy_env: dict[str, str],
    suites_dir: Path,
    upstream: UpstreamRepo,
    wheels: Path,
    tmp_path: Path,
) -> None:
    (suites_dir / "accel.yaml").write_text(accel_suite(upstream.url, wheels, ("buggy", "cpu")))
    res = harness("run", "accel/buggy", "accel/cpu", "--json", env=buggy_env)
    assert res.code == EXIT_INTERNAL, (res.code, res.err[-2000:])
    runs = {r["cell"]: r for r in res.json()["runs"]}
    assert runs["accel/buggy/host"]["status"] == "error"
    assert runs["accel/cpu/host"]["status"] == "passed"  # the next cell ran
    listed = harness("runs", "list", "--json", env=buggy_env).json()["runs"]
    buggy = next(r for r in listed if r["cell"] == "accel/buggy/host")
    assert buggy["status"] == "error"
    assert "internal error: KeyError: 'XACC_HOME'" in buggy["reason"]
    (log,) = (tmp_path / "reports" / "out").glob("*/logs/accel__buggy__host/harness-error.log")
    assert "pin_environment" in log.read_text()  # the traceback, for the bug report
    assert "Traceback" not in res.out


def test_a_plugin_that_cannot_load_is_named(
    harness: Harness, buggy_env: dict[str, str], tmp_path: Path
) -> None:
    site = Path(buggy_env["PYTHONPATH"].split(":")[0])
    (site / "buggy_backend.py").write_text("import xacc_runtime_that_is_not_installed\n")
    res = harness("doctor", "--backend", "buggy", env=buggy_env)
    assert res.code == 2, (res.code, res.err[-2000:])
    assert "backend plugin 'buggy' (buggy_backend:BuggyBackend) cannot be loaded" in res.err
    assert "ModuleNotFoundError" in res.err


def test_main_maps_any_exception_to_exit_4(capsys: pytest.CaptureFixture[str]) -> None:
    @cli.command("explode-for-test", hidden=True)
    def explode() -> None:
        raise RuntimeError("the unforeseen")

    try:
        assert main(["explode-for-test"]) == EXIT_INTERNAL
    finally:
        cli.commands.pop("explode-for-test")
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: the unforeseen" in err
    assert "Traceback" in err  # for the bug report
