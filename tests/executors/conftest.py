"""The end-to-end CLI fixtures (a fixture upstream, suite files, the ``harness`` runner)
for the executor tests that drive ``harness run``."""

from tests.cli.conftest import (  # noqa: F401 - re-exported fixtures
    db_url,
    harness,
    shared_cache,
    suites_dir,
    upstream,
    wheels,
)
