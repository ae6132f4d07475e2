"""Property tests (hypothesis, bounded): whatever text a suite file holds, loading it
gives a suite or the project's configuration error, never another exception."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.config.loader import load_suite
from harness.errors import ConfigError

PIECES = [
    "name: demo\n", "upstream:\n", "  repo: o/r\n", "backends:\n", "  cpu:\n", "    test:\n",
    "      - run: pytest\n", "&a ", "*a", "<<: *a\n", "!!python/object:os.system {}\n",
    "!!int x\n", "!!float y\n", "!!timestamp z\n", "!!bool q\n", "!!binary AAAA\n", "[", "]",
    "{", "}", "- ", ": ", "\t", "'", '"', "%YAML 1.1\n", "---\n", "...\n", "? ", "|\n", ">\n",
    "~\n", "0x1F\n", "1e999\n", ".nan\n", "2026-13-45\n",
]  # fmt: skip


def check(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo.yaml"
        with contextlib.suppress(ConfigError):  # the one error a bad file may give
            load_suite(path, text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_random_text(text: str) -> None:
    check(text)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30))
def test_random_arrangements_of_yaml_pieces(pieces: list[str]) -> None:
    check("".join(pieces))
