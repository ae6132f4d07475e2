"""The settings module stays the one list: every ``HARNESS_*`` name in the harness's
sources is declared in harness/settings.py, every declaration is used, and no other
module reads a ``HARNESS_*`` variable from the environment itself."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from harness import settings
from harness.config.setting import Kind, Setting
from harness.executors.environment import looks_secret

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "harness"
SETTINGS_MODULES = {HARNESS / "settings.py", HARNESS / "config" / "setting.py"}
#: names written as prefixes in prose (``HARNESS_DOCKER_*``) end in ``_``
NAME = re.compile(r"HARNESS_[A-Z0-9_]*[A-Z0-9]\b")

#: Modules that read HARNESS_* variables themselves, and why.
DIRECT_READERS = {
    # pytest plugins are loaded by the pytest of a step, inside containers where the
    # harness is not installed (harness/executors/docker.py mounts the folder read-only):
    # they import nothing from harness, so they read the variables the harness set for
    # the step (declared in harness/settings.py as Kind.STEP) from os.environ
    "harness/pytest_plugins/harness_device_shard.py",
    "harness/pytest_plugins/harness_select.py",
}


def _sources(*patterns: str) -> Iterator[Path]:
    for pattern in patterns:
        yield from sorted(ROOT.glob(pattern))


def _names_in(paths: Iterator[Path]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in paths:
        if path in SETTINGS_MODULES:
            continue
        for name in NAME.findall(path.read_text(encoding="utf-8")):
            found.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return found


def test_every_harness_name_in_the_sources_is_declared() -> None:
    used = _names_in(
        _sources("harness/**/*.py", "harness/**/*.j2", "suites/*.yaml", "images/**/*.j2")
    )
    undeclared = {name: where for name, where in used.items() if name not in settings.REGISTRY}
    assert not undeclared, f"declare these in harness/settings.py: {undeclared}"


def _constants() -> dict[str, str]:
    """``HARNESS_DB`` → ``DB``: the module constants of harness/settings.py."""
    return {
        value.name: attr for attr, value in vars(settings).items() if isinstance(value, Setting)
    }


def _settings_attributes() -> set[str]:
    """Every ``settings.X`` read in harness/ outside the settings modules."""
    seen: set[str] = set()
    for path in _sources("harness/**/*.py"):
        if path in SETTINGS_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "settings"
            ):
                seen.add(node.attr)
    return seen


def test_every_declared_setting_is_used() -> None:
    """Operator settings are read through their constant in harness/; the others appear
    where they are set or read: suites (recipe knobs), harness/ (step variables), the
    workflow template, the tests (testing)."""
    constants, read = _constants(), _settings_attributes()
    where = {
        Kind.RECIPE: _names_in(_sources("suites/*.yaml", "images/**/*")),
        Kind.STEP: _names_in(_sources("harness/**/*.py")),
        Kind.WORKFLOW: _names_in(_sources("harness/**/*.j2", "harness/**/*.py")),
        Kind.TESTING: _names_in(_sources("harness/**/*.py", "tests/**/*.py")),
    }
    unused = []
    for setting in settings.declared():
        if constants.get(setting.name) in read:
            continue
        if setting.kind is Kind.OPERATOR or setting.name not in where[setting.kind]:
            unused.append(setting.name)
    assert not unused, f"declared in harness/settings.py but never used: {unused}"


def _string_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level ``NAME = "HARNESS_X"`` (and ``A, B = "HARNESS_X", "HARNESS_Y"``)."""
    out: dict[str, str] = {}
    for node in tree.body:
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            pairs: list[tuple[ast.expr, ast.expr]] = [(target, node.value)]
            if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                pairs = list(zip(target.elts, node.value.elts, strict=False))
            for name, value in pairs:
                if (
                    isinstance(name, ast.Name)
                    and isinstance(value, ast.Constant)
                    and isinstance(value.value, str)
                ):
                    out[name.id] = value.value
    return out


def direct_reads(source: str) -> list[tuple[int, str]]:
    """(line, variable) of each place ``source`` reads a ``HARNESS_*`` variable from a
    mapping itself: ``X.get("HARNESS_…")``, ``X["HARNESS_…"]``, ``"HARNESS_…" in X``,
    ``os.getenv("HARNESS_…")`` (also through a module constant holding the name)."""
    tree = ast.parse(source)
    constants = _string_constants(tree)

    def harness_name(node: ast.expr) -> str | None:
        value: object = None
        if isinstance(node, ast.Constant):
            value = node.value
        elif isinstance(node, ast.Name):
            value = constants.get(node.id)
        if isinstance(value, str) and value.startswith("HARNESS_"):
            return value
        return None

    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in {"get", "getenv", "pop"}:
                name = harness_name(node.args[0])
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            name = harness_name(node.slice)
        elif isinstance(node, ast.Compare) and any(
            isinstance(op, ast.In | ast.NotIn) for op in node.ops
        ):
            name = harness_name(node.left)
        if name:
            found.append((node.lineno, name))
    return found


def test_the_guard_finds_each_kind_of_direct_read() -> None:
    source = (
        'import os\nENV = "HARNESS_B"\n'
        'a = os.environ.get("HARNESS_A", "")\n'
        "b = os.getenv(ENV)\n"
        'c = os.environ["HARNESS_C"]\n'
        'd = "HARNESS_D" in os.environ\n'
        'env = {}\nenv["HARNESS_E"] = "set, not read"\n'
    )
    assert direct_reads(source) == [
        (3, "HARNESS_A"),
        (4, "HARNESS_B"),
        (5, "HARNESS_C"),
        (6, "HARNESS_D"),
    ]


def test_no_module_reads_harness_variables_from_the_environment_itself() -> None:
    readers: dict[str, list[tuple[int, str]]] = {}
    for path in _sources("harness/**/*.py"):
        relative = str(path.relative_to(ROOT))
        if path in SETTINGS_MODULES or relative in DIRECT_READERS:
            continue
        if found := direct_reads(path.read_text(encoding="utf-8")):
            readers[relative] = found
    assert not readers, f"read these through harness.settings: {readers}"


def test_the_exceptions_are_still_needed_and_standalone() -> None:
    for relative in DIRECT_READERS:
        source = ROOT.joinpath(relative).read_text(encoding="utf-8")
        assert direct_reads(source), f"{relative} no longer reads the environment"
        imports = [
            node
            for node in ast.walk(ast.parse(source))
            if (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "harness")
            or (
                isinstance(node, ast.Import)
                and any(a.name.split(".")[0] == "harness" for a in node.names)
            )
        ]
        assert not imports, f"{relative} must not import harness (it runs without it)"
        for _, name in direct_reads(source):
            assert settings.REGISTRY[name].kind is Kind.STEP


def test_secrets_never_reach_a_step() -> None:
    """Every secret setting is kept out of the environment steps get implicitly."""
    secrets = [s.name for s in settings.declared() if s.secret]
    assert secrets
    assert all(looks_secret(name) for name in secrets)
