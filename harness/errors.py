"""Infrastructure and configuration failures.

Test failures are data (results in the store); everything that stops the harness from
producing trustworthy results is an exception from this module. Each class has its own
exit code so scripts can tell them apart; the codes are part of the CLI contract and are
documented in ``harness --help`` and the README:

====  =====================================================================
0     every selected cell ran and passed
1     at least one cell has failing tests (test failures are data, not errors)
2     configuration error: a bad suite file, an unknown pattern, a bad option
3     infrastructure error: a step could not run, a result file is missing,
      git or the database failed, a run crashed or timed out
4     internal error: a bug in the harness (the traceback is in the run's log
      directory, or on stderr); the run in progress is recorded as ``error``
130   interrupted (Ctrl-C); the runs in progress are recorded as cancelled
====  =====================================================================
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_TEST_FAILURES = 1
EXIT_CONFIG = 2
EXIT_INFRA = 3
EXIT_INTERNAL = 4
EXIT_INTERRUPTED = 130


class HarnessError(Exception):
    """Base class: a failure the harness reports with a message and an exit code."""

    exit_code: int = EXIT_INFRA

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class ConfigError(HarnessError):
    """A suite file, pattern or option is wrong. Nothing was run."""

    exit_code = EXIT_CONFIG


class InfraError(HarnessError):
    """Something outside the tests failed: git, a step, the store, a container engine."""

    exit_code = EXIT_INFRA


class SourceError(InfraError):
    """The upstream source could not be fetched or checked out."""


class CommitGone(SourceError):
    """The exact commit asked for is not in the upstream any more (force-pushed away, the
    branch deleted): nothing of it can run, and a newer head has its own run."""


class StepError(InfraError):
    """A setup or build step failed, or a step could not be started."""


class StoreError(InfraError):
    """The results database could not be opened, migrated or written."""


class ResultFileError(InfraError):
    """A result file is missing or unusable."""
