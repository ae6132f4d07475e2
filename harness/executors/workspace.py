"""A cell's work volume: the only place a container writes.

Each docker session gets a fresh named volume mounted at ``/work`` in every step's
container: ``/work/source`` (a copy of the checkout), ``/work/repos/<name>`` (copies of
the companion repositories) and ``/work/out/<step>`` (each step's output directory).
Build artefacts therefore live from one step to the next, as in a CI job's workspace,
and the host never mounts one of its own directories writable into a container.

The copies are streamed by the harness with the engine's archive API: the harness walks
its own checkout (which no container has written), never follows a link (the
upstream's own symbolic links are copied as links, which resolve inside the container),
leaves out every ``.git`` (so no container ever writes a git directory the host later
uses) and gives every entry to the cell's unprivileged user. The volume is removed when
the session ends.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tarfile
import threading
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from harness.container_engine import LABEL, ContainerEngine, EngineError

WORK = "/work"
SOURCE = f"{WORK}/source"
REPOS = f"{WORK}/repos"
OUT = f"{WORK}/out"
#: never copied into a container (see the module docstring)
LEFT_OUT = frozenset({".git"})


class Workspace:
    """One session's work volume (see the module docstring)."""

    def __init__(self, engine: ContainerEngine, name: str) -> None:
        self.engine = engine
        self.name = name

    @classmethod
    def create(cls, engine: ContainerEngine, labels: Mapping[str, str]) -> Workspace:
        name = f"harness-work-{uuid.uuid4().hex[:16]}"
        try:
            engine.client.volumes.create(name=name, labels={LABEL: "1", **labels})
        except Exception as exc:
            raise EngineError(f"cannot create the work volume: {exc}") from exc
        return cls(engine, name)

    @property
    def volumes(self) -> dict[str, dict[str, str]]:
        """The SDK's ``volumes=`` entry mounting the workspace at ``/work``."""
        return {self.name: {"bind": WORK, "mode": "rw"}}

    def stage(
        self,
        image: str,
        user: tuple[int, int],
        copies: Mapping[str, Path],
        labels: Mapping[str, str],
    ) -> None:
        """Copy each host directory of ``copies`` to its path under ``/work`` (module
        docstring), through a container of ``image`` that is created but never started."""
        uid, gid = user
        create: dict[str, Any] = {
            "image": image,
            "command": ["true"],
            "volumes": self.volumes,
            "network_mode": "none",
            "user": f"{uid}:{gid}",
            "labels": {LABEL: "1", **labels, "org.accel-harness.step": "stage"},
        }
        with self.engine.created(create) as container:
            read, write = os.pipe()
            failure: list[BaseException] = []
            writer = threading.Thread(
                target=_write_tar, args=(write, copies, uid, gid, failure), daemon=True
            )
            writer.start()
            try:
                with os.fdopen(read, "rb") as stream:
                    ok = container.put_archive(WORK, stream)
            except Exception as exc:
                raise EngineError(f"cannot copy the source into the work volume: {exc}") from exc
            finally:
                writer.join()
            if failure:
                raise EngineError(f"cannot read the source to copy it: {failure[0]}")
            if not ok:
                raise EngineError("the engine refused the copy of the source")

    def remove(self) -> None:
        import docker.errors

        with contextlib.suppress(docker.errors.NotFound):
            try:
                self.engine.client.volumes.get(self.name).remove(force=True)
            except docker.errors.APIError as exc:
                raise EngineError(f"cannot remove the work volume {self.name}: {exc}") from exc


def _write_tar(
    fd: int, copies: Mapping[str, Path], uid: int, gid: int, failure: list[BaseException]
) -> None:
    try:
        with (
            os.fdopen(fd, "wb") as out,
            tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar,
        ):
            for inside, host in copies.items():
                rel = inside.removeprefix(f"{WORK}/").strip("/")
                for entry in _entries(host, rel, uid, gid):
                    info, path = entry
                    if path is None:
                        tar.addfile(info)
                    else:
                        with path.open("rb") as f:
                            tar.addfile(info, f)
    except BrokenPipeError:
        pass  # the engine stopped reading; its error is the one reported
    except BaseException as exc:  # reported by the caller
        failure.append(exc)


def _entries(
    root: Path, top: str, uid: int, gid: int
) -> Iterator[tuple[tarfile.TarInfo, Path | None]]:
    """Tar entries for ``root`` as ``top/...``: directories, regular files and symbolic
    links (never followed), owned by ``uid:gid``; ``.git`` left out at every depth."""
    parts = top.split("/")
    for i in range(1, len(parts) + 1):  # the parents, so they are the user's too
        yield _info("/".join(parts[:i]), tarfile.DIRTYPE, 0o755, uid, gid), None
    for base, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in LEFT_OUT)
        rel_base = Path(base).relative_to(root).as_posix()
        prefix = top if rel_base == "." else f"{top}/{rel_base}"
        for name in [*dirs, *sorted(files)]:
            if name in LEFT_OUT:
                continue
            path = Path(base, name)
            st = os.lstat(path)
            arc = f"{prefix}/{name}"
            if stat.S_ISDIR(st.st_mode):
                yield _info(arc, tarfile.DIRTYPE, 0o755, uid, gid), None
            elif stat.S_ISLNK(st.st_mode):
                info = _info(arc, tarfile.SYMTYPE, 0o777, uid, gid)
                info.linkname = os.readlink(path)
                yield info, None
            elif stat.S_ISREG(st.st_mode):
                mode = 0o755 if st.st_mode & 0o111 else 0o644
                info = _info(arc, tarfile.REGTYPE, mode, uid, gid)
                info.size = st.st_size
                info.mtime = int(st.st_mtime)
                yield info, path
            # FIFOs, sockets, devices in a checkout: left out


def _info(name: str, kind: bytes, mode: int, uid: int, gid: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.uid, info.gid = uid, gid
    info.uname = info.gname = ""
    return info
