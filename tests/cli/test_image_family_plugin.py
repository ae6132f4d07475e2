"""An image family installed as its own package is found through the
``harness.image_families`` entry point: images/matrix.yaml names it and ``harness images``
renders its variants from the package's template and package resolver (real pip install;
rendering only, nothing is built)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import Result

Harness = Callable[..., Result]


def images_dir(tmp_path: Path, family: str = "xsdk") -> Path:
    d = tmp_path / "images"
    d.mkdir()
    (d / "matrix.yaml").write_text(
        textwrap.dedent(
            f"""\
            families:
              - family: {family}
                backend: xacc
                template: xsdk-ubuntu.Dockerfile.j2
                os: ubuntu
                os_version: ["24.04"]
                sdk: ["7.0", "7.1"]
                python: ["3.12"]
                arch: [amd64, arm64]
                default:
                  - {{sdk: "7.1"}}
            """
        )
    )
    return d


def test_a_plugin_family_renders_its_variants(
    harness: Harness, extension_site: Path, tmp_path: Path
) -> None:
    env = {"PYTHONPATH": str(extension_site)}
    images = images_dir(tmp_path)
    listed = harness("images", "list", "--images", str(images), "--json", env=env)
    assert listed.code == 0, listed.err
    ids = [v["id"] for v in listed.json()["variants"]]
    assert ids == ["xsdk7.0-ubuntu24.04-py3.12", "xsdk7.1-ubuntu24.04-py3.12"]
    out = tmp_path / "out"
    res = harness(
        "images", "render", "xsdk7.1*", "--arch", "arm64", "--images", str(images),
        "-o", str(out), env=env,
    )  # fmt: skip
    assert res.code == 0, res.err
    dockerfile = (out / "xsdk7.1-ubuntu24.04-py3.12" / "Dockerfile").read_text()
    assert dockerfile.splitlines()[1] == "FROM ubuntu:24.04"  # the family's base image
    # the package resolver: the SDK for this version and architecture, from the mirror
    url = "https://download.xacc.example/sdk/7.1/xacc-sdk_7.1_aarch64.tar.gz"
    assert f"curl -fsSL {url}" in dockerfile
    assert "ENV XACC_HOME=/opt/xacc-sdk-7.1" in dockerfile


def test_local_packages_of_a_plugin_family_go_into_the_build(
    harness: Harness, extension_site: Path, tmp_path: Path
) -> None:
    env = {"PYTHONPATH": str(extension_site)}
    images = images_dir(tmp_path)
    packages = tmp_path / "packages"
    packages.mkdir()
    (packages / "xacc-sdk_7.0_x86_64.tar.gz").write_bytes(b"not really a tarball")
    args = ["images", "render", "xsdk7.0*", "--arch", "amd64", "--images", str(images)]
    res = harness(*args, "--packages", str(packages), env=env)
    assert res.code == 0, res.err
    assert "COPY xsdk/xacc-sdk_7.0_x86_64.tar.gz /tmp/" in res.out
    assert "curl" not in res.out.split("apt-get install", 1)[1].split("\n", 1)[1]
    (packages / "xacc-sdk_7.0_x86_64.tar.gz").unlink()
    res = harness(*args, "--packages", str(packages), env=env)
    assert res.code == 2
    assert "xacc-sdk_7.0_x86_64.tar.gz not found" in " ".join(res.err.split())


def test_without_the_package_the_family_is_a_located_error(
    harness: Harness, tmp_path: Path
) -> None:
    res = harness("images", "list", "--images", str(images_dir(tmp_path)))
    assert res.code == 2
    err = " ".join(res.err.split())
    assert "matrix.yaml:2:5: families[0].family: unknown image family 'xsdk'" in err
    assert "harness.image_families" in err


def test_a_misspelt_family_gets_a_did_you_mean(harness: Harness, tmp_path: Path) -> None:
    res = harness("images", "list", "--images", str(images_dir(tmp_path, family="cuad")))
    assert res.code == 2
    assert "did you mean 'cuda'?" in " ".join(res.err.split())
