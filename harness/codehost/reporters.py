"""The reporter registry: built-ins plus the ``harness.reporters`` entry-point group.

A reporter delivers outbox entries of the kinds it declares (:class:`harness.codehost.
Reporter`). The registry holds *factories*: each is called with a
:class:`ReporterContext` (the store, the service configuration, the environment) and
returns a reporter, or ``None`` when it is not configured here (no GitHub credentials,
no upstream with a chat webhook). Third parties register without changing the harness::

    # a plugin package's pyproject.toml
    [project.entry-points."harness.reporters"]
    matrix = "harness_matrix:create"      # create(context) -> Reporter | None

Built-ins: ``github`` (statuses, check runs, the PR comment, repository dispatches;
:mod:`harness.codehost.github.reporter`) and ``chat`` (Slack-compatible incoming
webhooks; :mod:`harness.codehost.chat`). A built-in wins over a plugin of the same name;
two reporters declaring one entry kind is a configuration error.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint
from typing import TYPE_CHECKING

from harness import plugins
from harness.codehost import Reporter, Trigger
from harness.errors import ConfigError

if TYPE_CHECKING:
    from harness.config.service import ServiceConfig
    from harness.store import Store

ENTRY_POINT_GROUP = "harness.reporters"


@dataclass(frozen=True)
class ReporterContext:
    """What a reporter factory may use to build its reporter."""

    store: Store
    config: ServiceConfig | None = None
    #: the operator's environment (credentials, secrets' locations)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


ReporterFactory = Callable[[ReporterContext], "Reporter | None"]


def _github(context: ReporterContext) -> Reporter | None:
    from harness.codehost.github import reporter_from_env

    return reporter_from_env(context.store, context.env)


def _chat(context: ReporterContext) -> Reporter | None:
    from harness.codehost.chat import reporter_for

    return reporter_for(context.config, context.env)


BUILTIN: dict[str, ReporterFactory] = {"github": _github, "chat": _chat}


def _plugin_factory(ep: EntryPoint) -> ReporterFactory:
    def _factory(context: ReporterContext) -> Reporter | None:
        obj = plugins.load(ep, "reporter")
        try:
            made = obj(context) if callable(obj) else obj
        except ConfigError:
            raise
        except Exception as exc:  # the plugin's own bug
            raise ConfigError(
                f"reporter plugin '{ep.name}' ({ep.value}) cannot be loaded: "
                f"{type(exc).__name__}: {exc}",
                hint="report this to the plugin's maintainers, or uninstall it",
            ) from exc
        if made is None:
            return None
        if not isinstance(made, Reporter):
            raise ConfigError(
                f"reporter plugin '{ep.name}' ({ep.value}) does not implement the Reporter "
                "protocol (name, kinds, deliver, classify, bucket)"
            )
        if made.name != ep.name:
            raise ConfigError(
                f"reporter plugin '{ep.name}' ({ep.value}) calls itself '{made.name}'"
            )
        return made

    return _factory


def reporter_factories() -> dict[str, ReporterFactory]:
    """Every known reporter name → factory; built-ins win over plugins of the same name."""
    found = {ep.name: _plugin_factory(ep) for ep in plugins.plugin_entry_points(ENTRY_POINT_GROUP)}
    return {**found, **BUILTIN}


def reporter_origins() -> dict[str, str]:
    """name → ``built-in`` or the ``<distribution> <version>`` registering it."""
    origins = {name: "built-in" for name in BUILTIN}
    for ep in plugins.plugin_entry_points(ENTRY_POINT_GROUP):
        origins.setdefault(ep.name, plugins.origin(ep))
    return origins


def available_reporters() -> list[str]:
    return sorted(reporter_factories())


def get_factory(name: str) -> ReporterFactory:
    factories = reporter_factories()
    if name not in factories:
        raise plugins.unknown_name(
            "reporter", name, factories, ENTRY_POINT_GROUP, "other reporters are installed"
        )
    return factories[name]


def load_reporters(
    context: ReporterContext, names: Iterable[str] | None = None
) -> dict[str, Reporter]:
    """The reporters configured here (of ``names``, default every registered one): name →
    reporter. Raises :class:`ConfigError` for an unknown name or a broken plugin."""
    wanted = list(names) if names is not None else available_reporters()
    out: dict[str, Reporter] = {}
    for name in wanted:
        made = get_factory(name)(context)
        if made is not None:
            out[name] = made
    by_kind(out.values())  # two reporters for one kind: fail now, not at sending
    return out


def by_kind(reporters: Iterable[Reporter]) -> dict[str, Reporter]:
    """Entry kind → the reporter delivering it; :class:`ConfigError` when two claim one."""
    index: dict[str, Reporter] = {}
    for reporter in reporters:
        for kind in sorted(reporter.kinds):
            other = index.get(kind)
            if other is not None and other is not reporter:
                raise ConfigError(
                    f"reporters '{other.name}' and '{reporter.name}' both deliver "
                    f"'{kind}' outbox entries"
                )
            index[kind] = reporter
    return index


def default_trigger() -> Trigger:
    """The webhook trigger of the service's code host (GitHub)."""
    from harness.codehost.github.trigger import GitHubTrigger

    return GitHubTrigger()
