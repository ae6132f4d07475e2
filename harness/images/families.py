"""Image families: what an entry of ``images/matrix.yaml`` (``family:``) builds from.

A family is a base image, the parameter lists its variants add to the id (``axes``), a
directory of templates and a package resolver: what the template needs beyond the
variant's parameters (download URLs, files copied into the build, the environment to
bake). The built-ins are ``cann`` (:mod:`harness.images.cann`), ``cpu`` and ``cuda``;
a vendor adds its SDK's family with no change to harness/images/::

    # a package's pyproject.toml
    [project.entry-points."harness.image_families"]
    xsdk = "harness_xsdk:XsdkFamily"

The entry point names an :class:`ImageFamily` subclass (instantiated without arguments)
or an instance. Built-ins win over plugins of the same name.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from harness.errors import ConfigError
from harness.plugins import load, origin, plugin_entry_points, unknown_name

if TYPE_CHECKING:
    from harness.images.matrix import Variant

ENTRY_POINT_GROUP = "harness.image_families"

__all__ = [
    "ENTRY_POINT_GROUP",
    "ImageFamily",
    "PackageRequest",
    "Resolved",
    "family_names",
    "family_origins",
    "get_family",
]


@dataclass(frozen=True, slots=True)
class PackageRequest:
    """What a family's resolver gets for one build."""

    variant: Variant
    #: docker architecture (amd64, arm64); ``values["uname_arch"]`` is x86_64/aarch64
    arch: str
    #: the template values so far (the variant's parameters, ``base``, ``python_full``...)
    values: Mapping[str, object]
    #: a directory of the family's packages on this machine (``--cann-packages``): copied
    #: into the build instead of downloaded; None: download them
    packages_dir: Path | None = None
    #: the operator's download mirror for the family's packages; None: the family's own
    mirror: str | None = None


@dataclass(frozen=True, slots=True)
class Resolved:
    """What a family's resolver adds to a build."""

    #: more template values
    values: Mapping[str, object] = field(default_factory=dict)
    #: path inside the build context → file on this machine (part of the image's tag)
    files: Mapping[str, Path] = field(default_factory=dict)


class ImageFamily:
    """A family of image variants; subclass it and set the class attributes."""

    #: the name ``family:`` gives in images/matrix.yaml
    name: ClassVar[str] = ""
    #: the first stage's FROM when the matrix gives no ``base``, formatted with the
    #: variant's parameters (``{os_version}``, ``{python}``, its axes)
    base: ClassVar[str] = ""
    #: the parameter lists of its own a family entry must give, in the order they appear
    #: in variant ids (``cann8.5.0-910b-...``); a plugin family's axes are keys of its
    #: matrix entry like the built-in ``cann``/``chip``/``cuda``
    axes: ClassVar[tuple[str, ...]] = ()
    #: where its templates are when the images directory has no file of that name
    templates: ClassVar[Path | None] = None

    def variant_id(self, params: Mapping[str, str]) -> str:
        """``<name><first axis>-<other axes>-<os><os_version>-py<python>`` (no axes:
        ``<os><os_version>-py<python>``)."""
        head = []
        if self.axes:
            first, *rest = self.axes
            head = [f"{self.name}{params[first].lower()}", *(params[a] for a in rest)]
        tail = [f"{params['os']}{params['os_version']}", f"py{params['python']}"]
        return "-".join([*head, *tail])

    def check_axis(self, axis: str, values: list[str]) -> None:
        """Raise :class:`ValueError` for a value of ``axis`` this family does not know."""

    def skip(self, params: Mapping[str, str]) -> str | None:
        """Why this combination of parameters is not a variant (e.g. a chip the SDK
        version predates), or None."""
        return None

    def resolve(self, request: PackageRequest) -> Resolved:
        """The template values and build files of one build (nothing by default)."""
        return Resolved()


class CpuFamily(ImageFamily):
    name = "cpu"
    base = "debian:bookworm-slim"


class CudaFamily(ImageFamily):
    name = "cuda"
    base = "nvidia/cuda:{cuda}-runtime-ubuntu{os_version}"
    axes = ("cuda",)


def _builtin() -> dict[str, ImageFamily]:
    from harness.images.cann import CannFamily

    return {f.name: f for f in (CannFamily(), CpuFamily(), CudaFamily())}


BUILTIN_NAMES = ("cann", "cpu", "cuda")


@functools.cache
def _plugins() -> dict[str, EntryPoint]:
    return {
        ep.name: ep for ep in plugin_entry_points(ENTRY_POINT_GROUP) if ep.name not in BUILTIN_NAMES
    }


def family_names() -> list[str]:
    """Every family's name (no plugin imported)."""
    return sorted({*BUILTIN_NAMES, *_plugins()})


def family_origins() -> dict[str, str]:
    """name → ``built-in`` or ``<distribution> <version>``."""
    return {
        **{name: "built-in" for name in BUILTIN_NAMES},
        **{name: origin(ep) for name, ep in _plugins().items()},
    }


@functools.cache
def get_family(name: str) -> ImageFamily:
    """The family ``name``; an unknown one is a :class:`ConfigError` with a did-you-mean."""
    if name in BUILTIN_NAMES:
        return _builtin()[name]
    ep = _plugins().get(name)
    if ep is None:
        raise unknown_name(
            "image family", name, family_names(), ENTRY_POINT_GROUP, "SDK families are installed"
        )
    obj = load(ep, "image family")
    family = obj() if isinstance(obj, type) else obj
    if not isinstance(family, ImageFamily):
        raise ConfigError(
            f"image family plugin '{name}' ({ep.value}) is not a "
            "harness.images.families.ImageFamily"
        )
    if family.name != name:
        raise ConfigError(f"image family plugin '{name}' ({ep.value}) calls itself '{family.name}'")
    if not family.base:
        raise ConfigError(f"image family plugin '{name}' ({ep.value}) declares no base image")
    return family
