"""Read and validate suite files, turning validation errors into located messages.

Every problem names the file, the line and column, and the key path::

    suites/comfyui.yaml:14:9: backends.cpu.test[0].timeot: unknown key; did you mean 'timeout'?
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from harness import settings
from harness.config.suite import Suite
from harness.config.yamlsource import (
    PathKey,
    YamlDocument,
    format_key_path,
    load_yaml_with_positions,
)
from harness.errors import ConfigError

SUITE_GLOB = "*.yaml"


def default_suites_dir() -> Path:
    """``$HARNESS_SUITES``, else ``./suites``."""
    return settings.SUITES.get() or Path("suites")


def _inner_model(annotation: Any) -> Any:
    args = getattr(annotation, "__args__", None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if args:
        for arg in reversed(args):  # dict[str, X] → X, list[X] → X, X | None → X
            inner = _inner_model(arg)
            if inner is not None:
                return _DictOf(inner) if getattr(annotation, "__origin__", None) is dict else inner
    return None


class _DictOf:
    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model


def _owner(model: type[BaseModel], loc: PathKey) -> type[BaseModel] | None:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if isinstance(current, _DictOf):
            current = current.model
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            alias_hit = [f for f in current.model_fields.values() if f.alias == part]
            if not alias_hit:
                return None
            field = alias_hit[0]
        current = _inner_model(field.annotation)
    if isinstance(current, _DictOf):
        return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def describe_validation_error(
    doc: YamlDocument, exc: ValidationError, model: type[BaseModel]
) -> str:
    lines = []
    for err in exc.errors(include_url=False):
        loc: PathKey = tuple(err["loc"])
        where = doc.where(loc)
        path = format_key_path(loc)
        if err["type"] == "extra_forbidden":
            owner = _owner(model, loc[:-1])
            known = _field_names(owner) if owner else []
            close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            allowed = f" (allowed: {', '.join(known)})" if known and not close else ""
            lines.append(f"{where}: {path}: unknown key{hint}{allowed}")
        elif err["type"] == "missing":
            lines.append(f"{where}: {path}: required key is missing")
        else:
            msg = err["msg"]
            msg = msg.removeprefix("Value error, ")
            lines.append(f"{where}: {path}: {msg}")
    return "\n".join(lines)


M = TypeVar("M", bound=BaseModel)


def load_document(
    path: Path, text: str | None, model: type[M], what: str
) -> tuple[YamlDocument, M]:
    """Parse a YAML file with positions and validate it as ``model``; the document is
    returned for locating later problems. :class:`ConfigError` names file, line and key;
    ``what`` says what the file must be ("a suite file must be a mapping of keys")."""
    doc = load_yaml_with_positions(path, text)
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{doc.where(())}: {what}")
    try:
        return doc, model.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(doc, exc, model)) from None


def load_suite(path: Path, text: str | None = None) -> Suite:
    """Load and validate one suite file; :class:`ConfigError` names file, line and key."""
    doc, suite = load_document(path, text, Suite, "a suite file must be a mapping of keys")
    if suite.name != path.stem and path.suffix in {".yaml", ".yml"}:
        raise ConfigError(
            f"{doc.where(('name',))}: name: '{suite.name}' does not match the file name "
            f"'{path.name}' (a suite named X lives in suites/X.yaml)"
        )
    if problems := suite.undeclared_path_refs():
        raise ConfigError(
            "\n".join(f"{doc.where(key)}: {format_key_path(key)}: {msg}" for key, msg in problems)
        )
    return suite


def suite_files(suites_dir: Path) -> list[Path]:
    if not suites_dir.is_dir():
        raise ConfigError(
            f"suites directory '{suites_dir}' does not exist",
            hint="run from the repository root, or pass --suites DIR / set HARNESS_SUITES",
        )
    return sorted(p for p in suites_dir.glob(SUITE_GLOB) if p.is_file())


def load_suites(suites_dir: Path, only: Iterable[str] | None = None) -> dict[str, Suite]:
    """All suites in ``suites_dir`` by name. Errors from every file are reported together."""
    wanted = set(only) if only is not None else None
    suites: dict[str, Suite] = {}
    problems: list[str] = []
    for path in suite_files(suites_dir):
        if wanted is not None and path.stem not in wanted:
            continue
        try:
            suites[path.stem] = load_suite(path)
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("\n".join(problems))
    return suites
