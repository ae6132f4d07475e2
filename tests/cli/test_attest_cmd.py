"""``harness attest`` end to end: a runner's key made by ``keygen``, ``harness run
--bundle`` signing a real run of the fixture upstream with it, ``verify`` checking that
attestation against the run in the database, and ``register`` writing the service's
trusted keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.cli.conftest import Result

Harness = Callable[..., Result]


def test_a_run_bundled_with_a_key_is_signed_and_verifies(harness: Harness, tmp_path: Path) -> None:
    key = tmp_path / "keys" / "runner.pem"
    made = harness("attest", "keygen", "--key", str(key), "--json")
    assert made.code == 0, made.err
    kid = made.json()["key_id"]
    assert len(kid) == 64
    env = {"HARNESS_ATTEST_KEY_FILE": str(key)}
    ran = harness(
        "run", "demo/cpu", "--subset", "passing", "--bundle", str(tmp_path / "b"), "--json", env=env
    )
    assert ran.code == 0, ran.err
    assert "signed" in ran.err
    (attestation,) = (tmp_path / "b").glob("*/attestation.json")
    (run,) = ran.json()["runs"]
    db = f"sqlite:///{tmp_path / 'harness.db'}"
    checked = harness(
        "attest", "verify", str(attestation), "--key", f"{key}.pub", "--db", db,
        "--run", str(run["run_id"]), "--json",
    )  # fmt: skip
    assert checked.code == 0, checked.err
    report = checked.json()
    assert report["key_id"] == kid
    assert report["result"] == "PASSED"
    assert report["tests"]["passedTests"] == 4
    assert report["checked"] == ["signature", "commit, image and environment", "tests"]

    trusted = tmp_path / "trusted.yaml"
    reg = harness(
        "attest", "register", f"{key}.pub", "--runner", "cpu-1", "--not-after", "2030-01-01",
        "--keys", str(trusted), "--json",
    )  # fmt: skip
    assert reg.code == 0, reg.err
    (entry,) = yaml.safe_load(trusted.read_text())["keys"]
    assert (entry["runner"], entry["key_id"]) == ("cpu-1", kid)
    assert entry["not_after"].startswith("2030-01-01T00:00:00")
    again = harness("attest", "verify", str(attestation), "--keys", str(trusted), "--json")
    assert again.code == 0, again.err
    assert json.loads(again.out)["signer"] == "cpu-1"


def test_a_named_key_file_that_is_missing_stops_the_run_before_it_starts(
    harness: Harness, tmp_path: Path
) -> None:
    env = {"HARNESS_ATTEST_KEY_FILE": str(tmp_path / "nowhere.pem")}
    ran = harness("run", "demo/cpu", "--bundle", str(tmp_path / "b"), env=env)
    assert ran.code == 2
    assert "cannot read the signing key" in ran.err
    assert not (tmp_path / "b").exists()
