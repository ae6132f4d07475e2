"""Cell environments installed with uv (``{pip}``), pip kept as the fallback, the
operator's pip settings carried over to uv, and resolving as of the tested commit's date
(uv's exclude-newer) against a real HTTP index with upload times."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.executors import installer
from tests.cli.conftest import Result
from tests.fixture_upstream import BASIC_COUNTS, suite_yaml
from tests.gitrepos import UpstreamRepo
from tests.simple_index import Release, build_wheel, serve_index

Harness = Callable[..., Result]


# -- pip settings → uv ---------------------------------------------------------------------


def test_pip_configuration_files_and_variables_become_uv_settings(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".config" / "pip").mkdir(parents=True)
    (home / ".config" / "pip" / "pip.conf").write_text(
        "[global]\n"
        "index-url = https://mirror.example/simple\n"
        "extra-index-url = file:///srv/a/simple\n    file:///srv/b/simple\n"
        "find-links = /srv/wheels\n"
        "constraint = /srv/constraints.txt\n"
        "disable-pip-version-check = 1\n"
        "[install]\n"
        "only-binary = :all:\n"
        "use-feature = truststore\n"
    )
    xdg = tmp_path / "xdg"
    (xdg / "pip").mkdir(parents=True)
    (xdg / "pip" / "pip.conf").write_text("[global]\nfind-links = /overridden\n")
    env = {
        "HOME": str(home),
        "XDG_CONFIG_DIRS": str(xdg),
        # a variable wins over the files, as for pip
        "PIP_FIND_LINKS": "/opt/wheels /srv/more-wheels",
        "PIP_CERT": "/etc/ssl/ca.pem",
        # what the step sets for uv itself is left alone
        "UV_DEFAULT_INDEX": "https://operator.example/simple",
    }
    settings = installer.pip_settings(env, installer.read_pip_config(env))
    assert installer.uv_environment(settings, env) == {
        "UV_INDEX": "file:///srv/a/simple file:///srv/b/simple",
        "UV_INDEX_STRATEGY": "unsafe-best-match",  # pip's choice across indexes
        "UV_FIND_LINKS": "/opt/wheels,/srv/more-wheels",
        "UV_CONSTRAINT": "/srv/constraints.txt",
        "SSL_CERT_FILE": "/etc/ssl/ca.pem",
    }
    # what uv takes from no variable goes to the uv.toml the harness writes
    assert installer.uv_config(settings) == {"only-binary": [":all:"]}
    assert installer.unmapped(settings) == ["use-feature"]
    # PIP_CONFIG_FILE=/dev/null turns pip's files off, for pip and so for uv
    assert installer.read_pip_config({**env, "PIP_CONFIG_FILE": os.devnull}) == {}


def test_carried_over_settings_work_with_the_real_uv(tmp_path: Path) -> None:
    """pip's settings for an offline install from two wheel folders (PIP_NO_INDEX, a
    space-separated PIP_FIND_LINKS) reach the real uv: the folders as its comma-separated
    list, no-index through the uv.toml written for it; uv installs from both and asks no
    index (pypi.org has a ``beta`` project: without no-index uv would look there)."""
    build_wheel(tmp_path / "a", "alpha", "1.0")
    build_wheel(tmp_path / "b", "beta", "2.0")
    subprocess.run(["python3", "-m", "venv", "--without-pip", tmp_path / "venv"], check=True)
    python = str(tmp_path / "venv" / "bin" / "python")
    pip_env = {"PIP_FIND_LINKS": f"{tmp_path / 'a'} {tmp_path / 'b'}", "PIP_NO_INDEX": "1"}
    config = tmp_path / "uv.toml"
    setup = installer.uv_setup(
        pip_env, {}, python=python, exclude_newer=None, config_path=str(config), own_config=None
    )
    assert setup.env == {
        "UV_FIND_LINKS": f"{tmp_path / 'a'},{tmp_path / 'b'}",
        "UV_PYTHON": python,
        "UV_CONFIG_FILE": str(config),
    }
    assert setup.carried == ("find-links", "no-index")
    config.write_text(setup.config_text)
    base = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "UV_CACHE_DIR": str(tmp_path)}
    proc = subprocess.run(
        [installer.uv_binary(), "pip", "install", "alpha", "beta", "gamma"],
        env={**base, **setup.env},
        capture_output=True,
        text=True,
        check=False,
    )
    # gamma is on no configured source, and uv looks for it on no index
    assert proc.returncode == 1
    assert "gamma was not found in the provided package locations" in proc.stderr
    proc = subprocess.run(
        [installer.uv_binary(), "pip", "install", "alpha", "beta"],
        env={**base, **setup.env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "+ alpha==1.0" in proc.stderr
    assert "+ beta==2.0" in proc.stderr
    # the operator's own uv configuration is not hidden: no-index is then not carried
    theirs = installer.uv_setup(
        pip_env,
        {},
        python=python,
        exclude_newer=None,
        config_path="x",
        own_config="/etc/uv/uv.toml",
    )
    assert "UV_CONFIG_FILE" not in theirs.env
    assert theirs.not_carried == ("no-index (the operator's uv configuration /etc/uv/uv.toml)",)


def test_as_of_times_are_uvs_utc_form(tmp_path: Path) -> None:
    assert installer.parse_as_of("2025-06-01") == "2025-06-01T00:00:00Z"
    assert installer.parse_as_of("2025-06-01T14:30:00+02:00") == "2025-06-01T12:30:00Z"
    assert installer.parse_as_of("2025-06-01T12:00:00Z") == "2025-06-01T12:00:00Z"
    with pytest.raises(ConfigError, match="not 'commit', 'none', a date"):
        installer.parse_as_of("last tuesday")
    with pytest.raises(ConfigError, match="no committer date"):
        installer.commit_time(tmp_path)


# -- the local executor ------------------------------------------------------------------


def _run(harness: Harness, *args: str, env: dict[str, str] | None = None) -> dict:
    res = harness("run", "demo/cpu/host", "--json", *args, env=env)
    assert res.code in (0, 1), res.err
    (summary,) = res.json()["runs"]
    shown = harness("runs", "show", str(summary["run_id"]), "--json").json()
    log = Path(summary["reports"]) / "logs" / "demo__cpu__host" / "setup-00-deps.log"
    return {**summary, "environment": shown["environment"], "err": res.err, "log": log}


def test_the_local_executor_installs_with_uv_and_pip_stays_the_fallback(
    harness: Harness, suites_dir: Path
) -> None:
    run = _run(harness)
    assert run["counts"] == BASIC_COUNTS
    setup_log = run["log"].read_text()
    uv = installer.uv_binary()
    assert f"[harness] $ {uv} pip install -q -r requirements.txt" in setup_log
    # the suite's PIP_NO_INDEX / PIP_FIND_LINKS reached uv
    assert "installer: uv ({pip} is uv pip); pip settings carried over:" in setup_log
    assert "find-links" in setup_log
    assert "no-index" in setup_log
    fp = run["environment"]
    assert fp["installer"]["name"] == "uv"
    assert fp["installer"]["version"].startswith("uv 0.")
    assert fp["installer"]["resolve_as_of"] == "none"
    assert "exclude_newer" not in fp["installer"]
    assert "pytest" in fp["python"]["packages"]
    # the environment has pip in it: `python -m pip` in a recipe keeps working
    assert "pip" in fp["python"]["packages"]

    # installer: pip makes {pip} `python -m pip`, in an environment of its own
    path = suites_dir / "demo.yaml"
    path.write_text(path.read_text().replace("default_args:", "installer: pip\ndefault_args:"))
    run = _run(harness)
    assert run["counts"] == BASIC_COUNTS
    assert "-m pip install -q -r requirements.txt" in run["log"].read_text()
    assert run["environment"]["installer"] == {"name": "pip", "resolve_as_of": "none"}
    assert run["environment"]["environment"] != fp["environment"]


# -- resolving as of the commit's date ---------------------------------------------------

TEST_TINY = """\
import tinypkg


def test_tiny():
    assert tinypkg.__version__
"""


@pytest.fixture
def tiny_upstream(tmp_path: Path) -> UpstreamRepo:
    """An upstream committed on 2026-01-01 (tests/gitrepos.py) that needs ``tinypkg``."""
    repo = UpstreamRepo(tmp_path / "tiny-upstream", name="demo")
    repo.commit(
        {"requirements.txt": "pytest\ntinypkg\n", "tests/test_tiny.py": TEST_TINY},
        message="needs tinypkg",
    )
    return repo


def test_resolving_as_of_the_commit_takes_the_release_of_its_day(
    harness: Harness, suites_dir: Path, tiny_upstream: UpstreamRepo, wheels: Path, tmp_path: Path
) -> None:
    old = build_wheel(tmp_path / "dist", "tinypkg", "1.0")
    new = build_wheel(tmp_path / "dist", "tinypkg", "2.0")
    releases = [Release(old, "2025-06-01T00:00:00Z"), Release(new, "2026-06-01T00:00:00Z")]
    text = suite_yaml(tiny_upstream.url, wheels=wheels)
    # tinypkg from the index, pytest from the wheel folder (not filtered by date)
    text = text.replace('  PIP_NO_INDEX: "1"\n', "")
    text = text.replace("[PIP_NO_INDEX, PIP_FIND_LINKS]", "[PIP_FIND_LINKS]")  # env_pinned
    text = text.replace("default_args: tests/test_basic.py", "default_args: tests/test_tiny.py")
    (suites_dir / "demo.yaml").write_text(text)
    commit_date = tiny_upstream.git("log", "-1", "--format=%cI", "main")
    assert commit_date.startswith("2026-01-01T")
    with serve_index({"tinypkg": releases}) as index:
        # the host's pip configuration files stay out (its indexes are not this test's)
        env = {"PIP_INDEX_URL": index.url, "PIP_CONFIG_FILE": os.devnull}
        as_of = _run(harness, "--resolve-as-of", "commit", env=env)
        latest = _run(harness, env=env)
        dated = _run(harness, "--resolve-as-of", "2026-07-01", env=env)
    assert as_of["counts"]["passed"] == 1, as_of["err"]
    assert as_of["environment"]["python"]["packages"]["tinypkg"] == "1.0"
    assert as_of["environment"]["installer"]["resolve_as_of"] == "commit"
    assert as_of["environment"]["installer"]["exclude_newer"] == installer.parse_as_of(commit_date)
    assert "resolving dependencies as of 2026-01-01T" in as_of["err"]
    assert "resolving as of 2026-01-01T" in as_of["log"].read_text()
    # without a cutoff the newest release; a resolved-as-of environment is not reused
    assert latest["environment"]["python"]["packages"]["tinypkg"] == "2.0"
    assert latest["environment"]["environment"] != as_of["environment"]["environment"]
    assert "environment already built" not in latest["err"]
    assert dated["environment"]["python"]["packages"]["tinypkg"] == "2.0"
    assert dated["environment"]["installer"]["exclude_newer"] == "2026-07-01T00:00:00Z"
    assert dated["environment"]["environment"] != latest["environment"]["environment"]


def test_resolving_as_of_a_date_needs_the_uv_installer(harness: Harness, suites_dir: Path) -> None:
    path = suites_dir / "demo.yaml"
    path.write_text(path.read_text().replace("default_args:", "installer: pip\ndefault_args:"))
    res = harness("run", "demo/cpu/host", "--json", "--resolve-as-of", "commit")
    assert res.code == 3
    assert "resolving as of commit needs the uv installer" in json.dumps(res.json())
    bad = harness("run", "demo/cpu/host", "--resolve-as-of", "yesterday")
    assert bad.code == 2
    assert "--resolve-as-of" in bad.err
