"""Options shared by several commands."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from harness import settings

F = TypeVar("F", bound=Callable[..., Any])


def default_cache_dir() -> Path:
    if (cache := settings.CACHE.get()) is not None:
        return cache
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "harness"


def db_option(f: F) -> F:
    return click.option(
        "--db",
        "db_url",
        metavar="URL",
        default=None,
        help="Database URL (sqlite:///path or postgresql://...). "
        "Default: $HARNESS_DB, else a SQLite file in ~/.local/share/harness.",
    )(f)


def suites_option(f: F) -> F:
    return click.option(
        "--suites",
        "suites_dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help="Directory of suite files. Default: $HARNESS_SUITES, else ./suites.",
    )(f)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(f)
