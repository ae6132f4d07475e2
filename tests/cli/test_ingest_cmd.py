"""``harness ingest``: bundles from disk, every one checked before any is stored."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from harness.cli import main
from harness.store import Store
from tests.service.test_results_api import bundle_dir


def test_one_bad_bundle_stores_none_of_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    good = bundle_dir(tmp_path / "one", monkeypatch)
    bad = bundle_dir(tmp_path / "two", monkeypatch)
    with gzip.open(bad / "results.jsonl.gz", "wt") as fh:
        fh.write('["t::a", "bogus", 0, null]\n')
    drop = tmp_path / "drop"
    shutil.copytree(good, drop / "a1")
    shutil.copytree(bad, drop / "b2")
    db = f"sqlite:///{tmp_path / 'main.db'}"
    assert main(["ingest", "--db", db, str(drop)]) == 2  # a configuration error
    assert "b2/results.jsonl.gz:1: unknown outcome 'bogus'" in capsys.readouterr().err.replace(
        "\n", ""
    )
    with Store.open(db) as store:
        assert store.list_runs() == []  # a1 was stored before b2 was read
    shutil.rmtree(drop / "b2")
    assert main(["ingest", "--db", db, str(drop)]) == 0
    with Store.open(db) as store:
        assert len(store.list_runs()) == 1
