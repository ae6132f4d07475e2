"""The map at the top of ``harness/__init__.py`` stays true: short, the flow's steps in
order, and every module it names exists; and every module of the service and the code
host drivers is named there or in the README's layout, so a reader finds each step."""

from __future__ import annotations

import re
from pathlib import Path

import harness

PACKAGE = Path(harness.__file__).parent
README = PACKAGE.parent / "README.md"
STEPS = ["webhook", "event", "job", "cell", "run", "verdict", "report"]
NAMED = re.compile(r"(?<![\w/.])((?:[a-z_]+/)*[a-z_]+(?:\.py|/))")


def _map() -> str:
    assert harness.__doc__ is not None
    return harness.__doc__


def test_the_map_is_short_and_walks_the_flow_in_order() -> None:
    lines = _map().splitlines()
    assert len(lines) < 40
    firsts = [line.split()[0] for line in lines if line[:1].isalpha() and line.split()]
    assert [w for w in firsts if w in STEPS] == STEPS


def test_every_module_the_map_names_exists() -> None:
    named = NAMED.findall(_map())
    assert len(named) > 30
    # a name without a directory is relative to the last directory named before it
    # on the same line ("executors/local.py | docker.py")
    missing = []
    for line in _map().splitlines():
        folder = ""
        for name in NAMED.findall(line):
            path = name if "/" in name.rstrip("/") or name.endswith("/") else folder + name
            if not (PACKAGE / path).exists() and (PACKAGE / name).exists():
                path = name
            if not (PACKAGE / path).exists():
                missing.append(name)
            if "/" in name.rstrip("/"):
                folder = name.rsplit("/", 1)[0] + "/"
    assert missing == []


def test_every_service_and_code_host_module_can_be_found_by_name() -> None:
    text = _map() + README.read_text(encoding="utf-8")
    unnamed = []
    for package in ("service", "codehost", "codehost/github", "store"):
        for module in sorted((PACKAGE / package).glob("*.py")):
            if module.name == "__init__.py":
                continue
            if module.name not in text:
                unnamed.append(f"{package}/{module.name}")
    assert unnamed == []
