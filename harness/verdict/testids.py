"""Test ids as upstream tools take them: pytest node ids, gtest filters, and the command
that reproduces one test locally.

The store keeps pytest ids as JUnit writes them (``tests.test_basic::test_param[1]``, the
dotted classname, then the name); pytest selects by node id
(``tests/test_basic.py::test_param[1]``). The mapping back is pytest's junitxml naming
reversed: the dotted parts up to the first one that names a test class (``Test…``, pytest's
default ``python_classes``) are the module path.
"""

from __future__ import annotations

import shlex

#: Result formats whose ids are pytest's.
PYTEST_FORMATS = frozenset({"junit"})
GTEST_FORMATS = frozenset({"gtest-xml"})
BACKEND_OPS_FORMATS = frozenset(
    {"test-backend-ops", "test-backend-ops-csv", "test-backend-ops-sql"}
)


def pytest_node_id(test_id: str) -> str | None:
    """``tests.test_x.TestA::test_b[1]`` → ``tests/test_x.py::TestA::test_b[1]``; ``None`` for
    an id that is not pytest's (no ``::``)."""
    classname, sep, name = test_id.partition("::")
    if not sep or not classname or not name:
        return None
    parts = classname.split(".")
    split = next(
        (i for i, p in enumerate(parts) if i > 0 and p.startswith("Test")),
        len(parts),
    )
    path = "/".join(parts[:split]) + ".py"
    return "::".join([path, *parts[split:], name])


def pytest_node_prefix(pattern: str) -> str | None:
    """A node-id prefix for a test id glob whose only wildcard is one trailing ``*`` after
    the module (``tests.test_x::test_param*`` → ``tests/test_x.py::test_param``)."""
    if "?" in pattern or "*" in pattern[:-1] or not pattern.endswith("*"):
        return None
    head = pattern[:-1]
    if head.endswith("::"):  # every test of a module or class
        node = pytest_node_id(head + "_")
        return node[:-1] if node else None
    return pytest_node_id(head)


def from_workdir(node: str, workdir: str) -> str:
    """A pytest node id (its path relative to pytest's rootdir) as the test step, which
    runs in ``workdir`` (relative to the source root), takes it on its command line.

    The rootdir (where pytest.ini or the like is) is the workdir or one of its parents in
    the recipes the harness knows: DeepSpeed's steps run in ``tests/unit`` under the
    rootdir ``tests``, so ``unit/runtime/test_x.py::t`` is ``runtime/test_x.py::t`` there.
    The longest tail of ``workdir`` that starts the node id is taken off; a node id that
    starts with none is taken as relative to the workdir already (rootdir = workdir)."""
    parts = [p for p in workdir.strip("/").split("/") if p not in ("", ".")]
    for k in range(len(parts), 0, -1):
        prefix = "/".join(parts[-k:]) + "/"
        if node.startswith(prefix):
            return node[len(prefix) :]
    return node


def selection_args(test_id: str, result_format: str | None, workdir: str = ".") -> str | None:
    """What ``--test-args`` selects just this test with, for a suite whose test steps write
    ``result_format`` and run in ``workdir``; ``None`` when there is no such argument
    (ctest, mixed formats)."""
    if result_format in PYTEST_FORMATS:
        node = pytest_node_id(test_id)
        return shlex.quote(from_workdir(node, workdir)) if node else None
    if result_format in GTEST_FORMATS:
        return f"--gtest_filter={shlex.quote(test_id)}"
    if result_format in BACKEND_OPS_FORMATS:
        op = test_id.split("(", 1)[0]
        return f"-o {shlex.quote(op)}" if op else None
    return None


def reproduce_command(
    cell: str,
    ref: str | None,
    test_id: str,
    result_format: str | None,
    workdir: str = ".",
    *,
    order_args: str | None = None,
    selection: str | None = None,
) -> str:
    """``harness run CELL --ref SHA --test-args 'ARGS'``: the run of one test, locally; the
    arguments are as the test step takes them in its ``workdir``.

    ``order_args``: pytest options for the test order the run used (``-p randomly
    --randomly-seed=N``), appended; ``selection``: run this selection instead of the
    one test (an order-dependent failure needs the tests that ran before it)."""
    cmd = ["harness", "run", cell]
    if ref:
        cmd += ["--ref", ref]
    args = selection if selection is not None else selection_args(test_id, result_format, workdir)
    if order_args and result_format in PYTEST_FORMATS:
        args = f"{args} {order_args}" if args else order_args
    if args:
        cmd += ["--test-args", args]
    return " ".join(shell_word(w) for w in cmd)


def shell_word(word: str) -> str:
    """``word`` quoted for a POSIX shell, readably: as is when safe, in double quotes when
    that needs no escapes (``"'a b'"``), else single-quoted by :func:`shlex.quote`."""
    quoted = shlex.quote(word)
    if quoted == word:
        return word
    if not any(ch in word for ch in '"$`\\!\n'):
        return f'"{word}"'
    return quoted
