"""The ``github-actions`` executor's message: a ``repository_dispatch`` to the CI
repository that makes its generated workflow run one cell (see workflows/harness.yml).

The client payload carries what the workflow needs and nothing it would run as code:
the cell (as a pattern), the upstream ref and head, and the queue item the results must
answer; the workflow passes them to scripts through environment variables only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.config.service import ServiceConfig
from harness.errors import ConfigError
from harness.service import queue as q

DISPATCH = "github-actions"


@dataclass(frozen=True, slots=True)
class DispatchEntry:
    repository: str
    key: str
    payload: dict[str, Any]


def dispatch_entry(config: ServiceConfig, item: q.Item, pr_head: str | None) -> DispatchEntry:
    a = config.actions
    if not a.repository:
        raise ConfigError(
            "the github-actions executor needs actions.repository in the configuration"
        )
    client_payload = {
        "cells": item.cell,
        "items": {item.cell: item.id},
        "ref": item.ref,
        "head_sha": item.head_sha,
        "pr_head": pr_head or "",
        "repository": item.repository,
        # the cell job passes --untrusted unless this says "true"
        "trusted": "true" if item.trusted else "false",
    }
    payload = {"installation": None, "event_type": a.event_type, "client_payload": client_payload}
    return DispatchEntry(a.repository, f"dispatch:{item.id}", payload)
