"""Plan a job: expand suites, backends and variants into cells, select, and keep the
cells the chosen executor runs.

A cell's variant is ``host`` (the local executor: a virtualenv on this machine) or an
image variant of ``images/matrix.yaml`` (the docker executor: containers from that
image); which kind an executor runs is its declared ``cells`` capability. A backend
recipe's ``image.variants`` names its variants; without it the backend's default variants
apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.config.suite import Suite
from harness.errors import ConfigError
from harness.executors.registry import executor_entry
from harness.images.matrix import MATRIX_FILE, ImageMatrix, default_images_dir, load_matrix
from harness.matrix import HOST_VARIANT, Cell, expand


def image_matrix(images_dir: Path | None = None) -> ImageMatrix | None:
    """The image matrix, or ``None`` when there is no ``matrix.yaml`` (host cells only)."""
    directory = images_dir or default_images_dir()
    if not (directory / MATRIX_FILE).is_file():
        return None
    return load_matrix(directory)


def image_cells(suites: Mapping[str, Suite], matrix: ImageMatrix) -> list[Cell]:
    cells: list[Cell] = []
    for name, suite in suites.items():
        for backend, recipe in suite.backends.items():
            patterns = recipe.image.variants if recipe.image else []
            variants = matrix.for_backend(backend, patterns)
            if patterns and not variants:
                raise ConfigError(
                    f"suite '{name}', backend '{backend}': image.variants "
                    f"{', '.join(patterns)} match no variant of {backend} in the image matrix",
                    hint="`harness images list` shows them",
                )
            cells += [Cell(name, backend, v.id) for v in variants]
    return cells


def all_cells(suites: Mapping[str, Suite], matrix: ImageMatrix | None) -> list[Cell]:
    """Every cell: the host cells and, with an image matrix, the image cells; sorted."""
    cells = expand(suites)
    if matrix is not None:
        cells += image_cells(suites, matrix)
    return sorted(set(cells))


def for_executor(cells: Sequence[Cell], executor: str) -> list[Cell]:
    """The selected cells ``executor`` runs: host cells locally, image cells in containers.

    A selection that holds only the other kind is a :class:`ConfigError` saying which
    executor runs them.
    """
    runs_host = executor_entry(executor).capabilities.cells == "host"
    host = [c for c in cells if c.variant == HOST_VARIANT]
    images = [c for c in cells if c.variant != HOST_VARIANT]
    chosen = host if runs_host else images
    if not chosen and cells:
        other = "docker" if runs_host else "local"
        raise ConfigError(
            f"the selected cells ({', '.join(c.id for c in cells[:5])}) do not run with "
            f"--executor {executor}",
            hint=f"use --executor {other}, or select "
            + ("host cells" if runs_host else "an image variant (harness matrix list)"),
        )
    return chosen
