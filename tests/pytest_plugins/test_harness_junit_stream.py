"""harness_junit_stream against pytest's own --junitxml on a real run: collection-time
skips (a module skipped as a whole) are cases too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.results import parse
from harness.test_order import read_seed

PLUGINS = Path(__file__).resolve().parents[2] / "harness" / "pytest_plugins"


def test_module_level_skip_is_recorded_like_junitxml(tmp_path: Path) -> None:
    (tmp_path / "test_skipped_module.py").write_text(
        "import pytest\npytest.skip('needs an accelerator', allow_module_level=True)\n"
        "def test_never():\n    pass\n"
    )
    (tmp_path / "test_plain.py").write_text("def test_ok():\n    pass\n")
    stream_file, junit_file = tmp_path / "stream.xml", tmp_path / "junit.xml"
    proc = _stream(tmp_path, f"--junitxml={junit_file}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    streamed = {r.test_id: (r.outcome.value, r.message) for r in parse(stream_file, "junit")}
    reference = {r.test_id: r.outcome.value for r in parse(junit_file, "junit")}
    assert {k: v[0] for k, v in streamed.items()} == reference
    skipped = [v for v in streamed.values() if v[0] == "skipped"]
    assert len(skipped) == 1
    assert "needs an accelerator" in (skipped[0][1] or "")


def _stream(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-p", "harness_junit_stream", f"--harness-junit={tmp_path / 'stream.xml'}", *args,
         str(tmp_path)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(PLUGINS)},
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip


def test_randomly_seed_is_written_first_and_survives_a_crash(tmp_path: Path) -> None:
    """pytest-randomly's seed is the suite's first property, flushed before any test: a
    run killed midway (os._exit in a test) keeps it."""
    (tmp_path / "test_a.py").write_text(
        "import os\n\ndef test_ok():\n    pass\n\ndef test_dies():\n    os._exit(9)\n"
    )
    proc = _stream(tmp_path, "-p", "randomly", "--randomly-seed=4242")
    assert proc.returncode == 9, proc.stdout + proc.stderr
    text = (tmp_path / "stream.xml").read_text()
    assert "</testsuites>" not in text  # cut short
    assert read_seed(tmp_path / "stream.xml") == 4242


def test_no_seed_when_the_order_is_not_random(tmp_path: Path) -> None:
    (tmp_path / "test_a.py").write_text("def test_ok():\n    pass\n")
    for args in (["-p", "no:randomly"], ["-p", "randomly", "--randomly-dont-reorganize"]):
        proc = _stream(tmp_path, *args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert read_seed(tmp_path / "stream.xml") is None, args
        assert [r.test_id for r in parse(tmp_path / "stream.xml", "junit")] == ["test_a::test_ok"]
    # with the plugin on and no seed given, the one it chose is recorded
    proc = _stream(tmp_path, "-p", "randomly", "-v")  # -q -v: the report header shows it
    chosen = next(w for w in proc.stdout.split() if w.startswith("--randomly-seed="))
    assert read_seed(tmp_path / "stream.xml") == int(chosen.split("=")[1])
