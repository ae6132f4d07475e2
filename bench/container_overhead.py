"""Container overhead benchmark: ``harness run --executor docker`` vs a plain container.

Builds a fixture upstream whose pytest suite takes about 30 s (CPU-bound tests), runs its
cpu cell once through the docker executor to build the images and the cell environment,
then, in the same run, times:

  baseline  the suite's test command in one container of the same cell-environment image
            (same mounts), started and waited for through the docker SDK: what a plain
            `docker run IMAGE python -m pytest ...` costs
  harness   `harness run demo/cpu/debian12-py3.11 --executor docker`: checkout, the test
            step's container, streaming the log, parsing and storing the results

and prints harness/baseline (target <= 1.05), plus the time of a no-op rebuild of the
variant image (target < 1 s): the content-hash tag exists, so nothing is built.

Needs a Docker engine and debootstrap (the base image is built locally, as in the tests).
Usage: python bench/container_overhead.py [--seconds 30] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.container_engine import ContainerEngine, Mount, RunSpec  # noqa: E402
from harness.images.matrix import host_arch, load_matrix  # noqa: E402
from harness.images.render import cell_user, render_variant  # noqa: E402
from tests.docker_support import debian_base  # noqa: E402
from tests.fixture_upstream import download_wheels, suite_yaml  # noqa: E402
from tests.gitrepos import UpstreamRepo  # noqa: E402

CELL = "demo/cpu/debian12-py3.11"


def busy_tests(seconds: float, n: int = 30) -> str:
    each = seconds / n
    return textwrap.dedent(
        f"""\
        import time

        import pytest


        @pytest.mark.parametrize("i", range({n}))
        def test_busy(i):
            end = time.perf_counter() + {each}
            x = 0
            while time.perf_counter() < end:
                x += 1
            assert x > 0
        """
    )


def harness(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    engine = ContainerEngine()
    base = debian_base(engine)
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        work = Path(tmp)
        repo = UpstreamRepo(work / "upstream", name="demo")
        repo.commit(
            {
                "requirements.txt": "pytest\n",
                "tests/test_busy.py": busy_tests(args.seconds),
                "pytest.ini": "[pytest]\naddopts = -p no:cacheprovider\n",
            },
            message="busy suite",
        )
        wheels = download_wheels(work / "wheels")
        wheels.chmod(0o755)
        suites = work / "suites"
        suites.mkdir()
        (suites / "demo.yaml").write_text(
            suite_yaml(repo.url, wheels=wheels, test_timeout="10m").replace(
                "default_args: tests/test_basic.py", "default_args: tests"
            )
        )
        env = {
            **os.environ,
            "HARNESS_DB": f"sqlite:///{work / 'h.db'}",
            "HARNESS_SUITES": str(suites),
            "HARNESS_CACHE": str(work / "cache"),
            "HARNESS_IMAGES": str(ROOT / "images"),
            "HARNESS_DOCKER_BASE_IMAGE": base,
            "HARNESS_DOCKER_NETWORK": os.environ.get("HARNESS_DOCKER_NETWORK", "host"),
        }
        run_args = ("run", CELL, "--executor", "docker", "--json", "--keep-worktree")
        warm = harness(env, *run_args)
        if warm.returncode != 0:
            sys.exit(f"warm-up run failed:\n{warm.stderr[-3000:]}")
        shown = json.loads(harness(env, "runs", "show", "1", "--json").stdout)
        image = shown["environment"]["image"]["tag"]
        worktree = next(
            p for p in (work / "cache" / "work").glob("*") if not p.name.endswith("-repos")
        )
        results = work / "plain-results"
        results.mkdir()
        results.chmod(0o777)
        plain = RunSpec(
            image=image,
            command=["python", "-m", "pytest", "-q", "--junitxml=/work/results/unit.xml", "tests"],
            mounts=[Mount(worktree, "/work/source"), Mount(results, "/work/results")],
            workdir="/work/source",
            user="{}:{}".format(*cell_user()),
            timeout_s=600,
        )
        t_plain, t_harness = [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            res = engine.run(plain)
            t_plain.append(time.perf_counter() - t)
            assert res.exit_code == 0, res.tail
            t = time.perf_counter()
            out = harness(env, *run_args)
            t_harness.append(time.perf_counter() - t)
            assert out.returncode == 0, out.stderr[-2000:]
        variant = load_matrix(ROOT / "images").by_id("debian12-py3.11")
        spec = render_variant(
            variant,
            ROOT / "images",
            arch=host_arch(),
            base=base,
            base_id=engine.image_id(base),
        )
        t = time.perf_counter()
        _, built = engine.build(spec)
        t_noop = time.perf_counter() - t
        t = time.perf_counter()
        cli = harness(env, "images", "build", "debian12-*", "--base-image", base)
        t_noop_cli = time.perf_counter() - t
        assert cli.returncode == 0, cli.stderr
    best_plain, best_harness = min(t_plain), min(t_harness)
    print(f"suite: 30 CPU-bound tests, {args.seconds:.0f} s of work; best of {args.repeat}")
    print(f"baseline (plain container)        {best_plain:7.2f} s")
    print(f"harness run --executor docker     {best_harness:7.2f} s")
    print(f"ratio harness/baseline            {best_harness / best_plain:7.3f}  (target <= 1.05)")
    print(
        f"no-op rebuild (build call)        {t_noop * 1000:7.1f} ms  (built: {built}; target < 1 s)"
    )
    print(f"no-op rebuild (harness images build, whole CLI)  {t_noop_cli:5.2f} s")


if __name__ == "__main__":
    main()
