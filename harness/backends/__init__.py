"""Backends: the device families cells run on, behind one small protocol.

Built-ins register here; third parties register through the ``harness.backends``
entry-point group, with no change to the harness::

    # a vendor package's pyproject.toml
    [project.entry-points."harness.backends"]
    mlu = "harness_mlu:MluBackend"

The entry point names a class (instantiated without arguments) or a factory returning an
object that satisfies :class:`~harness.backends.base.Backend`.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.backends.base import Backend, ContainerOptions, Detection, Device
from harness.backends.cpu import CpuBackend
from harness.backends.cuda import CudaBackend
from harness.backends.npu import NpuBackend
from harness.errors import ConfigError
from harness.plugins import load, origin, plugin_entry_points, unknown_name

ENTRY_POINT_GROUP = "harness.backends"
BUILTIN: dict[str, Callable[[], Backend]] = {
    "cpu": CpuBackend,
    "cuda": CudaBackend,
    "npu": NpuBackend,
}

__all__ = [
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "Backend",
    "ContainerOptions",
    "Detection",
    "Device",
    "available_backends",
    "backend_origins",
    "get_backend",
]


def _plugin_factories() -> dict[str, Callable[[], Backend]]:
    found: dict[str, Callable[[], Backend]] = {}
    for ep in plugin_entry_points(ENTRY_POINT_GROUP):

        def _load(ep=ep) -> Backend:  # type: ignore[no-untyped-def]
            obj = load(ep, "backend")
            try:
                backend = obj() if callable(obj) else obj
            except Exception as exc:  # the plugin's own bug or missing dependency
                raise ConfigError(
                    f"backend plugin '{ep.name}' ({ep.value}) cannot be loaded: "
                    f"{type(exc).__name__}: {exc}",
                    hint="report this to the plugin's maintainers, or uninstall it",
                ) from exc
            if not isinstance(backend, Backend):
                raise ConfigError(
                    f"backend plugin '{ep.name}' ({ep.value}) does not implement the Backend "
                    "protocol (name, device_type, priority, detect, suite_environment, "
                    "container_options, pin_environment, fingerprint)"
                )
            if backend.name != ep.name:
                raise ConfigError(
                    f"backend plugin '{ep.name}' ({ep.value}) calls itself '{backend.name}'"
                )
            return backend

        found[ep.name] = _load
    return found


def backend_factories() -> dict[str, Callable[[], Backend]]:
    """Every known backend name → factory; built-ins win over plugins of the same name."""
    return {**_plugin_factories(), **BUILTIN}


def backend_origins() -> dict[str, str]:
    """name → where it comes from: ``built-in`` or ``<distribution> <version>``.

    A plugin that reuses a built-in's name is listed as ``shadowed by built-in``.
    """
    origins = {name: "built-in" for name in BUILTIN}
    for ep in plugin_entry_points(ENTRY_POINT_GROUP):
        dist = origin(ep)
        if ep.name in BUILTIN:
            origins[f"{ep.name} ({dist})"] = "shadowed by built-in"
        else:
            origins[ep.name] = dist
    return origins


def available_backends() -> list[str]:
    return sorted(backend_factories())


def get_backend(name: str) -> Backend:
    factories = backend_factories()
    if name not in factories:
        raise unknown_name(
            "backend", name, factories, ENTRY_POINT_GROUP, "vendor backends are installed"
        )
    return factories[name]()
