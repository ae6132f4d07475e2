"""Finding a step's result files on this machine without trusting the directory.

A step's result directory was filled by code the harness does not trust (the upstream's
tests). :func:`collect_result_files` walks it without following a single symbolic link
and returns only regular files whose relative path matches a result pattern; a match
that is a link, a FIFO, a device or a socket is *refused* with a reason instead of being
opened (a FIFO would block the reader forever, a link would make it read a host file).
:func:`open_result` opens a file with ``O_NOFOLLOW`` so that a link swapped in after the
walk is refused too.

Patterns are the suite's ``results[].path`` globs, relative to the result directory:
``*`` and ``?`` stay inside one path component, ``**`` spans components.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

#: Longest relative path of a result file (bytes); longer names are refused.
MAX_NAME = 1024


@functools.lru_cache(maxsize=256)
def _pattern_re(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:[^/]+/)*")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append(f"[{body.replace(chr(92), chr(92) * 2)}]")
            i = end + 1
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def matches(rel: str, pattern: str) -> bool:
    """Whether the relative POSIX path ``rel`` matches the result pattern ``pattern``."""
    return _pattern_re(pattern.lstrip("/")).match(rel) is not None


def unsafe_name(rel: str) -> str | None:
    """Why ``rel`` cannot be a result file name (None: it can): absolute, ``..``, control
    characters, over-long."""
    if not rel or rel.startswith("/"):
        return "an absolute or empty name"
    if any(part in ("", ".", "..") for part in rel.split("/")):
        return "a name with '.', '..' or an empty component"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in rel):
        return "a name with control characters"
    if len(rel.encode("utf-8", "surrogateescape")) > MAX_NAME:
        return f"a name longer than {MAX_NAME} bytes"
    return None


def describe_mode(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


@dataclass(slots=True)
class Collected:
    files: list[Path] = field(default_factory=list)
    #: "NAME: why" for every match that was not a regular file
    refused: list[str] = field(default_factory=list)


def collect_result_files(directory: Path, pattern: str) -> Collected:
    """Regular files under ``directory`` matching ``pattern``, sorted (module docstring)."""
    found = Collected()
    if not directory.is_dir() or directory.is_symlink():
        return found
    for root, dirs, files in os.walk(directory, followlinks=False):
        base = Path(root)
        rel_root = base.relative_to(directory).as_posix()
        prefix = "" if rel_root == "." else f"{rel_root}/"
        for name in [*files, *[d for d in dirs if (base / d).is_symlink()]]:
            rel = prefix + name
            if not matches(rel, pattern):
                continue
            path = base / name
            why = unsafe_name(rel)
            if why is None:
                mode = os.lstat(path).st_mode
                if not stat.S_ISREG(mode):
                    why = describe_mode(mode)
                    if stat.S_ISLNK(mode):
                        why += f" (to {os.readlink(path)!r})"
            if why is not None:
                found.refused.append(f"{rel}: {why}, refused")
            else:
                found.files.append(path)
    found.files.sort()
    return found


def open_result(path: Path) -> BinaryIO:
    """``path`` opened for reading, refusing a symbolic link or a non-regular file
    (:class:`OSError`)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(f"{path} is {describe_mode(mode)}")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
