"""Plugin packages installed for real: pip into a directory of their own."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def pip_install_plugin(source: Path, work: Path) -> Path:
    """The package at ``source`` installed with pip into ``work/site`` (its own directory:
    a run sees it with PYTHONPATH=site)."""
    src = work / "src"
    shutil.copytree(source, src)  # builds write into the source tree; keep ours clean
    site = work / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), src],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return site
