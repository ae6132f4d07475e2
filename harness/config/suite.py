"""Typed model of a suite recipe (``suites/<name>.yaml``).

A suite says where an upstream lives and, per backend, how to set up, build and test it
and which result files its test steps write. The model is strict: unknown keys are errors
(with a "did you mean" hint, see :mod:`harness.config.loader`), and the JSON Schema in
``harness/config/suite.schema.json`` is generated from it (``harness schema``).
"""

from __future__ import annotations

import difflib
import posixpath
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.config.templating import KNOWN_VARIABLES, unknown_variables

NAME_RE = r"^[a-z0-9][a-z0-9._-]*$"
_DURATION_RE = re.compile(r"^\s*(?:(\d{1,9})h)?\s*(?:(\d{1,9})m)?\s*(?:(\d{1,9})s?)?\s*$")
#: the longest duration a setting may name (a step, a deadline): 30 days
MAX_DURATION_S = 30 * 86400.0


def parse_duration(value: Any) -> float:
    """Seconds from ``90``, ``"90s"``, ``"30m"``, ``"1h30m"``."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '30m' or '1h30m'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip() and (m := _DURATION_RE.match(value)):
        hours, minutes, secs = (int(g) if g else 0 for g in m.groups())
        seconds = float(hours * 3600 + minutes * 60 + secs)
    else:
        raise ValueError(
            f"invalid duration {value!r}: use seconds (600) or a string like '90s', '30m', '1h30m'"
        )
    if not seconds > 0:  # NaN too
        raise ValueError("a duration must be a positive number")
    if seconds > MAX_DURATION_S:  # inf too
        raise ValueError(f"a duration must be at most 30 days ({MAX_DURATION_S:.0f} s)")
    return seconds


Installer = Literal["uv", "pip"]
Duration = Annotated[float, Field(json_schema_extra={"examples": [600, "30m", "1h30m"]})]


def _inside(path: str, root: str) -> str:
    """``path`` unchanged if it stays inside ``root`` (relative, no ``..``)."""
    if path.startswith("/") or ".." in path.split("/"):
        raise ValueError(f"must be relative to {root}, without '..'")
    return path


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=False, allow_inf_nan=False
    )


class Phase(StrEnum):
    SETUP = "setup"
    BUILD = "build"
    TEST = "test"


class ResultFile(_Strict):
    """A file a test step writes, relative to the results directory (``{results_dir}``)."""

    path: str = Field(description="Path relative to the results directory; globs allowed.")
    format: str = Field(
        default="junit",
        description="Parser name: junit (pytest xunit1/xunit2), ctest-junit, gtest-xml, opencv-ts "
        "(gtest XML of OpenCV's ts with its console log NAME.log for skips), "
        "test-backend-ops (llama.cpp console output), test-backend-ops-csv, test-backend-ops-sql, "
        "or a plugin's format (the harness.result_formats entry points)",
    )
    optional: bool = Field(
        default=False,
        description="When true, a missing file is not an infrastructure error.",
    )

    @field_validator("path")
    @classmethod
    def _relative(cls, v: str) -> str:
        return _inside(v, "the results directory")

    @field_validator("format")
    @classmethod
    def _known_format(cls, v: str) -> str:
        from harness.results import ENTRY_POINT_GROUP, format_names  # no import of config

        known = format_names()
        if v not in known:
            close = difflib.get_close_matches(v, known, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ValueError(
                f"unknown result format '{v}'; {hint}known: {', '.join(known)} (more come "
                f"from packages registering the '{ENTRY_POINT_GROUP}' entry point)"
            )
        return v


class Step(_Strict):
    """One shell command run with ``bash -eo pipefail`` in the source tree."""

    name: str = Field(pattern=NAME_RE, description="Short id, used for the log file name.")
    run: str = Field(
        description="Shell script. Variables: " + ", ".join(f"{{{v}}}" for v in KNOWN_VARIABLES)
    )
    timeout: Duration = Field(default=1800.0, description="Seconds, or '30m', '1h30m'.")
    env: dict[str, str] = Field(default_factory=dict)
    workdir: str = Field(default=".", description="Directory relative to the source root.")
    network: bool | None = Field(
        default=None,
        description="Whether the step needs network. Default: true for setup/build, false "
        "for test. Containerized executors enforce it.",
    )
    results: list[ResultFile] = Field(
        default_factory=list, description="Result files this step writes (test steps)."
    )

    @field_validator("timeout", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float:
        return parse_duration(v)

    @field_validator("run")
    @classmethod
    def _variables(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        bad = unknown_variables(v)
        if bad:
            raise ValueError(bad)
        return v

    @field_validator("env")
    @classmethod
    def _env_names(cls, v: dict[str, str]) -> dict[str, str]:
        for key in v:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
                raise ValueError(f"{key!r} is not a valid environment variable name")
        return v

    @field_validator("workdir")
    @classmethod
    def _workdir(cls, v: str) -> str:
        return _inside(v, "the source root")

    def needs_network(self, phase: Phase) -> bool:
        if self.network is not None:
            return self.network
        return phase is not Phase.TEST


class ImageSpec(_Strict):
    """What the ``docker`` executor runs this backend's cells on."""

    variants: list[str] = Field(
        default_factory=list,
        description="Image variant id globs from images/matrix.yaml "
        "(cann8.5.0-910b-*); default: the backend's default variants.",
    )
    packages: list[str] = Field(
        default_factory=list,
        description="System packages (the variant's package manager) in the suite's layer.",
    )

    @field_validator("packages")
    @classmethod
    def _package_names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not re.match(r"^[A-Za-z0-9][A-Za-z0-9.+_:=-]*$", name):
                raise ValueError(f"{name!r} is not a package name")
        return v


class BackendRecipe(_Strict):
    """The steps for one backend (``cpu``, ``npu``, ``cuda`` or a plugin's name)."""

    env: dict[str, str] = Field(default_factory=dict)
    image: ImageSpec | None = Field(
        default=None, description="Image variants and system packages for containerized runs."
    )
    setup: list[Step] = Field(
        default_factory=list,
        description="Dependency installs into the cell's environment; skipped while the "
        "environment for the same dependency hash is already built.",
    )
    build: list[Step] = Field(default_factory=list, description="Build the checked-out source.")
    test: list[Step] = Field(min_length=1, description="Test steps; each declares results.")
    dependency_files: list[str] = Field(
        default_factory=list,
        description="Files of the upstream (e.g. requirements.txt) hashed into the "
        "environment key, in addition to the suite-level list.",
    )
    installer: Installer | None = Field(
        default=None, description="What {pip} runs for this backend; default: the suite's."
    )

    @model_validator(mode="after")
    def _test_steps_have_results(self) -> BackendRecipe:
        for i, step in enumerate(self.test):
            if not step.results:
                raise ValueError(
                    f"test[{i}] ({step.name}) declares no results: a test step must name the "
                    "result files it writes"
                )
        return self


class Upstream(_Strict):
    repo: str = Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", description="owner/name")
    url: str | None = Field(default=None, description="Clone URL; default GitHub's.")
    default_branch: str = Field(default="main")

    @property
    def clone_url(self) -> str:
        return self.url or f"https://github.com/{self.repo}.git"


class Companion(Upstream):
    """Another repository a cell needs beside the upstream (OpenCV: opencv + opencv_contrib,
    opencv_extra test data), checked out to ``{repos_dir}/<name>``."""

    name: str = Field(pattern=NAME_RE, description="Directory name under {repos_dir}.")
    pair_branch: bool = Field(
        default=True,
        description="For a pull request, use the branch of the same name when the PR author's "
        "fork (or this repository) has one, as OpenCV's CI pairs opencv/opencv_contrib PRs.",
    )
    optional: bool = Field(
        default=False, description="When true, a failed checkout is a note, not an error."
    )


class Subset(_Strict):
    args: str = Field(description="Extra arguments for the test command, as {args}.")
    description: str = ""


#: ``{path:NAME}`` in selection arguments: the alternative of ``paths.NAME`` chosen at the
#: tested commit
PATH_REF_RE = re.compile(r"\{path:([^{}\s]*)\}")
_PATH_NAME_RE = r"^[a-z0-9][a-z0-9_-]*$"
_SHA_RE = r"^[0-9a-f]{7,40}$"


def path_refs(args: str) -> list[str]:
    """The ``NAME`` of every ``{path:NAME}`` in ``args``, in order."""
    return [m.group(1) for m in PATH_REF_RE.finditer(args)]


def undeclared_message(name: str, declared: Any) -> str:
    """``{path:NAME}`` names no declared path: what the error says."""
    known = ", ".join(sorted(declared)) or "none"
    close = difflib.get_close_matches(name, list(declared), n=1)
    hint = f"did you mean '{{path:{close[0]}}}'? " if close else ""
    return f"'{{path:{name}}}' names no entry of 'paths'; {hint}declared: {known}"


class PathAlternative(_Strict):
    """One place a test path may be at a commit. It is chosen when it exists there and its
    commit conditions hold."""

    path: str = Field(
        description="Path relative to the declaration's 'under' directory, as the test "
        "command takes it ('..' allowed while it stays inside the source tree)."
    )
    since: str | None = Field(
        default=None,
        pattern=_SHA_RE,
        description="Only at commits that contain this commit (hex SHA, 7 to 40 digits): "
        "e.g. the upstream commit that moved the tests here.",
    )
    before: str | None = Field(
        default=None,
        pattern=_SHA_RE,
        description="Only at commits that do not contain this commit (hex SHA).",
    )

    @field_validator("path")
    @classmethod
    def _relative(cls, v: str) -> str:
        if not v.strip() or v.startswith("/") or any(ch.isspace() for ch in v):
            raise ValueError("must be a relative path without spaces")
        return v


class DeclaredPath(_Strict):
    """A test path that moved upstream: the alternatives, in order of preference. The first
    that exists at the tested commit (and whose commit conditions hold) replaces
    ``{path:NAME}`` in the selection arguments; the choice is recorded in the run."""

    under: str = Field(
        default=".",
        description="Directory (relative to the source root) the alternatives are relative "
        "to: the test step's workdir.",
    )
    alternatives: list[PathAlternative] = Field(
        min_length=1, description="Candidates, most preferred first; a string is a path."
    )
    description: str = ""

    @field_validator("under")
    @classmethod
    def _under(cls, v: str) -> str:
        return _inside(v, "the source root")

    @field_validator("alternatives", mode="before")
    @classmethod
    def _strings_are_paths(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"path": a} if isinstance(a, str) else a for a in v]
        return v

    @model_validator(mode="after")
    def _inside_source(self) -> DeclaredPath:
        for alt in self.alternatives:
            joined = posixpath.normpath(posixpath.join(self.under, alt.path))
            if joined == ".." or joined.startswith("../"):
                raise ValueError(f"alternative '{alt.path}' leaves the source tree")
        return self


class KnownFailure(_Strict):
    tests: list[str] = Field(min_length=1, description="Test id globs.")
    reason: str = Field(min_length=1)
    cells: list[str] = Field(
        default_factory=lambda: ["*"], description="Cell patterns this applies to."
    )
    link: str | None = None

    @field_validator("tests", "cells", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class StackVersions(_Strict):
    """Where the versions of a stack component come from (for bisecting across them)."""

    wheels: str | None = Field(
        default=None,
        description="A folder of wheels: the versions are those of the component's package "
        "found there (file names), sorted by version. `~` and $VARIABLES are expanded.",
    )
    index: str | None = Field(
        default=None,
        description="A package index (PEP 503/691 simple API, e.g. "
        "https://download.pytorch.org/whl/nightly/cpu): the versions of the package it lists.",
    )
    images: bool = Field(
        default=False,
        description="The image variants of images/matrix.yaml: the component's version is "
        "the cell's image variant id, and a probe of another version runs the cell on that "
        "variant (an executor running image cells, e.g. docker). The versions searched are "
        "the variants of the same family that differ from the bad run's only in the one "
        "parameter in which the good and the bad variant differ (e.g. cann), in the "
        "matrix's order.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> StackVersions:
        given = [n for n in ("wheels", "index") if getattr(self, n)] + (
            ["images"] if self.images else []
        )
        if len(given) != 1:
            raise ValueError("name exactly one of wheels, index, images")
        return self


class StackComponent(_Strict):
    """One declared dimension of the software stack (torch, torch_npu, CANN, the image):
    how a run chooses its version, where versions come from, what records it."""

    variable: str | None = Field(
        default=None,
        pattern=r"^[A-Z][A-Z0-9_]*$",
        description="The environment variable the recipe's setup reads to choose the "
        "version (e.g. HARNESS_TORCH_PACKAGES in `${HARNESS_TORCH_PACKAGES:-torch}`); "
        "`harness run --stack NAME=VERSION` sets it to `spec` for that run. Required but "
        "for the image component (`versions: {images: true}`), whose version is the "
        "cell's image variant.",
    )
    package: str | None = Field(
        default=None,
        description="The distribution whose version this is (default: the component's name).",
    )
    spec: str = Field(
        default="{package}=={version}",
        description="What a pin sets `variable` to; {package} and {version} are replaced, "
        "e.g. 'torch=={version} torchvision'.",
    )
    default: str = Field(
        default="",
        description="What the recipe uses when nothing is pinned (its `${VAR:-default}`), "
        "for the record.",
    )
    fingerprint: str | None = Field(
        default=None,
        description="Where a run's fingerprint records the version: `packages.NAME` (an "
        "installed distribution of the cell's Python), `image.KEY` (a key of the run's "
        "image record: variant, tag, digest) or a stack key (driver, sdk, image, "
        "device_plugin, torch). Default: packages.<package>; image.variant for the image "
        "component. A pinned version is also recorded under the fingerprint's `stack`.",
    )
    versions: StackVersions | None = Field(
        default=None, description="Where the versions to bisect across come from."
    )

    @field_validator("spec")
    @classmethod
    def _spec_names_version(cls, v: str) -> str:
        if "{version}" not in v:
            raise ValueError("spec must contain {version}")
        return v

    @property
    def is_image(self) -> bool:
        """Whether this component is the image variant (``versions: {images: true}``)."""
        return self.versions is not None and self.versions.images

    @model_validator(mode="after")
    def _variable_unless_image(self) -> StackComponent:
        if self.is_image:
            if self.variable is not None:
                raise ValueError(
                    "the image component takes no variable: a probe of another version "
                    "runs the cell on that image variant"
                )
        elif self.variable is None:
            raise ValueError("variable is required (the environment variable choosing it)")
        return self


class Suite(_Strict):
    """A recipe for testing one upstream project on one or more backends."""

    name: str = Field(pattern=NAME_RE)
    description: str = ""
    upstream: Upstream
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Defaults for every step. The operator's own value of a name (the host "
        "environment a step may see, --pass-env) overrides it, unless env_pinned names it. "
        "Backend and step env are defaults in the same way.",
    )
    env_pinned: list[str] = Field(
        default_factory=list,
        description="The names of this suite's env (suite, backend or step level) whose "
        "values the operator cannot override: the ones the upstream's tests depend on, not "
        "knobs. Every name must be set by one of those env maps.",
    )
    dependency_files: list[str] = Field(default_factory=list)
    python: str = Field(
        default="python3", description="Interpreter used to create the cell's virtualenv."
    )
    installer: Installer = Field(
        default="uv",
        description="What {pip} in a step runs: `uv` (`uv pip`, the harness's uv, with the "
        "operator's pip settings carried over) or `pip` (`python -m pip`). `python -m pip` "
        "in a step is pip whatever this says (environments are created with pip in them).",
    )
    resolve_as_of: str = Field(
        default="none",
        description="Resolve dependencies as of a moment (uv's --exclude-newer): `commit` "
        "(the tested commit's committer date), `none`, or a date/time (2025-06-01, "
        "2025-06-01T12:00:00Z). Needs installer uv. harness run --resolve-as-of overrides it.",
    )
    companions: list[Companion] = Field(
        default_factory=list,
        description="More repositories checked out for every cell, under {repos_dir}.",
    )
    backends: dict[str, BackendRecipe] = Field(min_length=1)
    paths: dict[str, DeclaredPath] = Field(
        default_factory=dict,
        description="Test paths that moved upstream, by name: '{path:NAME}' in default_args, "
        "a subset's args or --test-args becomes the first alternative present at the tested "
        "commit (recorded in the run); none present is an error naming them all.",
    )
    stack: dict[str, StackComponent] = Field(
        default_factory=dict,
        description="The stack's declared dimensions by name (torch, torch_npu, cann, image): "
        "`harness run --stack NAME=VERSION` pins one; `harness bisect CELL --stack` bisects "
        "across them. Undeclared, the recipe's knobs (HARNESS_TORCH_PACKAGES, ...) work as before.",
    )
    default_args: str = Field(default="", description="{args} when no subset is chosen.")
    subsets: dict[str, Subset] = Field(default_factory=dict)
    known_failures: list[KnownFailure] = Field(default_factory=list)
    reruns: int = Field(
        default=0,
        ge=0,
        le=10,
        description="Times a failed test is re-run in the same environment after the test "
        "steps (pytest and googletest results); one that then passes is flaky, not broken. "
        "harness run --reruns overrides it.",
    )
    egress: list[str] = Field(
        default_factory=list,
        description="Host names (pypi.org, *.example.org) that steps of untrusted code "
        "needing network may reach through the egress proxy, besides the package indexes "
        "of the pip/uv settings (a model hub, the PyTorch wheel index).",
    )
    schema_: str | None = Field(default=None, alias="$schema", exclude=True)

    @field_validator("resolve_as_of")
    @classmethod
    def _as_of(cls, v: str) -> str:
        if v not in ("commit", "none"):
            from harness.executors.installer import parse_as_of

            try:
                parse_as_of(v)
            except Exception as exc:
                raise ValueError(str(exc)) from None
        return v

    @field_validator("stack")
    @classmethod
    def _stack_names(cls, v: dict[str, StackComponent]) -> dict[str, StackComponent]:
        for name in v:
            if not re.match(r"^[a-z0-9][a-z0-9_.-]*$", name):
                raise ValueError(f"stack component '{name}': use lowercase letters, digits, _.-")
        images = [name for name, comp in v.items() if comp.is_image]
        if len(images) > 1:
            raise ValueError(
                f"{' and '.join(images)} both take their versions from the images: a cell "
                "has one image variant, declare one image component"
            )
        return v

    @property
    def image_component(self) -> str | None:
        """The stack component whose version is the cell's image variant, if declared."""
        return next((name for name, comp in self.stack.items() if comp.is_image), None)

    @field_validator("egress")
    @classmethod
    def _egress_hosts(cls, v: list[str]) -> list[str]:
        for host in v:
            if not re.match(r"^[a-z0-9*]([a-z0-9.*-]*[a-z0-9])?$", host):
                raise ValueError(
                    f"egress host {host!r} must be a lower-case host name (no scheme, port or path)"
                )
        return v

    @field_validator("backends")
    @classmethod
    def _backend_names(cls, v: dict[str, BackendRecipe]) -> dict[str, BackendRecipe]:
        for name in v:
            if not re.match(NAME_RE, name):
                raise ValueError(f"backend name {name!r} must match {NAME_RE}")
        return v

    @field_validator("paths")
    @classmethod
    def _path_names(cls, v: dict[str, DeclaredPath]) -> dict[str, DeclaredPath]:
        for name in v:
            if not re.match(_PATH_NAME_RE, name):
                raise ValueError(f"path name {name!r} must match {_PATH_NAME_RE}")
        return v

    def undeclared_path_refs(self) -> list[tuple[tuple[str, ...], str]]:
        """``(key path, message)`` for each ``{path:NAME}`` in the suite's own selection
        arguments that ``paths`` does not declare (the loader locates them)."""
        where: list[tuple[tuple[str, ...], str]] = [(("default_args",), self.default_args)]
        where += [(("subsets", name, "args"), sub.args) for name, sub in self.subsets.items()]
        problems = []
        for key, args in where:
            for name in path_refs(args):
                if name not in self.paths:
                    problems.append((key, undeclared_message(name, self.paths)))
        return problems

    @model_validator(mode="after")
    def _pinned_names_are_set(self) -> Suite:
        declared = set(self.env)
        for recipe in self.backends.values():
            declared.update(recipe.env)
            for step in (*recipe.setup, *recipe.build, *recipe.test):
                declared.update(step.env)
        for name in self.env_pinned:
            if name not in declared:
                close = difflib.get_close_matches(name, sorted(declared), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ValueError(
                    f"env_pinned: '{name}' is not set by this suite's env (suite, backend or "
                    f"step level){hint}; a suite may pin only values it sets"
                )
        return self

    @field_validator("companions")
    @classmethod
    def _unique_companions(cls, v: list[Companion]) -> list[Companion]:
        seen: set[str] = set()
        for c in v:
            if c.name in seen:
                raise ValueError(f"two companions are named '{c.name}'")
            seen.add(c.name)
        return v
