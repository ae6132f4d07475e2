"""Running git for the source module: no prompts, a process group killed on timeout, masked
credentials, and failures turned into :class:`~harness.errors.SourceError` with a hint."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import signal
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness import settings
from harness.errors import SourceError
from harness.source import mirrors

DEFAULT_GIT_TIMEOUT_S = settings.GIT_TIMEOUT.default
USERINFO_RE = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)([^/@\s]+)@")
_SCP_RE = re.compile(r"^(?:[^@/:\s]+@)?[^/:\s]+:(?!//)")
_REPO_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_COMMON_DIR",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_SHALLOW_FILE",
)


def default_git_timeout() -> float:
    """``HARNESS_GIT_TIMEOUT`` (seconds) or 900."""
    return settings.GIT_TIMEOUT.get()


def mask_url(text: str) -> str:
    """Hide credentials (``user:password@``, ``token@``) in URLs anywhere in ``text``."""

    def repl(m: re.Match[str]) -> str:
        scheme, userinfo = m.group(1), m.group(2)
        if ":" in userinfo or scheme.lower().startswith(("http", "ftp")):
            return f"{scheme}***@"
        return m.group(0)  # ssh://git@host: a user name, not a secret

    return USERINFO_RE.sub(repl, text)


def is_remote_url(url: str) -> bool:
    """``scheme://…`` or scp-like ``[user@]host:path`` (unless such a local path exists)."""
    if "://" in url:
        return True
    return bool(_SCP_RE.match(url)) and not Path(url).expanduser().exists()


def _mirror_key(url: str) -> str:
    """The identity of an upstream: no credentials, local paths absolute."""
    if not is_remote_url(url):
        return str(Path(url).expanduser().resolve())
    key = USERINFO_RE.sub(r"\1", url.strip()).rstrip("/")
    if not key.startswith("file://"):
        key = key.removesuffix(".git")
    return key


def source_identity(url: str) -> str:
    """What names an upstream whatever the spelling of its URL: no credentials, local
    paths absolute (the mirror's key)."""
    return _mirror_key(url)


def mirror_slug(url: str) -> str:
    """``https://github.com/a/b.git`` → ``github.com+a+b-1a2b3c4d``: readable + short hash."""
    key = _mirror_key(url)
    readable = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", key).removesuffix(".git")
    readable = re.sub(r"^[^@/:]+@", "", readable).replace(":", "/")
    parts = [p for p in readable.split("/") if p][-3:]
    name = re.sub(r"[^A-Za-z0-9._+-]+", "-", "+".join(parts)).strip(".-")[:60] or "repo"
    return f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def mirror_path(url: str, cache_dir: Path) -> Path:
    """The bare mirror of ``url`` in ``cache_dir``."""
    return cache_dir / "mirrors" / f"{mirror_slug(url)}.git"


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _REPO_ENV}
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["LC_ALL"] = "C"
    env.pop("LANGUAGE", None)
    if "GIT_SSH_COMMAND" not in env and "GIT_SSH" not in env:
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
    return env


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _last_error_line(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith(("fatal:", "error:")):
            return ln
    return lines[-1] if lines else "(no output)"


@dataclass(frozen=True)
class Git:
    """Runs git without prompts, in its own process group, killed after ``timeout``."""

    timeout: float
    allow_file: bool = False  # file:// submodules: only for sources that are local themselves

    def __call__(
        self,
        *args: str,
        cwd: Path | None = None,
        check: bool = True,
        what: str = "git failed",
        hint: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        cmd = [
            "git",
            # never a command from a repository's config or hooks, whoever wrote them
            *("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null"),
            *(["-c", "protocol.file.allow=always"] if self.allow_file else []),
            *mirrors.git_options(),  # the operator's mirrors (HARNESS_MIRRORS)
            *args,
        ]
        shown = shown_command(args)
        try:
            proc = subprocess.Popen(
                cmd,
                cwd=cwd,
                env=_git_env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise SourceError(
                "git is not installed", hint="install git (Debian: apt-get install git)"
            ) from exc
        try:
            out, err = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired as exc:
            _kill_group(proc)
            _, err = proc.communicate()
            tail = "".join(f"\n    {ln}" for ln in mask_url(err).strip().splitlines()[-5:])
            raise SourceError(
                f"{what}: git did not finish in {self.timeout:g} s\n  command: {shown}"
                + (f"\n  git said:{tail}" if tail else ""),
                hint="the remote may be unreachable or very slow; raise the limit with "
                "HARNESS_GIT_TIMEOUT (seconds)",
            ) from exc
        except BaseException:
            _kill_group(proc)
            proc.wait()
            raise
        result = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
        if check and proc.returncode != 0:
            raise git_error(what, shown, proc.returncode, err, hint)
        return result


def git_error(what: str, shown: str, code: int, stderr: str, hint: str | None) -> SourceError:
    """``<what>: <git's last error line>``, then the command and the end of stderr, masked."""
    stderr = mask_url(stderr)
    tail = [ln for ln in stderr.strip().splitlines() if ln.strip()][-8:]
    body = "\n".join(f"    {ln}" for ln in tail)
    return SourceError(
        f"{what}: {_last_error_line(stderr)}\n  command: {shown} (exit code {code})"
        + (f"\n  git said:\n{body}" if body else ""),
        hint=hint,
    )


def shown_command(args: Sequence[str]) -> str:
    """The command line as shown in messages: credentials masked."""
    return mask_url(" ".join(["git", *args]))


_HINTS = (
    (
        ("does not appear to be a git repository", "not a git repository"),
        "the URL does not point at a git repository",
    ),
    (
        (
            "authentication failed",
            "could not read username",
            "terminal prompts disabled",
            "permission denied",
            "repository not found",
            "host key verification failed",
            " 403",
        ),
        "the repository is private or does not exist; the harness never prompts for "
        "credentials: configure a git credential helper or an SSH key",
    ),
    (
        (
            "could not resolve host",
            "failed to connect",
            "connection refused",
            "connection timed out",
            "network is unreachable",
            "no route to host",
        ),
        "the URL is unreachable: check it and the network (proxy: https_proxy)",
    ),
)


def fetch_hint(stderr: str) -> str:
    """A hint for a failed fetch or ls-remote, from git's stderr."""
    low = stderr.lower()
    for needles, hint in _HINTS:
        if any(n in low for n in needles):
            return hint
    return "check the URL and network access"


@contextlib.contextmanager
def locked(lock: Path) -> Iterator[None]:
    """An exclusive flock on ``lock``: one process at a time fetches into a mirror."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
