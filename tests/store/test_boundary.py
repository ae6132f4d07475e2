"""The store's boundary: code outside :mod:`harness.store` uses its public API only
(units of work and repositories), never its private helpers."""

from __future__ import annotations

import ast
from functools import cached_property
from pathlib import Path
from typing import get_type_hints

import harness
from harness.store import Store, Transaction

ROOT = Path(harness.__file__).parent
STORE = ROOT / "store"


def _private_members() -> set[str]:
    """Private names of the store's objects: class members and instance attributes."""
    names: set[str] = set()
    repositories = [
        get_type_hints(prop.func)["return"]
        for prop in vars(Transaction).values()
        if isinstance(prop, cached_property)
    ]
    for cls in (Store, Transaction, *repositories):
        for klass in cls.__mro__[:-1]:
            names |= {n for n in vars(klass) if n.startswith("_") and not n.startswith("__")}
    names |= {"_writer", "_local"}  # set in Store.__init__
    return names


def _outside_store() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if STORE not in p.parents)


def _violations(source: str, where: str, private: set[str]) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(source, where)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("harness.store"):
            found += [
                f"{where}:{node.lineno}: imports {a.name} from {node.module}"
                for a in node.names
                if a.name.startswith("_")
            ]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            if node.attr.startswith("__"):
                continue
            owner = ast.unparse(node.value)
            store_like = "store" in owner.lower() or owner in {"tx", "txn"}
            if store_like or (node.attr in private and owner not in {"self", "cls"}):
                found.append(f"{where}:{node.lineno}: {owner}.{node.attr}")
    return found


def test_the_scan_sees_a_private_access() -> None:
    """The check itself: it flags what it is meant to flag, and not another class's
    private method of the same name called through ``self``."""
    private = _private_members()
    assert {"_read", "_write", "_errors", "_move", "_crash_orphan_runs"} <= private
    source = (
        "from harness.store.repository import _now\n"
        "store._write('x', f)\n"
        "self.store._read('y', g)\n"
        "engine._errors\n"
        "tx._anything\n"
        "self._write(b'data')\n"
        "store.transaction('z')\n"
    )
    assert sorted(v.split(": ", 1)[1] for v in _violations(source, "probe.py", private)) == [
        "engine._errors",
        "imports _now from harness.store.repository",
        "self.store._read",
        "store._write",
        "tx._anything",
    ]


def test_no_module_outside_the_store_touches_its_private_helpers() -> None:
    private = _private_members()
    found = [
        v
        for path in _outside_store()
        for v in _violations(path.read_text(), str(path.relative_to(ROOT.parent)), private)
    ]
    assert not found, "private store access outside harness/store:\n" + "\n".join(found)
