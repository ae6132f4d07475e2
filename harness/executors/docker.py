"""Run a cell's steps in containers from its image variant (the ``docker`` executor).

For a cell ``suite/backend/VARIANT`` the session makes sure three images exist, each
built once and reused by later runs:

1. the variant image (``images/matrix.yaml``, content-hash tag);
2. the suite layer on it: the recipe's system packages (``image.packages``), the
   unprivileged user steps run as, the virtualenv they install into;
3. the cell environment: the setup steps run in containers, each committed; the result is
   tagged with the dependency key the local executor uses for its virtualenvs, which
   includes the code's provenance (:mod:`harness.executors.provenance`): trusted
   default-branch code builds the shared environment, anything else one for its commit
   only. A run of other code reuses the shared environment when its dependencies are the
   same (reading it is harmless) but never adds to it.

The container is the boundary; nothing it writes is trusted by the host:

- every step's container mounts the session's work volume at ``/work``
  (:mod:`harness.executors.workspace`): a copy of the checkout (no ``.git``) and of the
  companion repositories, made by the harness; no host directory is mounted writable;
- result files come out by the engine's archive API into a fresh host directory, regular
  files with the expected names only (:mod:`harness.executors.copyout`);
- files the harness writes for a step (rerun selections) are in a host directory of its
  own, mounted read-only at ``/harness/inputs``;
- steps run as a uid of their own (never root, owning nothing on the host), with no
  capabilities, ``no-new-privileges``, CPU, memory and pids limits and a timeout that
  kills; no docker socket; the host environment only through an allow-list (pip knobs,
  ``--pass-env`` names) with credentials removed from URLs (an operator's ``--pass-env``
  names are passed as they are to trusted code only);
- test steps get no network unless the recipe says otherwise; a step of untrusted code
  that needs network gets the package indexes only (:mod:`harness.executors.egress`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness import settings
from harness.config import setting
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
from harness.errors import StepError
from harness.executors import egress, leftovers
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
from harness.executors.copyout import CopyReport, unpack_results
from harness.executors.environment import looks_secret, scrub_credentials, suite_env
from harness.executors.installer import pip_command, uv_binary, uv_version
from harness.executors.leftovers import MARK_ENV, MARK_LABEL, Reaped
from harness.executors.local import (
    PYTEST_PLUGIN_DIR,
    environment_key,
    installer_env,
    installer_fingerprint,
)
from harness.executors.process import StepOutcome
from harness.executors.selection import prepare_rerun
from harness.executors.workspace import OUT, REPOS, SOURCE, Workspace
from harness.fingerprint import PY_PROBE
from harness.images.matrix import ImageMatrix, host_arch, load_matrix
from harness.images.render import cell_user, render_suite_layer, render_variant

INPUTS = "/harness/inputs"
PLUGINS = "/opt/harness/plugins"
PYTHON = "/opt/harness/venv/bin/python"
#: the harness's uv in the suite layer (images/suite-layer.Dockerfile.j2)
UV = "/opt/harness/bin/uv"
#: where a step sees the uv.toml the harness writes for it (read-only)
UV_CONFIG = "/harness/uv"
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
    #: the network mode of trusted steps and builds that need network ("host" where the
    #: daemon has no bridge); None: the engine's default. Never used for untrusted code.
    network_mode: str | None = None
    images_dir: Path | None = None
    #: extra labels on every container (``HARNESS_DOCKER_LABELS="team=npu,ci.run=42"``):
    #: for finding, accounting or cleaning up what one job started
    labels: dict[str, str] = field(default_factory=dict)
    #: network for untrusted steps that need it: egress | none | open (egress module)
    untrusted_network: str = "egress"

    @classmethod
    def from_env(cls, **overrides: Any) -> DockerOptions:
        values: dict[str, Any] = {
            "base_image": settings.DOCKER_BASE_IMAGE.get(),
            "cpus": settings.DOCKER_CPUS.get(),
            "memory": settings.DOCKER_MEMORY.get(),
            "pids": settings.DOCKER_PIDS.get() or None,
            "network_mode": settings.DOCKER_NETWORK.get(),
            "labels": settings.DOCKER_LABELS.get(),
            "untrusted_network": egress.untrusted_policy(),
        }
        if (cann_packages := settings.CANN_PACKAGES.get()) is not None:
            values["cann_packages"] = cann_packages
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def parse_labels(text: str) -> dict[str, str]:
    """``"a=1,b=2"`` → ``{"a": "1", "b": "2"}``; :class:`ConfigError` for a malformed one."""
    return setting.parse_labels(text)


def _knob_mounts(env: dict[str, str]) -> list[Mount]:
    """Local wheel folders and constraint files the pip knobs point at, read-only at the
    same path (so ``PIP_FIND_LINKS=/srv/wheels`` works in the container as on the host)."""
    paths: set[Path] = set()
    for name in ("PIP_FIND_LINKS", "PIP_CONSTRAINT", "PIP_REQUIRE_HASHES_FILE",
                 "UV_FIND_LINKS", "UV_CONSTRAINT"):  # fmt: skip
        for word in env.get(name, "").replace(",", " ").split():
            path = word.removeprefix("file://")
            if path.startswith("/") and Path(path).exists():
                paths.add(Path(path))
    return [Mount(p, str(p), read_only=True) for p in sorted(paths)]


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
        workspace: Workspace,
        proxy_image: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.engine = engine
        self.options = options
        self.image = image
        self.env_tag = env_tag
        self.environment_ready = ready
        self.image_info = image_info
        self.workspace = workspace
        #: the egress proxy's image (built when an untrusted step first needs network)
        self.proxy_image = proxy_image
        #: what the environment image in use is shared with (the fingerprint says)
        self.scope = ctx.provenance.describe()
        #: on everything the session starts: the operator's, the cell, the run's mark
        self.labels = run_labels(options, ctx)
        self._setup_images: list[str] = []
        self._installer_line = ""
        #: where image probes are cached (by image id); None: not cached
        self.probe_cache: Path | None = None
        target = ctx.target.for_container() if ctx.target is not None else None
        self._target_env = target.environment() if target is not None else {}
        self._container_options = (
            ctx.target.backend.container_options(ctx.target.devices)
            if ctx.target is not None
            else None
        )

    @property
    def trusted(self) -> bool:
        return self.ctx.provenance.author_trusted

    def _variables(self, results_dir: str) -> dict[str, str]:
        jobs = self.options.cpus or len(os.sched_getaffinity(0))
        return {
            "source_dir": SOURCE,
            "results_dir": results_dir,
            "repos_dir": REPOS if self.ctx.repos_dir else "",
            "python": PYTHON,
            "pip": pip_command(self.ctx.installer, uv=UV, python=PYTHON),
            "args": self.ctx.args,
            "backend": self.ctx.cell.backend,
            "device": self.ctx.cell.backend,
            "cell": self.ctx.cell.id,
            "jobs": str(int(jobs)),
            **self.ctx.backend_vars,
        }

    def _environment(
        self, step: Step, variables: dict[str, str]
    ) -> tuple[dict[str, str], list[str]]:
        """The step's environment, and the names whose credentials were removed."""
        host = os.environ
        pinned = self.ctx.suite.env_pinned
        scrubbed: list[str] = []

        def clean(name: str, value: str) -> str:
            cleaned = scrub_credentials(value)
            if cleaned != value:
                scrubbed.append(name)
            return cleaned

        env: dict[str, str] = {
            name: clean(name, value)
            for name, value in host.items()
            if name.startswith(FORWARDED_PREFIXES) and not looks_secret(name)
        }
        for name in self.ctx.pass_env:
            if name in host:  # named by the operator: as is, but only for trusted code
                env[name] = host[name] if self.trusted else clean(name, host[name])
        operator = dict(env)  # the operator's values override the suite's env defaults
        env.update(as_environment(variables))
        if self._container_options is not None:
            env.update(self._container_options.env)
        env.update(self._target_env)
        env.update(suite_env([self.ctx.suite.env, self.ctx.recipe.env], operator, pinned))
        env.update(self.ctx.extra_env)
        env.update(suite_env([step.env], operator, pinned))
        # the container's pip reads no host configuration file: uv gets what pip gets
        extra, self._installer_line = installer_env(
            self.ctx,
            env,
            PYTHON,
            {},
            self.ctx.step_inputs_root / "uv",
            inside=UV_CONFIG,
            own_config=env.get("UV_CONFIG_FILE") or env.get("UV_NO_CONFIG") or None,
        )
        env.update(extra)
        if self.ctx.installer == "uv" and not {"UV_CACHE_DIR", "UV_NO_CACHE"} & env.keys():
            env["UV_NO_CACHE"] = "1"  # a cache in the container would be committed
        if self.ctx.run_mark:
            env[MARK_ENV] = self.ctx.run_mark
        env["PYTHONPATH"] = ":".join(p for p in (PLUGINS, env.get("PYTHONPATH")) if p)
        env["HOME"] = "/home/harness"
        return env, scrubbed

    def _mounts(self, env: dict[str, str], inputs: Path | None) -> list[Mount]:
        mounts = [Mount(PYTEST_PLUGIN_DIR, PLUGINS, read_only=True)]
        if env.get("UV_CONFIG_FILE") == f"{UV_CONFIG}/uv.toml":
            mounts.append(Mount(self.ctx.step_inputs_root / "uv", UV_CONFIG, read_only=True))
        if inputs is not None:
            mounts.append(Mount(inputs, INPUTS, read_only=True))
        mounts += _knob_mounts(env)
        if self._container_options is not None:
            for host, inside, _ro in self._container_options.mounts:
                if Path(host).exists():  # a backend never gets a writable host path
                    mounts.append(Mount(Path(host), inside, read_only=True))
        return mounts

    def run_step(
        self, step: Step, phase: Phase, index: int, rerun: Rerun | None = None
    ) -> StepOutcome:
        key = step_key(phase, index, step, rerun)
        out = f"{OUT}/{key}"
        variables = self._variables(out)
        env, scrubbed = self._environment(step, variables)
        inputs = None
        if rerun is not None:
            inputs = self.ctx.step_inputs_root / key
            env.update(prepare_rerun(rerun, inputs, INPUTS))
        script = render(step.run, variables)
        if not (self.ctx.source_dir / step.workdir).is_dir():
            raise StepError(f"step '{step.name}': working directory '{step.workdir}' not found")
        co = self._container_options
        limits = Limits(
            cpus=self.options.cpus,
            memory=self.options.memory,
            pids=self.options.pids,
            shm_size=co.shm_size if co else None,
            cpuset=co.cpuset if co else None,
        )
        spec = RunSpec(
            image=self.image,
            command=["bash", "-eo", "pipefail", "-c", f"mkdir -p {shlex.quote(out)}\n{script}"],
            env=env,
            mounts=self._mounts(env, inputs),
            volumes={self.workspace.name: "/work"},
            devices=co.devices if co else (),
            gpu_requests=co.gpu_requests if co else (),
            workdir=f"{SOURCE}/{step.workdir}".rstrip("/.") or SOURCE,
            user="{}:{}".format(*cell_user()),
            limits=limits,
            timeout_s=step.timeout,
            labels={**self.labels, "org.accel-harness.step": step.name},
        )
        log_path = step_log_path(self.ctx.log_dir, phase, index, step, rerun)
        with self._network(spec, step, phase) as (spec, network_note, audit):
            what = f"{phase.value} step '{step.name}'" + (
                f" (rerun {rerun.attempt})" if rerun else ""
            )
            notes = [f"[harness] {what} in {self.image} ({network_note}, "
                     f"{limits.memory or 'no'} memory limit)"]  # fmt: skip
            if phase is Phase.SETUP:
                notes.append(self._installer_line)
            if scrubbed:
                notes.append(f"[harness] credentials removed from {', '.join(sorted(scrubbed))}")
            header = "\n".join([*notes, f"[harness] $ {script}"])
            copied: list[CopyReport] = []
            results = self.ctx.results_dir / key

            def keep(container: Any, result: ContainerResult) -> None:
                if step.results:
                    copied.append(self._copy_out(container, out, key, results, step))
                if phase is Phase.SETUP:
                    self._commit_setup(container, result)

            result = self.engine.run(
                spec, log_path=log_path, on_line=self.ctx.on_line, header=header, keep=keep
            )
            if audit is not None:
                with log_path.open("a", encoding="utf-8") as log:
                    for line in audit():
                        log.write(f"[harness] egress proxy: {line}\n")
        outcome = _outcome(result, log_path, limits)
        if not step.results:
            return outcome
        report = copied[0] if copied else CopyReport()
        if report.refused or report.ignored:
            with log_path.open("a", encoding="utf-8") as log:
                for line in report.refused:
                    log.write(f"[harness] result file {line}\n")
                if report.ignored:
                    log.write(f"[harness] {report.ignored} other file(s) left in the container\n")
        return replace(outcome, results_dir=results, refused=tuple(report.refused))

    @contextlib.contextmanager
    def _network(
        self, spec: RunSpec, step: Step, phase: Phase
    ) -> Iterator[tuple[RunSpec, str, Callable[[], list[str]] | None]]:
        """``spec`` with the step's network (module docstring), and how it is described."""
        if not step.needs_network(phase):
            yield spec, "no network", None
            return
        spec_net = replace(spec, network=True, network_mode=self.options.network_mode)
        if self.trusted:
            yield spec_net, "network", None
            return
        policy = self.options.untrusted_network
        if policy == "none":
            yield spec, "no network: untrusted code (HARNESS_UNTRUSTED_NETWORK=none)", None
            return
        if policy == "open":
            note = (
                "network: untrusted code on the runner's network (HARNESS_UNTRUSTED_NETWORK=open)"
            )
            yield spec_net, note, None
            return
        hosts = egress.allowed_hosts(spec.env, self.ctx.suite.egress)
        labels = self.labels
        with contextlib.ExitStack() as stack:
            try:
                proxy = stack.enter_context(
                    egress.egress_proxy(self.engine, self._proxy_image(), hosts, labels)
                )
            except EngineError as exc:
                raise StepError(
                    f"step '{step.name}' of untrusted code needs network, and this engine "
                    f"cannot confine it to the package indexes: {exc.message}",
                    hint="see `harness doctor`; HARNESS_UNTRUSTED_NETWORK=none runs it without "
                    "network (dependencies from a local wheel folder), =open gives it the "
                    "runner's network (unsafe)",
                ) from exc
            allowed = ", ".join(proxy.hosts) or "nothing"
            note = f"network: untrusted code, only {allowed} through the egress proxy"
            env = {**spec.env, **proxy.env}
            spec = replace(spec, env=env, network=True, network_mode=proxy.network)
            yield spec, note, proxy.audit

    def _proxy_image(self) -> str:
        if self.proxy_image is None:
            base = self.options.base_image
            base_id = self.engine.image_id(base) if base else None
            spec = egress.proxy_image_spec(self.images_dir, base, base_id)
            spec = replace(spec, network_mode=self.options.network_mode)
            self.engine.build(spec, self.ctx.on_line)
            self.proxy_image = spec.tag
        return self.proxy_image

    @property
    def images_dir(self) -> Path:
        return Path(self.image_info["images_dir"])

    def _copy_out(self, container: Any, out: str, key: str, dest: Path, step: Step) -> CopyReport:
        """The step's result files from its stopped container into ``dest`` (fresh)."""
        fresh_dir(dest)
        dest.rmdir()
        chunks = self.engine.archive(container, out)
        if chunks is None:
            dest.mkdir(mode=0o755)
            return CopyReport()
        return unpack_results(chunks, dest, [r.path for r in step.results], top=key)

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

    def discard(self) -> None:
        """Remove what this session built that no later run may use."""
        for image in [
            *self._setup_images,
            *([] if self.ctx.provenance.reusable else [self.env_tag]),
        ]:
            with contextlib.suppress(Exception):
                self.engine.remove_image(image)

    def fingerprint(self) -> dict[str, Any]:
        info = {k: v for k, v in self.image_info.items() if k != "images_dir"}
        image_id = self.engine.image_id(self.image)
        info.update(tag=self.image, digest=image_id)
        info["scope"] = self.scope
        # the image's uv is a copy of the harness's own (render_suite_layer)
        version = uv_version(uv_binary()) if self.ctx.installer == "uv" else None
        # what the container said of itself (its interpreter and OS) is only that: its
        # image was built by the cell's setup, so it never overrides what the host knows
        seen = self._probe_cached(image_id)
        told = {k: seen[k] for k in ("os", "python") if isinstance(seen.get(k), dict)}
        return {
            **told,
            "executor": "docker",
            "image": info,
            "installer": installer_fingerprint(self.ctx, version),
        }

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
            labels={**self.labels, "org.accel-harness.step": "probe"},
        )
        try:
            result = self.engine.run(spec)
            data: dict[str, Any] = json.loads(result.tail[-1])
        except (EngineError, ValueError, IndexError) as exc:
            return {"python": {"error": f"cannot probe the image: {exc}"}}
        return data


def run_labels(options: DockerOptions, ctx: CellContext) -> dict[str, str]:
    labels = {**options.labels, "org.accel-harness.cell": ctx.cell.id}
    if ctx.run_mark:
        labels[MARK_LABEL] = ctx.run_mark
    return labels


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
    capabilities = Capabilities(isolation=Isolation.CONTAINER, cells="image", devices=(ANY_DEVICE,))

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

    def reap(self, store_key: str, is_running: Callable[[int], bool]) -> Reaped:
        return leftovers.reap(store_key, is_running, self.engine)

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
            ctx.suite.name,
            variant,
            self.matrix.directory,
            base_tag=spec.tag,
            packages=packages,
            uv=Path(uv_binary()),  # built for this machine's arch, as the variant is
        )
        layer = replace(layer, network_mode=self.options.network_mode)
        self.engine.build(layer, say)
        repository = f"{ENV_REPOSITORY}/{ctx.suite.name}-{ctx.cell.backend}-{variant.id}"
        env_tag = f"{repository}:{environment_key(ctx, layer.tag)}"
        image, ready = env_tag, self.engine.image_id(env_tag) is not None
        if not ready and not ctx.provenance.shared:
            # the shared environment, built from trusted code, serves any run with the
            # same dependencies; a run of other code only ever builds its own
            shared = replace(
                ctx.provenance, author_trusted=True, on_default_branch=True, dirty=False
            ).scope()
            shared_tag = f"{repository}:{environment_key(ctx, layer.tag, scope=shared)}"
            if self.engine.image_id(shared_tag) is not None:
                image, ready = shared_tag, True
        labels = run_labels(self.options, ctx)
        workspace = Workspace.create(self.engine, labels)
        try:
            copies = {SOURCE: ctx.source_dir}
            if ctx.repos_dir is not None and ctx.repos_dir.is_dir():
                copies[REPOS] = ctx.repos_dir
            workspace.stage(layer.tag, cell_user(), copies, labels)
            info = {
                "variant": variant.id,
                "arch": arch,
                "variant_tag": spec.tag,
                "layer": layer.tag,
                "images_dir": str(self.matrix.directory),
            }
            session = DockerSession(
                ctx,
                self.engine,
                self.options,
                image if ready else layer.tag,
                env_tag,
                ready,
                info,
                workspace,
            )
            session.probe_cache = self.cache_dir / "docker-probes"
            if ready and image != env_tag:
                session.scope = "shared (trusted code on the default branch)"
            try:
                yield session
            finally:
                session.discard()
        finally:
            workspace.remove()
