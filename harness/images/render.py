"""Render image variants and suite layers into Dockerfiles with content-hash tags.

A :class:`BuildSpec` is everything a build needs: the rendered Dockerfile, the files of
its build context and the repository name. Its tag is a hash of all of that (and of the
base image's id when the base is a local image), so an unchanged build is a no-op and a
changed template, package list or base rebuilds exactly what it affects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from harness import settings
from harness.errors import ConfigError
from harness.images.families import ImageFamily, PackageRequest, get_family
from harness.images.matrix import ARCHES, Variant

SUITE_LAYER_TEMPLATE = "suite-layer.Dockerfile.j2"
PACKAGE_MANAGERS = {"openeuler": "yum", "debian": "apt", "ubuntu": "apt"}
#: The unprivileged user cell steps run as in containers: a uid of their own, which owns
#: nothing on the host (``HARNESS_DOCKER_USER=UID:GID`` chooses another).
CELL_UID = 61000
CELL_GID = 61000


def cell_user() -> tuple[int, int]:
    """(uid, gid) cell steps run as in containers: never root, never the harness's own
    user (containers share no writable directory with the host: see
    harness/executors/workspace.py)."""
    return settings.DOCKER_USER.get() or (CELL_UID, CELL_GID)


HASH_CHARS = 16


@dataclass(frozen=True, slots=True)
class BuildSpec:
    """One image to build: Dockerfile text, context files and a content-hash tag."""

    repository: str
    dockerfile: str
    #: path inside the build context → file on this machine
    context: Mapping[str, Path] = field(default_factory=dict)
    #: inputs that change the image without showing in the Dockerfile (a local base's id)
    inputs: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    #: run the build with network ("host" where the daemon has no bridge); None: default
    network_mode: str | None = None

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        h.update(self.dockerfile.encode())
        for name in sorted(self.inputs):
            h.update(f"\0input {name}={self.inputs[name]}".encode())
        for rel in sorted(self.context):
            h.update(f"\0file {rel}\0".encode())
            with self.context[rel].open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        return h.hexdigest()

    @property
    def tag(self) -> str:
        return f"{self.repository}:{self.digest[:HASH_CHARS]}"


def _environment(directory: Path, family: ImageFamily | None = None) -> jinja2.Environment:
    search = [str(directory)]
    if family is not None and family.templates is not None:
        search.append(str(family.templates))  # the images directory's files win
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(search),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # Dockerfiles, not HTML
    )


def _render(
    directory: Path, template: str, values: Mapping[str, object], family: ImageFamily | None = None
) -> str:
    try:
        env = _environment(directory, family)
        return env.get_template(template).render(**values)
    except jinja2.TemplateError as exc:
        where = f"{directory / template}"
        line = getattr(exc, "lineno", None)
        raise ConfigError(f"{where}{f':{line}' if line else ''}: {exc}") from exc


def render_template(directory: Path, template: str, values: Mapping[str, object]) -> str:
    """``template`` from the images directory ``directory``, rendered with ``values``."""
    return _render(directory, template, values)


def base_image(variant: Variant) -> str:
    """The variant's first FROM: the matrix's ``base``, else its family's."""
    if variant.base:
        return variant.base
    return get_family(variant.family).base.format(**variant.params)


def render_variant(
    variant: Variant,
    directory: Path,
    *,
    arch: str,
    base: str | None = None,
    base_id: str | None = None,
    cann_packages: Path | None = None,
    cann_mirror: str | None = None,
) -> BuildSpec:
    """The build of ``variant`` for ``arch``.

    ``base`` replaces the variant's base image (a local image when no registry is
    reachable; ``base_id`` is then its image id, part of the tag). ``cann_packages`` is
    a directory holding the family's packages (CANN's ``.run`` files: copied into the
    build instead of downloaded); ``cann_mirror`` replaces the download mirror. What the
    template gets beyond the variant's parameters is the family's
    (:meth:`~harness.images.families.ImageFamily.resolve`).
    """
    if arch not in variant.arches:
        built = ", ".join(variant.arches)
        raise ConfigError(f"variant {variant.id} is not built for {arch} ({built})")
    p = variant.params
    values: dict[str, object] = {
        **p,
        "variant_id": variant.id,
        "template": variant.template,
        "arch": arch,
        "uname_arch": ARCHES[arch],
        "base": base or base_image(variant),
        "python_full": variant.python_full or p["python"],
    }
    family = get_family(variant.family)
    resolved = family.resolve(
        PackageRequest(variant, arch, dict(values), packages_dir=cann_packages, mirror=cann_mirror)
    )
    values.update(resolved.values)
    context = dict(resolved.files)
    text = _render(directory, variant.template, values, family)
    inputs = {"arch": arch}
    if base_id:
        inputs["base_id"] = base_id
    return BuildSpec(
        repository=f"harness/{variant.id}",
        dockerfile=text,
        context=context,
        inputs=inputs,
        labels={
            "org.accel-harness.variant": variant.id,
            "org.accel-harness.backend": variant.backend,
            "org.accel-harness.arch": arch,
        },
    )


def render_suite_layer(
    suite: str,
    variant: Variant,
    directory: Path,
    *,
    base_tag: str,
    packages: Sequence[str] = (),
    uv: Path | None = None,
) -> BuildSpec:
    """The suite's layer on the variant image ``base_tag`` (see the template). ``uv`` is
    a uv executable for the image's architecture (the harness's own, when the image is
    for this machine's): copied in as ``/opt/harness/bin/uv`` from this machine, so the
    build needs no network for it and cells install with the uv version local cells use."""
    values = {
        "suite": suite,
        "variant_id": variant.id,
        "template": SUITE_LAYER_TEMPLATE,
        "base": base_tag,
        "packages": sorted(set(packages)),
        "package_manager": PACKAGE_MANAGERS[variant.params["os"]],
        "uid": cell_user()[0],
        "gid": cell_user()[1],
        "uv": uv is not None,
    }
    text = _render(directory, SUITE_LAYER_TEMPLATE, values)
    return BuildSpec(
        repository=f"harness/{suite}-{variant.id}",
        dockerfile=text,
        context={"uv": uv} if uv is not None else {},
        labels={"org.accel-harness.suite": suite, "org.accel-harness.variant": variant.id},
    )
