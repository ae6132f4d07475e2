"""Run a cell's steps in containers from its image variant (the ``docker`` executor).

For a cell ``suite/backend/VARIANT`` the session makes sure three images exist, each
built once and reused by later runs:

1. the variant image (``images/matrix.yaml``, content-hash tag);
2. the suite layer on it: the recipe's system packages (``image.packages``), the
   unprivileged user steps run as, the virtualenv they install into;
3. the cell environment: the setup steps run in containers *with* network, each
   committed; the result is tagged with the same dependency key the local executor uses
   for its virtualenvs, so a later run with unchanged dependencies skips setup.

Every step runs in a fresh container from the newest of these: the upstream checkout
mounted at ``/work/source``, result files at ``/work/results``, companion repositories
at ``/work/repos``; as a non-root user; with CPU, memory and pids limits; the network
off for test steps unless the recipe says otherwise; the backend's devices and
environment (device indices renumbered as the container sees them); a timeout that kills;
no docker socket, no host environment beyond the pip knobs and ``--pass-env`` names. The
container is removed in every case; its output goes to the step's log.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.config.suite import Phase, Step
from harness.config.templating import as_environment, render
from harness.container_engine import (
    ContainerEngine,
    ContainerResult,
    EngineError,
    Limits,
    Mount,
    RunSpec,
)
from harness.errors import ConfigError, StepError
from harness.executors.base import CellContext, Rerun, step_log_path
from harness.executors.environment import looks_secret
from harness.executors.local import PYTEST_PLUGIN_DIR, environment_key
from harness.executors.process import StepOutcome
from harness.fingerprint import PY_PROBE
from harness.images.matrix import ImageMatrix, host_arch, load_matrix
from harness.images.render import cell_user, render_suite_layer, render_variant

SOURCE = "/work/source"
RESULTS = "/work/results"
REPOS = "/work/repos"
PLUGINS = "/opt/harness/plugins"
PYTHON = "/opt/harness/venv/bin/python"
#: host variables forwarded into containers: what changes what setup installs
FORWARDED_PREFIXES = ("PIP_", "UV_", "HARNESS_TORCH_")
ENV_REPOSITORY = "harness-env"


@dataclass(frozen=True, slots=True)
class DockerOptions:
    """Operator settings for the docker executor (CLI options or ``HARNESS_DOCKER_*``)."""

    #: a local image to build variants on instead of their registry base
    base_image: str | None = None
    #: a directory holding CANN .run packages (copied into builds, not downloaded)
    cann_packages: Path | None = None
    cpus: float | None = None
    memory: str | None = "8g"
    pids: int | None = 4096
    #: the network mode of steps and builds that need network ("host" where the daemon
    #: has no bridge); None: the engine's default
    network_mode: str | None = None
    images_dir: Path | None = None
    #: extra labels on every container (``HARNESS_DOCKER_LABELS="team=npu,ci.run=42"``):
    #: for finding, accounting or cleaning up what one job started
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides: Any) -> DockerOptions:
        env = os.environ
        values: dict[str, Any] = {
            "base_image": env.get("HARNESS_DOCKER_BASE_IMAGE") or None,
            "cpus": float(env["HARNESS_DOCKER_CPUS"]) if env.get("HARNESS_DOCKER_CPUS") else None,
            "memory": env.get("HARNESS_DOCKER_MEMORY", "8g") or None,
            "pids": int(env.get("HARNESS_DOCKER_PIDS", "4096")) or None,
            "network_mode": env.get("HARNESS_DOCKER_NETWORK") or None,
            "labels": parse_labels(env.get("HARNESS_DOCKER_LABELS", "")),
        }
        if env.get("HARNESS_CANN_PACKAGES"):
            values["cann_packages"] = Path(env["HARNESS_CANN_PACKAGES"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def parse_labels(text: str) -> dict[str, str]:
    """``"a=1,b=2"`` → ``{"a": "1", "b": "2"}``; :class:`ConfigError` for a malformed one."""
    labels: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"HARNESS_DOCKER_LABELS: '{part}' is not key=value", hint='e.g. "team=npu,run=42"'
            )
        labels[key.strip()] = value.strip()
    return labels


def _knob_mounts(env: dict[str, str]) -> list[Mount]:
    """Local wheel folders and constraint files the pip knobs point at, read-only at the
    same path (so ``PIP_FIND_LINKS=/srv/wheels`` works in the container as on the host)."""
    paths: set[Path] = set()
    for name in ("PIP_FIND_LINKS", "PIP_CONSTRAINT", "PIP_REQUIRE_HASHES_FILE"):
        for word in env.get(name, "").split():
            path = word.removeprefix("file://")
            if path.startswith("/") and Path(path).exists():
                paths.add(Path(path))
    return [Mount(p, str(p), read_only=True) for p in sorted(paths)]


def _make_writable(*dirs: Path | None) -> None:
    """Give the container's user write access to the run's own directories when the
    harness runs as root (files it creates stay readable here)."""
    if os.getuid() != 0:
        return
    for d in dirs:
        if d is None or not d.exists():
            continue
        for root, subdirs, files in os.walk(d):
            for name in [*subdirs, *files]:
                p = Path(root, name)
                with contextlib.suppress(OSError):
                    if not p.is_symlink():
                        p.chmod(p.stat().st_mode | 0o666 | (0o111 if p.is_dir() else 0))
        with contextlib.suppress(OSError):
            d.chmod(d.stat().st_mode | 0o777)


class DockerSession:
    """Steps of one cell in containers (see the module docstring)."""

    def __init__(
        self,
        ctx: CellContext,
        engine: ContainerEngine,
        options: DockerOptions,
        image: str,
        env_tag: str,
        ready: bool,
        image_info: dict[str, Any],
    ) -> None:
        self.ctx = ctx
        self.engine = engine
        self.options = options
        self.image = image
        self.env_tag = env_tag
        self.environment_ready = ready
        self.image_info = image_info
        self._setup_images: list[str] = []
        #: where image probes are cached (by image id); None: not cached
        self.probe_cache: Path | None = None
        target = ctx.target.for_container() if ctx.target is not None else None
        self._target_env = target.environment() if target is not None else {}
        self._container_options = (
            ctx.target.backend.container_options(ctx.target.devices)
            if ctx.target is not None
            else None
        )

    def _variables(self, results_dir: str = RESULTS) -> dict[str, str]:
        jobs = self.options.cpus or len(os.sched_getaffinity(0))
        return {
            "source_dir": SOURCE,
            "results_dir": results_dir,
            "repos_dir": REPOS if self.ctx.repos_dir else "",
            "python": PYTHON,
            "args": self.ctx.args,
            "backend": self.ctx.cell.backend,
            "device": self.ctx.cell.backend,
            "cell": self.ctx.cell.id,
            "jobs": str(int(jobs)),
            **self.ctx.backend_vars,
        }

    def _environment(self, step: Step, variables: dict[str, str]) -> dict[str, str]:
        host = os.environ
        env: dict[str, str] = {
            name: value
            for name, value in host.items()
            if name.startswith(FORWARDED_PREFIXES) and not looks_secret(name)
        }
        env.update({n: host[n] for n in self.ctx.pass_env if n in host})
        env.update(as_environment(variables))
        if self._container_options is not None:
            env.update(self._container_options.env)
        env.update(self._target_env)
        env.update(self.ctx.suite.env)
        env.update(self.ctx.recipe.env)
        env.update(self.ctx.extra_env)
        env.update(step.env)
        env["PYTHONPATH"] = ":".join(p for p in (PLUGINS, env.get("PYTHONPATH")) if p)
        env["HOME"] = "/home/harness"
        return env

    def _mounts(self, env: dict[str, str]) -> list[Mount]:
        ctx = self.ctx
        mounts = [
            Mount(ctx.source_dir, SOURCE),
            Mount(ctx.results_dir, RESULTS),
            Mount(PYTEST_PLUGIN_DIR, PLUGINS, read_only=True),
        ]
        if ctx.repos_dir is not None and ctx.repos_dir.exists():
            mounts.append(Mount(ctx.repos_dir, REPOS))
        mounts += _knob_mounts(env)
        if self._container_options is not None:
            for host, inside, ro in self._container_options.mounts:
                if Path(host).exists():
                    mounts.append(Mount(Path(host), inside, ro))
        return mounts

    def run_step(
        self, step: Step, phase: Phase, index: int, rerun: Rerun | None = None
    ) -> StepOutcome:
        results = RESULTS
        if rerun is not None:
            rel = rerun.results_dir.relative_to(self.ctx.results_dir)
            results = f"{RESULTS}/{rel.as_posix()}"
        variables = self._variables(results)
        env = self._environment(step, variables)
        if rerun is not None:
            env.update(rerun.env)
            if "HARNESS_SELECT_FILE" in env:  # a host path under results_dir
                sel = Path(env["HARNESS_SELECT_FILE"]).relative_to(self.ctx.results_dir)
                env["HARNESS_SELECT_FILE"] = f"{RESULTS}/{sel.as_posix()}"
        script = render(step.run, variables)
        if not (self.ctx.source_dir / step.workdir).is_dir():
            raise StepError(f"step '{step.name}': working directory '{step.workdir}' not found")
        _make_writable(self.ctx.results_dir)
        co = self._container_options
        limits = Limits(
            cpus=self.options.cpus,
            memory=self.options.memory,
            pids=self.options.pids,
            shm_size=co.shm_size if co else None,
            cpuset=co.cpuset if co else None,
        )
        network = step.needs_network(phase)
        spec = RunSpec(
            image=self.image,
            command=["bash", "-eo", "pipefail", "-c", script],
            env=env,
            mounts=self._mounts(env),
            devices=co.devices if co else (),
            gpu_requests=co.gpu_requests if co else (),
            workdir=f"{SOURCE}/{step.workdir}".rstrip("/.") or SOURCE,
            user="{}:{}".format(*cell_user()),
            network=network,
            network_mode=self.options.network_mode,
            limits=limits,
            timeout_s=step.timeout,
            labels={
                **self.options.labels,
                "org.accel-harness.cell": self.ctx.cell.id,
                "org.accel-harness.step": step.name,
            },
        )
        what = f"{phase.value} step '{step.name}'" + (f" (rerun {rerun.attempt})" if rerun else "")
        header = (
            f"[harness] {what} in {self.image} ({'network' if network else 'no network'}, "
            f"{limits.memory or 'no'} memory limit)\n[harness] $ {script}"
        )
        keep = None
        if phase is Phase.SETUP:
            keep = self._commit_setup
        result = self.engine.run(
            spec,
            log_path=step_log_path(self.ctx.log_dir, phase, index, step, rerun),
            on_line=self.ctx.on_line,
            header=header,
            keep=keep,
        )
        return _outcome(result, step_log_path(self.ctx.log_dir, phase, index, step, rerun), limits)

    def _commit_setup(self, container: Any, result: ContainerResult) -> None:
        """After a successful setup step, its container's filesystem is the next image."""
        if result.exit_code != 0 or result.timed_out:
            return
        tag = f"{self.env_tag.rsplit(':', 1)[1]}-setup{len(self._setup_images)}"
        repo = self.env_tag.rsplit(":", 1)[0]
        self.engine.commit(container, repo, tag)
        self.image = f"{repo}:{tag}"
        self._setup_images.append(self.image)

    def mark_environment_ready(self) -> None:
        repo, tag = self.env_tag.rsplit(":", 1)
        self.engine.client.images.get(self.image).tag(repo, tag)
        for intermediate in self._setup_images:
            with contextlib.suppress(Exception):
                self.engine.client.images.remove(intermediate, noprune=True)
        self.image = self.env_tag
        self.environment_ready = True

    def fingerprint(self) -> dict[str, Any]:
        info = dict(self.image_info)
        image_id = self.engine.image_id(self.image)
        info.update(tag=self.image, digest=image_id)
        return {"executor": "docker", "image": info, **self._probe_cached(image_id)}

    def _probe_cached(self, image_id: str | None) -> dict[str, Any]:
        """:meth:`_probe`, once per image id (an image does not change)."""
        if image_id is None or self.probe_cache is None:
            return self._probe()
        path = self.probe_cache / f"{image_id.replace(':', '-')}.json"
        with contextlib.suppress(OSError, ValueError):
            cached: dict[str, Any] = json.loads(path.read_text())
            return cached
        data = self._probe()
        if "error" not in data.get("python", {}):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(data))
        return data

    def _probe(self) -> dict[str, Any]:
        """Python and OS as the cell sees them, from a container of its image."""
        script = (
            "import json, platform, subprocess\n"
            "os_release = {}\n"
            "try:\n"
            "    for line in open('/etc/os-release'):\n"
            "        k, _, v = line.strip().partition('=')\n"
            "        os_release[k.lower()] = v.strip('\"')\n"
            "except OSError:\n"
            "    pass\n"
            "py = json.loads(subprocess.run([" + repr(PYTHON) + ", '-c', " + repr(PY_PROBE)
            + "], capture_output=True, text=True).stdout.strip().splitlines()[-1])\n"
            "print(json.dumps({'os': os_release, 'python': py}))\n"
        )  # fmt: skip
        spec = RunSpec(
            image=self.image,
            command=["python3", "-c", script],
            user="{}:{}".format(*cell_user()),
            timeout_s=120,
            limits=Limits(memory="1g"),
            labels={**self.options.labels, "org.accel-harness.step": "probe"},
        )
        try:
            result = self.engine.run(spec)
            data: dict[str, Any] = json.loads(result.tail[-1])
        except (EngineError, ValueError, IndexError) as exc:
            return {"python": {"error": f"cannot probe the image: {exc}"}}
        return data


def _outcome(result: ContainerResult, log_path: Path, limits: Limits) -> StepOutcome:
    code = result.exit_code
    sig = None
    if code is not None and 128 < code <= 128 + 64 and not result.timed_out:
        sig, code = code - 128, None  # the process was killed by a signal
    reason = None
    if result.oom_killed:
        reason = f"ran out of memory (OOM-killed at the {limits.memory} limit)"
    elif result.error:
        reason = result.error
    return StepOutcome(
        exit_code=code,
        signal=sig,
        timed_out=result.timed_out,
        duration_s=result.duration_s,
        log_path=log_path,
        tail=result.tail,
        infra_reason=reason,
    )


class DockerExecutor:
    """Cells in containers from their image variant (see the module docstring)."""

    name = "docker"

    def __init__(
        self,
        cache_dir: Path,
        options: DockerOptions | None = None,
        engine: ContainerEngine | None = None,
        matrix: ImageMatrix | None = None,
    ) -> None:
        self.cache_dir = cache_dir
        self.options = options or DockerOptions.from_env()
        self._engine = engine
        self._matrix = matrix

    @property
    def engine(self) -> ContainerEngine:
        if self._engine is None:
            self._engine = ContainerEngine()
        return self._engine

    @property
    def matrix(self) -> ImageMatrix:
        if self._matrix is None:
            self._matrix = load_matrix(self.options.images_dir)
        return self._matrix

    @contextlib.contextmanager
    def session(self, ctx: CellContext) -> Iterator[DockerSession]:
        variant = self.matrix.by_id(ctx.cell.variant)
        if variant.backend != ctx.cell.backend:
            raise StepError(
                f"image variant {variant.id} is for backend {variant.backend}, "
                f"not {ctx.cell.backend}"
            )
        say = ctx.on_line or (lambda _line: None)
        arch = host_arch()
        base_id = None
        if self.options.base_image:
            base_id = self.engine.image_id(self.options.base_image)
            if base_id is None:
                raise StepError(f"--base-image {self.options.base_image} is not a local image")
        spec = render_variant(
            variant,
            self.matrix.directory,
            arch=arch,
            base=self.options.base_image,
            base_id=base_id,
            cann_packages=self.options.cann_packages,
        )
        spec = replace(spec, network_mode=self.options.network_mode)
        self.engine.build(spec, say)
        packages = ctx.recipe.image.packages if ctx.recipe.image else []
        layer = render_suite_layer(
            ctx.suite.name, variant, self.matrix.directory, base_tag=spec.tag, packages=packages
        )
        layer = replace(layer, network_mode=self.options.network_mode)
        self.engine.build(layer, say)
        key = environment_key(ctx, layer.tag)
        env_tag = f"{ENV_REPOSITORY}/{ctx.suite.name}-{ctx.cell.backend}-{variant.id}:{key}"
        ready = self.engine.image_id(env_tag) is not None
        _make_writable(ctx.source_dir, ctx.results_dir, ctx.repos_dir)
        info = {"variant": variant.id, "arch": arch, "variant_tag": spec.tag, "layer": layer.tag}
        session = DockerSession(
            ctx, self.engine, self.options, env_tag if ready else layer.tag, env_tag, ready, info
        )
        session.probe_cache = self.cache_dir / "docker-probes"
        yield session
