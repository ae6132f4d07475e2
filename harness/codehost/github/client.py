"""The GitHub client: credentials, PyGithub sessions, and what a failed call means.

Separate from what the service decides to say (:mod:`harness.service.report`), from
when it is said (:mod:`harness.service.outbox`) and from how it is posted
(:mod:`harness.codehost.github.reporter`).

Credentials come from the environment or files, never from the command line and never
into logs or test containers (``HARNESS_GITHUB_*`` is on the executors' deny-list):

* a GitHub App: ``HARNESS_GITHUB_APP_ID`` and ``HARNESS_GITHUB_APP_KEY_FILE`` (the PEM
  private key). Each installation gets an installation token from a JWT; PyGithub renews
  it before it expires. The installation comes from the webhook delivery
  (``HARNESS_GITHUB_INSTALLATION_ID`` when none is known).
* or a token: ``HARNESS_GITHUB_TOKEN`` or ``HARNESS_GITHUB_TOKEN_FILE``. Plain tokens
  cannot create check runs; the ``check`` and ``blocking`` levels need an App.

``HARNESS_GITHUB_API_URL`` points at GitHub Enterprise Server or a stand-in.
PyGithub's own retries are off: a failed call goes back to the outbox, which retries
with backoff and never blocks recording results (:func:`classify_failure`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import requests
from github import Auth, Github, GithubException
from github.Repository import Repository

from harness import settings
from harness.codehost import Failure
from harness.config import setting
from harness.errors import ConfigError

if TYPE_CHECKING:
    from harness.codehost.github.reporter import GitHubReporter
    from harness.store import Store

DEFAULT_API = setting.GITHUB_DEFAULT_API


@dataclass(frozen=True)
class Credentials:
    api_url: str = DEFAULT_API
    token: str | None = field(default=None, repr=False)
    app_id: str | None = None
    app_key: str | None = field(default=None, repr=False)
    default_installation: int | None = None
    #: pause between write calls (GitHub's advice against secondary rate limits)
    write_interval_s: float = 1.0

    @property
    def kind(self) -> str:
        return "app" if self.app_id else "token"

    def describe(self) -> str:
        """For logs: which kind of credentials and where they go, never the secret."""
        who = f"GitHub App {self.app_id}" if self.app_id else "a token"
        return f"{who} at {self.api_url}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Credentials | None:
        """Credentials from ``env`` (default ``os.environ``); ``None`` when none are set.
        Raises :class:`ConfigError` for half-set or unreadable ones."""
        api = settings.GITHUB_API_URL.get(env)
        interval = settings.GITHUB_WRITE_INTERVAL.get(env)
        app_id, key_file = settings.GITHUB_APP_ID.get(env), settings.GITHUB_APP_KEY_FILE.get(env)
        installation = settings.GITHUB_INSTALLATION_ID.get(env)
        if app_id or key_file:
            if not (app_id and key_file):
                raise ConfigError(
                    "GitHub App credentials need both HARNESS_GITHUB_APP_ID and "
                    "HARNESS_GITHUB_APP_KEY_FILE"
                )
            return cls(
                api_url=api,
                app_id=app_id,
                app_key=_read_secret(Path(key_file), "the GitHub App private key"),
                default_installation=installation,
                write_interval_s=interval,
            )
        token = settings.GITHUB_TOKEN.get(env)
        token_file = settings.GITHUB_TOKEN_FILE.get(env)
        if not token and token_file is not None:
            token = _read_secret(token_file, "the GitHub token")
        if not token:
            return None
        return cls(api_url=api, token=token.strip(), write_interval_s=interval)


def _read_secret(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} from {path}: {exc.strerror}") from None
    if not text.strip():
        raise ConfigError(f"{path} is empty: {what} expected")
    return text


class GitHubClient:
    """PyGithub sessions per installation (one for a token), created on first use."""

    def __init__(self, credentials: Credentials, *, timeout: int = 20) -> None:
        self.credentials = credentials
        self._timeout = timeout
        self._sessions: dict[int | None, Github] = {}
        self._lock = threading.Lock()

    def session(self, installation_id: int | None = None) -> Github:
        creds = self.credentials
        key = (installation_id or creds.default_installation) if creds.app_id else None
        with self._lock:
            if key not in self._sessions:
                self._sessions[key] = Github(
                    base_url=creds.api_url,
                    auth=self._auth(key),
                    timeout=self._timeout,
                    retry=None,
                    seconds_between_requests=0,
                    seconds_between_writes=creds.write_interval_s,
                    user_agent="accel-harness",
                    lazy=True,
                )
            return self._sessions[key]

    def _auth(self, installation_id: int | None) -> Auth.Auth:
        creds = self.credentials
        if creds.app_id:
            if installation_id is None:
                raise ConfigError(
                    "no GitHub App installation for this repository",
                    hint="deliveries carry it; or set HARNESS_GITHUB_INSTALLATION_ID",
                )
            app = Auth.AppAuth(creds.app_id, creds.app_key or "")
            return app.get_installation_auth(installation_id)
        return Auth.Token(creds.token or "")

    def reporter(self, store: Store) -> GitHubReporter:
        """The reporter posting through this client (:class:`harness.codehost.Reporter`)."""
        from harness.codehost.github.reporter import GitHubReporter

        return GitHubReporter(self, store)

    def repo(self, full_name: str, installation_id: int | None = None) -> Repository:
        """The repository, without a request (``lazy``): calls on it make the requests."""
        return self.session(installation_id).get_repo(full_name)


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _error_text(data: dict[str, object], fallback: str | None) -> str:
    """GitHub's ``message`` (or a validator's ``detail``), with the first field error."""
    text = str(data.get("message") or data.get("detail") or data.get("title") or fallback or "")
    for key in ("errors", "validation"):
        problems = data.get(key)
        if isinstance(problems, list) and problems and isinstance(problems[0], dict):
            first = problems[0]
            text += f" ({first.get('message') or first.get('code') or first})"
            break
    return text[:300]


def classify_failure(exc: BaseException, at: datetime | None = None) -> Failure:
    """Retry or give up, and when: 429 and rate-limit 403s wait for ``Retry-After`` or the
    reset time; 5xx, 401 (a token being renewed) and network errors retry with backoff;
    other 4xx (the request itself is wrong) go to the dead letters."""
    at = at or datetime.now(UTC)
    if isinstance(exc, GithubException):
        status = exc.status
        data = exc.data if isinstance(exc.data, dict) else {}
        text = _error_text(data, exc.message)
        message = f"HTTP {status}: {text}".rstrip(": ")
        retry_after = _header(exc.headers, "retry-after")
        remaining = _header(exc.headers, "x-ratelimit-remaining")
        reset = _header(exc.headers, "x-ratelimit-reset")
        limited = status == 429 or (
            status == 403
            and (retry_after is not None or remaining == "0" or "rate limit" in text.lower())
        )
        if limited:
            delay: float | None = None
            if retry_after and retry_after.strip().isdigit():
                delay = float(retry_after)
            elif reset and reset.strip().isdigit():
                delay = max(1.0, float(reset) - at.timestamp())
            else:  # a secondary rate limit without a hint: at least a minute
                delay = 60.0
            return Failure(True, delay, f"rate limited ({message})", rate_limited=True)
        if status >= 500 or status in {401, 408}:
            return Failure(True, None, message)
        return Failure(False, None, message)
    if isinstance(exc, requests.RequestException | OSError | TimeoutError):
        return Failure(True, None, f"{type(exc).__name__}: {str(exc)[:300]}")
    return Failure(False, None, f"{type(exc).__name__}: {str(exc)[:300]}")
