"""Verdict benchmark: classify 100k results against a 100k baseline, with history.

Builds a fresh SQLite database holding a cell's history: H default-branch runs (default
1000, each with the 2k tests that ever fail, about a third of them flipping), then a
baseline run and a pull-request run of N results each (default 100k; ~5% failing, a few
hundred new failures, new and removed tests). Then, in the same process:

  baseline   the least a diff must do: one pass over the run, looking each test up in
             the baseline (set of new failures), on the same in-memory outcome maps
  classify   harness.verdict.classify.classify: every test into its category, with flake
             statistics, a quarantine matcher and the reruns (the pure diff)
  queries    what harness.verdict.gather reads from the store: both runs' outcomes
             (streamed), the baseline candidates and the flake history of the failing
             tests over the newest 30 default-branch runs
  verdict    harness.verdict.gather.gather_verdict end to end (queries + diff + coverage)

Prints each time, best of R, and classify/baseline as a ratio (targets: classify < 0.5 s;
the queries are reported, not targeted). Usage: python bench/verdict.py [--results N]
[--history H] [--repeat R]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.store import Store  # noqa: E402
from harness.store import history as h  # noqa: E402
from harness.verdict.categories import FAILING, QuarantineRule  # noqa: E402
from harness.verdict.classify import RunOutcomes, classify  # noqa: E402
from harness.verdict.flaky import FlakePolicy, flake_stats  # noqa: E402
from harness.verdict.gather import VerdictOptions, gather_verdict  # noqa: E402
from harness.verdict.quarantine import Matcher  # noqa: E402

CELL = "bench/npu/host"
FLAKY_POOL = 2000


def test_id(i: int) -> str:
    return f"tests.models.m{i // 1000}.test_mod{i // 100}.TestThing::test_case_{i}[p{i % 7}]"


def start(store: Store, *, ref: str | None, sha: str, default: bool) -> int:
    run_id = store.start_run(
        job_id=None,
        cell=CELL,
        suite="bench",
        backend="npu",
        variant="host",
        upstream="bench/bench",
        ref=ref,
        sha=sha,
        executor="local",
        log_dir=None,
        out_dir=None,
    )
    store.set_run_base(run_id, base_sha="b" * 40, is_default_branch=default)
    return run_id


def finish(store: Store, run_id: int, failed: int) -> None:
    store.finish_run(
        run_id,
        status="failed" if failed else "passed",
        reason=None,
        counts={"failed": failed},
        duration_s=1.0,
    )


def rows(outcomes: dict[str, str]) -> Iterator[list[tuple[str, str, float, str | None]]]:
    batch: list[tuple[str, str, float, str | None]] = []
    for tid, outcome in outcomes.items():
        message = "AssertionError: expected 1, got 2\n  at line 3" if outcome == "failed" else None
        batch.append((tid, outcome, 0.01, message))
        if len(batch) >= 5000:
            yield batch
            batch = []
    if batch:
        yield batch


def build(db: Path, results: int, history: int, seed: int = 11) -> tuple[int, int]:
    rng = random.Random(seed)
    store = Store.open(f"sqlite:///{db}")
    pool = [test_id(i * (results // FLAKY_POOL)) for i in range(FLAKY_POOL)]
    flippy = set(rng.sample(pool, FLAKY_POOL // 3))
    broken = set(rng.sample(pool, FLAKY_POOL // 10))
    t0 = time.perf_counter()
    for n in range(history):
        run_id = start(store, ref=None, sha=f"{n:040x}", default=True)
        hist = {
            t: "failed" if t in broken or (t in flippy and rng.random() < 0.3) else "passed"
            for t in pool
        }
        store.add_result_rows(run_id, rows(hist))
        finish(store, run_id, sum(o == "failed" for o in hist.values()))
    base_map = {test_id(i): "passed" for i in range(results)}
    for t in rng.sample(sorted(base_map), results // 20):
        base_map[t] = "failed"
    for t in broken:
        base_map[t] = "failed"
    for i in range(results // 100):
        base_map[test_id(i * 97 % results)] = "skipped"
    base = start(store, ref=None, sha="b" * 40, default=True)
    store.add_result_rows(base, rows(base_map))
    finish(store, base, 1)
    cur_map = dict(base_map)
    for t in rng.sample(sorted(cur_map), 300):  # new failures and fixes
        cur_map[t] = "failed" if cur_map[t] == "passed" else "passed"
    for t in list(flippy)[:200]:
        cur_map[t] = "failed"
    for i in range(200):  # new tests, removed tests
        cur_map[f"tests.new.test_added::test_{i}"] = "passed"
        cur_map.pop(test_id(results - 1 - i), None)
    pr = start(store, ref="refs/pull/1/head", sha="c" * 40, default=False)
    store.add_result_rows(pr, rows(cur_map))
    finish(store, pr, 1)
    store.close()
    print(
        f"database: {history} history runs x {FLAKY_POOL} + 2 x {results} results "
        f"({history * FLAKY_POOL + 2 * results:,} rows) built in {time.perf_counter() - t0:.1f} s"
    )
    return base, pr


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=int, default=100_000)
    ap.add_argument("--history", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "verdict.db"
        base_id, pr_id = build(db, args.results, args.history)
        store = Store.open(f"sqlite:///{db}")
        policy = FlakePolicy()
        pr_run = store.get_run(pr_id)

        def queries() -> tuple[RunOutcomes, RunOutcomes, dict[str, Any]]:
            cur = RunOutcomes(*h.load_outcomes(store, pr_id))
            base = RunOutcomes(*h.load_outcomes(store, base_id))
            h.baseline_candidates(store, pr_run)
            wanted = {t for t, o in cur.outcomes.items() if o in FAILING}
            window = h.default_branch_runs(
                store, CELL, limit=policy.window, statuses=h.WITH_RESULTS, exclude=pr_id
            )
            order = [r.id for r in reversed(window)]
            return cur, base, flake_stats(h.iter_history(store, order, wanted), order)

        t_queries, (cur, base, flakes) = best(queries, args.repeat)
        rules = [
            QuarantineRule((f"tests.models.m{i}.*",), "tracked", "https://x.invalid", "q:1")
            for i in range(3)
        ]
        matcher = Matcher(rules)

        def naive() -> set[str]:
            b = base.outcomes
            return {t for t, o in cur.outcomes.items() if o in FAILING and b.get(t) not in FAILING}

        def diff() -> Any:
            return classify(cur, base, flakes=flakes, quarantine=matcher, policy=policy)

        t_naive, _ = best(naive, args.repeat)
        t_diff, result = best(diff, args.repeat)
        options = VerdictOptions(reference_backend=None)
        t_all, verdict = best(lambda: gather_verdict(store, pr_id, options), args.repeat)
        store.close()
    n = len(cur.outcomes)
    print(f"results: {n:,} against {len(base.outcomes):,}; {len(flakes):,} with flake history")
    print(f"baseline (set of new failures) {t_naive * 1000:8.1f} ms")
    print(
        f"classify (every category)      {t_diff * 1000:8.1f} ms  "
        f"({t_diff / t_naive:.1f}x baseline; target < 500 ms)"
    )
    print(f"queries (outcomes + history)   {t_queries * 1000:8.1f} ms")
    print(f"verdict end to end             {t_all * 1000:8.1f} ms")
    print("counts:", {k: v for k, v in result.counts().items() if v})
    print("conclusion:", verdict.conclusion.value, "-", verdict.reason[:100])


if __name__ == "__main__":
    main()
