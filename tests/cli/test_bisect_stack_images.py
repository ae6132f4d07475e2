"""``harness bisect --stack`` across image variants, with real images on a real engine.

An image family (``xsdk``, from the pip-installed extension package) whose variants each
carry one version of a (fictional) vendor SDK, copied into the image from local SDK
packages, as CANN's images carry CANN: ``images/matrix.yaml`` lists SDK 7.0, 7.1 and 7.2,
and 7.1 breaks the SDK's ``scale``. A fixture upstream's test calls it. The suite
declares the image as a stack component (``versions: {images: true}``): its version is
the cell's variant. A run on the 7.0 variant passes, one on 7.2 fails; the stack
bisection between them names SDK 7.1's variant, which no run had used: its probe is a
real run of that variant's cell, in the image the docker executor builds for it. A
second bisection reuses every run. (Three variants, not more: each image build costs
about a minute on this engine; the version search itself is shown with wheels in
test_bisect_stack.py.)
"""

from __future__ import annotations

import io
import platform
import shutil
import sqlite3
import tarfile
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.container_engine import ContainerEngine
from harness.store import Store
from tests.cli.conftest import Result
from tests.docker_support import debian_base, require_docker
from tests.gitrepos import UpstreamRepo

Harness = Callable[..., Result]
ROOT = Path(__file__).resolve().parents[2]
SDKS = ("7.0", "7.1", "7.2")


def variant(sdk: str) -> str:
    return f"xsdk{sdk}-debian12-py3.11"


def cell(sdk: str) -> str:
    return f"xlib/cpu/{variant(sdk)}"


TESTS = """\
import os
import sys

sys.path.insert(0, os.environ.get("XACC_HOME", "/nonexistent"))
import xacc


def test_scale():
    assert xacc.scale(2) == 4


def test_version():
    assert xacc.VERSION
"""


def sdk_packages(dest: Path) -> Path:
    """``xacc-sdk_<v>_<arch>.tar.gz`` per SDK version: ``xacc-sdk-<v>/xacc.py``; 7.1 and
    later scale by 3 (the regression)."""
    dest.mkdir()
    for sdk in SDKS:
        factor = 3 if sdk >= "7.1" else 2
        body = f'VERSION = "{sdk}"\n\n\ndef scale(x):\n    return x * {factor}\n'.encode()
        with tarfile.open(dest / f"xacc-sdk_{sdk}_{platform.machine()}.tar.gz", "w:gz") as tar:
            info = tarfile.TarInfo(f"xacc-sdk-{sdk}/xacc.py")
            info.size, info.mode = len(body), 0o644
            tar.addfile(info, io.BytesIO(body))
    return dest


def images_dir(dest: Path) -> Path:
    dest.mkdir()
    versions = ", ".join(f'"{s}"' for s in SDKS)
    (dest / "matrix.yaml").write_text(
        textwrap.dedent(
            f"""\
            families:
              - family: xsdk
                backend: cpu
                template: xsdk-ubuntu.Dockerfile.j2
                os: debian
                os_version: ["12"]
                sdk: [{versions}]
                python: ["3.11"]
                arch: [amd64, arm64]
                default:
                  - {{sdk: "7.0"}}
            """
        )
    )
    shutil.copy(ROOT / "images" / "suite-layer.Dockerfile.j2", dest)
    return dest


def suite(url: str, wheels: Path) -> str:
    return textwrap.dedent(
        f"""\
        name: xlib
        upstream:
          repo: example/xlib
          url: {url}
          default_branch: main
        env:
          PIP_NO_INDEX: "1"
          PIP_FIND_LINKS: {wheels}
        env_pinned: [PIP_NO_INDEX, PIP_FIND_LINKS]
        default_args: tests
        stack:
          sdk:
            default: the cell's image variant
            versions:
              images: true
        backends:
          cpu:
            image:
              variants: ["xsdk7.0*", "xsdk7.2*"]
            setup:
              - name: deps
                run: "{{pip}} install -q pytest"
                timeout: 5m
            test:
              - name: unit
                run: python -m pytest -q --junitxml={{results_dir}}/unit.xml {{args}}
                timeout: 2m
                results:
                  - path: unit.xml
                    format: junit
        """
    )


@pytest.fixture
def sdk_env(
    tmp_path: Path,
    suites_dir: Path,
    wheels: Path,
    extension_site: Path,
    test_label: str,
) -> dict[str, str]:
    """The xlib suite, the image matrix of the SDK variants, and the environment of a
    docker run of them (local base image, SDK packages from a folder)."""
    engine: ContainerEngine = require_docker()
    repo = UpstreamRepo(tmp_path / "xlib-upstream", name="xlib")
    repo.commit({"tests/test_sdk.py": TESTS}, message="tests calling the SDK")
    wheels.chmod(0o755)  # mounted read-only into containers, whose user is not root
    (suites_dir / "xlib.yaml").write_text(suite(repo.url, wheels))
    return {
        "PYTHONPATH": str(extension_site),
        "HARNESS_IMAGES": str(images_dir(tmp_path / "images")),
        "HARNESS_CANN_PACKAGES": str(sdk_packages(tmp_path / "sdk")),
        "HARNESS_DOCKER_BASE_IMAGE": debian_base(engine),
        "HARNESS_DOCKER_NETWORK": "host",  # this daemon has no bridge (--bridge=none)
        "HARNESS_DOCKER_MEMORY": "512m",
        "HARNESS_DOCKER_LABELS": test_label,
    }


@pytest.fixture
def test_label() -> str:
    """A label only this test's containers carry (other tests run beside it under -n)."""
    return f"org.accel-harness.test={uuid.uuid4().hex}"


def run_on(harness: Harness, env: dict[str, str], sdk: str) -> int:
    res = harness("run", cell(sdk), "--executor", "docker", "--json", env=env, timeout=900)
    assert res.code in (0, 1), res.err[-3000:]
    (summary,) = res.json()["runs"]
    return int(summary["run_id"])


def run_count(db_url: str) -> int:
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
        return int(conn.execute("SELECT count(*) FROM runs").fetchone()[0])


def test_a_stack_bisection_across_image_variants_names_the_sdk_variant(
    sdk_env: dict[str, str], harness: Harness, db_url: str
) -> None:
    good, bad = run_on(harness, sdk_env, "7.0"), run_on(harness, sdk_env, "7.2")
    with Store.open(db_url) as store:
        assert (store.get_run(good).status, store.get_run(bad).status) == ("passed", "failed")

    # the image is no run's pin: the cell id says it
    refused = harness(
        "run", cell("7.0"), "--executor", "docker", "--stack", f"sdk={variant('7.2')}",
        env=sdk_env,
    )  # fmt: skip
    assert refused.code == 2
    assert "the sdk component is the cell's image variant" in refused.err
    assert f"harness run xlib/BACKEND/{variant('7.2')}" in refused.err

    def bisect(*extra: str) -> Result:
        return harness(
            "bisect", "xlib/cpu", "--stack", "--good", str(good), "--bad", str(bad),
            "--executor", "docker", "--repeats", "1", *extra, env=sdk_env, timeout=900,
        )  # fmt: skip

    res = bisect("--json")
    assert res.code == 0, res.err[-3000:]
    doc = res.json()
    assert (doc["outcome"], doc["component"], doc["version"]) == ("found", "sdk", variant("7.1"))
    assert doc["cell"] == cell("7.2")  # the bad run's
    assert doc["changes"] == [{"component": "sdk", "good": variant("7.0"), "bad": variant("7.2")}]
    (test_id,) = doc["tests"]
    assert test_id.endswith("test_scale")
    # the ends are the runs themselves; the candidates are the variants after 7.0 up to
    # 7.2 that differ from them only in the SDK: 7.1 is the one left to probe
    tried = [(s["role"], s["version"], s["pins"]["sdk"], s["verdict"]) for s in doc["steps"]]
    assert tried == [
        ("bad", None, variant("7.2"), "bad"),
        ("good", None, variant("7.0"), "good"),
        ("probe", variant("7.1"), variant("7.1"), "bad"),
    ], tried
    # each probe ran (or reused) runs of the cell of the variant it pinned, whose image
    # was that variant's
    with Store.open(db_url) as store:
        for step in doc["steps"]:
            pinned = step["pins"]["sdk"]
            for run_id in step["reused_runs"] + step["new_runs"]:
                run = store.get_run(run_id)
                assert run.cell == f"xlib/cpu/{pinned}"
                assert run.environment_id is not None
                image = store.get_environment(run.environment_id)["image"]
                assert image["variant"] == pinned
        assert (doc["steps"][0]["reused_runs"], doc["steps"][0]["new_runs"]) == ([bad], [])
        assert (doc["steps"][1]["reused_runs"], doc["steps"][1]["new_runs"]) == ([good], [])
        (probed,) = doc["runs"]["new"]
        assert store.get_run(probed).cell == cell("7.1")

    text = harness("bisect", "show", str(doc["id"]), env=sdk_env)
    assert f"culprit: sdk {variant('7.1')}" in text.out, text.out

    # again: every variant it looks at has a stored run of its cell, nothing runs
    before = run_count(db_url)
    again = bisect("--json")
    assert again.code == 0, again.err[-3000:]
    assert again.json()["version"] == variant("7.1")
    assert again.json()["runs"]["new"] == []
    assert run_count(db_url) == before

    # CELL names the bad run's cell
    other = harness(
        "bisect", "xlib/npu", "--stack", "--good", str(good), "--bad", str(bad), env=sdk_env
    )  # fmt: skip
    assert other.code == 2
    assert f"'xlib/npu' does not match run {bad}'s cell {cell('7.2')}" in other.err

    # the local executor runs host cells only: it cannot probe a variant
    local = harness(
        "bisect", "xlib/cpu", "--stack", "--good", str(good), "--bad", str(bad),
        env=sdk_env,
    )  # fmt: skip
    assert local.code == 2
    assert "--executor docker" in local.err
