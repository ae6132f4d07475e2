"""Exports stream: the peak RSS of a process exporting a 200k-case run (with reruns) as
CTRF and as JUnit grows by a few MB, not with the run (bench/export.py measures 1M)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.export import export_in_process, make_store

CASES = 200_000
GROWTH_LIMIT_MB = 15  # measured: 4-5 MB at 1M cases; a document held whole is hundreds


def test_a_big_run_exports_in_bounded_memory(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'big.db'}"
    make_store(db_url, CASES)
    for fmt in ("ctrf", "junit"):
        out = tmp_path / f"out.{fmt}"
        found = export_in_process(db_url, fmt, out)
        assert found["tests"] == CASES, found
        assert found["mb"] > GROWTH_LIMIT_MB, found  # the file is bigger than the growth
        if fmt == "ctrf":
            summary = json.loads(out.read_text())["results"]["summary"]
            assert (summary["tests"], summary["flaky"]) == (CASES, 60)
        growth = found["peak_after_mb"] - found["peak_before_mb"]
        assert growth < GROWTH_LIMIT_MB, f"{fmt}: peak RSS grew by {growth:.1f} MB: {found}"
        out.unlink()
