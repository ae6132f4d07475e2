"""Result files out of a container, without trusting anything the container wrote.

The docker executor never shares a writable host directory with a container. After a
step, the engine's archive API streams the step's output directory as a tar; this module
unpacks it into a *fresh* host directory the harness creates itself, and only:

- regular files whose path (relative to the step's output directory) matches one of the
  step's result patterns; everything else stays in the container and is counted;
- with a safe name: no absolute path, no ``..``, no control characters, not over-long;
- never a symbolic link, hard link, device, FIFO or socket, even when its name matches:
  those are *refused*, with the reason recorded;
- up to a byte budget (``max_bytes``); a file that would pass it is cut there (a parser
  then sees a file cut short, and the run is marked crashed, not passed) and the rest is
  refused.

Every file is created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` relative to directory file
descriptors the harness opened itself, so a name listed twice or a link cannot redirect a
write. The tar stream is read once, incrementally: memory stays bounded whatever the size.
"""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from harness import settings
from harness.results.collect import matches, unsafe_name

#: Default budget for one step's result files (``HARNESS_RESULTS_MAX_BYTES``).
DEFAULT_MAX_BYTES = settings.RESULTS_MAX_BYTES.default
_CHUNK = 1 << 20
_KINDS = {
    tarfile.SYMTYPE: "a symbolic link",
    tarfile.LNKTYPE: "a hard link",
    tarfile.CHRTYPE: "a device",
    tarfile.BLKTYPE: "a device",
    tarfile.FIFOTYPE: "a FIFO",
}


@dataclass(slots=True)
class CopyReport:
    """What came out of one step's output directory."""

    #: relative paths of the files written under the destination
    files: list[str] = field(default_factory=list)
    #: "NAME: why" for every entry that matched a pattern but was not copied
    refused: list[str] = field(default_factory=list)
    #: entries that matched no result pattern (left in the container)
    ignored: int = 0
    bytes: int = 0


class _ChunkReader(io.RawIOBase):
    """A file object over an iterator of byte chunks (the SDK's archive stream)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it: Iterator[bytes] = iter(chunks)
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buf:
            try:
                self._buf = next(self._it)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def max_result_bytes() -> int:
    return settings.RESULTS_MAX_BYTES.get()


def unpack_results(
    chunks: Iterable[bytes],
    dest: Path,
    patterns: Sequence[str],
    *,
    top: str,
    max_bytes: int | None = None,
) -> CopyReport:
    """Unpack the tar stream ``chunks`` (the archive of a directory named ``top``) into
    ``dest``, which must not exist yet (see the module docstring)."""
    budget = max_result_bytes() if max_bytes is None else max_bytes
    report = CopyReport()
    dest.mkdir(mode=0o755)
    root_fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        stream = io.BufferedReader(_ChunkReader(chunks), _CHUNK)
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                rel = _relative(member.name, top)
                if rel is None or member.isdir():
                    continue
                if not any(matches(rel, p) for p in patterns):
                    report.ignored += 1
                    continue
                why = unsafe_name(rel)
                if why is None and not member.isreg():
                    why = _KINDS.get(member.type, "not a regular file")
                    if member.issym() or member.islnk():
                        why += f" (to {member.linkname!r})"
                if why is None and report.bytes >= budget:
                    why = f"over the {budget}-byte budget for result files"
                if why is not None:
                    report.refused.append(f"{rel}: {why}, refused")
                    continue
                source = tar.extractfile(member)
                assert source is not None  # a regular file
                try:
                    written, cut = _write(root_fd, rel, source, budget - report.bytes)
                except FileExistsError:
                    report.refused.append(f"{rel}: listed twice in the archive, refused")
                    continue
                except (tarfile.ReadError, EOFError) as exc:  # what came is kept, cut short
                    report.files.append(rel)
                    report.refused.append(f"{rel}: the archive ends inside it ({exc})")
                    break
                report.bytes += written
                report.files.append(rel)
                if cut:
                    report.refused.append(
                        f"{rel}: cut at {written} bytes (the {budget}-byte budget for result files)"
                    )
    except tarfile.ReadError as exc:
        report.refused.append(f"(archive): unreadable past this point: {exc}")
    finally:
        os.close(root_fd)
    return report


def _relative(name: str, top: str) -> str | None:
    """``top/a/b`` → ``a/b``; None for ``top`` itself or anything outside it."""
    name = name.removeprefix("./")
    if name == top or not name.startswith(f"{top}/"):
        return None
    return name[len(top) + 1 :].rstrip("/") or None


def _write(root_fd: int, rel: str, source: IO[bytes], budget: int) -> tuple[int, bool]:
    """Write ``source`` to ``rel`` under ``root_fd``; (bytes written, cut at the budget)."""
    *parents, name = rel.split("/")
    fds: list[int] = []
    dir_fd = root_fd
    try:
        for part in parents:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=dir_fd)
            dir_fd = os.open(
                part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd
            )
            fds.append(dir_fd)
        fd = os.open(
            name,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o644,
            dir_fd=dir_fd,
        )
        written, cut = 0, False
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(_CHUNK):
                if written + len(chunk) > budget:
                    out.write(chunk[: budget - written])
                    written, cut = budget, True
                    break
                out.write(chunk)
                written += len(chunk)
        return written, cut
    finally:
        for fd_ in fds:
            os.close(fd_)
