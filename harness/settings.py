"""Every ``HARNESS_*`` environment variable, declared once: its type, default, area,
description and whether it is a secret.

Modules read a setting through its declaration (``settings.GIT_TIMEOUT.get()``), never
``os.environ`` directly: the value is parsed in one place and a bad one is a
:class:`~harness.errors.ConfigError` naming the variable and the value
(``HARNESS_DOCKER_CPUS='two' is not a number``). Precedence stays with the caller: a CLI
option given wins, then the environment, then the declared default.

Five kinds of variables (:class:`~harness.config.setting.Kind`):

* ``operator``: the harness reads them; the operator sets them (the README's table,
  ``harness config show``);
* ``recipe``: the suites' own steps read them (torch packages, CMake arguments);
* ``step``: the harness sets them for the processes of a step (read them, do not set them);
* ``workflow``: the generated GitHub Actions workflow sets them for its jobs;
* ``testing``: fault injection and the harness's own tests, never for production.

The keys of the service configuration file (``suites/service/config.yaml``) are declared
by their pydantic model (:mod:`harness.config.service`);
:func:`~harness.config.setting.config_file_keys` lists them from it (names, defaults and
descriptions), so nothing is declared twice.

tests/test_settings_guard.py keeps this list complete: every ``HARNESS_*`` name in
harness/ is declared here, every declaration is used, and no other module reads a
``HARNESS_*`` variable from the environment. The README's tables are generated from it
(``harness config table``).

Adding a setting: declare it below in its area, read it where it is used with
``settings.NAME.get()``, run ``harness config table``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from harness.config.setting import (
    GITHUB_DEFAULT_API,
    Area,
    Kind,
    Setting,
    parse_api_url,
    parse_byte_count,
    parse_digits,
    parse_float,
    parse_labels,
    parse_non_negative_float,
    parse_non_negative_int,
    parse_optional_int,
    parse_optional_path,
    parse_optional_text,
    parse_policy,
    parse_seconds,
    parse_stripped,
    parse_text,
    parse_uid_gid,
)

T = TypeVar("T")

REGISTRY: dict[str, Setting[Any]] = {}


def _declare(setting: Setting[T]) -> Setting[T]:
    if setting.name in REGISTRY:  # pragma: no cover - a declaration bug
        raise ValueError(f"{setting.name} is declared twice")
    REGISTRY[setting.name] = setting
    return setting


def declared() -> Iterator[Setting[Any]]:
    """Every declaration, in the order of this module (areas together)."""
    return iter(REGISTRY.values())


# --- paths -----------------------------------------------------------------------------

DB = _declare(
    Setting[str | None](
        "HARNESS_DB",
        Area.PATHS,
        "the database URL (`sqlite:///…`, `postgresql://…`); `--db`",
        parse_text,
        None,
        "SQLite in `~/.local/share/harness`",
    )
)
SUITES = _declare(
    Setting[Path | None](
        "HARNESS_SUITES",
        Area.PATHS,
        "the suite files; `--suites`",
        parse_optional_path,
        None,
        "`./suites`",
        empty_is_value=True,
    )
)
IMAGES = _declare(
    Setting[Path | None](
        "HARNESS_IMAGES",
        Area.PATHS,
        "image variants (`matrix.yaml` and the templates); `--images-dir`",
        parse_optional_path,
        None,
        "`./images`, else the package's",
    )
)
CACHE = _declare(
    Setting[Path | None](
        "HARNESS_CACHE",
        Area.PATHS,
        "mirrors, worktrees, environments; `--cache-dir`",
        parse_optional_path,
        None,
        "`~/.cache/harness`",
        empty_is_value=True,
    )
)
OUT = _declare(
    Setting[Path | None](
        "HARNESS_OUT",
        Area.PATHS,
        "where reports go (`run --out-dir`, `serve`/`worker --reports-dir`)",
        parse_optional_path,
        None,
        "`reports/out`",
    )
)

# --- source/git ------------------------------------------------------------------------

GIT_TIMEOUT = _declare(
    Setting[float](
        "HARNESS_GIT_TIMEOUT",
        Area.SOURCE,
        "seconds one git command may take",
        parse_seconds,
        900.0,
        "`900`",
    )
)
MIRRORS = _declare(
    Setting[str](
        "HARNESS_MIRRORS",
        Area.SOURCE,
        "URL rewrites by prefix for every fetch: `PREFIX=REPLACEMENT` pairs (see Mirrors)",
        parse_text,
        "",
    )
)
MIRRORS_FILE = _declare(
    Setting[str](
        "HARNESS_MIRRORS_FILE",
        Area.SOURCE,
        "a YAML file `mirrors: {PREFIX: REPLACEMENT}` of more URL rewrites (see Mirrors)",
        parse_text,
        "",
    )
)

# --- recipes (read by the suites' steps) -----------------------------------------------

TORCH_INDEX_URL = _declare(
    Setting[str](
        "HARNESS_TORCH_INDEX_URL",
        Area.RECIPES,
        "torch's index in the suites' setup steps; empty: pip's own configuration",
        parse_text,
        "https://download.pytorch.org/whl/cpu",
        "`https://download.pytorch.org/whl/cpu`",
        kind=Kind.RECIPE,
        empty_is_value=True,
    )
)
TORCH_PACKAGES = _declare(
    Setting[str](
        "HARNESS_TORCH_PACKAGES",
        Area.RECIPES,
        "the torch packages the suites install (pin a consistent set)",
        parse_text,
        "torch torchvision torchaudio",
        "`torch torchvision torchaudio`",
        kind=Kind.RECIPE,
    )
)
TORCH_NPU_PACKAGES = _declare(
    Setting[str](
        "HARNESS_TORCH_NPU_PACKAGES",
        Area.RECIPES,
        "the NPU plugin the npu cells install",
        parse_text,
        "torch_npu==2.9.0",
        "`torch_npu==2.9.0`",
        kind=Kind.RECIPE,
    )
)
for _name, _what in (
    ("HARNESS_CMAKE_ARGS", "extra CMake arguments of the llama.cpp and OpenCV (cpu) builds"),
    ("HARNESS_CANN_CMAKE_ARGS", "extra CMake arguments of the llama.cpp CANN build"),
    ("HARNESS_SOC_TYPE", "the Ascend SoC the CANN build targets when no NPU is visible"),
):
    _declare(Setting[str](_name, Area.RECIPES, _what, parse_text, "", "empty", kind=Kind.RECIPE))
CTEST_EXCLUDE = _declare(
    Setting[str](
        "HARNESS_CTEST_EXCLUDE",
        Area.RECIPES,
        "a ctest `-E` regex of the tests llama.cpp's cells leave out; empty: none",
        parse_text,
        "",
        "`suites/llama.cpp.yaml`'s (the tests that need the network)",
        kind=Kind.RECIPE,
        empty_is_value=True,
    )
)

# --- backends --------------------------------------------------------------------------

ASCEND_ROOT = _declare(
    Setting[Path](
        "HARNESS_ASCEND_ROOT",
        Area.BACKENDS,
        "where CANN is installed (npu backend detection)",
        Path,
        Path("/usr/local/Ascend"),
        "`/usr/local/Ascend`",
        empty_is_value=True,
    )
)
PROBE_PYTHON = _declare(
    Setting[str | None](
        "HARNESS_PROBE_PYTHON",
        Area.BACKENDS,
        "the interpreter `doctor` probes torch_npu with (`doctor --python`)",
        parse_text,
        None,
        "the harness's Python",
    )
)

# --- docker ----------------------------------------------------------------------------

DOCKER_MEMORY = _declare(
    Setting[str | None](
        "HARNESS_DOCKER_MEMORY",
        Area.DOCKER,
        "memory limit of every step container; empty: none",
        parse_optional_text,
        "8g",
        "`8g`",
        empty_is_value=True,
    )
)
DOCKER_CPUS = _declare(
    Setting[float | None](
        "HARNESS_DOCKER_CPUS",
        Area.DOCKER,
        "CPU limit of every step container",
        parse_non_negative_float,
        None,
    )
)
DOCKER_PIDS = _declare(
    Setting[int](
        "HARNESS_DOCKER_PIDS",
        Area.DOCKER,
        "process limit of every step container; 0: none",
        parse_non_negative_int,
        4096,
        "`4096`",
    )
)
DOCKER_NETWORK = _declare(
    Setting[str | None](
        "HARNESS_DOCKER_NETWORK",
        Area.DOCKER,
        "network of trusted step containers (and `images build --network`)",
        parse_text,
        None,
        "the engine's default",
    )
)
DOCKER_BASE_IMAGE = _declare(
    Setting[str | None](
        "HARNESS_DOCKER_BASE_IMAGE",
        Area.DOCKER,
        "base image for cell images",
        parse_text,
        None,
        "the variant's",
    )
)
DOCKER_USER = _declare(
    Setting[tuple[int, int] | None](
        "HARNESS_DOCKER_USER",
        Area.DOCKER,
        "`UID:GID` steps run as in containers (never root)",
        parse_uid_gid,
        None,
        "`61000:61000`",
    )
)
DOCKER_LABELS = _declare(
    Setting[dict[str, str]](
        "HARNESS_DOCKER_LABELS",
        Area.DOCKER,
        "extra labels on every container (`team=npu,ci.run=42`)",
        parse_labels,
        {},
    )
)

# --- images ----------------------------------------------------------------------------

CANN_PACKAGES = _declare(
    Setting[Path | None](
        "HARNESS_CANN_PACKAGES",
        Area.IMAGES,
        "a folder of local CANN installers for image builds (`--cann-packages`)",
        parse_optional_path,
        None,
    )
)
CANN_MIRROR = _declare(
    Setting[str | None](
        "HARNESS_CANN_MIRROR",
        Area.IMAGES,
        "where image builds download CANN from (`--cann-mirror`)",
        parse_text,
        None,
        "the variant's",
    )
)

# --- egress ----------------------------------------------------------------------------

UNTRUSTED_NETWORK = _declare(
    Setting[str](
        "HARNESS_UNTRUSTED_NETWORK",
        Area.EGRESS,
        "untrusted code's network: `egress` (package indexes only), `none`, `open`",
        parse_policy,
        "egress",
        "`egress`",
    )
)
EGRESS_ALLOW = _declare(
    Setting[str](
        "HARNESS_EGRESS_ALLOW",
        Area.EGRESS,
        "more hosts the egress proxy lets through (comma-separated, `*.example.org`)",
        parse_text,
        "",
    )
)
EGRESS_UPSTREAM = _declare(
    Setting[str | None](
        "HARNESS_EGRESS_UPSTREAM",
        Area.EGRESS,
        "the proxy the egress proxy goes through (`host:port`, `none`)",
        parse_text,
        None,
        "`$HTTPS_PROXY`",
    )
)

# --- results ---------------------------------------------------------------------------

RESULTS_MAX_BYTES = _declare(
    Setting[int](
        "HARNESS_RESULTS_MAX_BYTES",
        Area.RESULTS,
        "what one step's result files may weigh when copied out of a container",
        parse_byte_count,
        8 << 30,
        "8 GiB",
    )
)
RESULTS_SECRET = _declare(
    Setting[str](
        "HARNESS_RESULTS_SECRET",
        Area.RESULTS,
        "HMAC secret for `POST /api/results` and `results send`",
        parse_stripped,
        "",
        secret=True,
    )
)
ATTEST_KEY_FILE = _declare(
    Setting[Path | None](
        "HARNESS_ATTEST_KEY_FILE",
        Area.RESULTS,
        "the Ed25519 key runs are signed with (`harness attest keygen`): the bundles "
        "`harness run --bundle` writes, the runs the service's workers finish; used when "
        "it exists",
        parse_optional_path,
        None,
        "`~/.config/harness/attest-ed25519.pem`",
    )
)
ATTEST_TRUSTED_KEYS = _declare(
    Setting[Path | None](
        "HARNESS_ATTEST_TRUSTED_KEYS",
        Area.RESULTS,
        "the runners' public keys `POST /api/results` trusts (`harness attest register`); "
        "when set, every bundle must carry an attestation signed by one of them",
        parse_optional_path,
        None,
        "none: attestations are not required",
    )
)

OTLP_ENDPOINT = _declare(
    Setting[str | None](
        "HARNESS_OTLP_ENDPOINT",
        Area.RESULTS,
        "OTLP/HTTP collector that gets each run's CI/CD spans (base URL; `/v1/traces` is "
        "added; needs the `otel` extra)",
        parse_optional_text,
        None,
        "`$OTEL_EXPORTER_OTLP_ENDPOINT`, else none",
    )
)
OTLP_TIMEOUT = _declare(
    Setting[float](
        "HARNESS_OTLP_TIMEOUT",
        Area.RESULTS,
        "seconds one run's span export may take, retries included (a process that ends "
        "waits for a pending export at most this long)",
        parse_seconds,
        10.0,
        "`10`",
    )
)

# --- service ---------------------------------------------------------------------------

WEBHOOK_SECRET = _declare(
    Setting[str](
        "HARNESS_WEBHOOK_SECRET",
        Area.SERVICE,
        "the GitHub webhook secret (`serve --webhook-secret-file`)",
        parse_stripped,
        "",
        "none (required by `serve`)",
        secret=True,
    )
)

# --- GitHub ----------------------------------------------------------------------------

GITHUB_TOKEN = _declare(
    Setting[str | None](
        "HARNESS_GITHUB_TOKEN",
        Area.GITHUB,
        "a token for reports to GitHub",
        parse_text,
        None,
        secret=True,
    )
)
GITHUB_TOKEN_FILE = _declare(
    Setting[Path | None](
        "HARNESS_GITHUB_TOKEN_FILE",
        Area.GITHUB,
        "a file holding the token",
        parse_optional_path,
        None,
    )
)
GITHUB_APP_ID = _declare(
    Setting[str | None](
        "HARNESS_GITHUB_APP_ID",
        Area.GITHUB,
        "a GitHub App instead of a token: its id",
        parse_text,
        None,
    )
)
GITHUB_APP_KEY_FILE = _declare(
    Setting[str | None](
        "HARNESS_GITHUB_APP_KEY_FILE",
        Area.GITHUB,
        "the App's private key (a PEM file)",
        parse_text,
        None,
    )
)
GITHUB_INSTALLATION_ID = _declare(
    Setting[int | None](
        "HARNESS_GITHUB_INSTALLATION_ID",
        Area.GITHUB,
        "the App's installation when a delivery names none",
        parse_optional_int,
        None,
    )
)
GITHUB_API_URL = _declare(
    Setting[str](
        "HARNESS_GITHUB_API_URL",
        Area.GITHUB,
        "GitHub Enterprise Server or a stand-in",
        parse_api_url,
        GITHUB_DEFAULT_API,
        f"`{GITHUB_DEFAULT_API}`",
    )
)
GITHUB_WRITE_INTERVAL = _declare(
    Setting[float](
        "HARNESS_GITHUB_WRITE_INTERVAL",
        Area.GITHUB,
        "seconds between two writes to GitHub (its secondary limits)",
        parse_float,
        1.0,
        "`1.0`",
    )
)

# --- testing ---------------------------------------------------------------------------

FAILPOINTS = _declare(
    Setting[str](
        "HARNESS_FAILPOINTS",
        Area.TESTING,
        "fault injection (`harness/failpoints.py`); never for production",
        parse_text,
        "",
        kind=Kind.TESTING,
    )
)
FAULT_SEED = _declare(
    Setting[str](
        "HARNESS_FAULT_SEED",
        Area.TESTING,
        "replays one order of the fault-injection tests (tests/service)",
        parse_text,
        "",
        kind=Kind.TESTING,
    )
)

# --- set by the harness for steps ------------------------------------------------------

for _name, _what in (
    ("HARNESS_RESULTS_DIR", "where a step writes its result files"),
    ("HARNESS_SELECT_FILE", "the tests a re-run selects (pytest plugin harness_select)"),
    ("HARNESS_RUN_MARK", "marks a run's processes (leftovers are found by it)"),
    ("HARNESS_SHARD_BACKEND", "the cell's backend, for device sharding of xdist workers"),
    ("HARNESS_SHARD_DEVICES", "the logical devices the cell may use (`0,1,2,3`)"),
    ("HARNESS_SHARD_VISIBLE_ENV", "the variable that pins a plugin backend's devices"),
    ("HARNESS_DEVICE_INDEX", "one pytest-xdist worker's device"),
    ("HARNESS_WORKER_INDEX", "one pytest-xdist worker's index"),
    ("HARNESS_CPUSET", "the CPU cores of a cpu cell, or of one xdist worker"),
):
    _declare(Setting[str](_name, Area.STEPS, _what, parse_text, "", kind=Kind.STEP))

# --- set by the generated GitHub Actions workflow --------------------------------------

for _name, _what in (
    ("HARNESS_REPOSITORY", "the harness repository the jobs check out"),
    ("HARNESS_REF", "its branch, tag or SHA"),
    ("HARNESS_SERVICE_URL", "where a cell job sends its results"),
):
    _declare(Setting[str](_name, Area.WORKFLOW, _what, parse_text, "", kind=Kind.WORKFLOW))
QUEUE_ITEM = _declare(
    Setting[int | None](
        "HARNESS_QUEUE_ITEM",
        Area.WORKFLOW,
        "the service's queue item a cell job runs (recorded in its result bundle)",
        parse_digits,
        None,
        kind=Kind.WORKFLOW,
    )
)
