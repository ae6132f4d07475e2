"""A real llama.cpp ``test-backend-ops`` binary for parser tests, built from upstream source.

The source is the full llama.cpp tree that the ``llama-cpp-python`` sdist on PyPI vendors
(``vendor/llama.cpp``): an upstream tree reachable offline through a package index. Only
the ``ggml`` target (all test-backend-ops needs) is built, with upstream's own CMake
configuration, then ``tests/test-backend-ops.cpp`` is compiled and linked against it, as
``llama_build`` does minus libllama. The
result is cached under ``$HARNESS_TEST_CACHE`` (default ``~/.cache/accel-harness-tests``)
by sdist version, so later test runs on the same machine reuse it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

SDIST = "llama-cpp-python"
VERSION = "0.3.36"


def cache_root() -> Path:
    base = os.environ.get("HARNESS_TEST_CACHE") or str(
        Path.home() / ".cache" / "accel-harness-tests"
    )
    return Path(base)


def _run(cmd: list[str], log: Path, cwd: Path | None = None) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-30:])
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}); log {log}:\n{tail}")


def _locked_root() -> tuple[Path, Path]:
    root = cache_root() / f"llama.cpp-{VERSION}"
    root.mkdir(parents=True, exist_ok=True)
    return root, root.parent / f"{root.name}.lock"


def build_test_backend_ops() -> Path:
    """Path of a test-backend-ops binary (built once per machine and sdist version; pytest
    workers building at the same time wait for each other on a lock file)."""
    root, lock_path = _locked_root()
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build(root)


def llama_cpp_source() -> Path:
    """The llama.cpp source tree the sdist vendors (extracted once per machine): upstream's
    own files, such as ``docs/ops.md`` and the ``docs/ops/*.csv`` it is generated from."""
    root, lock_path = _locked_root()
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _source(root)


def _source(root: Path) -> Path:
    src = root / "src"
    done = root / "src.complete"
    if done.is_file() or (src.is_dir() and (root / "bin" / "test-backend-ops").is_file()):
        return src  # (a binary is only ever built from a completely extracted tree)
    log = root / "build.log"
    dl = root / "download"
    _run(
        [
            sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
            f"{SDIST}=={VERSION}", "-d", str(dl),
        ],
        log,
    )  # fmt: skip
    (sdist,) = dl.glob("*.tar.gz")
    if src.exists():
        shutil.rmtree(src)
    prefix = f"llama_cpp_python-{VERSION}/vendor/llama.cpp/"
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
        for m in members:
            m.name = m.name[len(prefix) :]
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # 3.11.4+
        tar.extractall(src, members=[m for m in members if m.name], **safe)  # type: ignore[arg-type]
    shutil.rmtree(dl, ignore_errors=True)
    done.write_text(f"{SDIST}=={VERSION}\n")
    return src


def _build(root: Path) -> Path:
    binary = root / "bin" / "test-backend-ops"
    if binary.is_file():
        return binary
    log = root / "build.log"
    log.write_text("")
    src = _source(root)
    build = root / "build"
    jobs = str(max(1, len(os.sched_getaffinity(0))))
    _run(
        [
            "cmake", "-S", str(src), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
            "-DGGML_NATIVE=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_COMMON=OFF",
            "-DLLAMA_BUILD_TOOLS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=OFF",
            "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF",
        ],
        log,
    )  # fmt: skip
    _run(["cmake", "--build", str(build), "-j", jobs, "--target", "ggml"], log)
    libdir = build / "bin"
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_suffix(".partial")
    _run(
        [
            "g++", "-O2", "-std=c++17", f"-I{src / 'ggml' / 'include'}",
            str(src / "tests" / "test-backend-ops.cpp"), "-o", str(partial),
            f"-L{libdir}", "-lggml", "-lggml-base", "-lggml-cpu",
            f"-Wl,-rpath,{libdir}", "-lpthread",
        ],
        log,
    )  # fmt: skip
    partial.rename(binary)  # only a complete binary is ever reused
    return binary
