"""The installer a recipe's ``{pip}`` stands for, and the operator's pip settings for uv.

Recipes write ``{pip} install ...`` / ``{pip} freeze`` where upstream CI writes
``pip install``. The suite's ``installer`` (``uv``, the default, or ``pip``) decides what
``{pip}`` becomes: ``uv pip`` (the harness's own uv binary, aimed at the cell's
environment with ``UV_PYTHON``) or ``<python> -m pip``. A recipe line that must go through
pip (a package whose install needs pip's behaviour) keeps writing ``python -m pip``:
environments are created with pip in them (``uv venv --seed``, ``python -m venv`` in images)
so that fallback always works. A placeholder, not a ``pip`` shim on ``PATH``: the rendered
command in the step's log and in reproduce hints is the command that ran, and
``python -m pip`` cannot be shimmed without patching the environment's own pip.

uv does not read pip's configuration, so the harness carries it over: the effective pip
settings (pip's configuration files for the local executor, then ``PIP_*`` variables,
which win as they do for pip) become the ``UV_*`` variables of :data:`PIP_TO_UV`, unless
the step's environment sets that ``UV_*`` variable itself; the few uv reads from no
variable (``no-index``, ``only-binary``, ``no-binary``) go to a ``uv.toml`` the harness
writes (:data:`PIP_TO_UV_CONFIG`). Settings without a uv equivalent are listed by
:func:`unmapped`, and the step log says which were carried over.

``resolve as of`` a date: uv's ``--exclude-newer`` (``UV_EXCLUDE_NEWER``) drops every
distribution uploaded after it. uv knows upload times from an index that serves them
(PyPI's JSON API, PEP 700 ``upload-time``); files of a ``--find-links`` folder carry no
upload time and stay eligible whatever the date; a ``file://`` index carries none either
and uv then excludes its files.
"""

from __future__ import annotations

import configparser
import datetime as dt
import json
import os
import shlex
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError

INSTALLERS = ("uv", "pip")
RESOLVE_MODES = ("commit", "none")
_TRUE = {"1", "true", "yes", "on"}


def _bool(value: str) -> str | None:
    return "1" if value.strip().lower() in _TRUE else None


def _words(sep: str) -> Callable[[str], str | None]:
    def convert(value: str) -> str | None:
        words = value.split()
        return sep.join(words) if words else None

    return convert


def _names(value: str) -> list[str]:
    return [n for n in value.replace(",", " ").split() if n != ":none:"]


#: pip option (its config-file name, also ``PIP_<NAME>``) → uv variable and conversion
PIP_TO_UV: dict[str, tuple[str, Callable[[str], str | None]]] = {
    "index-url": ("UV_DEFAULT_INDEX", _words(" ")),
    "extra-index-url": ("UV_INDEX", _words(" ")),
    "find-links": ("UV_FIND_LINKS", _words(",")),  # uv's list is comma-separated
    "constraint": ("UV_CONSTRAINT", _words(" ")),
    "pre": ("UV_PRERELEASE", lambda v: "allow" if _bool(v) else None),
    "require-hashes": ("UV_REQUIRE_HASHES", _bool),
    "trusted-host": ("UV_INSECURE_HOST", _words(" ")),
    "no-build-isolation": ("UV_NO_BUILD_ISOLATION", _bool),
    "timeout": ("UV_HTTP_TIMEOUT", lambda v: v.strip() or None),
    "default-timeout": ("UV_HTTP_TIMEOUT", lambda v: v.strip() or None),
    "cert": ("SSL_CERT_FILE", lambda v: v.strip() or None),
}
#: pip options uv takes from no variable, only from a configuration file (its ``[pip]``
#: table): the harness writes one (:func:`uv_config_text`) and points ``UV_CONFIG_FILE``
#: at it, unless the operator has a uv configuration of their own
PIP_TO_UV_CONFIG: dict[str, Callable[[str], bool | list[str] | None]] = {
    "no-index": lambda v: True if _bool(v) else None,
    "only-binary": lambda v: _names(v) or None,
    "no-binary": lambda v: _names(v) or None,
}
#: pip settings that change nothing an install resolves (not carried over, not unmapped)
IGNORED = frozenset(
    {"disable-pip-version-check", "no-cache-dir", "cache-dir", "progress-bar", "quiet",
     "verbose", "no-color", "root-user-action", "no-input", "config-file", "retries"}
)  # fmt: skip


def uv_binary() -> str:
    """The uv executable the harness installs with (the ``uv`` distribution it depends on)."""
    try:
        import uv

        return str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError) as exc:
        raise ConfigError(
            f"uv is not installed with the harness: {exc}",
            hint="pip install uv (a dependency of accel-harness), or set `installer: pip`",
        ) from exc


def uv_version(uv: str) -> str:
    proc = subprocess.run([uv, "--version"], capture_output=True, text=True, check=False)
    return proc.stdout.strip() or f"unknown ({proc.stderr.strip()[-200:]})"


def pip_config_files(env: Mapping[str, str]) -> list[Path]:
    """pip's configuration files in the order pip reads them (later ones win):
    global (``$XDG_CONFIG_DIRS/pip/pip.conf``, ``/etc/pip.conf``), user
    (``~/.pip/pip.conf``, ``$XDG_CONFIG_HOME/pip/pip.conf``), then ``PIP_CONFIG_FILE``.
    ``PIP_CONFIG_FILE=os.devnull`` turns them all off, as for pip."""
    named = env.get("PIP_CONFIG_FILE")
    if named == os.devnull:
        return []
    xdg_dirs = env.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    files = [Path(d) / "pip" / "pip.conf" for d in xdg_dirs.split(os.pathsep) if d][::-1]
    files.append(Path("/etc/pip.conf"))
    home = Path(env.get("HOME") or Path.home())
    files.append(home / ".pip" / "pip.conf")
    files.append(Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "pip" / "pip.conf")
    if named:
        files.append(Path(named))
    return files


def read_pip_config(env: Mapping[str, str]) -> dict[str, str]:
    """The ``[global]`` then ``[install]`` options of pip's configuration files."""
    settings: dict[str, str] = {}
    for path in pip_config_files(env):
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (OSError, configparser.Error):
            continue
        for section in ("global", "install"):
            if parser.has_section(section):
                for key, value in parser.items(section):
                    settings[key.replace("_", "-")] = value
    return settings


def pip_settings(env: Mapping[str, str], config: Mapping[str, str]) -> dict[str, str]:
    """The effective pip settings: ``config`` (from files), then ``PIP_*`` variables."""
    settings = dict(config)
    for name, value in env.items():
        if name.startswith("PIP_") and name != "PIP_CONFIG_FILE":
            settings[name[4:].lower().replace("_", "-")] = value
    return settings


def uv_environment(settings: Mapping[str, str], env: Mapping[str, str]) -> dict[str, str]:
    """The ``UV_*`` (and ``SSL_CERT_FILE``) variables that carry ``settings`` over to uv;
    a variable ``env`` already sets is left to it. pip looks for a package on every index
    and takes the best version; uv by default stops at the first index that has it, so
    with extra indexes ``UV_INDEX_STRATEGY=unsafe-best-match`` keeps pip's choice."""
    out: dict[str, str] = {}
    for option, value in settings.items():
        if option in PIP_TO_UV:
            name, convert = PIP_TO_UV[option]
            converted = convert(value)
            if converted is not None and name not in env:
                out[name] = converted
    if "UV_INDEX" in out and "UV_INDEX_STRATEGY" not in env:
        out["UV_INDEX_STRATEGY"] = "unsafe-best-match"
    return out


def uv_config(settings: Mapping[str, str]) -> dict[str, bool | list[str]]:
    """The ``[pip]`` table for the settings of :data:`PIP_TO_UV_CONFIG` in force."""
    table: dict[str, bool | list[str]] = {}
    for option, convert in PIP_TO_UV_CONFIG.items():
        if option in settings and (value := convert(settings[option])) is not None:
            table[option] = value
    return table


def uv_config_text(table: Mapping[str, bool | list[str]]) -> str:
    """``table`` as a uv.toml with a ``[pip]`` table."""
    lines = ["# written by accel-harness: pip settings uv takes from no variable", "[pip]"]
    for key, value in table.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        else:
            lines.append(f"{key} = [{', '.join(json.dumps(v) for v in value)}]")
    return "\n".join(lines) + "\n"


def own_uv_config(env: Mapping[str, str]) -> str | None:
    """The operator's uv configuration a harness-written ``UV_CONFIG_FILE`` would hide:
    ``UV_CONFIG_FILE`` itself, or a user/system ``uv.toml`` (None: there is none)."""
    if env.get("UV_CONFIG_FILE"):
        return env["UV_CONFIG_FILE"]
    if env.get("UV_NO_CONFIG"):
        return "UV_NO_CONFIG"
    home = Path(env.get("HOME") or Path.home())
    xdg_dirs = env.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    candidates = [
        Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "uv" / "uv.toml",
        *(Path(d) / "uv" / "uv.toml" for d in xdg_dirs.split(os.pathsep) if d),
        Path("/etc/uv/uv.toml"),
    ]
    return next((str(p) for p in candidates if p.is_file()), None)


def unmapped(settings: Mapping[str, str]) -> list[str]:
    """pip settings in force that uv does not get (for the step log)."""
    known = {*PIP_TO_UV, *PIP_TO_UV_CONFIG, *IGNORED}
    return sorted(o for o in settings if o not in known)


@dataclass(frozen=True, slots=True)
class UvSetup:
    """What a step needs for uv: variables, a uv.toml to write (``config_text``, empty:
    none) and, for its log, the pip settings carried over and those that were not."""

    env: dict[str, str]
    config_text: str = ""
    carried: tuple[str, ...] = ()
    not_carried: tuple[str, ...] = ()

    def note(self, exclude_newer: str | None = None, as_of: str = "") -> str:
        text = "[harness] installer: uv ({pip} is uv pip)"
        if self.carried:
            text += f"; pip settings carried over: {', '.join(self.carried)}"
        if self.not_carried:
            text += f"; not carried over: {', '.join(self.not_carried)}"
        if exclude_newer:
            text += f"; resolving as of {exclude_newer} ({as_of})"
        return text


def uv_setup(
    env: Mapping[str, str],
    pip_config: Mapping[str, str],
    *,
    python: str,
    exclude_newer: str | None,
    config_path: str,
    own_config: str | None,
) -> UvSetup:
    """uv's part of a step's environment (module docstring): ``env`` is the step's
    environment so far, ``pip_config`` what pip's files set, ``python`` the cell's
    interpreter, ``config_path`` where the step sees the uv.toml the caller writes
    from ``config_text``, ``own_config`` the operator's uv configuration that one would
    hide (:func:`own_uv_config`)."""
    settings = pip_settings(env, pip_config)
    out = uv_environment(settings, env)
    out["UV_PYTHON"] = python
    if exclude_newer:
        out["UV_EXCLUDE_NEWER"] = exclude_newer
    table = uv_config(settings)
    text = ""
    not_carried = [f"{o} (no uv equivalent)" for o in unmapped(settings)]
    if table and own_config is None:
        text = uv_config_text(table)
        out["UV_CONFIG_FILE"] = config_path
    elif table:
        not_carried += [f"{o} (the operator's uv configuration {own_config})" for o in table]
    carried = sorted(o for o in settings if o in PIP_TO_UV or (o in table and text))
    return UvSetup(out, text, tuple(carried), tuple(not_carried))


def pip_command(installer: str, *, uv: str, python: str) -> str:
    """What ``{pip}`` renders to."""
    if installer == "uv":
        return f"{shlex.quote(uv)} pip"
    return f"{shlex.quote(python)} -m pip"


# -- resolving as of a date ----------------------------------------------------------------


def parse_as_of(value: str) -> str:
    """A date (``2025-06-01``) or time (RFC 3339, a zone or UTC) as uv's UTC form
    (``2025-06-01T00:00:00Z``); :class:`ConfigError` for anything else."""
    text = value.strip()
    try:
        if len(text) == 10:
            moment = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), dt.UTC)
        else:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
    except ValueError:
        raise ConfigError(
            f"resolve as of {value!r}: not 'commit', 'none', a date (2025-06-01) or a time "
            "(2025-06-01T12:00:00Z)"
        ) from None
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def commit_time(source_dir: Path, rev: str = "HEAD") -> str:
    """The committer date of ``rev`` in the checkout at ``source_dir``, in uv's UTC form."""
    proc = subprocess.run(
        ["git", "-C", str(source_dir), "log", "-1", "--format=%cI", rev],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        raise ConfigError(
            f"resolve as of the commit: no committer date for {rev} in {source_dir}: "
            f"{proc.stderr.strip()[-300:]}",
            hint="--resolve-as-of needs a git checkout; give a date instead",
        )
    return parse_as_of(proc.stdout.strip())


def resolve_as_of(mode: str | None, source_dir: Path) -> str | None:
    """The exclude-newer time for ``mode`` (``commit``, ``none``/None, or a date)."""
    if mode is None or mode == "none":
        return None
    if mode == "commit":
        return commit_time(source_dir)
    return parse_as_of(mode)
