"""``harness images list|render|build`` through the real CLI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import ROOT, Result
from tests.docker_support import debian_base, require_docker

Harness = Callable[..., Result]
IMAGES = {"HARNESS_IMAGES": str(ROOT / "images")}


def test_list_and_render(harness: Harness, tmp_path: Path) -> None:
    listed = harness("images", "list", "cann8.5.0-*-openeuler24.03-py3.11", "--json", env=IMAGES)
    assert listed.code == 0, listed.err
    ids = [v["id"] for v in listed.json()["variants"]]
    assert ids == [
        f"cann8.5.0-{chip}-openeuler24.03-py3.11" for chip in ("910b", "a3", "310p", "910")
    ]
    out = tmp_path / "rendered"
    res = harness(
        "images", "render", "cann8.5.0-a3-openeuler24.03-py3.11", "--arch", "all", "-o",
        str(out), env=IMAGES,
    )  # fmt: skip
    assert res.code == 0, res.err
    arm = (out / "cann8.5.0-a3-openeuler24.03-py3.11-arm64" / "Dockerfile").read_text()
    assert "Ascend-cann-A3-ops_8.5.0_linux-aarch64.run" in arm
    assert "harness/cann8.5.0-a3-openeuler24.03-py3.11:" in res.err
    bad = harness("images", "list", "cann7*", env=IMAGES)
    assert bad.code == 2
    assert "no image variant matches cann7*" in bad.err


def test_build_is_a_no_op_when_nothing_changed(harness: Harness) -> None:
    engine = require_docker()
    base = debian_base(engine)
    args = ("images", "build", "debian12-*", "--base-image", base, "--network", "host", "--json")
    first = harness(*args, env=IMAGES, timeout=900)
    assert first.code == 0, first.err
    (image,) = first.json()["images"]
    assert image["variant"] == "debian12-py3.11"
    second = harness(*args, env=IMAGES)
    assert second.json()["images"] == [{**image, "built": False}]
    assert "up to date debian12-py3.11" in second.err
    missing = harness("images", "build", "debian12-*", "--base-image", "no/such:image", env=IMAGES)
    assert missing.code == 2
    assert "is not a local image" in missing.err
