"""Executors by name: the built-ins and those of the ``harness.executors`` entry points.

An executor is a class (or factory) taking the harness's cache directory and returning an
object that satisfies :class:`~harness.executors.base.Executor`; its class declares what
it can do as ``capabilities`` (:class:`~harness.executors.base.Capabilities`). A third
party adds one with no change to the harness::

    # a package's pyproject.toml
    [project.entry-points."harness.executors"]
    k8s-job = "harness_k8s:KubernetesJobExecutor"

Built-ins win over plugins of the same name. ``auto`` picks among the built-ins: docker
when a container engine answers, else local.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.executors.base import Capabilities, Executor, capabilities_of
from harness.plugins import load, origin, plugin_entry_points, unknown_name

ENTRY_POINT_GROUP = "harness.executors"
#: name → ``module:attribute`` (imported when used: docker pulls in the engine's client)
BUILTIN: dict[str, str] = {
    "local": "harness.executors.local:LocalExecutor",
    "docker": "harness.executors.docker:DockerExecutor",
}
AUTO = "auto"

ExecutorFactory = Callable[[Path], Executor]

__all__ = [
    "AUTO",
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "ExecutorEntry",
    "choose_executor",
    "executor_choices",
    "executor_entries",
    "executor_entry",
    "executor_names",
    "make_executor",
]


@dataclass(frozen=True, slots=True)
class ExecutorEntry:
    """A registered executor: its factory, what it declares and where it comes from."""

    name: str
    factory: ExecutorFactory
    capabilities: Capabilities
    origin: str

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "origin": self.origin, **self.capabilities.as_json()}


def _plugins() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in plugin_entry_points(ENTRY_POINT_GROUP) if ep.name not in BUILTIN}


def executor_names() -> list[str]:
    """Every executor's name: the built-ins, then the plugins' (none is imported)."""
    return [*BUILTIN, *sorted(_plugins())]


def executor_choices() -> list[str]:
    """What ``--executor`` accepts: ``auto`` and every executor's name."""
    return [AUTO, *executor_names()]


def _builtin(name: str) -> ExecutorEntry:
    module, _, attr = BUILTIN[name].partition(":")
    factory = getattr(import_module(module), attr)
    return ExecutorEntry(name, factory, capabilities_of(factory), "built-in")


def _plugin(ep: EntryPoint) -> ExecutorEntry:
    obj = load(ep, "executor")
    if not callable(obj):
        raise ConfigError(
            f"executor plugin '{ep.name}' ({ep.value}) is not a class or factory taking the "
            "cache directory"
        )
    declared = getattr(obj, "capabilities", None)
    if declared is not None and not isinstance(declared, Capabilities):
        raise ConfigError(
            f"executor plugin '{ep.name}' ({ep.value}) declares capabilities that are not "
            "harness.executors.base.Capabilities"
        )
    factory: Callable[..., Any] = obj

    def _make(cache_dir: Path) -> Executor:
        executor = factory(cache_dir)
        missing = [a for a in ("name", "session", "reap") if not hasattr(executor, a)]
        if missing:
            raise ConfigError(
                f"executor plugin '{ep.name}' ({ep.value}) does not implement the Executor "
                f"protocol (missing: {', '.join(missing)})"
            )
        if executor.name != ep.name:
            raise ConfigError(
                f"executor plugin '{ep.name}' ({ep.value}) calls itself '{executor.name}'"
            )
        return executor  # type: ignore[no-any-return]

    return ExecutorEntry(ep.name, _make, capabilities_of(obj), origin(ep))


def executor_entry(name: str) -> ExecutorEntry:
    """The executor ``name``; an unknown one is a :class:`ConfigError` with a did-you-mean."""
    if name in BUILTIN:
        return _builtin(name)
    plugins = _plugins()
    if name not in plugins:
        raise unknown_name(
            "executor", name, executor_names(), ENTRY_POINT_GROUP, "other executors are installed"
        )
    return _plugin(plugins[name])


def executor_entries() -> list[ExecutorEntry]:
    """Every executor, loaded (a broken plugin is a :class:`ConfigError`)."""
    return [executor_entry(name) for name in executor_names()]


def make_executor(name: str, cache_dir: Path) -> Executor:
    return executor_entry(name).factory(cache_dir)


def choose_executor(choice: str) -> tuple[str, str | None]:
    """``auto``: docker when a container engine answers, else local (and say why); any
    other choice is checked against the registry and returned as it is."""
    if choice != AUTO:
        executor_entry(choice)
        return choice, None
    from harness.container_engine import ContainerEngine

    engine, why = ContainerEngine.available()
    if engine is not None:
        return "docker", f"--executor auto: docker ({engine.version()})"
    return "local", f"--executor auto: local ({why})"
