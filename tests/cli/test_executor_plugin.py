"""An executor installed as its own package is found through the ``harness.executors``
entry point and runs real cells, with no change to the harness (real pip install); what
it declares decides whether it gets an untrusted author's code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import Result
from tests.cli.test_run_backend import accel_suite
from tests.gitrepos import UpstreamRepo

Harness = Callable[..., Result]


def journal(cache: Path) -> list[str]:
    path = cache / "executor-journal.log"
    return path.read_text().splitlines() if path.exists() else []


def test_a_plugin_executor_runs_a_cell(
    harness: Harness, extension_site: Path, shared_cache: Path
) -> None:
    env = {"PYTHONPATH": str(extension_site)}
    res = harness(
        "run", "demo/cpu", "--subset", "passing", "--executor", "journal", "--json", env=env
    )
    assert res.code == 0, res.err
    (run,) = res.json()["runs"]
    assert (run["cell"], run["status"]) == ("demo/cpu/host", "passed")
    assert run["counts"]["passed"] > 0
    assert "journal test unit" in journal(shared_cache)  # the plugin ran the step
    fingerprint = harness("runs", "env", str(run["run_id"]), "--json", env=env).json()
    assert fingerprint["fingerprint"]["executor"] == "journal"


def test_doctor_lists_plugin_executors_with_what_they_declare(
    harness: Harness, extension_site: Path
) -> None:
    res = harness("doctor", "--json", "--no-host", env={"PYTHONPATH": str(extension_site)})
    assert res.code == 0, res.err
    executors = {e["name"]: e for e in res.json()["executors"]}
    assert executors["journal"]["origin"] == "harness-extension-example 0.1.0"
    # declares nothing: the least (an isolates_untrusted attribute is no declaration)
    assert executors["journal"]["isolation"] == "none"
    assert not executors["journal"]["isolates_untrusted"]
    assert executors["journal"]["devices"] == []
    assert executors["pretend-vm"]["isolation"] == "vm"
    assert executors["pretend-vm"]["isolates_untrusted"]
    assert executors["docker"]["isolation"] == "container"
    assert executors["local"]["isolation"] == "none"


def test_untrusted_code_only_goes_to_an_executor_that_declares_isolation(
    harness: Harness, extension_site: Path, shared_cache: Path
) -> None:
    env = {"PYTHONPATH": str(extension_site)}
    before = journal(shared_cache)
    res = harness(
        "run",
        "demo/cpu",
        "--subset",
        "passing",
        "--executor",
        "journal",
        "--untrusted",
        "--json",
        env=env,
    )
    assert res.code == 3, res.err
    (run,) = res.json()["runs"]
    assert run["status"] == "error"
    assert "the journal executor does not" in run["reason"]
    assert journal(shared_cache) == before  # not one step of it ran
    res = harness(
        "run",
        "demo/cpu",
        "--subset",
        "passing",
        "--executor",
        "pretend-vm",
        "--untrusted",
        "--json",
        env=env,
    )
    assert res.code == 0, res.err
    assert res.json()["runs"][0]["status"] == "passed"
    assert "pretend-vm test unit" in journal(shared_cache)


def test_without_the_package_the_executor_is_unknown(harness: Harness) -> None:
    res = harness("run", "demo/cpu", "--subset", "passing", "--executor", "journal")
    assert res.code == 2
    assert "'journal' is not one of" in res.err


def test_an_executor_gets_only_cells_whose_devices_it_declares(
    harness: Harness,
    extension_site: Path,
    plugin_site: Path,
    suites_dir: Path,
    upstream: UpstreamRepo,
    wheels: Path,
) -> None:
    (suites_dir / "accel.yaml").write_text(accel_suite(upstream.url, wheels, ("cpu", "xacc")))
    env = {"PYTHONPATH": f"{extension_site}:{plugin_site}"}
    res = harness("run", "accel/xacc", "--executor", "journal", env=env)
    assert res.code == 2
    err = " ".join(res.err.split())
    assert "the journal executor cannot give a step the devices of xacc" in err
    assert "(it declares devices: none)" in err
