"""The local executor: run a cell's steps on this machine, in a virtualenv per cell.

The virtualenv lives in the cache directory under a key made from the suite, the backend and
a hash of everything that decides its contents: the interpreter version, the setup steps
and their environment, the installer and the time dependencies are resolved as of, the
pip configuration files' settings, and the upstream's dependency files
(``dependency_files`` in the recipe, e.g. ``requirements.txt``). It is made by the venv
module (pip in it, offline); setup steps install into it with ``{pip}``, uv by default
(:mod:`harness.executors.installer`). While the key is unchanged the environment is reused
and setup steps are skipped; a half-built environment (setup failed or was interrupted)
is never reused. Which runs may share an environment is the code's provenance
(:mod:`harness.executors.provenance`): part of the key, so a pull request's setup never
builds into the environment a baseline uses.

This executor does not isolate anything: steps run as the harness's user, with its
files and network. It runs trusted code only (it declares no isolation).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.config.suite import Phase, Step
from harness.config.templating import as_environment, render
from harness.errors import ConfigError, StepError
from harness.executors import installer, leftovers
from harness.executors.base import (
    ANY_DEVICE,
    Capabilities,
    CellContext,
    Isolation,
    Rerun,
    fresh_dir,
    step_key,
    step_log_path,
)
from harness.executors.environment import filtered_host_env, suite_env
from harness.executors.leftovers import MARK_ENV, Reaped
from harness.executors.process import StepOutcome, run_command
from harness.executors.selection import prepare_rerun
from harness.fingerprint import python_fingerprint

READY_MARKER = ".harness-ready.json"
KEYED_ENV_PREFIXES = ("PIP_", "UV_", "HARNESS_")
PYTEST_PLUGIN_DIR = Path(__file__).resolve().parent.parent / "pytest_plugins"
#: Bumped when the way environments are built changes, invalidating old ones.
ENV_LAYOUT_VERSION = "3"


def interpreter_version(python: str) -> str:
    exe = shutil.which(python)
    if exe is None:
        raise ConfigError(
            f"interpreter '{python}' not found on PATH",
            hint="set `python:` in the suite file to an installed interpreter",
        )
    proc = subprocess.run(
        [exe, "-c", "import sys; print(sys.version)"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise StepError(f"interpreter '{exe}' does not run: {proc.stderr.strip()[-300:]}")
    return f"{exe} {proc.stdout.strip()}"


def environment_key(
    ctx: CellContext,
    python_version: str,
    scope: str | None = None,
    pip_config: dict[str, str] | None = None,
) -> str:
    """The hash that names the cell's virtualenv or image (see the module docstring);
    ``scope`` replaces the provenance's scope (to look up the shared environment);
    ``pip_config`` is what pip's configuration files set (the local executor's steps
    read them; uv gets them carried over)."""
    h = hashlib.sha256()
    h.update(f"layout={ENV_LAYOUT_VERSION}\npython={python_version}\n".encode())
    h.update(f"scope={scope or ctx.provenance.scope()}\n".encode())
    # an environment resolved as of one date is never reused for another
    h.update(f"installer={ctx.installer}\nexclude_newer={ctx.exclude_newer}\n".encode())
    for name, value in sorted((pip_config or {}).items()):
        h.update(f"pip.conf {name}={value}\n".encode())
    h.update(json.dumps(ctx.suite.env, sort_keys=True).encode())
    h.update(json.dumps(ctx.recipe.env, sort_keys=True).encode())
    for step in ctx.recipe.setup:
        h.update(step.model_dump_json().encode())
    # operator knobs that change what setup installs (PIP_INDEX_URL, PIP_CONSTRAINT,
    # HARNESS_TORCH_PACKAGES, ...) are part of the key, so changing one rebuilds
    knobs = filtered_host_env(os.environ, ctx.pass_env)
    for name in sorted(knobs):
        if name.startswith(KEYED_ENV_PREFIXES):
            h.update(f"\nenv {name}={knobs[name]}".encode())
    # what the run sets on top (pinned stack components): a pin is its own environment
    for name, value in sorted(ctx.extra_env.items()):
        h.update(f"\nextra {name}={value}".encode())
    for rel in [*ctx.suite.dependency_files, *ctx.recipe.dependency_files]:
        path = ctx.source_dir / rel
        h.update(f"\nfile={rel}\n".encode())
        if path.is_file():
            h.update(path.read_bytes())
        else:
            h.update(b"<missing>")
    return h.hexdigest()[:16]


def installer_env(
    ctx: CellContext,
    env: dict[str, str],
    python: str,
    pip_config: dict[str, str],
    config_dir: Path,
    inside: str | None = None,
    own_config: str | None = None,
) -> tuple[dict[str, str], str]:
    """The variables the cell's installer needs on top of the step's ``env``, and the
    line the step's log gets. For uv (:func:`installer.uv_setup`): the pip settings
    carried over, the target interpreter, the exclude-newer time, and a uv.toml written
    to ``config_dir`` when a setting needs one (``inside``: that directory as the step
    sees it; ``own_config``: the operator's uv configuration, which it would hide)."""
    if ctx.installer != "uv":
        return {}, "[harness] installer: pip ({pip} is python -m pip)"
    setup = installer.uv_setup(
        env,
        pip_config,
        python=python,
        exclude_newer=ctx.exclude_newer,
        config_path=f"{inside or config_dir}/uv.toml",
        own_config=own_config,
    )
    if setup.config_text:
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / "uv.toml").write_text(setup.config_text)
    return setup.env, setup.note(ctx.exclude_newer, ctx.resolve_as_of)


def installer_fingerprint(ctx: CellContext, version: str | None) -> dict[str, Any]:
    info: dict[str, Any] = {"name": ctx.installer, "resolve_as_of": ctx.resolve_as_of}
    if version:
        info["version"] = version
    if ctx.exclude_newer:
        info["exclude_newer"] = ctx.exclude_newer
    return info


class LocalSession:
    """Steps of one cell run on the host inside the cell's virtualenv."""

    def __init__(
        self,
        ctx: CellContext,
        venv: Path,
        ready: bool,
        pip_config: dict[str, str] | None = None,
    ) -> None:
        self.ctx = ctx
        self.venv = venv
        self.environment_ready = ready
        self.python = str(venv / "bin" / "python")
        self.pip_config = pip_config or {}
        self.uv = installer.uv_binary() if ctx.installer == "uv" else None
        #: what the operator gives a step (host variables it may see, --pass-env): those
        #: values override the suite's env defaults
        self._operator = filtered_host_env(os.environ, ctx.pass_env)
        self._env = self._base_env()

    def _variables(self) -> dict[str, str]:
        return {
            "source_dir": str(self.ctx.source_dir),
            "results_dir": str(self.ctx.results_dir),
            "repos_dir": str(self.ctx.repos_dir or ""),
            "python": self.python,
            "pip": installer.pip_command(
                self.ctx.installer, uv=self.uv or "uv", python=self.python
            ),
            "args": self.ctx.args,
            "backend": self.ctx.cell.backend,
            "device": self.ctx.cell.backend,
            "cell": self.ctx.cell.id,
            "jobs": str(len(os.sched_getaffinity(0))),
            **self.ctx.backend_vars,
        }

    def _base_env(self) -> dict[str, str]:
        env = dict(self._operator)
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', os.defpath)}"
        env["VIRTUAL_ENV"] = str(self.venv)
        env["PYTHONNOUSERSITE"] = "1"
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        env.update(as_environment(self._variables()))
        env.update(self.ctx.backend_env)
        env.update(self._suite_env(self.ctx.suite.env, self.ctx.recipe.env))
        env.update(self.ctx.extra_env)
        if self.ctx.run_mark:
            env[MARK_ENV] = self.ctx.run_mark
        # the harness's observer plugins (e.g. -p harness_junit_stream) importable by pytest
        plugins = str(PYTEST_PLUGIN_DIR)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (plugins, env.get("PYTHONPATH")) if p)
        return env

    def _suite_env(self, *layers: dict[str, str]) -> dict[str, str]:
        return suite_env(layers, self._operator, self.ctx.suite.env_pinned)

    def run_step(
        self, step: Step, phase: Phase, index: int, rerun: Rerun | None = None
    ) -> StepOutcome:
        key = step_key(phase, index, step, rerun)
        results = fresh_dir(self.ctx.results_dir / key)
        variables = self._variables()
        variables["results_dir"] = str(results)
        env = {**self._env, **self._suite_env(step.env)}
        extra, installer_line = installer_env(
            self.ctx,
            env,
            self.python,
            self.pip_config,
            self.ctx.step_inputs_root / "uv",
            own_config=installer.own_uv_config(env),
        )
        env.update(extra)
        env.update(as_environment({"results_dir": variables["results_dir"]}))
        if rerun is not None:
            inputs = self.ctx.step_inputs_root / key
            env.update(prepare_rerun(rerun, inputs, str(inputs)))
        script = render(step.run, variables)
        cwd = self.ctx.source_dir / step.workdir
        if not cwd.is_dir():
            raise StepError(f"step '{step.name}': working directory '{step.workdir}' not found")
        what = f"{phase.value} step '{step.name}'" + (f" (rerun {rerun.attempt})" if rerun else "")
        notes = [f"[harness] {what} in {cwd}"]
        if phase is Phase.SETUP:
            notes.append(installer_line)
        header = "\n".join([*notes, f"[harness] $ {script}"])
        outcome = run_command(
            ["bash", "-eo", "pipefail", "-c", script],
            cwd=cwd,
            env=env,
            timeout_s=step.timeout,
            log_path=step_log_path(self.ctx.log_dir, phase, index, step, rerun),
            on_line=self.ctx.on_line,
            header=header,
            failpoint=f"step.running.{phase.value}",
        )
        return replace(outcome, results_dir=results)

    def mark_environment_ready(self) -> None:
        info = {"cell": self.ctx.cell.id, "setup": [s.name for s in self.ctx.recipe.setup]}
        (self.venv / READY_MARKER).write_text(json.dumps(info))
        self.environment_ready = True

    def fingerprint(self) -> dict[str, Any]:
        version = installer.uv_version(self.uv) if self.uv else None
        return {
            "executor": "local",
            "environment": self.venv.name,
            "installer": installer_fingerprint(self.ctx, version),
            "python": python_fingerprint(self.python, env=self._env),
        }


class LocalExecutor:
    """Run steps on the host (see the module docstring)."""

    name = "local"
    capabilities = Capabilities(isolation=Isolation.NONE, cells="host", devices=(ANY_DEVICE,))

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir

    def reap(self, store_key: str, is_running: Callable[[int], bool]) -> Reaped:
        return leftovers.reap(store_key, is_running, None)

    @contextlib.contextmanager
    def session(self, ctx: CellContext) -> Iterator[LocalSession]:
        version = interpreter_version(ctx.suite.python)
        # the pip configuration files the steps' pip reads (and uv gets carried over)
        pip_config = installer.read_pip_config(filtered_host_env(os.environ, ctx.pass_env))
        key = environment_key(ctx, version, pip_config=pip_config)
        venvs = self.cache_dir / "venvs"
        venvs.mkdir(parents=True, exist_ok=True)
        venv = venvs / f"{ctx.suite.name}-{ctx.cell.backend}-{key}"
        lock_path = venvs / f"{venv.name}.lock"
        with lock_path.open("w") as lock:
            # One cell at a time per environment: a second harness process waits here
            # instead of installing into a half-built virtualenv.
            fcntl.flock(lock, fcntl.LOCK_EX)
            ready = (venv / READY_MARKER).is_file()
            if not ready:
                if venv.exists():
                    shutil.rmtree(venv)
                python = shutil.which(ctx.suite.python) or ctx.suite.python
                proc = subprocess.run(
                    [python, "-m", "venv", str(venv)], capture_output=True, text=True, check=False
                )
                if proc.returncode != 0:
                    raise StepError(
                        f"cannot create a virtualenv with {python}: {proc.stderr.strip()[-500:]}",
                        hint="install the interpreter's venv module (Debian: python3-venv)",
                    )
            try:
                yield LocalSession(ctx, venv, ready, pip_config)
            finally:
                if not ctx.provenance.reusable:  # built for this run only
                    shutil.rmtree(venv, ignore_errors=True)
                    lock_path.unlink(missing_ok=True)
