"""The README's table of environment variables names every ``HARNESS_*`` variable the
harness reads or sets, and the suites use."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAME = re.compile(r"HARNESS_[A-Z][A-Z0-9_]*[A-Z0-9]")


def test_every_harness_variable_is_in_the_readme() -> None:
    used: set[str] = set()
    for pattern in ("harness/**/*.py", "harness/**/*.j2", "suites/*.yaml"):
        for path in ROOT.glob(pattern):
            used |= set(NAME.findall(path.read_text(encoding="utf-8")))
    readme = ROOT.joinpath("README.md").read_text(encoding="utf-8")
    section = readme.split("### Environment variables", 1)[1].split("\n## ", 1)[0]
    # prefixes written in prose (``HARNESS_DOCKER_*``) are not variables
    missing = sorted(v for v in used if v not in section and not v.endswith("_"))
    assert not missing, f"not in the README's table of environment variables: {missing}"


def test_the_tables_of_settings_are_current() -> None:
    """The tables are generated from harness/settings.py and the service configuration's
    model; CI runs only tests, so a stale README fails here."""
    from harness.config.settings_view import spliced

    readme = ROOT.joinpath("README.md").read_text(encoding="utf-8")
    assert spliced(readme) == readme, "the README's tables are stale: run `harness config table`"
