"""``harness run`` inside GitHub Actions: each cell's output folded in a ``::group::``,
annotations for cells that failed or could not run, and the job summary appended to
``$GITHUB_STEP_SUMMARY``. Outside Actions (``GITHUB_ACTIONS`` unset) nothing changes."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


def in_actions(env: Mapping[str, str] | None = None) -> bool:
    return (env if env is not None else os.environ).get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    """A workflow command's message: ``%``, CR and LF escaped as GitHub reads them."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


@contextmanager
def group(title: str, out: TextIO | None = None) -> Iterator[None]:
    """Fold what is printed inside into one collapsible section of the job log."""
    stream = out or sys.stdout
    if not in_actions():
        yield
        return
    stream.write(f"::group::{escape_data(title)}\n")
    stream.flush()
    try:
        yield
    finally:
        stream.write("::endgroup::\n")
        stream.flush()


def annotate(level: str, title: str, message: str, out: TextIO | None = None) -> None:
    """``level``: error, warning or notice."""
    if not in_actions():
        return
    stream = out or sys.stdout
    stream.write(f"::{level} title={escape_property(title)}::{escape_data(message)}\n")
    stream.flush()


def append_summary(markdown_file: Path, env: Mapping[str, str] | None = None) -> bool:
    """Append ``markdown_file`` to the step summary; whether there was one to append to."""
    target = (env if env is not None else os.environ).get("GITHUB_STEP_SUMMARY")
    if not target or not markdown_file.is_file():
        return False
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(markdown_file.read_text(encoding="utf-8"))
        fh.write("\n")
    return True
