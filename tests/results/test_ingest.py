"""ingest_file: inline for small files, a parser worker process for large ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.ingest import generate
from harness.results import ingest
from harness.results.ingest import ingest_file
from harness.store import Store


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = Store.open(f"sqlite:///{tmp_path / 'h.db'}")
    yield s
    s.close()


def new_run(store: Store) -> int:
    return store.start_run(
        job_id=None,
        cell="i/cpu/host",
        suite="i",
        backend="cpu",
        variant="host",
        upstream="o/i",
        ref=None,
        sha=None,
        executor="local",
        log_dir=None,
        out_dir=None,
    )


@pytest.mark.parametrize("threshold", [1 << 40, 0], ids=["inline", "worker"])
def test_both_paths_store_the_same(
    store: Store, tmp_path: Path, threshold: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "WORKER_THRESHOLD_BYTES", threshold)
    xml = tmp_path / "r.xml"
    generate(xml, 12_345)
    run_id = new_run(store)
    report = ingest_file(store, run_id, xml, "junit")
    assert report.cases == 12_345
    assert not report.crashed
    assert sum(report.counts.values()) == 12_345
    assert store.count_results(run_id) == 12_345
    stored = list(store.iter_results(run_id))
    assert stored[0].test_id == "tests.models.m0.test_mod0.TestThing::test_case_0[param-0]"
    assert {r.outcome.value for r in stored} == {"passed", "failed", "skipped", "xfailed"}


def test_worker_reports_a_cut_file(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "WORKER_THRESHOLD_BYTES", 0)
    full = tmp_path / "full.xml"
    generate(full, 20_000)
    cut = tmp_path / "cut.xml"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    run_id = new_run(store)
    report = ingest_file(store, run_id, cut, "junit")
    assert report.crashed
    assert "cut.xml: file ends early" in (report.crash_reason or "")
    assert 0 < store.count_results(run_id) == report.cases < 20_000


def test_worker_batches_are_bounded_by_weight_not_only_by_count(tmp_path: Path) -> None:
    """3,000 ctest cases with 4 KB reasons: one 5,000-row batch would hold all 12 MB of
    them at once (measured before: 202 MB RSS for a 100 MB file of this shape, 80 MB
    since; bench/adversarial.py ctest-many-cases)."""
    reason = "n" * 4000
    xml = tmp_path / "ctest.xml"
    with xml.open("w") as f:
        f.write('<?xml version="1.0"?><testsuite name="s">')
        for i in range(3000):
            f.write(f'<testcase name="t{i}" status="notrun"><skipped message="{reason}"/>')
            f.write("</testcase>")
        f.write("</testsuite>")
    worker = ingest.WorkerStream(xml, "ctest-junit")
    batches = list(worker.batches())
    assert sum(len(b) for b in batches) == 3000 == worker.report.cases
    weights = [sum(len(t) + len(m or "") for t, _, _, m in b) for b in batches]
    assert max(weights) < ingest.BATCH_BYTES + 4100
    assert len(batches) > 1


def test_a_parser_process_that_dies_leaves_counts_that_match_what_is_stored(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after its first batch (the OOM killer), the parser sent no report: the run
    was finished with zero counts beside 5,000 stored rows, and its bundle refused."""
    monkeypatch.setattr(ingest, "WORKER_THRESHOLD_BYTES", 0)
    monkeypatch.setenv("HARNESS_FAILPOINTS", "parse.sent=kill")
    xml = tmp_path / "r.xml"
    generate(xml, 12_345)
    run_id = new_run(store)
    report = ingest_file(store, run_id, xml, "junit")
    assert report.crashed
    assert "ended without a report" in (report.crash_reason or "")
    stored = store.count_results(run_id)
    assert stored == report.cases == sum(report.counts.values()) == ingest.BATCH
