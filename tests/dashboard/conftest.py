"""A database filled by real runs of a fixture upstream (a default-branch baseline and a
pull request that breaks a test and adds tests with hostile names), the dashboard served
by a real ``harness serve``, and headless Chromium (Debian's) driven by Playwright."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import shared_cache, wheels  # noqa: F401 - re-exported fixtures
from tests.conftest import missing_tool
from tests.fixture_upstream import make_upstream, suite_yaml
from tests.github_standin import free_port
from tests.service.support import wait_for

CHROMIUM = os.environ.get("HARNESS_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = (
    Path(
        os.environ.get("HARNESS_TEST_ARTIFACTS")
        or Path(__file__).resolve().parents[2] / "reports" / "test-artifacts"
    )
    / "dashboard"
)
# Chromium as root in a sandbox, on a machine with no route out (reference/
# test-infrastructure.md): no sandbox, no GPU, no background connections
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

BROKEN_AND_HOSTILE = {
    # the suite runs tests/test_basic.py
    "tests/test_basic.py": """\
import pytest


def test_pass():
    assert 1 + 1 == 3, "arithmetic broke on this backend"


@pytest.mark.parametrize("n", [1, 2, 3])
def test_param(n):
    assert n > 0


@pytest.mark.parametrize("name", ["<script>alert(1)</script>", "<img src=x onerror=alert(2)>"])
def test_hostile(name):
    assert False, name + " </pre><script>alert(3)</script>"
""",
}


@dataclass(frozen=True)
class Filled:
    db_url: str
    suites: Path
    env: dict[str, str]
    pr_sha: str
    main_sha: str
    tmp: Path


def _harness(filled_env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        env=filled_env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory, wheels: Path, shared_cache: Path) -> Filled:  # noqa: F811
    tmp = tmp_path_factory.mktemp("dashboard")
    upstream = make_upstream(tmp / "upstream")
    suites = tmp / "suites"
    suites.mkdir()
    (suites / "demo.yaml").write_text(suite_yaml(upstream.url, wheels=wheels))
    db_url = f"sqlite:///{tmp / 'harness.db'}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")},
        "HARNESS_DB": db_url,
        "HARNESS_SUITES": str(suites),
        "HARNESS_CACHE": str(shared_cache),
    }
    base = _harness(env, "run", "demo/cpu", cwd=tmp)
    assert base.returncode == 1, base.stderr  # the fixture's own failing tests
    head, _ = upstream.pull_request(5, BROKEN_AND_HOSTILE)
    pr = _harness(env, "run", "demo/cpu", "--ref", "pr/5", cwd=tmp)
    assert pr.returncode == 1, pr.stderr
    return Filled(db_url, suites, env, head, upstream.rev_parse("main"), tmp)


@pytest.fixture(scope="module")
def served(filled: Filled) -> Iterator[str]:
    port = free_port()
    env = filled.env | {"HARNESS_WEBHOOK_SECRET": "x"}
    log = (filled.tmp / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "serve", "--port", str(port), "--workers", "0"],
        env=env, cwd=filled.tmp, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        import httpx2 as httpx

        try:
            return httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, 180, "harness serve")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Module-scoped: Playwright's sync API keeps an event loop running in this thread,
    which later tests that call asyncio.run() must not find."""
    if not Path(CHROMIUM).exists():
        missing_tool(f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_tool("playwright is not installed (pip install -e '.[test]')")
        raise
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: object, request: pytest.FixtureRequest) -> Iterator[object]:
    """A page that fails the test on any JavaScript dialog (an injected alert) or error,
    and on anything the Content-Security-Policy refused (a style or script of ours whose
    hash the policy lacks, or something injected)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    pg = context.new_page()
    problems: list[str] = []
    pg.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    def _console(message: Any) -> None:
        if "Content Security Policy" in message.text:
            problems.append(f"refused by the policy: {message.text}")

    pg.on("console", _console)
    yield pg
    context.close()
    assert problems == [], problems


def shoot(page: object, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path


def plain_file_server(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return proc, f"http://127.0.0.1:{port}"
