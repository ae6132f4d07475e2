"""Entry points: how third-party packages plug into the harness's registries.

Every extension point (backends, executors, result formats, image families, reporters) is
a registry of built-ins plus an entry-point group; this module holds what they share:
loading an entry point with a clear error when the plugin is broken, naming where a plugin
comes from, and the error for an unknown name (with a did-you-mean).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

from harness.errors import ConfigError

__all__ = ["load", "origin", "plugin_entry_points", "unknown_name"]


def plugin_entry_points(group: str) -> list[EntryPoint]:
    """The installed entry points of ``group`` (none loaded)."""
    return list(entry_points(group=group))


def origin(ep: EntryPoint) -> str:
    """``<distribution> <version>`` of the package that registers ``ep``."""
    return f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else ep.value


def load(ep: EntryPoint, kind: str) -> object:
    """The object ``ep`` names; a plugin that cannot be imported is a :class:`ConfigError`
    naming the plugin (``kind``: ``backend``, ``executor``...)."""
    try:
        return ep.load()
    except Exception as exc:  # the plugin's own bug or missing dependency
        raise ConfigError(
            f"{kind} plugin '{ep.name}' ({ep.value}) cannot be loaded: {type(exc).__name__}: {exc}",
            hint="report this to the plugin's maintainers, or uninstall it",
        ) from exc


def unknown_name(kind: str, name: str, known: Iterable[str], group: str, how: str) -> ConfigError:
    """The error for ``name`` not among ``known``: a did-you-mean, the known names and how
    plugins of this kind are installed (``how``, e.g. ``vendor backends are installed``)."""
    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return ConfigError(
        f"unknown {kind} '{name}'",
        hint=f"{hint}known: {', '.join(names)}; {how} as packages registering the "
        f"'{group}' entry point",
    )
