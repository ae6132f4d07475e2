"""What an operator setting is: :class:`Setting` (one ``HARNESS_*`` environment
variable: type, default, description, secret flag, area), the parsers that turn a given
value into a typed one, and the keys of the service configuration file as its model
declares them (:func:`config_file_keys`). The settings themselves are declared in
:mod:`harness.settings`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, TypeVar

from harness.errors import ConfigError

T = TypeVar("T")


class Kind(StrEnum):
    OPERATOR = "operator"
    RECIPE = "recipe"
    STEP = "step"
    WORKFLOW = "workflow"
    TESTING = "testing"


class Area(StrEnum):
    PATHS = "paths"
    SOURCE = "source/git"
    RECIPES = "recipes"
    BACKENDS = "backends"
    DOCKER = "docker"
    IMAGES = "images"
    EGRESS = "egress"
    RESULTS = "results"
    SERVICE = "service"
    GITHUB = "GitHub"
    TESTING = "testing"
    STEPS = "steps"
    WORKFLOW = "workflow"


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One environment variable. ``parse`` turns a given value into ``T`` and raises
    ``ValueError("is not …")`` (completed with the name and value) for a bad one."""

    name: str
    area: Area
    description: str
    parse: Callable[[str], T]
    default: T
    #: the default as the README and ``config show`` write it
    shown_default: str = "none"
    secret: bool = False
    kind: Kind = Kind.OPERATOR
    #: an empty value is a value (``HARNESS_DOCKER_MEMORY=`` means no limit); otherwise
    #: an empty value counts as unset
    empty_is_value: bool = False

    def raw(self, env: Mapping[str, str] | None = None) -> str | None:
        """The value as given (``None``: unset); ``env`` defaults to ``os.environ``."""
        return (os.environ if env is None else env).get(self.name)

    def is_set(self, env: Mapping[str, str] | None = None) -> bool:
        raw = self.raw(env)
        return raw is not None and (self.empty_is_value or bool(raw.strip()))

    def get(self, env: Mapping[str, str] | None = None) -> T:
        """The parsed value, or the default when unset. :class:`ConfigError` for a bad one."""
        raw = self.raw(env)
        if raw is None or not (self.empty_is_value or raw.strip()):
            return self.default
        try:
            return self.parse(raw)
        except ConfigError:
            raise
        except ValueError as exc:
            shown = "(secret)" if self.secret else repr(raw)
            raise ConfigError(
                f"{self.name}={shown} {exc}", hint=f"{self.name}: {self.description}"
            ) from None

    def shown(self, env: Mapping[str, str] | None = None) -> str:
        """The value for a screen or a log: secrets are ``***``, passwords in URLs too."""
        raw = self.raw(env)
        if raw is None:
            return self.shown_default
        if self.secret:
            return "***" if raw else ""
        return redact_urls(raw)


# --- parsers ---------------------------------------------------------------------------


def parse_text(raw: str) -> str:
    return raw


def parse_stripped(raw: str) -> str:
    return raw.strip()


def parse_optional_text(raw: str) -> str | None:
    return raw or None


def parse_optional_path(raw: str) -> Path | None:
    return Path(raw)


def parse_float(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError("is not a number") from None


def parse_non_negative_float(raw: str) -> float | None:
    value = parse_float(raw)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def parse_non_negative_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("is not a number") from None
    if value < 0:
        raise ValueError("must not be negative")
    return value


def parse_seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("is not a number of seconds") from None
    if value <= 0:
        raise ValueError("is not a positive number of seconds")
    return value


def parse_byte_count(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("is not a number of bytes") from None
    if value < 0:
        raise ValueError("must not be negative")
    return value


def parse_optional_int(raw: str) -> int | None:
    try:
        return int(raw)
    except ValueError:
        raise ValueError("is not a number") from None


def parse_digits(raw: str) -> int | None:
    """A queue item id; anything else is ignored (a workflow run not started by the
    service has none)."""
    return int(raw) if raw.isdigit() else None


def parse_uid_gid(raw: str) -> tuple[int, int] | None:
    uid, _, gid = raw.strip().partition(":")
    try:
        pair = int(uid), int(gid or uid)
    except ValueError:
        raise ValueError("is not UID:GID") from None
    if pair[0] == 0 or pair[1] == 0:
        raise ConfigError("HARNESS_DOCKER_USER: steps never run as root (uid or gid 0)")
    return pair


def parse_labels(raw: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"HARNESS_DOCKER_LABELS: '{part}' is not key=value", hint='e.g. "team=npu,run=42"'
            )
        labels[key.strip()] = value.strip()
    return labels


POLICIES = ("egress", "none", "open")


def parse_policy(raw: str) -> str:
    value = raw.strip().lower() or "egress"
    if value not in POLICIES:
        raise ConfigError(
            f"HARNESS_UNTRUSTED_NETWORK={value!r} is not one of {', '.join(POLICIES)}",
            hint="egress: package indexes only (default); none: no network; open: unsafe",
        )
    return value


def parse_api_url(raw: str) -> str:
    return raw.rstrip("/") or GITHUB_DEFAULT_API


GITHUB_DEFAULT_API = "https://api.github.com"


def redact_urls(text: str) -> str:
    """``scheme://user:password@host`` → ``scheme://user:***@host``; ``token@`` too."""
    return re.sub(
        r"(\w+://)([^/@\s:]*)(:[^@\s/]*)?@",
        lambda m: f"{m.group(1)}{m.group(2)}:***@" if m.group(3) else f"{m.group(1)}***@",
        text,
    )


# --- the service configuration file ----------------------------------------------------


@dataclass(frozen=True)
class ConfigKey:
    """One key of the service configuration file, as its pydantic model declares it."""

    #: dotted path; ``*`` stands for a mapping's keys (``upstreams.*.level``)
    path: str
    type: str
    default: Any
    description: str


def config_file_keys() -> list[ConfigKey]:
    """Every leaf key of the service configuration file, from
    :class:`harness.config.service.ServiceConfig` (imported here, when asked for)."""
    from harness.config.service import ServiceConfig

    return list(_model_keys(ServiceConfig, ""))


def _model_keys(model: Any, prefix: str) -> Iterator[ConfigKey]:
    from pydantic import BaseModel
    from pydantic_core import PydanticUndefined

    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation = field.annotation
        inner = _submodel(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _model_keys(annotation, f"{path}.")
            continue
        if inner is not None:  # dict[str, Model]
            yield from _model_keys(inner, f"{path}.*.")
            continue
        if field.default_factory is not None:
            default = field.default_factory()
        else:
            default = None if field.default is PydanticUndefined else field.default
        yield ConfigKey(path, _type_name(annotation), default, field.description or "")


def _submodel(annotation: Any) -> Any:
    from pydantic import BaseModel

    args: tuple[Any, ...] = getattr(annotation, "__args__", ())
    if getattr(annotation, "__origin__", None) is dict and len(args) == 2:
        value = args[1]
        if isinstance(value, type) and issubclass(value, BaseModel):
            return value
    return None


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type) and not getattr(annotation, "__args__", None):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("harness.config.service.", "")
