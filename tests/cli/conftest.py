"""Fixtures for end-to-end CLI tests: a fixture upstream, its suite files, a shared cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fake_devices import isolated_path
from tests.fixture_upstream import download_wheels, make_upstream, suite_yaml
from tests.gitrepos import UpstreamRepo
from tests.plugin_packages import pip_install_plugin

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_SRC = ROOT / "tests" / "backends" / "plugin_example"
EXTENSION_SRC = ROOT / "tests" / "extensions" / "plugin_example"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return download_wheels(tmp_path_factory.mktemp("wheels"))


@pytest.fixture(scope="session")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> UpstreamRepo:
    return make_upstream(tmp_path_factory.mktemp("upstream"))


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Mirrors and virtualenvs shared by the session: the demo env is built once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def suites_dir(tmp_path: Path, upstream: UpstreamRepo, wheels: Path) -> Path:
    d = tmp_path / "suites"
    d.mkdir()
    (d / "demo.yaml").write_text(suite_yaml(upstream.url, wheels=wheels))
    return d


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """End-to-end tests use SQLite (the embedded default); PostgreSQL has its own test."""
    return f"sqlite:///{tmp_path / 'harness.db'}"


@pytest.fixture
def harness(
    tmp_path: Path, suites_dir: Path, shared_cache: Path, db_url: str
) -> Callable[..., Result]:
    """Run the real ``harness`` CLI in a subprocess against this test's DB and suites."""

    def _run(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> Result:
        full_env = {
            **os.environ,
            "HARNESS_DB": db_url,
            "HARNESS_SUITES": str(suites_dir),
            "HARNESS_CACHE": str(shared_cache),
            "COLUMNS": "200",
            **(env or {}),
        }
        proc = subprocess.run(
            [sys.executable, "-m", "harness", *args],
            cwd=tmp_path,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return _run


@pytest.fixture(scope="session")
def host_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Host tools for runs with an isolated PATH (see tests/fake_devices.py), shared by the
    session so cells keep reusing one virtualenv: the interpreter path is part of its key."""
    bin_dir = tmp_path_factory.mktemp("host-bin")
    isolated_path(bin_dir)
    python = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    (bin_dir / "python3").symlink_to(python.resolve())
    return bin_dir


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """harness-backend-example installed with pip into its own directory."""
    site = pip_install_plugin(PLUGIN_SRC, tmp_path_factory.mktemp("plugin"))
    assert list(site.glob("harness_backend_example-0.1.0.dist-info"))
    return site


@pytest.fixture(scope="session")
def extension_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """harness-extension-example (an executor, a result format, an image family)
    installed with pip into its own directory."""
    site = pip_install_plugin(EXTENSION_SRC, tmp_path_factory.mktemp("extension"))
    assert list(site.glob("harness_extension_example-0.1.0.dist-info"))
    return site
