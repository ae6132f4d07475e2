"""Load YAML while remembering where every value came from.

PyYAML's node tree carries line and column marks; the plain ``safe_load`` result does not.
:func:`load_yaml_with_positions` returns the plain data plus a map from key paths to
positions, so validation errors can name ``file:line:column`` and the key path. Duplicate
mapping keys, which PyYAML silently accepts (last one wins), are reported as errors here.

Every configuration file is plain data, and a hostile or careless one gets a
:class:`ConfigError` naming the file and line, never a traceback or a runaway:

* only the core schema's tags (str, int, float, bool, null, map, seq, and timestamps and
  merge keys): ``!!python/object:…``, ``!!binary``, ``!custom`` are refused, on any node;
* a value that does not fit its explicit tag (``!!int abc``) is refused;
* nesting deeper than :data:`MAX_DEPTH` is refused before anything is built (the event
  stream is read first, without recursion);
* at most :data:`MAX_WRITTEN` values written in the file, counted on the event stream
  before anything is built;
* aliases are expanded with a budget (:data:`MAX_NODES` values in all: a
  "billion laughs" file stops there) and a recursive alias is refused;
* whatever PyYAML itself raises on a broken scalar or escape is the same error.
* a file over :data:`MAX_BYTES` is not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError

PathKey = tuple[str | int, ...]

#: limits for a configuration file (suite files are a few KB, a few hundred values)
MAX_BYTES = 4 << 20
MAX_DEPTH = 64
MAX_NODES = 600_000
MAX_WRITTEN = 300_000
_CORE = "tag:yaml.org,2002:"
#: the tags plain data may carry (explicitly or as resolved)
ALLOWED_TAGS = frozenset(
    _CORE + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "merge")
)


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


def _check_events(path: Path, text: str) -> None:
    """Refuse other tags than plain data's and nesting deeper than :data:`MAX_DEPTH`,
    from the event stream (flat: no recursion, nothing built yet)."""
    depth = written = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        mark = event.start_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        tag = getattr(event, "tag", None)
        if tag is not None and tag != "!" and tag not in ALLOWED_TAGS:
            shown = "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag
            raise ConfigError(
                f"{where}: the tag {shown} is not allowed: configuration files are plain "
                "data (strings, numbers, booleans, null, lists, mappings)"
            )
        if isinstance(event, yaml.NodeEvent):
            written += 1
            if written > MAX_WRITTEN:
                raise ConfigError(
                    f"{where}: more than {MAX_WRITTEN} values: not a configuration file"
                )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError(f"{where}: nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


class _Builder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.positions: dict[PathKey, Position] = {}
        self.errors: list[str] = []
        self._constructor = yaml.constructor.SafeConstructor()
        self._built = 0
        self._open: set[int] = set()  # the collection nodes being built (recursion)

    def _where(self, node: yaml.Node) -> str:
        return f"{self.path}:{_pos(node).line}:{_pos(node).column}"

    def build(self, node: yaml.Node, key_path: PathKey) -> Any:
        self._built += 1
        if self._built > MAX_NODES:
            raise ConfigError(
                f"{self._where(node)}: more than {MAX_NODES} values once aliases are "
                "expanded (an alias bomb?)"
            )
        if isinstance(node, yaml.CollectionNode):
            if id(node) in self._open:
                raise ConfigError(
                    f"{self._where(node)}: {format_key_path(key_path)}: an alias refers to a "
                    "value that contains it (recursive)"
                )
            self._open.add(id(node))
            try:
                return self._collection(node, key_path)
            finally:
                self._open.discard(id(node))
        self.positions.setdefault(key_path, _pos(node))
        return self._scalar(node, key_path)

    def _scalar(self, node: yaml.Node, key_path: PathKey) -> Any:
        try:
            return self._constructor.construct_object(node, deep=True)
        except (ValueError, LookupError, TypeError, AttributeError, ArithmeticError) as exc:
            tag = str(node.tag).removeprefix(_CORE)
            raise ConfigError(
                f"{self._where(node)}: {format_key_path(key_path)}: {node.value!r} is not a "
                f"valid !!{tag} ({type(exc).__name__})"
            ) from None

    def _collection(self, node: yaml.CollectionNode, key_path: PathKey) -> Any:
        self.positions.setdefault(key_path, _pos(node))
        if isinstance(node, yaml.MappingNode):
            # merge keys (<<: *anchor): the mapping's own keys win over merged ones, and
            # of several merged mappings the first listed wins (flatten_mapping lists
            # them last first); a copy is flattened, since aliases share the node
            own = [(k, v) for k, v in node.value if k.tag != _CORE + "merge"]
            flat = yaml.MappingNode(node.tag, list(node.value), node.start_mark, node.end_mark)
            self._constructor.flatten_mapping(flat)
            merged = flat.value[: len(flat.value) - len(own)]
            out: dict[Any, Any] = {}
            pairs = [(k, v, False) for k, v in own] + [(k, v, True) for k, v in reversed(merged)]
            for key_node, value_node, inherited in pairs:
                if not isinstance(key_node, yaml.ScalarNode):
                    self.errors.append(
                        f"{self._where(key_node)}: {format_key_path(key_path)}: mapping keys "
                        "must be plain scalars"
                    )
                    continue
                key = self._scalar(key_node, key_path)
                if not isinstance(key, str | int | float | bool):
                    self.errors.append(
                        f"{self._where(key_node)}: {format_key_path(key_path)}: mapping keys "
                        "must be plain scalars"
                    )
                    continue
                key = str(key) if not isinstance(key, str) else key
                child: PathKey = (*key_path, key)
                if key in out:
                    if inherited:
                        continue  # overridden by the mapping's own key or an earlier merge
                    first = self.positions.get(child)
                    first_at = f" (first defined at line {first.line})" if first else ""
                    self.errors.append(
                        f"{self._where(key_node)}: {format_key_path(child)}: "
                        f"duplicate key{first_at}"
                    )
                    continue
                self.positions[child] = _pos(key_node)
                out[key] = self.build(value_node, child)
            return out
        return [self.build(item, (*key_path, i)) for i, item in enumerate(node.value)]


def load_yaml_with_positions(path: Path, text: str | None = None) -> YamlDocument:
    """Parse one YAML document; syntax errors become :class:`ConfigError` with the line."""
    if text is None:
        try:
            if path.stat().st_size > MAX_BYTES:
                raise ConfigError(f"{path}: larger than {MAX_BYTES >> 20} MB: not a config file")
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text: {exc}") from exc
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_BYTES >> 20} MB: not a config file")
    try:
        _check_events(path, text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"{where}: YAML syntax error: {problem}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: YAML error: {exc}") from exc
    except (ValueError, LookupError, ArithmeticError, RecursionError) as exc:  # PyYAML's own
        raise ConfigError(f"{path}: YAML syntax error: {type(exc).__name__}: {exc}") from None
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
