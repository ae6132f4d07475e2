"""The image variants of ``images/matrix.yaml``: families expanded into readable ids.

A family names a template and its parameters; list-valued parameters expand as a product
(minus ``exclude``), like Ascend's own ``build_cann_arg.json``. ``family:`` is a name of
the image family registry (:mod:`harness.images.families`: the built-in cann, cpu and
cuda, and plugins'), which knows the family's base image, its own parameter lists, its
variant ids and its packages. Each variant knows the
backend it serves, the architectures it builds for and whether it is a default (the
variant a suite's backend runs on when its recipe names none).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from harness.config.loader import load_document
from harness.errors import ConfigError
from harness.images.families import ImageFamily, get_family
from harness.matrix import matches_any

MATRIX_FILE = "matrix.yaml"
ARCHES = {"amd64": "x86_64", "arm64": "aarch64"}


def _listify(v: Any) -> Any:
    if v is None:
        return v
    return [str(x) for x in v] if isinstance(v, list) else [str(v)]


def _family(name: str) -> ImageFamily:
    """The registered family ``name``, as a validation error (located) when unknown."""
    try:
        return get_family(name)
    except ConfigError as exc:
        raise ValueError(f"{exc.message} ({exc.hint})" if exc.hint else exc.message) from None


class Family(BaseModel):
    """One entry of ``families:``; keys beyond these are the parameter lists a plugin
    family declares (its ``axes``)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    family: str = Field(description="An image family: cann, cpu, cuda or a plugin's.")
    backend: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    template: str = Field(description="A template file in images/.")
    os: str = Field(pattern=r"^(openeuler|debian|ubuntu)$")
    os_version: list[str] = Field(min_length=1)
    python: list[str] = Field(min_length=1)
    arch: list[str] = Field(default_factory=lambda: ["amd64", "arm64"])
    cann: list[str] = Field(default_factory=list)
    chip: list[str] = Field(default_factory=list)
    cuda: list[str] = Field(default_factory=list)
    base: str | None = Field(default=None, description="FROM image of the first stage.")
    exclude: list[dict[str, str]] = Field(default_factory=list)
    default: list[dict[str, str]] = Field(default_factory=list)

    @field_validator("family")
    @classmethod
    def _registered(cls, v: str) -> str:
        _family(v)
        return v

    @field_validator("os_version", "python", "arch", "cann", "chip", "cuda", mode="before")
    @classmethod
    def _as_lists(cls, v: Any) -> Any:
        return _listify(v)

    @model_validator(mode="after")
    def _family_axes(self) -> Family:
        """Keys of the family's own parameter lists (a plugin family's axes) become string
        lists; any other unknown key is an error."""
        if "family" not in self.__dict__:  # reported by the field
            return self
        axes = _family(self.family).axes
        extra = self.__pydantic_extra__ or {}
        for key, value in extra.items():
            if key not in axes:
                known = ", ".join(a for a in axes if a not in type(self).model_fields)
                raise ValueError(
                    f"unknown key '{key}' (family {self.family} adds "
                    f"{known or 'no parameter lists'})"
                )
            if not isinstance(value, (list, str, int, float)):
                raise ValueError(f"'{key}' is a list of values")
            extra[key] = _listify(value)
            _family(self.family).check_axis(key, extra[key])
        return self

    def axis(self, name: str) -> list[str]:
        """The values of parameter list ``name`` (typed or a plugin family's)."""
        if name in type(self).model_fields:
            return list(getattr(self, name))
        return list((self.__pydantic_extra__ or {}).get(name, []))

    @field_validator("exclude", "default", mode="before")
    @classmethod
    def _str_values(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [
                {str(k): str(x) for k, x in item.items()} if isinstance(item, dict) else item
                for item in v
            ]
        return v

    @field_validator("arch")
    @classmethod
    def _arches(cls, v: list[str]) -> list[str]:
        for a in v:
            if a not in ARCHES:
                raise ValueError(f"unknown arch {a!r}: one of {', '.join(ARCHES)}")
        return v

    @field_validator("cann", "chip", "cuda")
    @classmethod
    def _family_values(cls, v: list[str], info: ValidationInfo) -> list[str]:
        family = info.data.get("family")
        if family is not None and info.field_name is not None:
            _family(family).check_axis(info.field_name, v)
        return v


class MatrixFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    python_versions: dict[str, str] = Field(default_factory=dict)
    cann_mirror: str = "https://ascend-repo.obs.cn-east-2.myhuaweicloud.com"
    families: list[Family] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class Variant:
    """One image variant: a family with every parameter fixed but the architecture."""

    family: str
    backend: str
    template: str
    params: Mapping[str, str]
    arches: tuple[str, ...]
    default: bool = False
    base: str | None = None
    python_full: str | None = None
    cann_mirror: str | None = None
    #: ``images/matrix.yaml:LINE`` of the family
    source: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return get_family(self.family).variant_id(self.params)

    def __str__(self) -> str:
        return self.id


@dataclass(frozen=True, slots=True)
class ImageMatrix:
    directory: Path
    variants: tuple[Variant, ...]

    def by_id(self, variant_id: str) -> Variant:
        for v in self.variants:
            if v.id == variant_id:
                return v
        raise ConfigError(
            f"no image variant '{variant_id}' in {self.directory / MATRIX_FILE}",
            hint="`harness images list` shows them",
        )

    def for_backend(self, backend: str, patterns: Sequence[str] = ()) -> list[Variant]:
        """The backend's variants matching ``patterns`` (id globs); no patterns: its
        defaults."""
        mine = [v for v in self.variants if v.backend == backend]
        if not patterns:
            return [v for v in mine if v.default]
        return [v for v in mine if matches_any(v.id, list(patterns))]

    def select(self, patterns: Sequence[str]) -> list[Variant]:
        if not patterns:
            return list(self.variants)
        found = [v for v in self.variants if matches_any(v.id, list(patterns))]
        if not found:
            raise ConfigError(
                f"no image variant matches {' '.join(patterns)}",
                hint="`harness images list` shows the variants",
            )
        return found


def default_images_dir() -> Path:
    """``$HARNESS_IMAGES``, else ``./images``, else the one beside the package."""
    from harness import settings

    env = settings.IMAGES.get()
    if env is not None:
        return env
    here = Path("images")
    if (here / MATRIX_FILE).is_file():
        return here
    return Path(__file__).resolve().parents[2] / "images"


def load_matrix(directory: Path | None = None) -> ImageMatrix:
    """Read and expand ``DIRECTORY/matrix.yaml``; :class:`ConfigError` naming file, line and
    key for a bad file."""
    directory = directory or default_images_dir()
    path = directory / MATRIX_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the image matrix: {exc.strerror}") from exc
    doc, parsed = load_document(path, text, MatrixFile, "the image matrix is a mapping")
    variants: list[Variant] = []
    seen: dict[str, str] = {}
    for i, fam in enumerate(parsed.families):
        where = doc.where(("families", i))
        own = get_family(fam.family).templates  # the family's, if the directory lacks it
        if not any((d / fam.template).is_file() for d in (directory, own) if d is not None):
            raise ConfigError(f"{doc.where(('families', i, 'template'))}: no template "
                              f"'{fam.template}' in {directory}")  # fmt: skip
        for v in expand_family(fam, parsed, where):
            if v.id in seen:
                raise ConfigError(f"{where}: variant '{v.id}' is also defined at {seen[v.id]}")
            seen[v.id] = where
            variants.append(v)
    return ImageMatrix(directory, tuple(variants))


_TYPED_AXES = ("cann", "chip", "cuda")


def expand_family(fam: Family, matrix: MatrixFile, where: str) -> Iterable[Variant]:
    family = get_family(fam.family)
    own = [a for a in family.axes if a not in _TYPED_AXES]
    order = ["os_version", *_TYPED_AXES, *own, "python"]
    axes = [(name, fam.axis(name)) for name in order if fam.axis(name)]
    missing = [a for a in family.axes if not fam.axis(a)]
    if missing:
        lists = " and ".join(f"'{a}'" for a in family.axes)
        what = f"a {lists} list" if len(family.axes) == 1 else f"{lists} lists"
        raise ConfigError(f"{where}: a {fam.family} family needs {what}")
    names = [n for n, _ in axes]
    for unknown in {k for rule in [*fam.exclude, *fam.default] for k in rule} - set(names):
        raise ConfigError(f"{where}: exclude/default key '{unknown}' is not one of {names}")
    for combo in itertools.product(*(values for _, values in axes)):
        params = dict(zip(names, combo, strict=True))
        if any(all(params.get(k) == x for k, x in rule.items()) for rule in fam.exclude):
            continue
        if family.skip(params):
            continue  # e.g. a chip the CANN version predates: not a variant
        full = matrix.python_versions.get(params["python"])
        if fam.os == "openeuler" and full is None:
            raise ConfigError(
                f"{where}: python {params['python']} has no entry in python_versions "
                "(the openEuler images build Python from source)"
            )
        default = any(all(params.get(k) == x for k, x in rule.items()) for rule in fam.default)
        yield Variant(
            family=fam.family,
            backend=fam.backend,
            template=fam.template,
            params={"os": fam.os, **params},
            arches=tuple(fam.arch),
            default=default,
            base=fam.base,
            python_full=full,
            cann_mirror=matrix.cann_mirror,
            source=where,
        )


def host_arch() -> str:
    """The docker architecture name of this machine (amd64, arm64)."""
    import platform

    machine = platform.machine().lower()
    for name, uname in ARCHES.items():
        if machine in (name, uname):
            return name
    raise ConfigError(f"unsupported machine architecture '{machine}'")


def valid_variant_id(text: str) -> bool:
    return re.fullmatch(r"[a-z0-9][a-z0-9._-]*", text) is not None
