"""``harness run`` end to end: real git upstream, real venv, real pytest, real database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lxml import etree

from harness.results import parse
from harness.store import Store
from tests.cli.conftest import Result
from tests.fixture_upstream import BASIC_COUNTS
from tests.gitrepos import UpstreamRepo

Harness = Callable[..., Result]
ZERO = dict.fromkeys(BASIC_COUNTS, 0)


def only_run(res: Result) -> dict:  # type: ignore[type-arg]
    data = res.json()
    assert list(data) == ["job", "reports", "runs"]
    assert len(data["runs"]) == 1
    return data["runs"][0]  # type: ignore[no-any-return]


def edit_suite(suites_dir: Path, old: str, new: str) -> None:
    """Change the demo suite file for one test (the text must be there)."""
    path = suites_dir / "demo.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def job_dir(tmp_path: Path) -> Path:
    (job,) = (tmp_path / "reports" / "out").iterdir()
    return job


def test_run_records_every_outcome_and_writes_reports(
    harness: Harness, upstream: UpstreamRepo, tmp_path: Path, db_url: str
) -> None:
    res = harness("run", "demo/cpu", "--json")
    assert res.code == 1, res.err
    run = only_run(res)
    assert set(run) == {
        "cell", "run_id", "status", "conclusion", "explained", "sha", "counts", "duration_s",
        "reason", "reports", "notes", "seeds",
    }  # fmt: skip
    assert run["conclusion"] == "failure"
    assert run["explained"] == 0
    assert run["reports"] == str(job_dir(tmp_path)) == res.json()["reports"]
    assert run["cell"] == "demo/cpu/host"
    assert run["status"] == "failed"
    assert run["counts"] == BASIC_COUNTS
    assert run["sha"] == upstream.rev_parse("main")
    assert run["duration_s"] > 0

    out = job_dir(tmp_path)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"][0]["counts"] == BASIC_COUNTS
    run_id = summary["runs"][0]["run_id"]
    # the merged junit.xml is valid XML and holds every case with the same outcomes
    stream = parse(out / "junit.xml", "junit")
    merged = list(stream)
    assert not stream.report.crashed
    assert len(merged) == sum(BASIC_COUNTS.values())
    md = (out / "summary.md").read_text()
    assert "demo/cpu/host" in md
    assert "test_fail" in md
    assert "device mismatch" in md
    logs = sorted(p.name for p in (out / "logs" / "demo__cpu__host").iterdir())
    assert "test-00-unit.log" in logs

    store = Store.open(db_url)
    try:
        rec = store.get_run(run_id)
        assert rec.status == "failed"
        assert rec.counts == BASIC_COUNTS
        assert rec.environment_id is not None
        env = store.get_environment(rec.environment_id)
        assert env["backend"]["name"] == "cpu"
        assert "pytest" in env["python"]["packages"]
        ids = {r.test_id: r.outcome.value for r in store.iter_results(run_id)}
        assert ids["tests.test_basic::test_fail"] == "failed"
        assert ids["tests.test_basic::test_xfail"] == "xfailed"
        assert ids["tests.test_basic::test_param[2]"] == "passed"
    finally:
        store.close()

    listed = harness("runs", "list", "--json")
    assert listed.code == 0, listed.err
    assert [r["id"] for r in listed.json()["runs"]] == [run_id]
    shown = harness("runs", "show", str(run_id))
    assert shown.code == 0, shown.err
    assert "tests.test_basic::test_fail" in shown.out
    assert "device mismatch" in shown.out


def test_counts_equal_a_direct_pytest_run(
    harness: Harness, upstream: UpstreamRepo, tmp_path: Path, db_url: str
) -> None:
    res = harness("run", "demo", "--json")
    run = only_run(res)
    # the same tests run directly, with the interpreter of the environment the harness built
    run_id = json.loads((job_dir(tmp_path) / "summary.json").read_text())["runs"][0]["run_id"]
    store = Store.open(db_url)
    try:
        env_id = store.get_run(run_id).environment_id
        assert env_id is not None
        python = store.get_environment(env_id)["python"]["executable"]
    finally:
        store.close()
    checkout = tmp_path / "direct"
    subprocess.run(["git", "clone", "-q", upstream.url, str(checkout)], check=True)
    direct_xml = tmp_path / "direct.xml"
    subprocess.run(
        [python, "-m", "pytest", "-q", f"--junitxml={direct_xml}", "tests/test_basic.py"],
        cwd=checkout,
        check=False,
        capture_output=True,
    )
    direct = dict(ZERO)
    for r in parse(direct_xml, "junit"):
        direct[r.outcome.value] += 1
    assert run["counts"] == direct


def test_passing_subset_exits_zero_and_env_is_reused(harness: Harness) -> None:
    first = harness("run", "demo/cpu", "--subset", "passing", "--json")
    assert first.code == 0, first.err
    assert only_run(first)["status"] == "passed"
    assert only_run(first)["counts"] == {**ZERO, "passed": 4}
    second = harness("run", "demo/cpu", "--test-args", "tests/test_basic.py -k test_pass")
    assert second.code == 0, second.err
    assert "setup skipped" in second.err
    assert "passed" in second.out


def test_hanging_test_is_killed_at_the_timeout(
    harness: Harness, suites_dir: Path, upstream: UpstreamRepo, wheels: Path
) -> None:
    from tests.fixture_upstream import suite_yaml

    (suites_dir / "demo.yaml").write_text(
        suite_yaml(upstream.url, wheels=wheels, test_timeout="4s")
    )
    start = time.monotonic()
    res = harness("run", "demo", "--subset", "hang", "--json")
    assert time.monotonic() - start < 120
    assert res.code == 3, res.err
    run = only_run(res)
    assert run["status"] == "timeout"
    assert "timed out" in res.err


def test_killed_interpreter_without_result_file_is_an_infra_error(harness: Harness) -> None:
    res = harness("run", "demo", "--subset", "crash", "--json")
    assert res.code == 3
    run = only_run(res)
    assert run["status"] == "error"
    assert run["counts"] == ZERO
    assert "wrote no result file" in res.err
    assert "SIGKILL" in res.err or "137" in res.err


def test_killed_interpreter_with_streaming_plugin_keeps_results_and_is_crashed(
    harness: Harness, suites_dir: Path
) -> None:
    edit_suite(
        suites_dir,
        "--junitxml={results_dir}/unit.xml",
        "-p harness_junit_stream --harness-junit={results_dir}/unit.xml",
    )
    res = harness("run", "demo", "--subset", "crash", "--json")
    assert res.code == 3, res.err
    run = only_run(res)
    assert run["status"] == "crashed"
    assert run["counts"] == {**ZERO, "passed": 1}  # test_before_crash survived the kill


def test_truncated_result_file_keeps_results_and_marks_crashed(
    harness: Harness, suites_dir: Path
) -> None:
    edit_suite(
        suites_dir,
        "python -m pytest -q --junitxml={results_dir}/unit.xml {args}",
        "python -m pytest -q --junitxml=full.xml {args} || true; "
        "head -c 1500 full.xml > {results_dir}/unit.xml",
    )
    res = harness("run", "demo", "--json")
    assert res.code == 3, res.err
    run = only_run(res)
    assert run["status"] == "crashed"
    assert 0 < sum(run["counts"].values()) < sum(BASIC_COUNTS.values())
    assert "cut short or malformed" in res.err


def test_missing_result_file_is_never_zero_tests(harness: Harness, suites_dir: Path) -> None:
    edit_suite(
        suites_dir,
        "python -m pytest -q --junitxml={results_dir}/unit.xml {args}",
        "echo ran nothing",
    )
    res = harness("run", "demo", "--json")
    assert res.code == 3
    assert only_run(res)["status"] == "error"
    assert "wrote no result file 'unit.xml'" in res.err


def test_setup_failure_is_an_infra_error_and_env_is_not_reused(
    harness: Harness, suites_dir: Path
) -> None:
    edit_suite(
        suites_dir,
        "{pip} install -q -r requirements.txt",
        "{pip} install -q -r requirements.txt; echo 'no such wheel' >&2; exit 7",
    )
    for _ in range(2):
        res = harness("run", "demo", "--json")
        assert res.code == 3
        assert only_run(res)["status"] == "error"
        assert "setup step setup-00-deps exited with code 7: no such wheel" in res.err
        assert "setup skipped" not in res.err


def test_refs_branch_tag_and_pull_requests(
    harness: Harness, upstream: UpstreamRepo, tmp_path: Path
) -> None:
    head, merge = upstream.pull_request(
        7, {"tests/test_pr.py": "def test_new_in_pr():\n    assert False\n"}
    )
    res = harness(
        "run",
        "demo",
        "--ref",
        "refs/pull/7/head",
        "--test-args",
        "tests/test_basic.py tests/test_pr.py",
        "--json",
    )
    run = only_run(res)
    assert run["sha"] == head
    assert run["counts"]["failed"] == BASIC_COUNTS["failed"] + 1
    res = harness("run", "demo", "--ref", "pr/7/merge", "--subset", "passing", "--json")
    assert only_run(res)["sha"] == merge


def test_source_directory_runs_in_place(
    harness: Harness, upstream: UpstreamRepo, tmp_path: Path
) -> None:
    checkout = tmp_path / "local"
    subprocess.run(["git", "clone", "-q", upstream.url, str(checkout)], check=True)
    (checkout / "tests" / "test_local.py").write_text("def test_local_change():\n    pass\n")
    res = harness(
        "run", "demo", "--source", str(checkout), "--test-args", "tests/test_local.py", "--json"
    )
    assert res.code == 0, res.err
    run = only_run(res)
    assert run["counts"]["passed"] == 1
    assert run["sha"] == upstream.rev_parse("main")
    assert "uncommitted changes" in res.err


#: ``harness`` started with SIGINT at its default and unblocked, as a terminal starts it
AS_FROM_A_TERMINAL = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT}); "
    "os.execv(sys.executable, [sys.executable, '-m', 'harness', *sys.argv[1:]])"
)


def test_ctrl_c_records_the_run_as_cancelled(
    harness: Harness, tmp_path: Path, suites_dir: Path, shared_cache: Path, db_url: str
) -> None:
    harness("run", "demo", "--subset", "passing")  # make sure the env is built
    env = {
        **os.environ,
        "HARNESS_DB": db_url,
        "HARNESS_SUITES": str(suites_dir),
        "HARNESS_CACHE": str(shared_cache),
    }
    proc = subprocess.Popen(
        # as a terminal starts it: in full parallel runs the pytest worker had come to
        # ignore SIGINT (four presses 30 s apart, none heeded) and passed that on
        [sys.executable, "-c", AS_FROM_A_TERMINAL, "run", "demo", "--subset", "hang", "--json"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "test step 'unit' started" in line:
            break
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)  # a hang guard, not a deadline
    assert proc.returncode == 130, err
    assert json.loads(out)["runs"][0]["status"] == "cancelled"
    store = Store.open(db_url)
    try:
        (rec,) = store.list_runs(limit=1)
        assert rec.status == "cancelled"
        assert rec.finished_at is not None
    finally:
        store.close()


def test_bad_suite_file_exits_2_with_location(harness: Harness, suites_dir: Path) -> None:
    (suites_dir / "broken.yaml").write_text("name: broken\nupstream:\n  repo: a/b\n  brnch: x\n")
    res = harness("run", "demo")
    assert res.code == 2
    assert "broken.yaml:4:3: upstream.brnch: unknown key" in res.err
    assert "upstream.default_branch" not in res.err


def test_unknown_pattern_exits_2(harness: Harness) -> None:
    res = harness("run", "nothing/here")
    assert res.code == 2
    assert "matches no cell" in res.err


def test_junit_xml_is_well_formed_with_hostile_messages(harness: Harness, tmp_path: Path) -> None:
    harness("run", "demo", "--json")
    tree = etree.parse(str(job_dir(tmp_path) / "junit.xml"))
    assert tree.getroot().tag == "testsuites"
    (suite,) = tree.getroot()
    assert suite.get("name") == "demo/cpu/host"
    assert suite.get("failures") == "1"


def test_known_failures_tell_one_story_everywhere(
    harness: Harness, tmp_path: Path, db_url: str, suites_dir: Path
) -> None:
    """A run whose failures are all known exited 1, was ``failed`` in the table and red on
    the dashboard, while ``harness verdict`` said success: now every report agrees."""
    edit_suite(
        suites_dir,
        "subsets:",
        'known_failures:\n  - tests: ["tests.test_basic::test_fail"]\n'
        "    reason: cpu is not npu\nsubsets:",
    )
    (suites_dir / "quarantine").mkdir(exist_ok=True)
    (suites_dir / "quarantine" / "demo.yaml").write_text(
        "quarantine:\n  - backend: cpu\n    test: tests.test_basic::test_error\n"
        "    reason: the fixture explodes\n    link: https://example.org/issues/1\n"
    )
    res = harness("run", "demo/cpu", "--json")
    assert res.code == 0, res.err  # every failure explained
    run = only_run(res)
    assert run["status"] == "failed"  # the facts stay: two tests failed
    assert run["conclusion"] == "success"
    assert run["explained"] == 2
    table = harness("run", "demo/cpu")
    assert table.code == 0, table.err
    assert "known failures (2)" in table.out
    assert harness("run", "demo/cpu", "--strict").code == 1
    elsewhere = tmp_path / "elsewhere"
    moved = harness("run", "demo/cpu", "--json", env={"HARNESS_OUT": str(elsewhere)})
    assert moved.json()["reports"].startswith(str(elsewhere))
    assert (Path(moved.json()["reports"]) / "summary.md").is_file()
    out = sorted((tmp_path / "reports" / "out").iterdir())[0]
    md = (out / "summary.md").read_text()
    assert "**known failures (2)**" in md
    assert "(known failure: cpu is not npu)" in md
    assert "(known failure: the fixture explodes)" in md
    assert json.loads((out / "summary.json").read_text())["runs"][0]["conclusion"] == "success"
    with Store.open(db_url) as store:
        assert store.get_run(run["run_id"]).explained == 2
        from harness.dashboard.pages import Pages

        overview = Pages(store, suites_dir=suites_dir).overview()
        page = Pages(store, suites_dir=suites_dir).run(run["run_id"])
    # the run page: its status as everywhere, then failures and logs, the environment last
    assert "known failures (2): 2 test(s) failed, all 2 known failures" in page
    assert page.index("<h2>Logs</h2>") < page.index("Environment (")
    assert "known failures (2)" in overview
    assert 'class="tile known' in overview
    # against the run before it (the first had no baseline: neutral)
    latest = max(r["id"] for r in harness("runs", "list", "--json").json()["runs"])
    # every table says it whole, however narrow the terminal or piped
    for cmd in (("runs", "list"), ("run", "demo/cpu")):
        narrow = harness(*cmd, env={"COLUMNS": "80"})
        assert "demo/cpu/host" in narrow.out, narrow.out
        assert "known failures (2)" in narrow.out, narrow.out
        assert max(len(line) for line in narrow.out.splitlines()) <= 80, narrow.out
    verdict = harness("verdict", str(latest), "--json")
    assert verdict.json()["conclusion"] == "success", verdict.out
    assert verdict.json()["counts"]["quarantined"] == 2
    assert verdict.code == 0


def test_an_unreachable_upstream_says_what_to_do_next(harness: Harness) -> None:
    """The Quick start without GitHub access failed with `Could not resolve host` alone."""
    res = harness("run", "demo/cpu", "--source", "https://unreachable.invalid/demo.git", "--json")
    assert res.code == 3, res.err
    run = only_run(res)
    assert run["status"] == "error"
    assert "Could not resolve host" in run["reason"]
    assert "next: no route to the upstream from here" in run["reason"]
    assert "--source DIR|URL" in run["reason"]


def test_a_mirror_serves_every_fetch_and_the_fingerprint_says_so(
    harness: Harness, upstream: UpstreamRepo, tmp_path: Path, suites_dir: Path, db_url: str
) -> None:
    """A runner that cannot reach the upstream's host fetches from a mirror, set once by
    the operator (no suite file edited), pull-request refs included."""
    head, _merge = upstream.pull_request(
        9, {"tests/test_mirror.py": "def test_from_the_mirror():\n    assert True\n"}
    )
    mirror_root = tmp_path / "mirror"
    subprocess.run(
        ["git", "clone", "-q", "--mirror", upstream.url, str(mirror_root / "example/demo.git")],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    edit_suite(suites_dir, f"url: {upstream.url}", "url: https://github.invalid/example/demo.git")
    unreachable = harness("run", "demo/cpu", "--json")
    assert unreachable.code == 3, unreachable.err
    env = {"HARNESS_MIRRORS": f"https://github.invalid/={mirror_root.as_uri()}/"}
    res = harness(
        "run", "demo/cpu", "--ref", "pr/9",
        "--test-args", "tests/test_basic.py tests/test_mirror.py", "--json", env=env,
    )  # fmt: skip
    assert res.code == 1, res.err  # the fixture's own failures
    run = only_run(res)
    assert run["sha"] == head
    assert run["counts"]["passed"] == BASIC_COUNTS["passed"] + 1
    with Store.open(db_url) as store:
        rec = store.get_run(run["run_id"])
        assert rec.environment_id is not None
        fingerprint = store.get_environment(rec.environment_id)
    assert fingerprint["source"] == {
        "url": "https://github.invalid/example/demo.git",
        "fetched": (mirror_root / "example/demo.git").as_uri(),
    }
    doctor = harness("doctor", "--no-host", "--backend", "cpu", "--json", env=env)
    assert doctor.json()["mirrors"] == [
        {"prefix": "https://github.invalid/", "use": f"{mirror_root.as_uri()}/"}
    ]
    # a mirror without the repository: the error names where git really fetched from
    astray = harness(
        "run", "demo/cpu", "--json",
        env={"HARNESS_MIRRORS": f"https://github.invalid/={mirror_root.as_uri()}/nowhere/"},
    )  # fmt: skip
    assert astray.code == 3, astray.err
    assert f"{mirror_root.as_uri()}/nowhere/example/demo.git" in only_run(astray)["reason"]
    assert "HARNESS_MIRRORS" in only_run(astray)["reason"]
    bad = harness("run", "demo/cpu", env={"HARNESS_MIRRORS": "https://github.invalid/"})
    assert bad.code == 2
    assert "is not PREFIX=REPLACEMENT" in bad.err
