"""Cells and the one glob language that selects them.

A cell is ``suite/backend/variant``: ``transformers/npu/cann8.5.0-910b-openeuler24.03-py3.11``,
or ``comfyui/cpu/host`` for a run on the host. Patterns are matched segment by segment with
shell globs (``*``, ``?``, ``[...]``) and brace alternatives (``{cpu,npu}``); a pattern with
fewer than three segments matches any value in the rest, so ``comfyui`` and ``comfyui/cpu``
both work. ``*`` never crosses a ``/``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from harness.config.suite import Suite
from harness.errors import ConfigError

HOST_VARIANT = "host"
#: one part of a cell id (a suite, backend or variant name): also safe as a file name
CELL_PART = r"[A-Za-z0-9][A-Za-z0-9._+-]*"
#: ``suite/backend/variant``: what a cell id from outside (a bundle, the database) must be
CELL_ID_RE = re.compile(rf"{CELL_PART}/{CELL_PART}/{CELL_PART}")


@dataclass(frozen=True, slots=True, order=True)
class Cell:
    suite: str
    backend: str
    variant: str = HOST_VARIANT

    @property
    def id(self) -> str:
        return f"{self.suite}/{self.backend}/{self.variant}"

    @property
    def slug(self) -> str:
        """A file-name-safe form of the id."""
        return self.id.replace("/", "__")

    @classmethod
    def parse(cls, cell_id: str) -> Cell:
        parts = cell_id.split("/")
        if len(parts) != 3 or not all(parts):
            raise ConfigError(f"'{cell_id}' is not a cell id (suite/backend/variant)")
        return cls(*parts)

    def __str__(self) -> str:
        return self.id


def expand_braces(pattern: str) -> list[str]:
    """``a/{b,c}`` → ``["a/b", "a/c"]``; nested braces work; unbalanced ones are literal."""
    depth = 0
    start = -1
    for i, ch in enumerate(pattern):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                body = pattern[start + 1 : i]
                alternatives = _split_top_level(body)
                if len(alternatives) < 2:
                    continue
                head, tail = pattern[:start], pattern[i + 1 :]
                out: list[str] = []
                for alt in alternatives:
                    out.extend(expand_braces(head + alt + tail))
                return out
    return [pattern]


def _split_top_level(body: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        current += ch
    parts.append(current)
    return parts


@lru_cache(maxsize=512)
def _segment_regexes(pattern: str) -> tuple[tuple[re.Pattern[str], ...], ...]:
    compiled = []
    for alternative in expand_braces(pattern):
        segments = alternative.split("/")
        if len(segments) > 3:
            raise ConfigError(f"pattern '{pattern}' has more than three segments")
        segments += ["*"] * (3 - len(segments))
        compiled.append(tuple(re.compile(fnmatch.translate(s or "*")) for s in segments))
    return tuple(compiled)


def matches(cell_id: str, pattern: str) -> bool:
    """Whether ``cell_id`` matches ``pattern`` in the cell glob language."""
    parts = cell_id.split("/")
    if len(parts) != 3:
        parts += [""] * (3 - len(parts))
    return any(
        all(rx.match(part) for rx, part in zip(alt, parts, strict=True))
        for alt in _segment_regexes(pattern)
    )


def matches_any(cell_id: str, patterns: Iterable[str]) -> bool:
    return any(matches(cell_id, p) for p in patterns)


def expand(suites: Mapping[str, Suite], variants: Sequence[str] = (HOST_VARIANT,)) -> list[Cell]:
    """Every cell the suites define, sorted by id."""
    return sorted(
        Cell(name, backend, variant)
        for name, suite in suites.items()
        for backend in suite.backends
        for variant in variants
    )


def select(cells: Sequence[Cell], patterns: Sequence[str], skip: Sequence[str] = ()) -> list[Cell]:
    """Cells matching any of ``patterns`` and none of ``skip``.

    A pattern that matches nothing is a :class:`ConfigError` (a typo must not silently run
    nothing); the message lists the known cells.
    """
    chosen: list[Cell] = []
    for pattern in patterns or ["*"]:
        hits = [c for c in cells if matches(c.id, pattern)]
        if not hits:
            known = ", ".join(c.id for c in cells[:20]) or "none"
            more = f" (and {len(cells) - 20} more)" if len(cells) > 20 else ""
            raise ConfigError(
                f"pattern '{pattern}' matches no cell",
                hint=f"known cells: {known}{more}; see `harness matrix list`",
            )
        chosen.extend(c for c in hits if c not in chosen)
    return [c for c in chosen if not matches_any(c.id, skip)]
