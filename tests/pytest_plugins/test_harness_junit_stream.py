"""harness_junit_stream against pytest's own --junitxml on a real run: collection-time
skips (a module skipped as a whole) are cases too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.results import parse

PLUGINS = Path(__file__).resolve().parents[2] / "harness" / "pytest_plugins"


def test_module_level_skip_is_recorded_like_junitxml(tmp_path: Path) -> None:
    (tmp_path / "test_skipped_module.py").write_text(
        "import pytest\npytest.skip('needs an accelerator', allow_module_level=True)\n"
        "def test_never():\n    pass\n"
    )
    (tmp_path / "test_plain.py").write_text("def test_ok():\n    pass\n")
    stream_file, junit_file = tmp_path / "stream.xml", tmp_path / "junit.xml"
    proc = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "-p", "harness_junit_stream", f"--harness-junit={stream_file}",
            f"--junitxml={junit_file}", str(tmp_path),
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(PLUGINS)},
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    streamed = {r.test_id: (r.outcome.value, r.message) for r in parse(stream_file, "junit")}
    reference = {r.test_id: r.outcome.value for r in parse(junit_file, "junit")}
    assert {k: v[0] for k, v in streamed.items()} == reference
    skipped = [v for v in streamed.values() if v[0] == "skipped"]
    assert len(skipped) == 1
    assert "needs an accelerator" in (skipped[0][1] or "")
