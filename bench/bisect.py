"""Bisection benchmark: probes used against log2 of the range, and the cost of a probe.

1. *search* (simulated, no runs): F random fixtures (default 2000), each a range of 8 to
   1024 commits with a random first bad commit, 10% of the commits unbuildable, and a
   followed test that is also flaky (fails 30% of attempts) in a third of the fixtures.
   Each probe is judged as ``harness bisect`` judges one (harness.bisect.probe.judge
   over the attempts a run with ``repeats - 1`` reruns makes: stop at the first pass)
   and fed to harness.bisect.search.search. Prints the probes used against
   ceil(log2(range)) for the regressions, how often the answer was right, and how often a
   flaky test was called flaky instead of being blamed on a commit.
2. *overhead* (real runs, local executor): on a 16-commit fixture upstream, a plain
   ``harness run CELL --ref SHA --test-args NODEID`` at K commits against
   ``harness bisect`` over the same fixture; prints seconds per plain run, seconds per
   probe (the bisection's wall time over the runs it made) and their ratio, measured in
   the same run (the environment is built once before either is timed).

Usage: python bench/bisect.py [--fixtures F] [--skip-overhead]
"""

from __future__ import annotations

import sys
from pathlib import Path

# run as a script, this file's folder comes first on sys.path and its name would shadow
# the standard library's bisect (which random imports): the folder goes, the root comes
BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != BENCH)]

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from harness.bisect.probe import judge  # noqa: E402
from harness.bisect.search import Outcome, Verdict, search  # noqa: E402
from tests.bisect_upstream import make_linear, suite_yaml  # noqa: E402
from tests.fixture_upstream import download_wheels  # noqa: E402

TEST = "t"


REPEATS = 3


def _attempts(rng: random.Random, failing: bool, flaky: bool) -> list[str]:
    """One probe's attempts of the test: a run with REPEATS - 1 reruns, which stop at
    the first pass."""
    out: list[str] = []
    for _a in range(REPEATS):
        fails = rng.random() < 0.30 if flaky else failing
        out.append("failed" if fails else "passed")
        if not fails:
            break
    return out


def simulate(fixtures: int, skip_rate: float, seed: int = 1) -> None:
    """As harness.bisect.bisection does: the bad end probed first (its stored failing
    run reused, attempts added: a test not failing every attempt is flaky), then the
    search."""
    rng = random.Random(seed)
    rows: list[tuple[int, int, str, bool]] = []  # (n, probes, outcome, right)
    flaky_rows: list[str] = []
    for _ in range(fixtures):
        n = rng.randint(8, 1024)
        first_bad = rng.randrange(n)
        unbuildable = {i for i in range(n - 1) if rng.random() < skip_rate}
        flaky = rng.random() < 1 / 3

        def probe(
            c: int, unbuildable: set[int] = unbuildable, flaky: bool = flaky, fb: int = first_bad
        ) -> Verdict:
            if c in unbuildable:
                return Verdict.SKIP
            return judge({TEST: _attempts(rng, c >= fb, flaky)}, [TEST])[0]

        # the bad end: the stored run that made the test look newly failing, then the
        # attempts the bisection adds (REPEATS in all; they stop at the first pass)
        more = _attempts(rng, True, flaky)[: REPEATS - 1]
        end = judge({TEST: ["failed", *more]}, [TEST])[0]
        if end is not Verdict.BAD:
            if flaky:
                flaky_rows.append("flaky" if end is Verdict.FLAKY else "no regression")
            continue
        result = search(list(range(n)), probe)
        if flaky:
            flaky_rows.append(result.outcome.value)
            continue
        right = first_bad in set(result.suspects) and result.outcome is not Outcome.FLAKY
        rows.append((n, result.probes, result.outcome.value, right))
    over = [p - math.ceil(math.log2(n)) for n, p, _o, _r in rows]
    found = sum(1 for _n, _p, o, _r in rows if o == "found")
    print(
        f"search: {len(rows)} regressions, ranges 8-1024 commits, "
        f"{skip_rate:.0%} unbuildable, repeats {REPEATS}"
    )
    print(
        f"  probes - ceil(log2(range)): mean {sum(over) / len(over):+.2f}, "
        f"max {max(over):+d}; within +0: {sum(1 for o in over if o <= 0) / len(over):.1%}, "
        f"within +1: {sum(1 for o in over if o <= 1) / len(over):.1%}"
    )
    print(
        f"  one commit found: {found / len(rows):.1%} (the rest: a range around skips); "
        f"culprit within the answer: {sum(r for *_x, r in rows) / len(rows):.1%}"
    )
    if flaky_rows:
        blamed = sum(1 for o in flaky_rows if o in ("found", "range"))
        print(
            f"  flaky test (30% failing attempts), {len(flaky_rows)} fixtures: called flaky "
            f"{flaky_rows.count('flaky') / len(flaky_rows):.1%}, no regression at the bad end "
            f"{flaky_rows.count('no regression') / len(flaky_rows):.1%}, blamed on a commit "
            f"{blamed / len(flaky_rows):.1%}"
        )


def _cli(
    env: dict[str, str], cwd: Path, *args: str
) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "harness", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    return time.perf_counter() - start, proc


def _mean_duration(db: Path) -> float:
    with sqlite3.connect(db) as conn:
        return float(conn.execute("SELECT avg(duration_s) FROM runs").fetchone()[0])


def overhead() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-bisect-") as tmp:
        root = Path(tmp)
        wheels = download_wheels(root / "wheels")
        fx = make_linear(root / "up", n=16, breaks_at=11)
        (root / "suites").mkdir()
        (root / "suites" / "linear.yaml").write_text(
            suite_yaml("linear", fx.repo.url, wheels=wheels, flaky_state=root / "state")
        )
        base = {
            **os.environ,
            "HARNESS_SUITES": str(root / "suites"),
            "HARNESS_CACHE": str(root / "cache"),
        }
        node = "tests/test_app.py::test_regress"
        warm = {**base, "HARNESS_DB": f"sqlite:///{root / 'warm.db'}"}
        _cli(warm, root, "run", "linear/cpu", "--ref", fx.shas[0], "--test-args", node)
        plain_env = {**base, "HARNESS_DB": f"sqlite:///{root / 'plain.db'}"}
        shas = [fx.shas[i] for i in (7, 11, 9, 10)]
        plain = []
        for sha in shas:
            took, proc = _cli(
                plain_env,
                root,
                "run",
                "linear/cpu",
                "--ref",
                sha,
                "--test-args",
                node,
                "--reruns",
                "0",
            )
            plain.append(took)
        bis_env = {**base, "HARNESS_DB": f"sqlite:///{root / 'bisect.db'}"}
        took, proc = _cli(
            bis_env,
            root,
            "bisect",
            "linear/cpu",
            "tests.test_app::test_regress",
            "--good",
            fx.shas[0],
            "--bad",
            fx.shas[15],
            "--repeats",
            "1",
            "--json",
        )
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-2000:])
        doc = json.loads(proc.stdout)
        runs = len(doc["runs"]["new"])
        per_plain = sum(plain) / len(plain)
        per_probe = took / runs
        print(
            f"overhead: plain `harness run` of one test: {per_plain:.2f} s per run "
            f"({len(plain)} runs, CLI start included)"
        )
        print(
            f"  `harness bisect` (--repeats 1): {took:.2f} s, {doc['probes']} probes + 2 ends,"
            f" {runs} new runs: {per_probe:.2f} s per run; ratio {per_probe / per_plain:.2f}"
            f" (first bad {doc['first_bad']['subject']!r})"
        )
        cell_plain = _mean_duration(root / "plain.db")
        cell_bisect = _mean_duration(root / "bisect.db")
        print(
            f"  the runs' own durations (recorded, no CLI start): plain {cell_plain:.2f} s, "
            f"bisect {cell_bisect:.2f} s; ratio {cell_bisect / cell_plain:.2f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixtures", type=int, default=2000)
    ap.add_argument("--skip-overhead", action="store_true")
    args = ap.parse_args()
    simulate(args.fixtures, 0.0)
    simulate(args.fixtures, 0.10)
    if not args.skip_overhead:
        overhead()


if __name__ == "__main__":
    main()
