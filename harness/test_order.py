"""The order a pytest step ran its tests in, when the upstream randomizes it.

Upstreams such as DeepSpeed install pytest-randomly, which shuffles the tests with a seed
chosen per session; a test that fails only after another one (state left behind: an
environment variable, an initialized process group) then fails for some seeds and not
for others. The harness keeps that behaviour and makes it explainable:

- the ``harness_junit_stream`` plugin writes the seed into the result file before any
  test runs (the suite property ``randomly_seed``); :func:`read_seed` reads it back and
  the run stores it per test step (``runs.seeds``), in bundles and in ``summary.json``;
- a failing test of a randomized step is re-run first with the same seed and the tests
  that ran before it (pytest-randomly's order depends only on the seed and the test ids,
  so the chosen tests keep their original relative order: the failure's context is
  reproduced), then, if it failed again, alone in a fixed order (collection order:
  :data:`FIXED_ARGS`);
- a test that failed with the seed, failed again with it, and passed in a fixed order
  (or with another seed) is **order-dependent**, not flaky
  (:data:`harness.verdict.categories.Category.ORDER_DEPENDENT`).

An *ordering* names how one attempt ran: ``seed=N`` or ``fixed`` (``None``: the step did
not randomize).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

#: the ``<property>`` name ``harness_junit_stream`` writes the seed as
SEED_PROPERTY = "randomly_seed"
FIXED = "fixed"
#: pytest options that keep the tests in collection order. pytest-randomly stays loaded
#: but does not reorder (rather than ``-p no:randomly``, which would make a recipe's own
#: ``--randomly-seed`` option an unknown argument)
FIXED_ARGS = "-p randomly --randomly-dont-reorganize"
#: how much of a result file's head is searched for the seed (the property is written
#: before the first test case)
_HEAD_BYTES = 64 << 10
_PROPERTY = re.compile(
    rb'<property\s+name="' + SEED_PROPERTY.encode() + rb'"\s+value="(\d{1,19})"\s*/>'
)
_ORDERING = re.compile(r"^seed=(\d{1,19})$")


def read_seed(path: Path) -> int | None:
    """The pytest-randomly seed recorded at the head of the JUnit file ``path`` (before
    its first test case), or ``None``."""
    try:
        with path.open("rb") as f:
            head = f.read(_HEAD_BYTES)
    except OSError:
        return None
    head = head.split(b"<testcase", 1)[0]
    m = _PROPERTY.search(head)
    if m is None:
        return None
    seed = int(m.group(1))
    return seed if seed < 2**63 else None


def seed_ordering(seed: int) -> str:
    return f"seed={seed}"


def ordering_seed(ordering: str | None) -> int | None:
    """The seed of ``seed=N``; ``None`` for ``fixed`` or no ordering."""
    m = _ORDERING.match(ordering or "")
    return int(m.group(1)) if m else None


def valid_ordering(ordering: str) -> bool:
    return ordering == FIXED or _ORDERING.match(ordering) is not None


def seed_args(seed: int) -> str:
    """pytest options that order the tests as pytest-randomly did with ``seed``."""
    return f"-p randomly --randomly-seed={seed}"


def ordering_args(ordering: str) -> str:
    """pytest options for an ordering."""
    seed = ordering_seed(ordering)
    return FIXED_ARGS if seed is None else seed_args(seed)


def orders_text(
    failed: Iterable[str | None], passed: Iterable[str | None], escape: Callable[[str], str]
) -> str:
    """``fails with seed 3; passes with fixed order`` for a report, each list passed
    through the report's ``escape``."""
    fails = ", ".join(describe(o) for o in failed) or "(none)"
    passes = ", ".join(describe(o) for o in passed) or "(none)"
    return f"fails with {escape(fails)}; passes with {escape(passes)}"


def describe(ordering: str | None) -> str:
    """``seed 1234`` / ``fixed order`` / ``unordered``, for reports."""
    seed = ordering_seed(ordering)
    if seed is not None:
        return f"seed {seed}"
    return "fixed order" if ordering == FIXED else "not randomized"
