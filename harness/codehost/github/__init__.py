"""The GitHub driver: the one package that imports PyGithub or knows GitHub's payloads.

* :mod:`~harness.codehost.github.client`: credentials (``HARNESS_GITHUB_*``), PyGithub
  sessions, what a failed call means;
* :mod:`~harness.codehost.github.trigger`: webhook deliveries → harness events
  (:class:`~harness.codehost.Trigger`), with :mod:`~harness.codehost.github.signature`;
* :mod:`~harness.codehost.github.source`: refs, pull-request heads, merge bases,
  permissions (:class:`~harness.codehost.Source`);
* :mod:`~harness.codehost.github.reporter`: statuses, check runs, the PR comment
  (:class:`~harness.codehost.Reporter`, registered as ``github``);
* :mod:`~harness.codehost.github.redeliver`: asks GitHub to redeliver failed webhooks.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from harness.codehost.github.client import Credentials, GitHubClient

if TYPE_CHECKING:
    from harness.codehost.github.reporter import GitHubReporter
    from harness.store import Store

__all__ = ["Credentials", "GitHubClient", "reporter_from_env"]
log = logging.getLogger("harness.codehost.github")


def reporter_from_env(store: Store, env: Mapping[str, str]) -> GitHubReporter | None:
    """The GitHub reporter for the credentials in ``env``; ``None`` without any."""
    creds = Credentials.from_env(env)
    if creds is None:
        return None
    log.info("GitHub: %s", creds.describe())
    return GitHubClient(creds).reporter(store)
