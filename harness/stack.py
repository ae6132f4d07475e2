"""The stack as declared dimensions: pins, the versions a component has, and the diff.

A suite declares its stack components (``stack:`` in the recipe, see
:class:`harness.config.suite.StackComponent`): the variable its setup reads to choose a
component's version, where versions come from (a wheel folder, a package index, the image
matrix) and which fingerprint field records it. ``harness run --stack NAME=VERSION`` pins
one: the variable is set for the run's steps, the pin is recorded in the run's
fingerprint (``stack``) and is part of the environment key. :func:`stack_diff` says which
declared components differ between two runs' fingerprints.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from harness.config.suite import StackComponent, Suite
from harness.errors import ConfigError
from harness.fingerprint import stack_summary


def parse_pins(values: Iterable[str]) -> dict[str, str]:
    """``["torch=2.9.1", ...]`` → ``{"torch": "2.9.1"}``; a malformed one is an error."""
    pins: dict[str, str] = {}
    for value in values:
        name, sep, version = value.partition("=")
        if not sep or not name.strip() or not version.strip():
            raise ConfigError(f"--stack '{value}': use NAME=VERSION, e.g. torch=2.9.1")
        pins[name.strip()] = version.strip()
    return pins


def check_pins(suite: Suite, pins: Mapping[str, str]) -> None:
    """Every pinned component is one the suite declares."""
    for name in pins:
        if name not in suite.stack:
            known = ", ".join(suite.stack) or "none"
            raise ConfigError(
                f"suite '{suite.name}' declares no stack component '{name}' (declared: {known})",
                hint="declare it under `stack:` in the suite file",
            )


def package_of(name: str, component: StackComponent) -> str:
    return component.package or name


def pin_environment(suite: Suite, pins: Mapping[str, str]) -> dict[str, str]:
    """The variables a run's steps get for ``pins`` (component variable → its spec)."""
    check_pins(suite, pins)
    env: dict[str, str] = {}
    for name, version in sorted(pins.items()):
        comp = suite.stack[name]
        env[comp.variable] = comp.spec.replace("{package}", package_of(name, comp)).replace(
            "{version}", version
        )
    return env


def component_version(
    name: str, component: StackComponent, fingerprint: Mapping[str, Any]
) -> str | None:
    """The version of component ``name`` a run's fingerprint records: its pin if it had
    one, else the declared fingerprint field."""
    pinned = fingerprint.get("stack")
    if isinstance(pinned, Mapping) and isinstance(pinned.get(name), str):
        return str(pinned[name])
    field = component.fingerprint or f"packages.{package_of(name, component)}"
    if field.startswith("packages."):
        wanted = canonicalize_name(field.removeprefix("packages."))
        py = fingerprint.get("python")
        packages = py.get("packages") if isinstance(py, Mapping) else None
        for dist, version in (packages or {}).items():
            if canonicalize_name(str(dist)) == wanted:
                return str(version)
        return None
    return stack_summary(fingerprint).get(field)


@dataclass(frozen=True, slots=True)
class ComponentChange:
    """A declared component whose version differs between the good and the bad run."""

    name: str
    good: str | None
    bad: str | None

    def as_json(self) -> dict[str, str | None]:
        return {"component": self.name, "good": self.good, "bad": self.bad}


def stack_diff(
    suite: Suite, good: Mapping[str, Any], bad: Mapping[str, Any]
) -> list[ComponentChange]:
    """The declared components whose versions differ, in declaration order."""
    changes = []
    for name, comp in suite.stack.items():
        a, b = component_version(name, comp, good), component_version(name, comp, bad)
        if a != b:
            changes.append(ComponentChange(name, a, b))
    return changes


def _sort_key(version: str) -> tuple[int, Version | str]:
    try:
        return (0, Version(version))
    except InvalidVersion:
        return (1, version)


def sort_versions(versions: Iterable[str]) -> list[str]:
    """Distinct versions, oldest first (PEP 440 order; unparsable ones last, by name)."""
    return sorted(set(versions), key=_sort_key)


def wheel_versions(folder: Path, package: str) -> list[str]:
    """The versions of ``package`` among the wheels in ``folder``."""
    wanted = canonicalize_name(package)
    found = []
    for path in folder.glob("*.whl"):
        try:
            name, version, _build, _tags = parse_wheel_filename(path.name)
        except ValueError:
            continue
        if name == wanted:
            found.append(str(version))
    return sort_versions(found)


_HREF_RE = re.compile(r"""href=["']([^"'#]+)""", re.IGNORECASE)


def index_versions(url: str, package: str, timeout: float = 30.0) -> list[str]:
    """The versions of ``package`` a simple package index lists (JSON or HTML page)."""
    page = f"{url.rstrip('/')}/{canonicalize_name(package)}/"
    request = urllib.request.Request(
        page, headers={"Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            body = resp.read().decode("utf-8", "replace")
            kind = resp.headers.get("Content-Type", "")
    except OSError as exc:
        raise ConfigError(f"cannot read the package index page {page}: {exc}") from None
    if "json" in kind:
        names = [f["filename"] for f in json.loads(body).get("files", [])]
    else:
        names = [href.rsplit("/", 1)[-1] for href in _HREF_RE.findall(body)]
    wanted = canonicalize_name(package)
    found = []
    for filename in names:
        try:
            name, version, _build, _tags = parse_wheel_filename(filename.split("?")[0])
        except ValueError:
            continue
        if name == wanted:
            found.append(str(version))
    return sort_versions(found)


def available_versions(
    name: str, component: StackComponent, image_variants: Sequence[str] = ()
) -> list[str] | None:
    """The versions a component's declared source lists, oldest first; ``None`` when the
    component declares no source. ``image_variants``: the image matrix's, in order."""
    source = component.versions
    if source is None:
        return None
    if source.wheels:
        folder = Path(os.path.expandvars(os.path.expanduser(source.wheels)))
        return wheel_versions(folder, package_of(name, component))
    if source.index:
        return index_versions(source.index, package_of(name, component))
    return list(image_variants)


def versions_between(versions: Sequence[str], good: str, bad: str) -> list[str]:
    """The versions after ``good`` up to and including ``bad``, in the list's order (the
    candidates for the one that flips a test); ``[bad]`` when either is not listed."""
    if good in versions and bad in versions:
        i, j = versions.index(good), versions.index(bad)
        if i < j:
            return list(versions[i + 1 : j + 1])
        if j < i:  # a downgrade broke it: walk from good down to bad
            return list(reversed(versions[j:i]))
    return [bad]
