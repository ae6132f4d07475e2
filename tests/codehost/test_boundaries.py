"""The code host stays behind its driver: only harness/codehost/github imports PyGithub,
and the core (service, verdict, store) never imports the GitHub driver."""

from __future__ import annotations

import ast
from pathlib import Path

import harness

PACKAGE = Path(harness.__file__).parent
DRIVER = PACKAGE / "codehost" / "github"
CORE = ("service", "verdict", "store")


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in ``path``, lazy ones inside functions included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def offenders(root: Path, forbidden: str, allowed: Path | None = None) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        if allowed is not None and path.is_relative_to(allowed):
            continue
        for line, module in imports(path):
            if module == forbidden or module.startswith(forbidden + "."):
                out.append(f"{path.relative_to(PACKAGE.parent)}:{line}: imports {module}")
    return out


def test_only_the_github_driver_imports_pygithub() -> None:
    assert offenders(PACKAGE, "github", allowed=DRIVER) == []


def test_the_core_does_not_import_the_github_driver() -> None:
    found = [o for part in CORE for o in offenders(PACKAGE / part, "harness.codehost.github")]
    assert found == []


def test_the_scan_sees_imports(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from github import Github\n    import github.Repository\n")
    assert imports(bad) == [(2, "github"), (3, "github.Repository")]
