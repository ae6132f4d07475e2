"""``harness images list|render|build``: the image variants of ``images/matrix.yaml``."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness import settings
from harness.cli.options import json_option
from harness.container_engine import ContainerEngine
from harness.errors import ConfigError
from harness.images.matrix import ImageMatrix, Variant, host_arch, load_matrix
from harness.images.render import BuildSpec, render_variant

images_dir_option = click.option(
    "--images",
    "images_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory with matrix.yaml and the templates (default: $HARNESS_IMAGES or ./images).",
)


def _arches(variant: Variant, arch: str | None) -> list[str]:
    if arch == "all":
        return list(variant.arches)
    return [arch or host_arch()] if (arch or host_arch()) in variant.arches else []


@click.group()
def images() -> None:
    """Image variants: openEuler + CANN for npu, plain bases for cpu and cuda."""


@images.command("list")
@click.argument("patterns", nargs=-1)
@images_dir_option
@json_option
def list_variants(patterns: tuple[str, ...], images_dir: Path | None, as_json: bool) -> None:
    """List image variants matching PATTERNS (id globs, e.g. 'cann8.5*-910b-*')."""
    matrix = load_matrix(images_dir)
    found = matrix.select(list(patterns))
    if as_json:
        data = {
            "variants": [
                {
                    "id": v.id,
                    "backend": v.backend,
                    "family": v.family,
                    "params": dict(v.params),
                    "arches": list(v.arches),
                    "default": v.default,
                }
                for v in found
            ]
        }
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    table = Table(title=f"{len(found)} image variants")
    for col in ("variant", "backend", "arches", "default"):
        table.add_column(col, overflow="fold")
    for v in found:
        table.add_row(v.id, v.backend, ",".join(v.arches), "yes" if v.default else "")
    Console().print(table)


def _specs(
    matrix: ImageMatrix,
    patterns: tuple[str, ...],
    arch: str | None,
    base_image: str | None,
    base_id: str | None,
    cann_packages: Path | None,
) -> list[tuple[Variant, str, BuildSpec]]:
    out = []
    for v in matrix.select(list(patterns)):
        for a in _arches(v, arch):
            spec = render_variant(
                v,
                matrix.directory,
                arch=a,
                base=base_image,
                base_id=base_id,
                cann_packages=cann_packages,
            )
            out.append((v, a, spec))
    if not out:
        raise ConfigError(f"no variant of {' '.join(patterns) or 'the matrix'} builds for {arch}")
    return out


arch_option = click.option(
    "--arch",
    metavar="amd64|arm64|all",
    help="Architecture to render or build (default: this machine's).",
)
base_option = click.option(
    "--base-image",
    metavar="IMAGE",
    help="Build on this local image instead of each variant's registry base (no registry).",
)
cann_option = click.option(
    "--cann-packages",
    "--packages",
    "cann_packages",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Directory with the image family's packages (CANN's .run files, a plugin "
    "family's SDK): copied into the build, not downloaded.",
)


@images.command("render")
@click.argument("patterns", nargs=-1)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write DIR/<variant>[-<arch>]/Dockerfile (default: print them).",
)
@arch_option
@base_option
@cann_option
@images_dir_option
def render_cmd(
    patterns: tuple[str, ...],
    output: Path | None,
    arch: str | None,
    base_image: str | None,
    cann_packages: Path | None,
    images_dir: Path | None,
) -> None:
    """Render the Dockerfiles of the variants matching PATTERNS, with their tags."""
    matrix = load_matrix(images_dir)
    specs = _specs(matrix, patterns, arch, base_image, None, cann_packages)
    for v, a, spec in specs:
        if output is None:
            sys.stdout.write(f"# ---- {v.id} ({a}) -> {spec.tag}\n{spec.dockerfile}\n")
            continue
        name = v.id if arch != "all" else f"{v.id}-{a}"
        dest = output / name / "Dockerfile"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(spec.dockerfile, encoding="utf-8")
        Console(stderr=True).print(f"{escape(str(dest))}  {spec.tag}", highlight=False)


@images.command("build")
@click.argument("patterns", nargs=-1)
@arch_option
@base_option
@cann_option
@click.option(
    "--network",
    metavar="MODE",
    envvar=settings.DOCKER_NETWORK.name,
    help="Network mode for the builds (e.g. host where the daemon has no bridge). "
    "Env: HARNESS_DOCKER_NETWORK.",
)
@images_dir_option
@json_option
def build_cmd(
    patterns: tuple[str, ...],
    arch: str | None,
    base_image: str | None,
    cann_packages: Path | None,
    network: str | None,
    images_dir: Path | None,
    as_json: bool,
) -> None:
    """Build the variants matching PATTERNS with the local engine; an image whose tag
    (a content hash) exists is not rebuilt. A failed build names its step and shows the
    end of its log."""
    if not patterns:
        raise ConfigError("name the variants to build (e.g. 'debian12-*'); all would be many")
    matrix = load_matrix(images_dir)
    engine = ContainerEngine()
    base_id = None
    if base_image:
        base_id = engine.image_id(base_image)
        if base_id is None:
            raise ConfigError(f"--base-image {base_image} is not a local image")
    specs = _specs(matrix, patterns, arch, base_image, base_id, cann_packages)
    console = Console(stderr=True)
    done: list[dict[str, Any]] = []
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        for v, a, rendered in specs:
            spec = replace(rendered, network_mode=network)
            task = progress.add_task(f"{v.id} ({a})")

            def show(line: str, task: Any = task, v: Variant = v) -> None:
                progress.update(task, description=f"{v.id}: {escape(line[:100])}")

            image_id, built = engine.build(spec, show)
            progress.remove_task(task)
            done.append(
                {"variant": v.id, "arch": a, "tag": spec.tag, "id": image_id, "built": built}
            )
            state = "built" if built else "up to date"
            console.print(f"[green]{state}[/] {v.id} ({a}) {spec.tag}", highlight=False)
    if as_json:
        json.dump({"images": done}, sys.stdout, indent=2)
        sys.stdout.write("\n")
