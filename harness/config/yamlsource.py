"""Load YAML while remembering where every value came from.

PyYAML's node tree carries line and column marks; the plain ``safe_load`` result does not.
:func:`load_yaml_with_positions` returns the plain data plus a map from key paths to
positions, so validation errors can name ``file:line:column`` and the key path. Duplicate
mapping keys, which PyYAML silently accepts (last one wins), are reported as errors here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError

PathKey = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based


@dataclass(frozen=True, slots=True)
class YamlDocument:
    path: Path
    data: Any
    positions: dict[PathKey, Position]

    def position_of(self, key_path: PathKey) -> Position | None:
        """The position of ``key_path``, or of its nearest ancestor that has one."""
        probe = tuple(key_path)
        while probe:
            if probe in self.positions:
                return self.positions[probe]
            probe = probe[:-1]
        return self.positions.get(())

    def where(self, key_path: PathKey) -> str:
        pos = self.position_of(key_path)
        if pos is None:
            return str(self.path)
        return f"{self.path}:{pos.line}:{pos.column}"


def format_key_path(key_path: PathKey) -> str:
    """``("backends", "cpu", "test", 0, "run")`` → ``backends.cpu.test[0].run``."""
    out = ""
    for part in key_path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _pos(node: yaml.Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.positions: dict[PathKey, Position] = {}
        self.errors: list[str] = []
        self._constructor = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, key_path: PathKey) -> Any:
        self.positions.setdefault(key_path, _pos(node))
        if isinstance(node, yaml.MappingNode):
            self._constructor.flatten_mapping(node)  # resolves YAML merge keys (<<: *anchor)
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self._constructor.construct_object(key_node, deep=True)
                if not isinstance(key, str | int | float | bool):
                    self.errors.append(
                        f"{self.path}:{_pos(key_node).line}:{_pos(key_node).column}: "
                        f"{format_key_path(key_path)}: mapping keys must be plain scalars"
                    )
                    continue
                key = str(key) if not isinstance(key, str) else key
                child: PathKey = (*key_path, key)
                if key in out:
                    first = self.positions.get(child)
                    first_at = f" (first defined at line {first.line})" if first else ""
                    self.errors.append(
                        f"{self.path}:{_pos(key_node).line}:{_pos(key_node).column}: "
                        f"{format_key_path(child)}: duplicate key{first_at}"
                    )
                    continue
                self.positions[child] = _pos(key_node)
                out[key] = self.build(value_node, child)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*key_path, i)) for i, item in enumerate(node.value)]
        return self._constructor.construct_object(node, deep=True)


def load_yaml_with_positions(path: Path, text: str | None = None) -> YamlDocument:
    """Parse one YAML document; syntax errors become :class:`ConfigError` with the line."""
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text: {exc}") from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"{where}: YAML syntax error: {problem}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: YAML error: {exc}") from exc
    if node is None:
        raise ConfigError(f"{path}: the file is empty")
    builder = _Builder(path)
    try:
        data = builder.build(node, ())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: {exc.problem}") from exc
    if builder.errors:
        raise ConfigError("\n".join(builder.errors))
    return YamlDocument(path=path, data=data, positions=builder.positions)
