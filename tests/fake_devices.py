"""Hosts with devices for tests: recorded tool outputs behind real executables on PATH.

Detection always runs the real subprocess path (``shutil.which`` → ``subprocess.run``):
``install_tool`` writes an executable ``npu-smi``/``nvidia-smi`` that prints a recorded
real output for the arguments the backend passes. ``make_cann_root`` lays out a CANN
install tree (both layouts) with real install-info files, and ``make_torch_npu_site`` an
import path where ``torch_npu`` fails the way it does without ``set_env.sh``.
"""

from __future__ import annotations

import platform
import shlex
import shutil
import stat
from pathlib import Path

DATA = Path(__file__).resolve().parent / "backends" / "data"


def install_tool(bin_dir: Path, name: str, outputs: dict[str, Path], *, exit_code: int = 0) -> Path:
    """An executable ``bin_dir/name`` that prints ``outputs[" ".join(argv)]``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    cases = "\n".join(
        f"  {shlex.quote(args)}) cat {shlex.quote(str(path))} ;;" for args, path in outputs.items()
    )
    script = (
        "#!/bin/sh\n"
        f'case "$*" in\n{cases}\n'
        f'  *) echo "{name}: unexpected arguments: $*" >&2; exit 64 ;;\n'
        "esac\n"
        f"exit {exit_code}\n"
    )
    tool = bin_dir / name
    tool.write_text(script)
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return tool


def install_npu_smi(bin_dir: Path, info: str, listing: str = "npu-smi-l-card-count.txt") -> Path:
    return install_tool(bin_dir, "npu-smi", {"info": DATA / info, "info -l": DATA / listing})


def install_nvidia_smi(
    bin_dir: Path,
    query: str = "nvidia-smi-query-h100x2.csv",
    table: str = "nvidia-smi-h100x2.txt",
) -> Path:
    query_args = (
        "--query-gpu=index,uuid,name,memory.total,memory.used,driver_version,pci.bus_id "
        "--format=csv,noheader,nounits"
    )
    return install_tool(bin_dir, "nvidia-smi", {query_args: DATA / query, "": DATA / table})


def make_cann_root(root: Path, *, layout: str, version: str, driver: str = "24.1.0") -> Path:
    """``root`` as ``/usr/local/Ascend``: ``layout`` "8.3" (ascend-toolkit/latest with
    ascend_toolkit_install.info) or "8.5" (cann-<version> named by ASCEND_TOOLKIT_HOME,
    with a version.cfg)."""
    arch = platform.machine()
    if layout == "8.3":
        home = root / "ascend-toolkit" / version
        info_dir = home / f"{arch}-linux"
        info_dir.mkdir(parents=True)
        real = (DATA / "ascend_toolkit_install-8.3.RC2.info").read_text()
        (info_dir / "ascend_toolkit_install.info").write_text(
            real.replace("8.3.RC2", version).replace("aarch64", arch)
        )
        (root / "ascend-toolkit" / "latest").symlink_to(version)
    elif layout == "8.5":
        home = root / f"cann-{version}"
        home.mkdir(parents=True)
        (home / "version.cfg").write_text(
            f"runtime_running_version=[7.8.0.2.220:{version}]\n"
            f"toolkit_running_version=[7.8.0.2.220:{version}]\n"
        )
    else:
        raise ValueError(layout)
    driver_dir = root / "driver"
    driver_dir.mkdir(parents=True, exist_ok=True)
    (driver_dir / "version.info").write_text(f"Version={driver}\nascendhal_version=7.35.23\n")
    return home


TORCH_STUB = '__version__ = "2.8.0+cpu"\n'
TORCH_NPU_WITHOUT_CANN = (
    "raise ImportError('libhccl.so: cannot open shared object file: No such file or directory')\n"
)


def make_torch_npu_site(site: Path) -> Path:
    """An import path where ``torch`` imports and ``torch_npu`` fails like it does when the
    CANN environment is not sourced (the shared library is not on LD_LIBRARY_PATH)."""
    for name, body in (("torch", TORCH_STUB), ("torch_npu", TORCH_NPU_WITHOUT_CANN)):
        (site / name).mkdir(parents=True)
        (site / name / "__init__.py").write_text(body)
    return site


#: What the fake tools and the harness's steps need from the host.
BASE_TOOLS = ("sh", "bash", "cat", "env", "git", "sed", "grep", "sort", "mkdir", "rm", "ls")


def isolated_path(bin_dir: Path, *extra: str) -> str:
    """A PATH holding only ``bin_dir`` with links to a few host tools, so a real
    ``npu-smi``/``nvidia-smi`` on the machine running the tests cannot leak in."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in (*BASE_TOOLS, *extra):
        found = shutil.which(name)
        link = bin_dir / name
        if found and not link.exists():
            link.symlink_to(found)
    return str(bin_dir)
