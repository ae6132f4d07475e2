"""Upstream CI and compatibility harness for AI accelerator backends.

The flow, one step per line, each named by the modules that do it (paths under harness):

webhook  service/app.py → service/intake.py: verify and record (journal.py when the DB waits)
event    codehost/github/trigger.py: a code host's payload → codehost/events.py (ours)
job      service/dispatch.py: events → jobs and queue items (trust.py, commands.py, pulls.py)
cell     matrix.py, planner.py: suite x backend x variant; service/queue.py leases one,
         service/worker.py runs it on an executor (executors/registry.py)
run      runner.py: source/checkout.py → executors/local.py | docker.py → results/ingest.py
         → store/repository.py (runs and results); rerun.py for failed tests
verdict  service/publish.py: verdict/gather.py reads, verdict/classify.py judges (pure),
         then one store.transaction records; service/baselines.py asks for baselines
report   service/report.py and service/notify.py say what → service/outbox.py →
         service/sender.py → codehost/reporters.py → codehost/github/reporter.py,
         codehost/chat.py; dashboard/ (pages), reporting/ (console, summary files)

The worker's loop (service/worker.py) drives job, cell, verdict and report in turn;
``harness run`` (cli/run_cmd.py) goes cell → run → verdict without the service.

Beside the flow:
  store/      the only package that speaks SQL: units of work (store/transaction.py)
              hand out repositories (queue, outbox, ledger, pulls, deliveries, ...)
  settings.py every HARNESS_* variable, declared once (``harness config show``)
  config/     suite and service files (typed, located errors), JSON Schema
  plugins.py  entry points shared by the registries: backends/, executors/registry.py,
              results/ (formats), images/families.py, codehost/reporters.py
  bisect/     the first bad commit of a cell's tests (bisect/search.py, bisect/probe.py)
              or stack component (bisect/stack.py over the dimensions of stack.py);
              service/culprits.py schedules one when the default branch breaks
  cli/        one module per command
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("accel-harness")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
