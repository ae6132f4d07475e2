"""The one class that talks to the container engine (the docker SDK; never the CLI).

Images build from a :class:`~harness.images.render.BuildSpec` with streamed logs (a tag
that exists is not rebuilt); containers run one command each, with resource limits, a
timeout that kills, logs streamed to a file and the caller, and are removed whatever
happens. Everything else in the harness goes through :class:`ContainerEngine`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.images.render import BuildSpec
from harness.steplog import StepLog

Progress = Callable[[str], None]
TAIL_LINES = 40
#: label on everything the harness creates, for cleanup
log = logging.getLogger("harness.container_engine")
LABEL = "org.accel-harness"


class EngineError(HarnessError):
    """The container engine is not reachable or refused an operation."""


class ImageBuildError(HarnessError):
    """A build failed: ``step`` is the failing Dockerfile step, ``tail`` its last log lines."""

    def __init__(self, tag: str, step: str | None, error: str, tail: Sequence[str]) -> None:
        self.tag, self.step, self.error, self.tail = tag, step, error, tuple(tail)
        where = f" at {step}" if step else ""
        super().__init__(
            f"building {tag} failed{where}: {error.strip()}",
            hint="last build output:\n" + "\n".join(self.tail[-15:]),
        )


@dataclass(frozen=True, slots=True)
class Mount:
    host: Path
    container: str
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class Limits:
    cpus: float | None = None
    memory: str | None = None  # "4g"
    pids: int | None = 4096
    shm_size: str | None = None
    cpuset: str | None = None


@dataclass(frozen=True, slots=True)
class RunSpec:
    image: str
    command: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    mounts: Sequence[Mount] = ()
    #: named volumes: volume name → path in the container (read-write)
    volumes: Mapping[str, str] = field(default_factory=dict)
    devices: Sequence[str] = ()
    gpu_requests: Sequence[str] = ()
    workdir: str | None = None
    user: str | None = None
    network: bool = False
    #: the network mode when ``network`` is on ("host" where the daemon has no bridge, or
    #: a network's name); None: the engine's default network
    network_mode: str | None = None
    limits: Limits = field(default_factory=Limits)
    timeout_s: float = 1800.0
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ContainerResult:
    exit_code: int | None
    timed_out: bool
    oom_killed: bool
    duration_s: float
    tail: tuple[str, ...]
    #: the container's id while it existed (committed images name it)
    container_id: str = ""
    error: str | None = None


_STEP_RE = re.compile(r"^Step (\d+/\d+) : (.*)$")


def label_instruction(labels: Mapping[str, str]) -> str:
    """One ``LABEL`` instruction setting every label: the engine's ``labels`` build
    argument adds one build step per label, and with a copying storage driver (vfs) each
    step copies the whole image."""
    pairs = []
    for key, value in sorted(labels.items()):
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", key):
            raise ValueError(f"label key {key!r}")
        quoted = json.dumps(value).replace("$", "\\$")  # no variable expansion
        pairs.append(f"{key}={quoted}")
    return "LABEL " + " ".join(pairs)


class ContainerEngine:
    """A docker engine reached through the SDK (``DOCKER_HOST`` or the local socket)."""

    def __init__(self, client: Any | None = None) -> None:
        if client is None:
            import docker

            try:
                client = docker.from_env(timeout=120)
                client.ping()
            except Exception as exc:  # the SDK raises several kinds; all mean "not here"
                raise EngineError(
                    f"no container engine answers: {str(exc).splitlines()[0][:200]}",
                    hint="start dockerd (or set DOCKER_HOST), or use --executor local",
                ) from exc
        self.client = client

    @classmethod
    def available(cls) -> tuple[ContainerEngine | None, str | None]:
        """(engine, None) when one answers, else (None, why not)."""
        try:
            return cls(), None
        except EngineError as exc:
            return None, exc.message

    def version(self) -> str:
        info = self.client.version()
        return f"{info.get('Version', '?')} (API {info.get('ApiVersion', '?')})"

    # images ------------------------------------------------------------------------

    def image_id(self, tag: str) -> str | None:
        import docker.errors

        try:
            return str(self.client.images.get(tag).id)
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.APIError as exc:
            raise EngineError(f"cannot inspect image {tag}: {exc.explanation or exc}") from exc

    def build(self, spec: BuildSpec, progress: Progress | None = None) -> tuple[str, bool]:
        """Build ``spec`` unless its tag exists; returns (image id, built?)."""
        tag = spec.tag
        existing = self.image_id(tag)
        if existing is not None:
            return existing, False
        say = progress or (lambda _line: None)
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        step: str | None = None
        with tempfile.TemporaryDirectory(prefix="harness-build-") as tmp:
            ctx = Path(tmp)
            labels = {LABEL: "1", **spec.labels}
            (ctx / "Dockerfile").write_text(
                spec.dockerfile.rstrip("\n") + "\n" + label_instruction(labels) + "\n",
                encoding="utf-8",
            )
            for rel, src in spec.context.items():
                dest = ctx / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(OSError):  # same filesystem: no copy
                    dest.hardlink_to(src)
                if not dest.exists():
                    shutil.copy2(src, dest)
            kwargs: dict[str, Any] = {
                "path": str(ctx),
                "tag": tag,
                "rm": True,
                "forcerm": True,
                "decode": True,
            }
            if spec.network_mode:
                kwargs["network_mode"] = spec.network_mode
            try:
                for chunk in self.client.api.build(**kwargs):
                    if "stream" in chunk:
                        for line in str(chunk["stream"]).splitlines():
                            if not line.strip():
                                continue
                            tail.append(line)
                            m = _STEP_RE.match(line)
                            if m:
                                step = f"step {m.group(1)} ({m.group(2)[:120]})"
                            say(line)
                    elif "error" in chunk:
                        raise ImageBuildError(tag, step, str(chunk["error"]), tail)
            except ImageBuildError:
                raise
            except Exception as exc:
                raise ImageBuildError(tag, step, str(exc), tail) from exc
        image_id = self.image_id(tag)
        if image_id is None:
            raise ImageBuildError(tag, step, "the engine reported success but has no image", tail)
        return image_id, True

    def remove_image(self, tag: str) -> None:
        import docker.errors

        with contextlib.suppress(docker.errors.ImageNotFound):
            self.client.images.remove(tag, force=True)

    # containers -----------------------------------------------------------------------

    def _create_kwargs(self, spec: RunSpec) -> dict[str, Any]:
        """The SDK's ``containers.create`` arguments for ``spec``."""
        from docker.types import DeviceRequest

        volumes = {
            str(m.host): {"bind": m.container, "mode": "ro" if m.read_only else "rw"}
            for m in spec.mounts
        }
        volumes.update({name: {"bind": path, "mode": "rw"} for name, path in spec.volumes.items()})
        lim = spec.limits
        kwargs: dict[str, Any] = {
            "image": spec.image,
            "command": list(spec.command),
            "environment": dict(spec.env),
            "volumes": volumes,
            "working_dir": spec.workdir,
            "user": spec.user,
            "labels": {LABEL: "1", **spec.labels},
            "detach": True,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "init": True,
        }
        if not spec.network:
            kwargs["network_mode"] = "none"
        elif spec.network_mode:
            kwargs["network_mode"] = spec.network_mode
        if spec.devices:
            kwargs["devices"] = [f"{d}:{d}:rwm" for d in spec.devices]
        if spec.gpu_requests:
            kwargs["device_requests"] = [
                DeviceRequest(device_ids=list(spec.gpu_requests), capabilities=[["gpu"]])
            ]
        if lim.cpus:
            kwargs["nano_cpus"] = int(lim.cpus * 1e9)
        if lim.memory:
            kwargs["mem_limit"] = lim.memory
            kwargs["memswap_limit"] = lim.memory
        if lim.pids:
            kwargs["pids_limit"] = lim.pids
        if lim.shm_size:
            kwargs["shm_size"] = lim.shm_size
        if lim.cpuset:
            kwargs["cpuset_cpus"] = lim.cpuset
        return kwargs

    @contextlib.contextmanager
    def created(self, kwargs: Mapping[str, Any]) -> Iterator[Any]:
        """A container created (never started) from the SDK's ``containers.create``
        arguments, removed on exit: for copying files in and out."""
        import docker.errors

        try:
            c = self.client.containers.create(**kwargs)
        except docker.errors.ImageNotFound as exc:
            raise EngineError(f"image {kwargs.get('image')} not found") from exc
        except docker.errors.APIError as exc:
            raise EngineError(f"cannot create a container: {exc.explanation or exc}") from exc
        try:
            yield c
        finally:
            self._remove(c)

    @contextlib.contextmanager
    def container(self, spec: RunSpec) -> Iterator[Any]:
        """A created (not started) container, removed on exit whatever happened."""
        with self.created(self._create_kwargs(spec)) as c:
            yield c

    @staticmethod
    def _remove(container: Any, attempts: int = 6) -> None:
        """Remove ``container`` and wait until it is gone: the daemon can refuse for a
        moment (a removal already in progress, a busy mount on slow storage drivers), and
        a container left behind would hold its limits and its mounts."""
        import docker.errors

        delay = 0.2
        for attempt in range(attempts):
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                return
            except docker.errors.APIError as exc:
                if attempt == attempts - 1:
                    log.warning("cannot remove container %s: %s", container.id[:12], exc)
                    return
            try:
                container.reload()
            except docker.errors.NotFound:
                return
            except docker.errors.APIError:
                pass
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def run(
        self,
        spec: RunSpec,
        *,
        log_path: Path | None = None,
        on_line: Progress | None = None,
        header: str | None = None,
        keep: Callable[[Any, ContainerResult], None] | None = None,
    ) -> ContainerResult:
        """Run ``spec`` to the end or its timeout (then kill); ``keep(container, result)``
        is called before the container is removed (to commit it)."""
        with self.container(spec) as c:
            result = self._start_and_wait(c, spec, log_path, on_line, header)
            if keep is not None:
                keep(c, result)
            return result

    def _start_and_wait(
        self,
        c: Any,
        spec: RunSpec,
        log_path: Path | None,
        on_line: Progress | None,
        header: str | None,
    ) -> ContainerResult:
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        log = log_path.open("wb") if log_path else None
        if log and header:
            log.write(header.encode() + b"\n")
            log.flush()
        out = StepLog(log, tail, on_line)
        start = time.monotonic()
        c.start()
        reader = threading.Thread(target=self._pump, args=(c, out), daemon=True)
        reader.start()
        timed_out = False
        exit_code: int | None = None
        error = None
        try:
            status = c.wait(timeout=spec.timeout_s)
            exit_code = int(status.get("StatusCode", -1))
            error = (status.get("Error") or {}).get("Message") if status.get("Error") else None
        except Exception:  # requests' ReadTimeout or ConnectionError: the timeout
            timed_out = True
            with contextlib.suppress(Exception):
                c.kill()
            with contextlib.suppress(Exception):
                status = c.wait(timeout=30)
                exit_code = int(status.get("StatusCode", -1))
        reader.join(timeout=60)
        duration = time.monotonic() - start
        oom = False
        with contextlib.suppress(Exception):
            c.reload()
            oom = bool(c.attrs.get("State", {}).get("OOMKilled"))
        if log:
            if reader.is_alive():
                out.note("the log stream did not end within 60 s of the step: cut here")
            if timed_out:
                out.note(f"killed after the {spec.timeout_s:.0f} s timeout")
            if oom:
                out.note("the container ran out of memory (OOM-killed)")
            log.close()
        return ContainerResult(
            exit_code=exit_code,
            timed_out=timed_out,
            oom_killed=oom,
            duration_s=duration,
            tail=tuple(tail),
            container_id=str(c.id),
            error=error,
        )

    @staticmethod
    def _pump(c: Any, out: StepLog) -> None:
        try:
            for chunk in c.logs(stream=True, follow=True, stdout=True, stderr=True):
                out.feed(chunk)
        except Exception as exc:  # the engine went away mid-stream: say so in the log
            with contextlib.suppress(Exception):
                out.note(f"the log stream broke: {type(exc).__name__}: {exc}")
        finally:
            with contextlib.suppress(Exception):
                out.close()

    def commit(self, container: Any, repository: str, tag: str) -> str:
        """Save a stopped container's filesystem as ``repository:tag``; its image id."""
        image = container.commit(repository=repository, tag=tag)
        return str(image.id)

    # files and networks -------------------------------------------------------------

    def archive(self, container: Any, path: str) -> Iterator[bytes] | None:
        """The tar stream of ``path`` in ``container`` (running or stopped), or None when
        the path does not exist there."""
        import docker.errors

        try:
            chunks, _stat = container.get_archive(path)
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as exc:
            raise EngineError(f"cannot copy {path} out of the container: {exc}") from exc
        stream: Iterator[bytes] = iter(chunks)
        return stream

    def create_network(
        self,
        name: str,
        *,
        internal: bool,
        labels: Mapping[str, str],
        host_address: bool = True,
    ) -> None:
        """A bridge network; ``internal``: no route out; ``host_address=False``: this
        machine gets no address on it either (nothing on the host is reachable)."""
        import docker.errors

        options = {} if host_address else {"com.docker.network.bridge.inhibit_ipv4": "true"}
        try:
            self.client.networks.create(
                name,
                driver="bridge",
                internal=internal,
                labels={LABEL: "1", **labels},
                options=options,
                check_duplicate=True,
            )
        except docker.errors.APIError as exc:
            raise EngineError(f"cannot create network {name}: {exc.explanation or exc}") from exc

    def network(self, name: str) -> Any | None:
        import docker.errors

        try:
            return self.client.networks.get(name)
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as exc:
            raise EngineError(f"cannot inspect network {name}: {exc.explanation or exc}") from exc

    def remove_network(self, name: str) -> None:
        import docker.errors

        with contextlib.suppress(docker.errors.NotFound):
            net = self.client.networks.get(name)
            for attempt in range(6):
                try:
                    net.remove()
                    return
                except docker.errors.NotFound:
                    return
                except docker.errors.APIError as exc:
                    if attempt == 5:
                        log.warning("cannot remove network %s: %s", name, exc)
                        return
                    time.sleep(0.2 * (attempt + 1))

    @contextlib.contextmanager
    def helper(self, kwargs: Mapping[str, Any], *, also_on: Sequence[str] = ()) -> Iterator[Any]:
        """A long-running helper container (``containers.create`` arguments) attached to
        the networks ``also_on`` as well, started; killed and removed on exit."""
        import docker.errors

        with self.created({"detach": True, "init": True, **kwargs}) as c:
            try:
                for name in also_on:
                    self.client.networks.get(name).connect(c)
                c.start()
            except docker.errors.APIError as exc:
                raise EngineError(
                    f"cannot start {kwargs.get('name', 'a helper container')}: "
                    f"{exc.explanation or exc}"
                ) from exc
            yield c

    def helper_state(self, container: Any) -> tuple[bool, str, dict[str, str]]:
        """(running, its output so far, its address on each network)."""
        import docker.errors

        try:
            container.reload()
            logs = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
        except docker.errors.APIError as exc:
            raise EngineError(f"cannot inspect a helper container: {exc}") from exc
        running = bool(container.attrs.get("State", {}).get("Running"))
        nets = container.attrs.get("NetworkSettings", {}).get("Networks", {}) or {}
        addresses = {n: str(v.get("IPAddress")) for n, v in nets.items() if v.get("IPAddress")}
        return running, logs, addresses
