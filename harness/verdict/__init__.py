"""Verdicts against the backend's own baseline.

Not "312 failed" but "this change newly breaks 3 tests on NPU; 40 were already failing
on the default branch; 2 are flaky". For one run:

- :mod:`.baseline` chooses the run to compare with (the default branch at the merge base);
- :mod:`.classify` puts every test in one :class:`~.categories.Category` and concludes
  ``success`` / ``neutral`` / ``failure`` for the cell, using :mod:`.flaky` (history flake
  scores, reruns), :mod:`.quarantine` (``suites/quarantine/<suite>.yaml``, known failures)
  and the environment drift between the two runs' fingerprints;
- :mod:`.coverage` counts collected / executed / passed, and compares with a reference
  backend at the same commit;
- :mod:`.render_json` (stable ``--json`` shape) and :mod:`.render_markdown` (a PR
  comment) present it; :mod:`.suggest` and :mod:`.export` serve ``harness quarantine``.

Everything above is pure; :mod:`.gather` reads the store (:mod:`harness.store.history`)
and the suite files and calls it.
"""

from __future__ import annotations

from harness.verdict.baseline import BaselineChoice, BaselineRequest, choose_baseline
from harness.verdict.categories import Category, Classification, Conclusion
from harness.verdict.classify import RunOutcomes, classify, conclude
from harness.verdict.report import Verdict, build_verdict

__all__ = [
    "BaselineChoice",
    "BaselineRequest",
    "Category",
    "Classification",
    "Conclusion",
    "RunOutcomes",
    "Verdict",
    "build_verdict",
    "choose_baseline",
    "classify",
    "conclude",
]
