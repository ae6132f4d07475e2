"""The stack as declared dimensions: pins, the versions a component has, and the diff.

A suite declares its stack components (``stack:`` in the recipe, see
:class:`harness.config.suite.StackComponent`): the variable its setup reads to choose a
component's version, where versions come from (a wheel folder, a package index, the image
matrix) and which fingerprint field records it. ``harness run --stack NAME=VERSION`` pins
one: the variable is set for the run's steps, the pin is recorded in the run's
fingerprint (``stack``) and is part of the environment key. :func:`stack_diff` says which
declared components differ between two runs' fingerprints.

The image component (``versions: {images: true}``) is the exception: its version is the
cell's image variant (recorded as the fingerprint's ``image.variant``), so it is never a
run's pin; a probe of another version runs the cell of that variant (:func:`pinned_cell`).
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
from harness.images.matrix import ImageMatrix
from harness.matrix import Cell

#: where a run's fingerprint records its image variant (the image component's version)
IMAGE_VARIANT_FIELD = "image.variant"


def parse_pins(values: Iterable[str]) -> dict[str, str]:
    """``["torch=2.9.1", ...]`` → ``{"torch": "2.9.1"}``; a malformed one is an error."""
    pins: dict[str, str] = {}
    for value in values:
        name, sep, version = value.partition("=")
        if not sep or not name.strip() or not version.strip():
            raise ConfigError(f"--stack '{value}': use NAME=VERSION, e.g. torch=2.9.1")
        pins[name.strip()] = version.strip()
    return pins


def check_pins(suite: Suite, pins: Mapping[str, str], *, run: bool = False) -> None:
    """Every pinned component is one the suite declares; for a run (``run``), none is
    the image component: a cell's image is its variant, chosen by the cell id."""
    for name in pins:
        if name not in suite.stack:
            known = ", ".join(suite.stack) or "none"
            raise ConfigError(
                f"suite '{suite.name}' declares no stack component '{name}' (declared: {known})",
                hint="declare it under `stack:` in the suite file",
            )
        if run and suite.stack[name].is_image:
            raise ConfigError(
                f"--stack {name}=...: the {name} component is the cell's image variant",
                hint=f"run the cell of that variant instead: harness run "
                f"{suite.name}/BACKEND/{pins[name]} --executor docker",
            )


def package_of(name: str, component: StackComponent) -> str:
    return component.package or name


def pin_environment(suite: Suite, pins: Mapping[str, str]) -> dict[str, str]:
    """The variables a run's steps get for ``pins`` (component variable → its spec)."""
    check_pins(suite, pins, run=True)
    env: dict[str, str] = {}
    for name, version in sorted(pins.items()):
        comp = suite.stack[name]
        assert comp.variable is not None  # every component but the image has one
        env[comp.variable] = comp.spec.replace("{package}", package_of(name, comp)).replace(
            "{version}", version
        )
    return env


def pinned_cell(cell: Cell, suite: Suite, pins: Mapping[str, str]) -> Cell:
    """The cell a probe with ``pins`` runs: ``cell`` on the pinned image variant when the
    image component is pinned, else ``cell``."""
    image = suite.image_component
    if image is None or image not in pins:
        return cell
    return Cell(cell.suite, cell.backend, pins[image])


def run_pins(suite: Suite, pins: Mapping[str, str]) -> dict[str, str]:
    """The pins a run gets (``--stack``): all but the image component's (the cell's)."""
    return {name: v for name, v in pins.items() if not suite.stack[name].is_image}


def component_version(
    name: str, component: StackComponent, fingerprint: Mapping[str, Any]
) -> str | None:
    """The version of component ``name`` a run's fingerprint records: its pin if it had
    one, else the declared fingerprint field."""
    pinned = fingerprint.get("stack")
    if isinstance(pinned, Mapping) and isinstance(pinned.get(name), str):
        return str(pinned[name])
    field = component.fingerprint or (
        IMAGE_VARIANT_FIELD if component.is_image else f"packages.{package_of(name, component)}"
    )
    if field.startswith("image."):
        image = fingerprint.get("image")
        value = image.get(field.removeprefix("image.")) if isinstance(image, Mapping) else None
        return None if value is None else str(value)
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


def variant_line(matrix: ImageMatrix | None, good: str | None, bad: str | None) -> list[str]:
    """The image variants between two, for searching: those of the bad variant's family
    and backend that have the bad variant's value of every parameter but the one in which
    the good and the bad variant differ, in the matrix's order (which is the order that
    parameter's values are listed in). Just ``[good, bad]`` when they differ in more than
    one parameter (no single line joins them) or either is not in the matrix."""
    ends = [v for v in (good, bad) if v is not None]
    if matrix is None or good is None or bad is None:
        return ends
    by_id = {v.id: v for v in matrix.variants}
    a, b = by_id.get(good), by_id.get(bad)
    if a is None or b is None or (a.family, a.backend) != (b.family, b.backend):
        return ends
    differ = [k for k in b.params if a.params.get(k) != b.params[k]]
    if len(differ) != 1:
        return ends
    axis = differ[0]
    return [
        v.id
        for v in matrix.variants
        if (v.family, v.backend) == (b.family, b.backend)
        and all(v.params.get(k) == b.params[k] for k in b.params if k != axis)
    ]


def available_versions(
    name: str, component: StackComponent, image_variants: Sequence[str] = ()
) -> list[str] | None:
    """The versions a component's declared source lists, oldest first; ``None`` when the
    component declares no source. ``image_variants``: for the image component, the
    variants to search (:func:`variant_line`), in order."""
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
