"""The environment that narrows a rerun to the tests still failing, and its input file.

The harness writes the pytest selection (one test id a line) into the step's *input*
directory: one the harness creates and the step cannot write (mounted read-only into a
container), so nothing a step leaves behind can redirect the write. Test ids that could
not be one line of that file (a newline or another control character in the id, which
only a forged result file produces) are left out of the selection.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.executors.base import Rerun, fresh_dir

SELECT_PLUGIN = "harness_select"
SELECT_FILE = "select.txt"


def selectable(test_id: str) -> bool:
    return bool(test_id) and not any(ord(c) < 32 or ord(c) == 127 for c in test_id)


def selection_env(
    fmt: str, test_ids: Sequence[str], select_file: str, prior_addopts: str | None
) -> dict[str, str]:
    """The environment that narrows a step of result format ``fmt`` to ``test_ids``; for
    pytest the ids are read from ``select_file`` (as the step sees that path)."""
    if fmt == "junit":
        addopts = " ".join(p for p in (prior_addopts, f"-p {SELECT_PLUGIN}") if p)
        return {"HARNESS_SELECT_FILE": select_file, "PYTEST_ADDOPTS": addopts}
    if fmt == "gtest-xml":
        return {"GTEST_FILTER": ":".join(t for t in test_ids if selectable(t))}
    raise ValueError(f"result format {fmt!r} cannot be re-run")


def prepare_rerun(rerun: Rerun, host_dir: Path, visible_dir: str) -> dict[str, str]:
    """Write the rerun's inputs into ``host_dir`` (a fresh directory; the step sees it as
    ``visible_dir``) and return the environment that selects its tests."""
    fresh_dir(host_dir)
    ids = [t for t in rerun.test_ids if selectable(t)]
    if rerun.fmt == "junit":
        path = host_dir / SELECT_FILE
        path.write_text("".join(f"{t}\n" for t in ids), encoding="utf-8")
        path.chmod(0o644)
    return selection_env(
        rerun.fmt, ids, f"{visible_dir.rstrip('/')}/{SELECT_FILE}", rerun.prior_addopts
    )
