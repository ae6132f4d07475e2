"""A real Docker engine for the tests, and a Debian base image built without a registry.

The base is a debootstrap rootfs (minbase + python3, venv, pip) imported with the SDK,
built once and kept under ``$HARNESS_TEST_CACHE`` as a tarball (no registry is reachable
here: reference/test-infrastructure.md §1a). Image variants are then built on it with
``--base-image``; pip inside containers installs from a local wheel folder, since
containers do not trust the host's TLS-intercepting proxy.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from harness.container_engine import ContainerEngine
from tests.llama_cpp import cache_root

BASE_IMAGE = "harness-test/debian:bookworm"
MIRROR = os.environ.get("HARNESS_TEST_DEBIAN_MIRROR", "http://deb.debian.org/debian")
#: trimmed from the rootfs before import (reference/test-infrastructure.md §1a)
TRIM = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
        "usr/share/locale")  # fmt: skip


def require_docker() -> ContainerEngine:
    engine, why = ContainerEngine.available()
    if engine is None:
        if os.environ.get("HARNESS_REQUIRE_TOOLS"):
            pytest.fail(f"a Docker engine is required here: {why}")
        pytest.skip(f"no Docker engine: {why}")
    return engine


def _rootfs_tarball() -> Path:
    tarball = cache_root() / "debian-bookworm-rootfs.tar"
    if tarball.is_file():
        return tarball
    if shutil.which("debootstrap") is None:
        if os.environ.get("HARNESS_REQUIRE_TOOLS"):
            pytest.fail("debootstrap is required to build the test base image")
        pytest.skip("debootstrap not installed (Debian: apt-get install debootstrap)")
    work = cache_root() / "debian-bookworm-rootfs"
    shutil.rmtree(work, ignore_errors=True)
    subprocess.run(
        ["debootstrap", "--variant=minbase", "--include=python3,python3-venv,python3-pip",
         "bookworm", str(work), MIRROR],
        check=True, capture_output=True,
    )  # fmt: skip
    for rel in TRIM:
        for child in (work / rel).glob("*"):
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
    partial = tarball.with_suffix(".partial")
    with tarfile.open(partial, "w") as tar:
        tar.add(work, arcname=".")
    partial.rename(tarball)
    shutil.rmtree(work, ignore_errors=True)
    return tarball


def debian_base(engine: ContainerEngine) -> str:
    """The local base image (built on first use; later runs import the cached rootfs)."""
    if engine.image_id(BASE_IMAGE) is not None:
        return BASE_IMAGE
    cache_root().mkdir(parents=True, exist_ok=True)
    with (cache_root() / "debian-base.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if engine.image_id(BASE_IMAGE) is None:
            tarball = _rootfs_tarball()
            repo, tag = BASE_IMAGE.split(":")
            engine.client.api.import_image_from_file(
                str(tarball),
                repository=repo,
                tag=tag,
                changes=[
                    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    'CMD ["/bin/bash"]',
                ],
            )
    return BASE_IMAGE
