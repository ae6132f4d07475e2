"""The attack suite: hostile pull requests through ``harness run --executor docker`` on a
real engine. Each test makes the attack as the upstream's own code and checks on the host
that it failed: the victim file unchanged, no marker from a host-side git command, no
host secret in the database or the output, the baseline untouched by a pull request's
setup, no credential inside the container, nothing on the host's loopback or LAN reached
by untrusted setup (and, as a control, reached by trusted setup, so the probes work).

The same attacks through the service (an untrusted author, ``/harness ok-to-test``) are
in tests/service/test_attacks_end_to_end.py.
"""

from __future__ import annotations

import http.server
import os
import socketserver
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.container_engine import LABEL, ContainerEngine
from harness.executors import egress
from tests.cli.conftest import Result
from tests.executors.hostile import CREDENTIALS, hostile_suite, make_hostile
from tests.gitrepos import UpstreamRepo

Harness = Callable[..., Result]
CELL = "hostile/cpu/debian12-py3.11"


@pytest.fixture
def hostile(tmp_path: Path) -> UpstreamRepo:
    return make_hostile(tmp_path / "upstream")


@pytest.fixture
def docker_env(base: str, test_label: str) -> dict[str, str]:
    return {
        "HARNESS_DOCKER_BASE_IMAGE": base,
        "HARNESS_DOCKER_NETWORK": "host",  # the most dangerous setting an operator has
        "HARNESS_DOCKER_MEMORY": "512m",
        "HARNESS_DOCKER_LABELS": test_label,
    }


@pytest.fixture(autouse=True)
def _nothing_left_behind(engine: ContainerEngine, test_label: str) -> Iterator[None]:
    yield
    filters = {"label": [LABEL, test_label]}
    left = engine.client.containers.list(all=True, filters=filters)
    assert left == [], f"containers left behind: {[c.labels for c in left]}"
    volumes = engine.client.volumes.list(filters=filters)
    assert volumes == [], f"work volumes left behind: {[v.name for v in volumes]}"
    networks = engine.client.networks.list(filters=filters)
    assert networks == [], f"networks left behind: {[n.name for n in networks]}"


def root_owned(path: Path, text: str, mode: int) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def targets(tmp_path: Path) -> dict[str, Path]:
    """What the hostile code aims at on the host."""
    home = tmp_path / "victim-home" / ".ssh"
    home.mkdir(parents=True)
    return {
        "victim": root_owned(home / "authorized_keys", "ssh-ed25519 AAAA operator@host\n", 0o644),
        "secret": root_owned(
            tmp_path / "shadow",
            '<testsuite name="s"><testcase classname="HOSTSECRET" name="root-hash"/></testsuite>\n',
            0o600,
        ),
        "marker": tmp_path / "pwned-by-fsmonitor",
    }


def write_suite(suites_dir: Path, text: str) -> None:
    (suites_dir / "hostile.yaml").write_text(text)
    (suites_dir / "demo.yaml").unlink(missing_ok=True)


def run(harness: Harness, env: dict[str, str], *args: str) -> tuple[Result, dict]:
    res = harness("run", CELL, "--executor", "docker", "--json", *args, env=env, timeout=900)
    assert res.code in (0, 1, 3), res.err
    (summary,) = res.json()["runs"]
    return res, summary


def test_a_hostile_pull_request_stays_in_its_container(
    harness: Harness,
    suites_dir: Path,
    hostile: UpstreamRepo,
    wheels: Path,
    docker_env: dict[str, str],
    targets: dict[str, Path],
    tmp_path: Path,
    db_url: str,
) -> None:
    wheels.chmod(0o755)
    attack_env = {
        "ATTACK_VICTIM": str(targets["victim"]),
        "ATTACK_SECRET": str(targets["secret"]),
        "ATTACK_MARKER": str(targets["marker"]),
    }
    write_suite(suites_dir, hostile_suite(hostile.url, env=attack_env, wheels=wheels))
    # the pull request's head, checked out the way a contributor has it, run in place
    clone = tmp_path / "pr-checkout"
    subprocess.run(["git", "clone", "-q", hostile.url, str(clone)], check=True)
    subprocess.run(
        ["git", "-C", str(clone), "fetch", "-q", "origin", "refs/pull/1/head"], check=True
    )
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", "FETCH_HEAD"], check=True)
    git_config = (clone / ".git" / "config").read_bytes()
    victim_before = targets["victim"].read_bytes()
    env = {
        **docker_env,
        # credentials an operator's pip configuration carries
        "PIP_EXTRA_INDEX_URL": f"https://__token__:{CREDENTIALS[0]}@index.invalid/simple",
        "HARNESS_TORCH_INDEX_URL": f"https://torch.invalid/whl?token={CREDENTIALS[1]}",
    }

    res, summary = run(harness, env, "--source", str(clone), "--reruns", "1")

    # 1. no host write through a link the container planted: the rerun ran, its
    #    selection went elsewhere, and the forged id never became a line
    assert "rerun 1/1 of step 'unit'" in res.err, res.err
    assert targets["victim"].read_bytes() == victim_before
    # 2. no host code execution: the container never had the checkout's .git
    subprocess.run(["git", "-C", str(clone), "status", "--porcelain"], check=True)
    assert not targets["marker"].exists()
    assert (clone / ".git" / "config").read_bytes() == git_config
    # 3. no host read: the link to the secret and the FIFO were refused, not followed
    shown = harness("runs", "show", "1", "--results", "--json")
    assert "HOSTSECRET" not in shown.out + res.out + res.err
    assert b"HOSTSECRET" not in Path(db_url.removeprefix("sqlite:///")).read_bytes()
    reason = shown.json()["reason"]
    assert summary["status"] == "error", reason
    assert "extra-fifo.xml: a FIFO, refused" in reason or "extra-secret.xml" in reason
    log = next((tmp_path / "reports" / "out").glob("*/logs/*/test-00-unit.log")).read_text()
    assert "extra-secret.xml: a symbolic link" in log
    assert "extra-fifo.xml: a FIFO, refused" in log
    # 4. no credential inside; the tests themselves ran and were recorded
    outcomes = {r["test_id"].split("::")[-1]: r["outcome"] for r in shown.json()["results"]}
    assert outcomes["test_no_credentials_inside"] == "passed"
    assert outcomes["test_fails_so_that_it_is_re_run"] == "failed"
    assert outcomes["test_pass"] == "passed"
    # nothing the container could write is left world-writable on the host
    for path in [clone, tmp_path / "reports"]:
        for p in path.rglob("*"):
            if not p.is_symlink():
                assert not p.stat().st_mode & 0o002, f"{p} is world-writable"


def test_a_pull_requests_setup_never_poisons_the_baseline(
    harness: Harness,
    suites_dir: Path,
    hostile: UpstreamRepo,
    wheels: Path,
    docker_env: dict[str, str],
) -> None:
    wheels.chmod(0o755)
    write_suite(suites_dir, hostile_suite(hostile.url, env={}, wheels=wheels))
    # the pull request comes first: its setup runs and poisons its own environment
    pr, pr_run = run(harness, docker_env, "--ref", "pr/2", "--test-args", "tests/test_clean.py")
    assert pr_run["counts"]["failed"] == 1, pr.err  # the attack works: its own env is
    # and its interpreter lied to the fingerprint probe: only what it may say of itself
    # (interpreter, OS) is taken; executor, image, stack and backend stay the host's
    forged = harness("runs", "show", "1", "--json").json()["environment"]
    assert forged["python"] == {"version": "3.11"}  # the attack reached the probe
    assert forged["executor"] == "docker"
    assert forged["image"]["variant"] == "debian12-py3.11"
    assert "stack" not in forged
    assert forged["backend"]["name"] == "cpu"
    # the baseline on main builds its own environment and is clean
    main, main_run = run(harness, docker_env, "--test-args", "tests/test_clean.py")
    assert "environment already built" not in main.err
    assert main_run["status"] == "passed", main.err
    assert main_run["counts"]["passed"] == 2
    # the trusted environment is reused: by main again, and by another pull request
    # with the same dependencies (reading it is harmless)
    again, again_run = run(harness, docker_env, "--test-args", "tests/test_clean.py")
    assert "environment already built" in again.err
    assert again_run["status"] == "passed"
    other, other_run = run(harness, docker_env, "--ref", "pr/3")
    assert "environment already built" in other.err
    assert other_run["counts"]["passed"] == 3
    scopes = [
        harness("runs", "show", str(i), "--json").json()["environment"]["image"]["scope"]
        for i in (1, 2, 3, 4)
    ]
    assert scopes[0].startswith("this commit only")
    assert scopes[1] == scopes[2] == scopes[3] == "shared (trusted code on the default branch)"


class _Counting(http.server.SimpleHTTPRequestHandler):
    hits: list[str]

    def log_message(self, format: str, *args: object) -> None:
        type(self).hits.append(self.path)


def serve(directory: Path, host: str) -> tuple[socketserver.TCPServer, list[str]]:
    handler = type("Handler", (_Counting,), {"hits": []})
    server = socketserver.ThreadingTCPServer(
        (host, 0), lambda *a: handler(*a, directory=str(directory))
    )
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, handler.hits


def host_addresses() -> list[str]:
    out = subprocess.run(
        ["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=True
    )
    found = [line.split()[3].split("/")[0] for line in out.stdout.splitlines()]
    return [a for a in found if not a.startswith("127.")]


@pytest.fixture
def network_targets(engine: ContainerEngine, wheels: Path, tmp_path: Path) -> Iterator[dict]:
    """An index (the wheels, for pip), a secret service on the host's loopback and a
    'LAN' service on every address, each counting its requests."""
    egress._ensure_out_network(engine)
    net = engine.network(egress.OUT_NETWORK)
    assert net is not None
    gateway = net.attrs["IPAM"]["Config"][0]["Gateway"]
    (tmp_path / "secret-site").mkdir()
    index, index_hits = serve(wheels, "0.0.0.0")
    loopback, loopback_hits = serve(tmp_path / "secret-site", "127.0.0.1")
    lan, lan_hits = serve(tmp_path / "secret-site", "0.0.0.0")
    lan_ip = next(a for a in host_addresses() if a != gateway)
    yield {
        "index": f"http://{gateway}:{index.server_address[1]}/",
        "direct": f"127.0.0.1:{loopback.server_address[1]} {lan_ip}:{lan.server_address[1]} "
        f"{gateway}:{lan.server_address[1]}",
        "proxy": f"http://127.0.0.1:{loopback.server_address[1]}/ "
        f"http://{lan_ip}:{lan.server_address[1]}/",
        "hits": {"index": index_hits, "loopback": loopback_hits, "lan": lan_hits},
    }
    for server in (index, loopback, lan):
        server.shutdown()
        server.server_close()


def test_untrusted_setup_reaches_the_package_index_and_nothing_else(
    harness: Harness,
    suites_dir: Path,
    hostile: UpstreamRepo,
    docker_env: dict[str, str],
    network_targets: dict,
    tmp_path: Path,
) -> None:
    t = network_targets
    probes = {"PROBE_DIRECT": t["direct"], "PROBE_PROXY": t["proxy"]}
    index = {"PIP_FIND_LINKS": t["index"], "PIP_TRUSTED_HOST": t["index"].split("/")[2]}
    suite = hostile_suite(hostile.url, env={**index, **probes}, wheels=None)
    write_suite(suites_dir, suite)

    res, summary = run(harness, docker_env, "--ref", "pr/3", "--untrusted")

    assert summary["status"] == "passed", res.err
    hits = t["hits"]
    assert hits["index"], "pip installed pytest through the egress proxy from the index"
    assert hits["loopback"] == [], hits
    assert hits["lan"] == [], hits
    log = next((tmp_path / "reports" / "out").glob("*/logs/*/setup-01-probe.log")).read_text()
    assert "through the egress proxy" in log
    assert "REACHED" not in log, log
    assert log.count("blocked") == 5, log

    # the control: trusted setup on the host network reaches both, so the probes work
    hits["index"].clear()
    res, summary = run(harness, docker_env, "--ref", "pr/3")
    assert summary["status"] == "passed", res.err
    assert hits["loopback"], hits
    assert hits["lan"], hits


def test_untrusted_code_is_refused_by_the_local_executor(
    harness: Harness, suites_dir: Path, hostile: UpstreamRepo, wheels: Path
) -> None:
    write_suite(suites_dir, hostile_suite(hostile.url, env={}, wheels=wheels))
    res = harness("run", "hostile/cpu/host", "--ref", "pr/1", "--untrusted", "--json")
    assert res.code == 3
    shown = harness("runs", "show", "1", "--json").json()
    assert shown["status"] == "error"
    assert "the local executor does not" in shown["reason"]


def test_credentials_named_by_the_operator_reach_trusted_code_only(
    harness: Harness,
    suites_dir: Path,
    hostile: UpstreamRepo,
    wheels: Path,
    docker_env: dict[str, str],
) -> None:
    # an index credential the operator passes on purpose: verbatim for trusted code,
    # removed for an untrusted author's
    wheels.chmod(0o755)
    write_suite(suites_dir, hostile_suite(hostile.url, env={}, wheels=wheels))
    token = CREDENTIALS[2]
    env = {**docker_env, "PIP_INDEX_URL": f"https://ci:{token}@mirror.invalid/simple"}
    check = (  # the credential is the URL's userinfo: there iff '@' is
        "import os,sys; v=os.environ.get('PIP_INDEX_URL',''); "
        "sys.exit(0 if ('@' in v) == (os.environ['EXPECT'] == 'yes') else 1)"
    )
    for trusted, expect in ((True, "yes"), (False, "no")):
        text = hostile_suite(hostile.url, env={"EXPECT": expect}, wheels=wheels)
        text = text.replace("python tools/probe.py", f'python -c "{check}"')
        write_suite(suites_dir, text)
        args = ["--ref", "pr/3", "--pass-env", "PIP_INDEX_URL"]
        res, summary = run(harness, env, *args, *([] if trusted else ["--untrusted"]))
        assert summary["status"] == "passed", (trusted, res.err)
        assert token not in res.err + res.out
    assert os.environ.get("PIP_INDEX_URL", "").find(token) == -1
