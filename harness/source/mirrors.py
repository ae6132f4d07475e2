"""Mirrors: the operator's rewrite of repository URLs by prefix, as git's
``url.<base>.insteadOf`` does.

Vendors' runners often reach github.com badly or not at all and fetch from an internal
or regional mirror. One setting rewrites every URL the harness fetches (the upstream, its
companions and their forks, submodules, the branch lookups of pull-request pairing),
without editing a suite file:

* ``HARNESS_MIRRORS``: ``PREFIX=REPLACEMENT`` pairs, separated by spaces, commas or new
  lines (``https://github.com/=https://git.example.cn/github/``);
* ``HARNESS_MIRRORS_FILE``: a YAML file ``mirrors: {PREFIX: REPLACEMENT, ...}`` (read by
  the configuration loader: plain data, errors name file and line).

Both apply, the variable's pairs winning for the same prefix; the longest matching prefix
rewrites a URL (git's rule). The rules reach git as ``-c url.R.insteadOf=P`` on each
command it runs (so submodules follow them too), never as a change to any git
configuration file; :func:`rewrite` says which URL was really fetched, for the run's
fingerprint and for ``harness doctor``. A mirror must carry what the upstream has that a
run asks for: its branches and tags, and ``refs/pull/*`` for pull requests (``git clone
--mirror`` keeps them; a plain clone does not).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from harness import settings
from harness.errors import ConfigError

ENV, FILE_ENV = settings.MIRRORS.name, settings.MIRRORS_FILE.name
_SEPARATORS = re.compile(r"[\s,]+")


class MirrorsFile(BaseModel):
    """``HARNESS_MIRRORS_FILE``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mirrors: dict[Annotated[str, Field(min_length=1)], Annotated[str, Field(min_length=1)]]


@dataclass(frozen=True, slots=True)
class Mirror:
    prefix: str
    use: str


def _pairs(text: str, where: str) -> dict[str, str]:
    rules: dict[str, str] = {}
    for part in filter(None, _SEPARATORS.split(text.strip())):
        prefix, sep, use = part.partition("=")
        if not sep or not prefix or not use or "=" in use:
            raise ConfigError(f"{where}: {part!r} is not PREFIX=REPLACEMENT")
        rules[prefix] = use
    return rules


@cache
def _load(env_value: str, file_value: str) -> tuple[Mirror, ...]:
    rules: dict[str, str] = {}
    if file_value:
        from harness.config.loader import load_document

        doc, model = load_document(
            Path(file_value), None, MirrorsFile, "a mirrors file must be `mirrors: {PREFIX: URL}`"
        )
        for prefix, use in model.mirrors.items():
            if "=" in use:
                raise ConfigError(f"{doc.where(('mirrors', prefix))}: a URL without '='")
            rules[prefix] = use
    rules |= _pairs(env_value, f"${ENV}")
    return tuple(Mirror(p, u) for p, u in sorted(rules.items()))


def mirrors(env: dict[str, str] | None = None) -> tuple[Mirror, ...]:
    """The operator's rules (:class:`ConfigError` for a malformed one)."""
    return _load(settings.MIRRORS.get(env), settings.MIRRORS_FILE.get(env))


def rewrite(url: str, env: dict[str, str] | None = None) -> str:
    """``url`` as git fetches it under the rules: the longest matching prefix replaced."""
    best: Mirror | None = None
    for rule in mirrors(env):
        if url.startswith(rule.prefix) and (best is None or len(rule.prefix) > len(best.prefix)):
            best = rule
    return url if best is None else best.use + url[len(best.prefix) :]


def git_options(env: dict[str, str] | None = None) -> list[str]:
    """``-c url.<use>.insteadOf=<prefix>`` for each rule, for a git command line."""
    return [arg for m in mirrors(env) for arg in ("-c", f"url.{m.use}.insteadOf={m.prefix}")]
